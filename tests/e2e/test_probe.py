"""`globalguide probe` and `globalguide regions` end to end against a deployed emulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from globalguide import geo
from globalguide.emulator.session import bearer
from tests.e2e.conftest import run_cli, run_json

pytestmark = pytest.mark.e2e

NAMED = {"Tokyo": "asia-northeast1", "Paris": "europe-west1", "Chicago": "us-central1"}
MORE = {
    "Seoul": "asia-northeast1",
    "Jakarta": "asia-northeast1",
    "Sydney": "asia-northeast1",
    "Madrid": "europe-west1",
    "Cairo": "europe-west1",
    "Lagos": "europe-west1",
    "Mexico City": "us-central1",
    "Vancouver, CA": "us-central1",
    "Sao Paulo": "us-central1",
}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """An emulator of this module's own (its own state directory), with modelled network
    delays so that a VM probe takes long enough to be killed half way."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GLOBALGUIDE_STATE_DIR", str(tmp_path_factory.mktemp("probe-state")))
        info = run_json("emulator", "start", "--latency", "model")
        yield info
        run_cli("emulator", "stop", check=False)


@pytest.fixture(scope="module")
def deployed(emulator):
    document = run_json("deploy", "--local", "--yes")
    yield document
    run_cli("teardown", "--local", "--yes", check=False)


def instances(endpoint: str) -> list[dict]:
    state = requests.get(f"{endpoint}/_emulator/state", headers=bearer(endpoint), timeout=10).json()
    return state["compute"]["instances"]


def as_cities(*names: str) -> list[str]:
    return [arg for name in names for arg in ("--as-city", name)]


def test_named_and_other_cities_are_served_by_their_nearest_region(deployed):
    cities = {**NAMED, **MORE}
    document = run_json("probe", "--local", *as_cities(*cities))
    assert document["via"] == "edge" and document["url"] == deployed["url"]
    assert document["deployed_regions"] == sorted(set(NAMED.values()))
    by_name = {p["city"]["name"]: p for p in document["probes"]}
    assert len(by_name) == len(cities)
    for query, region in cities.items():
        city = geo.find_city(query)
        p = by_name[city.name]
        assert p["status"] == "ok", p
        assert p["served_from_region"] == region, (query, p)
        assert p["city"] == {"name": city.name, "country": city.country, "lat": city.lat,
                             "lon": city.lon}  # fmt: skip
        assert city.name.split()[0] in p["user_detected_location"]
        assert p["ai_response"]
        assert p["measured"]["total_ms"] > 0 and p["measured"]["ttfb_ms"] is None
        modelled = p["modelled"]
        assert set(modelled["rtt_ms_by_region"]) == set(NAMED.values())
        assert modelled["nearest_deployed_region"] == region and modelled["served_by_nearest"]
        assert modelled["best_single_region"]["region"] in geo.REGIONS


def test_the_largest_cities_are_each_served_by_their_nearest_region(deployed):
    started = time.monotonic()
    document = run_json("probe", "--local", "--cities-top", "20")
    assert time.monotonic() - started < 120
    probes = document["probes"]
    assert len(probes) == 20
    for p in probes:
        assert p["status"] == "ok", p
        assert p["served_from_region"] == p["modelled"]["nearest_deployed_region"], p


def test_human_output_is_one_table_sorted_by_region_with_the_saving(deployed):
    proc = run_cli("probe", "--local", *as_cities("Paris", "Tokyo", "Chicago", "Seoul"))
    out = proc.stdout
    assert "sorted by serving region" in out and "modelled saving" in out
    rows = [line for line in out.splitlines() if "Tokyo" in line or "Paris" in line]
    positions = [out.index(city) for city in ("Seoul", "Tokyo", "Paris", "Chicago")]
    assert positions[2] > max(positions[:2]) and positions[3] > positions[2], rows
    one = run_cli("probe", "--local", "--as-city", "Tokyo").stdout
    assert "asia-northeast1" in one and "modelled RTT to europe-west1" in one
    assert "modelled saving vs best single region" in one


def test_stream_measures_time_to_first_byte(deployed):
    p = run_json("probe", "--local", "--as-city", "Paris", "--stream", "--count", "2")["probes"][0]
    assert p["served_from_region"] == "europe-west1" and p["ai_response"]
    assert 0 < p["measured"]["ttfb_ms"] <= p["measured"]["total_ms"]
    assert len(p["measured"]["samples"]) == 2


