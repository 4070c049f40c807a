"""The load-balancer chain built by hand with the client libraries, serving the real service.

One emulator and one chain for the module: ``service/`` built through Storage and Cloud
Build into Artifact Registry, three regional Cloud Run services (internal and Cloud Load
Balancing ingress), three serverless NEGs, a backend service with the geo header and
outlier detection, a URL map that removes any client-sent geo header, an HTTP proxy, a
global address and a forwarding rule. The last test tears the chain down.
"""

from __future__ import annotations

import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from google.api_core import exceptions as gexc

from globalguide.emulator.session import bearer
from tests.emulator.dataplane_support import pid_alive, port_listening, wait_for
from tests.emulator.fakes import running_emulator
from tests.emulator.lb_chain import (
    GEO,
    MODEL,
    build_service_image,
    frontend,
    global_address,
    run_service,
    serverless_neg,
    wait,
)

REGIONS = ("us-central1", "europe-west1", "asia-northeast1")


@pytest.fixture(scope="module")
def lb(tmp_path_factory):
    with running_emulator(tmp_path_factory.mktemp("e2e"), client_city="Chicago") as (emu, c):
        project = emu.project
        image = build_service_image(c, project)
        with ThreadPoolExecutor(len(REGIONS)) as pool:  # the revisions start side by side
            services = list(pool.map(lambda r: run_service(c, project, r, image), REGIONS))
        negs = [serverless_neg(c, project, r) for r in REGIONS]
        address = global_address(c, project)
        # One address, two rules on two ports: with and without outlier detection.
        with_od = frontend(c, project, "lg", negs, address, "80", outlier=True)
        without_od = frontend(c, project, "lg-plain", negs, address, "8080", outlier=False)
        yield emu, c, project, services, negs, with_od, without_od


def ask(url: str, city: str | None = None, path: str = "/", **extra: str):
    headers = {"X-Emulator-Client-City": city} if city else {}
    headers.update({k.replace("_", "-"): v for k, v in extra.items()})
    return requests.get(f"{url}{path}", headers=headers, timeout=30)


def vertex(endpoint: str, verb: str, body: dict | None = None):
    if body is None and verb == "calls":
        return requests.get(
            f"{endpoint}/_emulator/vertex/calls", headers=bearer(endpoint), timeout=5
        ).json()
    return requests.post(
        f"{endpoint}/_emulator/vertex/{verb}", headers=bearer(endpoint), json=body or {}, timeout=5
    )


@pytest.mark.parametrize(
    ("city", "region", "shown"),
    [
        ("Paris", "europe-west1", "Paris, FR"),
        ("Tokyo", "asia-northeast1", "Tokyo, JP"),
        ("Chicago", "us-central1", "Chicago, US"),
        ("Berlin", "europe-west1", "Berlin, DE"),
        ("Seoul", "asia-northeast1", "Seoul, KR"),
        ("Toronto", "us-central1", "Toronto, CA"),
    ],
)
def test_each_city_is_served_from_its_nearest_region(lb, city, region, shown):
    emu, c, *_ = lb
    vertex(c.endpoint, "reset")
    answer = ask(lb[5]["url"], city)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["meta"]["served_from_region"] == region
    assert body["meta"]["user_detected_location"] == shown
    assert city.split(",")[0] in body["ai_response"]
    (call,) = vertex(c.endpoint, "calls")
    assert (call["caller_region"], call["location"]) == (region, region)


def test_a_client_sent_geo_header_never_reaches_the_service(lb):
    emu, c, *_ = lb
    vertex(c.endpoint, "reset")
    answer = ask(lb[5]["url"], "Paris", X_Client_Geo_Location="Atlantis,XX,XX")
    assert answer.json()["meta"]["user_detected_location"] == "Paris, FR"
    assert "Atlantis" not in json.dumps(vertex(c.endpoint, "calls"))


def test_the_default_client_city_applies_without_the_header(lb):
    assert ask(lb[5]["url"]).json()["meta"]["served_from_region"] == "us-central1"


