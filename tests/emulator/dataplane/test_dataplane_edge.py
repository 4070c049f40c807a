"""The geo-routing edge over a hand-made compute configuration and tiny regional services.

The compute resources are REST JSON in a stand-in for the compute API, so every routing
and header rule is checked here without the control plane; the end-to-end test drives the
same edge through the real APIs.
"""

from __future__ import annotations

import http.client
import itertools
import time

import pytest

from globalguide.emulator.dataplane import DataPlane, RevisionStatus
from globalguide.emulator.server import EmulatorConfig
from tests.emulator.dataplane_support import (
    FakeCompute,
    FakeEmulator,
    echo,
    header_values,
    http_get,
    port_listening,
    tiny_image,
    wait_for,
)

BASE = "https://compute.googleapis.com/compute/v1/projects/p"
REGIONS = ("us-central1", "europe-west1", "asia-northeast1")
LB_IP = "34.120.1.2"
_names = itertools.count(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three regional 'tiny' services plus a failing one in europe-west1, all started at once."""
    root = tmp_path_factory.mktemp("edge")
    emulator = FakeEmulator(EmulatorConfig(state_dir=root / "state", client_city="Chicago"))
    compute = FakeCompute()
    emulator.compute = compute
    plane = DataPlane(emulator)
    image = tiny_image(root / "image")
    handles = [
        plane.start_revision(
            service=f"projects/p/locations/{region}/services/{name}",
            region=region,
            revision=f"{name}-00001-abc",
            image=image,
            env={"SERVICE_REGION": region, **env},
            ingress="INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
        )
        for region, name, env in [
            *[(r, "tiny", {}) for r in REGIONS],
            ("europe-west1", "flaky", {"TINY_FAIL": "502"}),
            ("us-central1", "internal", {}),
        ]
    ]
    assert wait_for(lambda: all(h.status != RevisionStatus.STARTING for h in handles), 30)
    assert all(h.status == "ready" for h in handles), [h.error for h in handles]
    plane.set_ingress(
        "projects/p/locations/us-central1/services/internal", "INGRESS_TRAFFIC_INTERNAL_ONLY"
    )
    for region in REGIONS:
        for name in ("tiny", "flaky", "internal", "missing"):
            compute.put(
                "networkEndpointGroups",
                {
                    "selfLink": neg_link(region, name),
                    "region": f"{BASE}/regions/{region}",
                    "networkEndpointType": "SERVERLESS",
                    "cloudRun": {"service": name},
                },
            )
    yield emulator, compute, plane
    plane.stop_all()


@pytest.fixture(scope="module")
def default_edge(world) -> str:
    return chain(world)


def neg_link(region: str, name: str) -> str:
    return f"{BASE}/regions/{region}/networkEndpointGroups/{name}-{region}"


def chain(world, *, backends=None, backend=None, url_map=None, https=False) -> str:
    """A backend service, URL map, proxy and forwarding rule; the edge's URL."""
    emulator, compute, plane = world
    n = next(_names)
    bs = compute.put(
        "backendServices",
        {
            "selfLink": f"{BASE}/global/backendServices/bs{n}",
            "loadBalancingScheme": "EXTERNAL_MANAGED",
            "backends": [
                {"group": neg_link(r, name)}
                for r, name in (backends or [(r, "tiny") for r in REGIONS])
            ],
            **(backend or {}),
        },
    )
    um = compute.put(
        "urlMaps",
        {
            "selfLink": f"{BASE}/global/urlMaps/um{n}",
            "defaultService": bs["selfLink"],
            **(url_map or {}),
        },
    )
    kind = "targetHttpsProxies" if https else "targetHttpProxies"
    proxy = compute.put(kind, {"selfLink": f"{BASE}/global/{kind}/px{n}", "urlMap": um["selfLink"]})
    rule = compute.put(
        "forwardingRules",
        {
            "selfLink": f"{BASE}/global/forwardingRules/fr{n}",
            "name": f"fr{n}",
            "IPAddress": LB_IP,
            "portRange": "443-443" if https else "80-80",
            "target": proxy["selfLink"],
        },
    )
    plane.sync_edges()
    (edge,) = [e for e in plane.edges() if e["forwardingRule"] == rule["selfLink"]]
    return edge["url"]


def get(url, path="/", **headers):
    status, response_headers, body = http_get(
        url, path, {k.replace("_", "-"): v for k, v in headers.items()}
    )
    return status, response_headers, body


@pytest.mark.parametrize(
    ("city", "region"),
    [
        ("Paris", "europe-west1"),
        ("Tokyo", "asia-northeast1"),
        ("Tokyo, JP", "asia-northeast1"),
        ("Chicago", "us-central1"),
        ("London", "europe-west1"),
        ("New York City", "us-central1"),
        ("Singapore", "asia-northeast1"),
        ("Cairo", "europe-west1"),
        ("Sydney", "asia-northeast1"),
    ],
)
def test_each_city_is_answered_from_the_nearest_region(default_edge, city, region):
    status, _, body = get(default_edge, X_Emulator_Client_City=city)
    assert status == 200
    assert echo(body)["region"] == region


def test_a_lat_long_header_and_the_default_city_locate_the_client(default_edge):
    url = default_edge
    assert echo(get(url, X_Emulator_Client_LatLng="35.68,139.69")[2])["region"] == "asia-northeast1"
    assert echo(get(url)[2])["region"] == "us-central1"  # --client-city Chicago


def test_custom_headers_carry_the_clients_location_and_lb_headers_are_added(world):
    url = chain(
        world,
        backend={
            "customRequestHeaders": [
                "X-Client-Geo-Location:{client_city},{client_region_subdivision},{client_region}",
                "X-Geo-Point:{client_city_lat_long}",
                "X-Braces:{{literal}} {tls_version}{client_protocol} {client_encrypted}",
            ]
        },
        url_map={"headerAction": {"requestHeadersToRemove": ["X-Client-Geo-Location", "X-Drop"]}},
    )
    status, headers, body = get(
        url,
        "/where",
        X_Emulator_Client_City="Paris",
        X_Client_Geo_Location="Atlantis,XX,XX",
        X_Drop="1",
        X_Keep="kept",
    )
    assert status == 200
    seen = echo(body)
    assert header_values(seen, "X-Client-Geo-Location") == ["Paris,FR11,FR"]
    assert header_values(seen, "X-Geo-Point")[0].startswith("48.85")
    assert header_values(seen, "X-Braces") == ["{literal} HTTP/1.1 false"]
    assert header_values(seen, "X-Drop") == [] and header_values(seen, "X-Keep") == ["kept"]
    assert header_values(seen, "X-Emulator-Client-City") == []
    assert header_values(seen, "X-Forwarded-For") == [f"127.0.0.1,{LB_IP}"]
    assert header_values(seen, "X-Forwarded-Proto") == ["http"]
    assert header_values(seen, "Via") == ["1.1 google"]
    assert len(header_values(seen, "X-Cloud-Trace-Context")) == 1
    assert headers["Via"] == "1.1 google"
    assert headers["X-Tiny"] == "1"


def test_without_a_url_map_removal_a_client_value_is_not_hidden(world):
    url = chain(world, backend={"customRequestHeaders": ["X-Client-Geo-Location:{client_city}"]})
    seen = echo(get(url, X_Emulator_Client_City="Tokyo", X_Client_Geo_Location="forged")[2])
    assert header_values(seen, "X-Client-Geo-Location") == ["forged", "Tokyo"]


def test_nothing_unasked_is_added_beyond_the_load_balancers_own_headers(world):
    url = chain(world)
    seen = echo(get(url, X_Emulator_Client_City="Paris", X_Anything="a")[2])
    names = {name.lower() for name, _ in seen["headers"]}
    assert names == {
        "host",
        "accept-encoding",
        "x-anything",
        "x-forwarded-for",
        "x-forwarded-proto",
        "via",
        "x-cloud-trace-context",
    }


def test_url_map_header_wins_over_the_backend_service_and_replace_rules(world):
    url = chain(
        world,
        backend={"customRequestHeaders": ["X-Who:backend", "X-Only-Backend:b"]},
        url_map={
            "headerAction": {
                "requestHeadersToAdd": [
                    {"headerName": "X-Who", "headerValue": "url-map", "replace": True},
                    {"headerName": "X-Appended", "headerValue": "{client_city}"},
                    {"headerName": "X-Replaced", "headerValue": "fixed"},
                ],
                "responseHeadersToAdd": [
                    {"headerName": "X-Resp", "headerValue": "{client_region}"}
                ],
                "responseHeadersToRemove": ["X-Tiny"],
            }
        },
    )
    status, headers, body = get(
        url, X_Emulator_Client_City="Paris", X_Appended="client", X_Replaced="client"
    )
    seen = echo(body)
    assert header_values(seen, "X-Who") == ["url-map"]
    assert header_values(seen, "X-Only-Backend") == ["b"]
    # replace defaults to false when the value has a variable, true otherwise.
    assert header_values(seen, "X-Appended") == ["client", "Paris"]
    assert header_values(seen, "X-Replaced") == ["fixed"]
    assert headers["X-Resp"] == "FR" and "X-Tiny" not in headers


def test_https_rules_serve_plain_http_and_say_https_to_the_app(world):
    url = chain(world, https=True)
    seen = echo(get(url, X_Emulator_Client_City="Tokyo")[2])
    assert header_values(seen, "X-Forwarded-Proto") == ["https"]


def test_a_default_url_redirect_is_answered_by_the_edge(world):
    url = chain(
        world,
        url_map={
            "defaultService": None,
            "defaultUrlRedirect": {"httpsRedirect": True, "redirectResponseCode": "FOUND"},
        },
    )
    status, headers, _ = get(url, "/a/b?q=1")
    assert status == 302
    assert headers["Location"] == f"https://{url.removeprefix('http://')}/a/b?q=1"


def test_bad_location_headers_get_a_short_400(world):
    url = chain(world)
    status, _, body = get(url, X_Emulator_Client_City="Nowhereville Zzz")
    assert status == 400 and b"X-Emulator-Client-City" in body and b"Traceback" not in body
    status, _, body = get(url, X_Emulator_Client_LatLng="north,east")
    assert status == 400 and b"latitude,longitude" in body


def test_a_region_without_its_service_answers_no_healthy_upstream(world):
    url = chain(world, backends=[("europe-west1", "missing"), ("us-central1", "tiny")])
    status, _, body = get(url, X_Emulator_Client_City="Paris")
    assert (status, body) == (503, b"no healthy upstream")


def test_internal_only_ingress_refuses_the_load_balancer_with_cloud_runs_404(world):
    url = chain(world, backends=[("us-central1", "internal")])
    status, headers, body = get(url, "/x", X_Emulator_Client_City="Chicago")
    assert status == 404 and b"Error 404 (Not Found)!!1" in body
    assert headers["Via"] == "1.1 google"


def test_paths_cloud_run_reserves_get_its_404_through_the_load_balancer(default_edge):
    status, headers, body = get(default_edge, "/healthz", X_Emulator_Client_City="Paris")
    assert status == 404 and b"Error 404 (Not Found)!!1" in body
    assert headers["Via"] == "1.1 google"


def test_server_sent_events_stream_through_chunk_by_chunk(world):
    url = chain(world)
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/stream", headers={"X-Emulator-Client-City": "Tokyo"})
    response = conn.getresponse()
    assert response.status == 200
    arrivals = []
    while chunk := response.read1(65536):
        arrivals.extend(time.monotonic() for _ in range(chunk.count(b"data: ")))
    conn.close()
    assert len(arrivals) == 4
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert all(gap > 0.15 for gap in gaps), gaps


def test_backend_timeout_answers_504_upstream_request_timeout(world):
    url = chain(world, backend={"timeoutSec": 1})
    started = time.monotonic()
    status, _, body = get(url, "/sleep/3", X_Emulator_Client_City="Tokyo")
    assert (status, body) == (504, b"upstream request timeout")
    assert time.monotonic() - started < 2.5


OUTLIER_BACKENDS = [("europe-west1", "flaky"), ("us-central1", "tiny"), ("asia-northeast1", "tiny")]


def test_outlier_detection_ejects_a_failing_region_and_brings_it_back(world):
    url = chain(
        world,
        backends=OUTLIER_BACKENDS,
        backend={
            "outlierDetection": {
                "consecutiveGatewayFailure": 3,
                "baseEjectionTime": {"seconds": 1},
                "interval": {"seconds": 1},
            }
        },
    )
    answers = [get(url, X_Emulator_Client_City="Paris") for _ in range(5)]
    assert [a[0] for a in answers] == [502, 502, 502, 200, 200]
    assert echo(answers[3][2])["region"] == "us-central1"  # the next nearest to Paris
    # Ejected for baseEjectionTime, then back at a sweep: Paris reaches europe-west1 again.
    assert wait_for(lambda: get(url, X_Emulator_Client_City="Paris")[0] == 502, 5)


def test_consecutive_5xx_do_not_eject_by_default_since_enforcing_is_0(world):
    url = chain(
        world,
        backends=OUTLIER_BACKENDS,
        backend={"outlierDetection": {"consecutiveErrors": 2, "consecutiveGatewayFailure": 100}},
    )
    assert [get(url, X_Emulator_Client_City="Paris")[0] for _ in range(4)] == [502] * 4


def test_without_outlier_detection_there_is_no_failover(world):
    url = chain(world, backends=OUTLIER_BACKENDS)
    statuses = [get(url, X_Emulator_Client_City="Paris")[0] for _ in range(8)]
    assert statuses == [502] * 8


def test_modelled_latency_delays_the_request_and_is_labelled(world):
    emulator, _, _ = world
    url = chain(world, backends=[("us-central1", "tiny")])
    emulator.config.latency = "model"
    try:
        started = time.monotonic()
        status, headers, _ = get(url, X_Emulator_Client_City="Paris")
        elapsed_ms = (time.monotonic() - started) * 1000
    finally:
        emulator.config.latency = "off"
    modelled = float(headers["X-Emulator-Modelled-Rtt-Ms"])
    assert status == 200 and 80 < modelled < 200
    assert elapsed_ms >= modelled


def test_a_new_rule_serves_the_gfe_502_page_while_it_propagates(world):
    emulator, _, _ = world
    emulator.config.profile, emulator.config.time_scale = "realistic", 0.005  # 0.9 s
    try:
        url = chain(world)
    finally:
        emulator.config.profile, emulator.config.time_scale = "instant", 1.0
    status, _, body = get(url, X_Emulator_Client_City="Paris")
    assert status == 502 and b"Please try again in 30 seconds." in body
    assert wait_for(lambda: get(url, X_Emulator_Client_City="Paris")[0] == 200, 5)


def test_edge_ports_are_stable_and_closed_when_the_rule_goes(world):
    _, compute, plane = world
    url = chain(world)
    (rule_link,) = [e["forwardingRule"] for e in plane.edges() if e["url"] == url]
    plane.sync_edges()
    assert any(e["url"] == url for e in plane.edges())
    compute.delete("forwardingRules", rule_link)
    plane.sync_edges()
    assert not port_listening(int(url.rsplit(":", 1)[1]))
    assert all(e["forwardingRule"] != rule_link for e in plane.edges())
