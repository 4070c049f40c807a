"""The probe's pure parts: the results model, city resolution errors, the teleport job, and
the emulator's reading of a probe VM (the script and its serial lines: test_wire.py)."""

from __future__ import annotations

import json
import threading

import pytest

from globalguide import geo, probe
from globalguide.emulator.dataplane import vm
from globalguide.errors import UsageError
from globalguide.wire import probe_serial


def test_results_model_status_and_medians():
    city = geo.City("Paris", "FR", "FR11", 48.85, 2.35, 2_000_000, 1)
    p = probe.CityProbe(city, "edge")
    p.samples = [probe.Sample(1, 200, 30.0), probe.Sample(2, 200, 10.0), probe.Sample(3, 200, 20.0)]
    assert p.status == "ok" and p.median("total_ms") == 20.0
    p.samples.append(probe.Sample(4, 503, 5.0))
    assert p.status == "partial"
    assert probe.CityProbe(city, "vm", samples=[probe.Sample(1, 0, None)]).status == "failed"
    p.modelled = probe.modelled_for(city, ["us-central1", "europe-west1"], "europe-west1")
    d = p.to_dict()
    assert d["city"] == {"name": "Paris", "country": "FR", "lat": 48.85, "lon": 2.35}
    assert d["measured"]["total_ms"] == 20.0 and d["measured"]["requests"] == 4
    m = d["modelled"]
    assert set(m["rtt_ms_by_region"]) == {"us-central1", "europe-west1"}
    assert m["nearest_deployed_region"] == "europe-west1" and m["served_by_nearest"]
    single = m["best_single_region"]
    assert single["region"] in geo.REGIONS
    assert m["saving_ms"] == pytest.approx(single["rtt_ms"] - m["rtt_ms_by_region"]["europe-west1"])
    json.dumps(d)


def test_city_resolution_errors_are_usage_errors_with_candidates():
    with pytest.raises(UsageError) as ambiguous:
        probe.resolve_cities(["Springfield"], None)
    assert "US" in ambiguous.value.message and "pop." in ambiguous.value.message
    with pytest.raises(UsageError) as unknown:
        probe.resolve_cities(["Pariss"], None)
    assert "Closest" in unknown.value.message
    cities = probe.resolve_cities(["Tokyo", "Tokyo, JP"], 3)
    assert cities[0].name == "Tokyo" and len(cities) == len({c.geonameid for c in cities})
    with pytest.raises(UsageError):
        probe.resolve_cities([], 101)


def _instance(script: str, labels: dict | None = None, zone: str = "asia-northeast1-a") -> dict:
    return {
        "selfLink": f"https://compute/projects/p/zones/{zone}/instances/v",
        "zone": f"https://compute/projects/p/zones/{zone}",
        "labels": {"globalguide-probe": "r"} if labels is None else labels,
        "metadata": {"items": [{"key": "startup-script", "value": script}]},
    }


def test_the_emulator_reads_only_the_header_of_a_probe_vm():
    script = probe_serial.startup_script("http://127.0.0.1:8080", 4, 5, "r-1")
    params, region = vm._plan(_instance(script))
    assert params == {"url": "http://127.0.0.1:8080", "count": 4, "timeout_s": 5.0, "id": "r-1"}
    assert region.name == "asia-northeast1"
    assert vm._plan(_instance(script, labels={})) is None  # not a probe VM
    assert vm._plan(_instance("#!/bin/bash\ncurl http://127.0.0.1:1/\n")) is None
    outside = probe_serial.startup_script("http://34.1.2.3", 4, 5, "r-1")
    assert vm._plan(_instance(outside)) is None  # never leaves loopback
    too_many = script.replace('"count":4', '"count":500')
    assert vm._plan(_instance(too_many)) is None


def test_emulated_vm_stops_when_deleted():
    lines: list[str] = []
    probes = vm.VmProbes(lambda _link, text: lines.append(text) or True)
    script = probe_serial.startup_script("http://127.0.0.1:9", 20, 1, "r-1")
    instance = _instance(script)
    probes.on_running(instance)
    probes.on_deleted(instance)
    probes.stop_all()
    assert not any("done" in line for line in lines)


PARIS = geo.City("Paris", "FR", "FR11", 48.85, 2.35, 2_000_000, 1)


def test_a_city_that_fails_is_reported_not_fatal():
    request = probe.ProbeRequest([PARIS], probe.VIA_EDGE, 2, False)
    document = probe.run(request, url="http://127.0.0.1:9", deployed=["europe-west1"])
    (p,) = document["probes"]
    assert p["status"] == "failed" and "no answer" in p["error"]
    assert p["modelled"]["nearest_deployed_region"] == "europe-west1"


class FakeVms:
    """In-memory stand-in for cloud.probe_vm.ProbeVms."""

    run_id = "r"

    def __init__(self, fail_create: bool = False, serial: str = "") -> None:
        self.fail_create = fail_create
        self.text = serial
        self.live: set[str] = set()
        self.deleted: list[str] = []

    def create(self, name, zone, script):
        from globalguide.errors import CloudError

        assert probe_serial.read_script_header(script)["count"] == 2
        self.live.add(name)
        if self.fail_create:
            raise CloudError("quota exceeded")

    def serial(self, name, zone, start):
        return self.text[start:], len(self.text)

    def delete(self, name, zone):
        self.live.discard(name)
        self.deleted.append(name)


def _settings(wait_s: float = 5.0) -> probe.VmSettings:
    return probe.VmSettings("gg", "http://127.0.0.1:9", 2, 5.0, wait_s, 0.01)


def test_vm_job_reads_the_report_and_deletes_the_vm():
    lines = [probe_serial.sample_line("r-1", probe.Sample(i, 200, 9.0, 3.0, "europe-west1"))
             for i in (1, 2)]  # fmt: skip
    vms = FakeVms(serial="\n".join([*lines, probe_serial.done_line("r-1", 2)]) + "\n")
    result = probe.vm_job(vms, _settings(), PARIS, 1)(threading.Event())
    assert result.status == "ok" and result.served_from_region == "europe-west1"
    assert result.vm == {"name": "gg-probe-r-1", "zone": geo.nearest_zone(PARIS.lat, PARIS.lon)}
    assert vms.live == set() and vms.deleted == ["gg-probe-r-1"]


@pytest.mark.parametrize("case", ["create fails", "no report", "stopped"])
def test_vm_job_deletes_the_vm_whatever_happens(case):
    vms = FakeVms(fail_create=case == "create fails")
    stop = threading.Event()
    if case == "stopped":
        threading.Timer(0.05, stop.set).start()
    result = probe.vm_job(vms, _settings(wait_s=0.3 if case == "no report" else 5), PARIS, 1)(stop)
    assert result.status == "failed" and result.error
    assert vms.live == set() and vms.deleted