def test_a_direct_request_to_a_service_gets_404_and_never_reaches_it(lb):
    emu, c, project, services, *_ = lb
    europe = services[1]
    assert europe.uri.startswith("http://127.0.0.1:")
    answer = requests.get(
        f"{europe.uri}/?direct-probe=1", headers={GEO: "Paris,FR11,FR"}, timeout=10
    )
    assert answer.status_code == 404 and "Error 404 (Not Found)!!1" in answer.text
    (state,) = [s for s in emu.dataplane.snapshot()["services"] if s["name"] == europe.name]
    log = open(state["revisions"][-1]["logPath"]).read()
    assert "direct-probe" not in log and "GET /" in log  # it has served the LB, not this


def test_server_sent_events_stream_through_the_edge_chunk_by_chunk(lb):
    emu, c, *_ = lb
    fake = emu.vertex.fake
    fake.tokens_per_s = 40.0  # slow generation so the chunks are apart in time
    try:
        host, port = lb[5]["url"].removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", "/stream", headers={"X-Emulator-Client-City": "Tokyo"})
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type").startswith("text/event-stream")
        arrivals, text = [], b""
        while chunk := response.read1(65536):
            text += chunk
            arrivals.extend(time.monotonic() for _ in range(chunk.count(b"data: ")))
        conn.close()
    finally:
        fake.tokens_per_s = None
    assert text.count(b"data: ") >= 4 and b"event: meta" in text and b"Tokyo" in text
    spread = arrivals[-1] - arrivals[0]
    assert spread > 0.2, arrivals  # several reads, not one buffered body
    assert len({round(t, 2) for t in arrivals}) >= 3


def test_outlier_detection_fails_a_broken_region_over_and_back(lb):
    emu, c, *_ = lb
    url = lb[5]["url"]
    vertex(c.endpoint, "reset")
    vertex(c.endpoint, "unavailable", {"model": MODEL, "location": "europe-west1"})
    statuses = [ask(url, "Paris").status_code for _ in range(3)]
    assert statuses == [502, 502, 502]
    failover = ask(url, "Paris")
    assert failover.status_code == 200
    assert failover.json()["meta"]["served_from_region"] == "us-central1"
    vertex(c.endpoint, "reset")
    assert wait_for(
        lambda: ask(url, "Paris").json()["meta"]["served_from_region"] == "europe-west1", 6, 0.2
    )


def test_without_outlier_detection_the_nearest_region_keeps_failing(lb):
    emu, c, *_ = lb
    vertex(c.endpoint, "reset")
    vertex(c.endpoint, "unavailable", {"model": MODEL, "location": "europe-west1"})
    try:
        assert [ask(lb[6]["url"], "Paris").status_code for _ in range(6)] == [502] * 6
    finally:
        vertex(c.endpoint, "reset")


def test_teardown_order_is_enforced_and_leaves_nothing_running(lb):
    emu, c, project, services, negs, with_od, without_od = lb
    snapshot = emu.dataplane.snapshot()
    pids = [r["pid"] for s in snapshot["services"] for r in s["revisions"] if r["pid"]]
    ports = [int(e["url"].rsplit(":", 1)[1]) for e in snapshot["edges"]]
    ports += [int(s.uri.rsplit(":", 1)[1]) for s in services]
    assert len(pids) == 3 and len(ports) == 5

    with pytest.raises(gexc.BadRequest, match="resourceInUseByAnotherResource|already being used"):
        c.region_negs.delete(
            project=project, region="europe-west1", network_endpoint_group="lg-neg"
        ).result(timeout=30)
    with pytest.raises(gexc.BadRequest, match="already being used"):
        c.url_maps.delete(project=project, url_map="lg-um").result(timeout=30)

    for name in ("lg", "lg-plain"):
        wait(c.global_forwarding_rules.delete(project=project, forwarding_rule=f"{name}-fr"))
    for name in ("lg", "lg-plain"):
        wait(c.target_http_proxies.delete(project=project, target_http_proxy=f"{name}-px"))
        wait(c.url_maps.delete(project=project, url_map=f"{name}-um"))
        wait(c.backend_services.delete(project=project, backend_service=f"{name}-bs"))
    for region in REGIONS:
        wait(c.region_negs.delete(project=project, region=region, network_endpoint_group="lg-neg"))
    wait(c.global_addresses.delete(project=project, address="lg-ip"))
    for service in services:
        c.run_services.delete_service(name=service.name).result(timeout=60)

    assert wait_for(lambda: not any(pid_alive(p) for p in pids), 15)
    assert not any(port_listening(p) for p in ports)
    assert emu.dataplane.snapshot()["services"] == [] and emu.dataplane.edges() == []