def test_without_a_city_it_probes_from_here(deployed):
    document = run_json("probe", "--local")
    (p,) = document["probes"]
    assert document["via"] == "direct" and p["city"] is None
    assert p["served_from_region"] == "us-central1"  # the emulator's default client city
    assert p["modelled"] == {}


@pytest.mark.parametrize(
    "query, expected",
    [("Springfield", ["Springfield, MO, US", "Springfield, MA, US"]), ("Pariss", ["Paris"])],
)
def test_ambiguous_and_unknown_cities_exit_2_with_candidates(deployed, query, expected):
    proc = run_cli("probe", "--local", "--as-city", query, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    for candidate in expected:
        assert candidate in proc.stderr


def test_bounds_are_enforced(deployed):
    for args in (["--count", "21"], ["--cities-top", "101"], ["--via", "carrier-pigeon"]):
        proc = run_cli("probe", "--local", "--as-city", "Paris", *args, check=False)
        assert proc.returncode == 2, args
        assert "Traceback" not in proc.stderr


def test_vm_teleport_runs_end_to_end_and_leaves_no_vm(deployed, emulator):
    document = run_json(
        "probe", "--local", "--via", "vm", "--count", "2", *as_cities("Tokyo", "Paris", "Chicago")
    )
    assert document["via"] == "vm"
    assert document["vms"]["created"] == 3 and document["vms"]["left"] == 0
    for p in document["probes"]:
        assert p["status"] == "ok", p
        assert p["served_from_region"] == NAMED[p["city"]["name"]]
        assert p["vm"]["zone"] == geo.nearest_zone(p["city"]["lat"], p["city"]["lon"])
        assert len(p["measured"]["samples"]) == 2 and p["measured"]["total_ms"] > 0
        assert p["user_detected_location"] and p["ai_response"]
    assert instances(emulator["endpoint"]) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_vm_probe_killed_half_way_leaves_no_vm(deployed, emulator, signum):
    endpoint = emulator["endpoint"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "globalguide", "probe", "--local", "--via", "vm",
         "--count", "20", "--json", "--as-city", "Sydney"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        running = []
        while time.monotonic() < deadline and not running:
            running = [i for i in instances(endpoint) if i["status"] == "RUNNING"]
            time.sleep(0.1)
        assert running, "the probe VM never came up"
        time.sleep(1.5)  # the VM is half way through its 20 requests
        assert proc.poll() is None, "the probe finished before it could be interrupted"
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 130, stderr
    assert "Interrupted. Every probe VM was deleted." in stderr
    assert "Traceback" not in stderr
    assert instances(endpoint) == []


def test_map_writes_a_standalone_html_file(deployed, tmp_path):
    target = tmp_path / "map.html"
    run_cli("probe", "--local", "--map", str(target), *as_cities("Tokyo", "Paris", "Chicago"))
    html = target.read_text()
    assert html.startswith("<!doctype html>") and "<svg" in html
    assert html.count("<circle") == 3 and "Tokyo, JP: served from asia-northeast1" in html
    assert "http" not in html.replace("http://www.w3.org/2000/svg", "").replace(
        "http://127.0.0.1", ""
    )


def test_regions_lists_every_region_with_its_location():
    document = run_json("regions")
    names = [r["name"] for r in document["regions"]]
    assert set(names) == set(geo.REGIONS)
    tokyo = next(r for r in document["regions"] if r["name"] == "asia-northeast1")
    assert tokyo["city"] == "Tokyo" and tokyo["zones"]


def test_regions_suggest_compares_with_the_deployed_regions(deployed):
    document = run_json("regions", "suggest", "-k", "3", "--local")
    current = document["current"]
    assert current["regions"] == sorted(set(NAMED.values()))
    # The deployment is the tutorial's three, so both rows hold the same figures, and the
    # best three, proven optimal, is strictly better on the 100 largest cities.
    assert current == {k: v for k, v in document["baseline"].items() if k != "name"}
    best = document["best"][-1]
    assert best["gap"] == 0 and best["mean_rtt_ms"] < current["mean_rtt_ms"]
