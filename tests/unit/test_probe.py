"""The probe's pure parts: the VM script and its serial line format, the results model,
city resolution errors, and the emulator's reading of a probe VM."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import threading

import pytest

from globalguide import geo, probe
from globalguide.emulator.dataplane import vm
from globalguide.errors import UsageError

BODY = {
    "ai_response": "Welcome to Paris!",
    "meta": {"served_from_region": "europe-west1", "user_detected_location": "Paris, FR"},
}


def test_sample_lines_round_trip_and_noise_is_ignored():
    samples = [
        probe.Sample(1, 200, 34.5, 12.0, "europe-west1"),
        probe.Sample(2, 503, 8.0, 8.0, None),
        probe.Sample(3, 0, None, None, None),
    ]
    text = "\n".join(
        [
            "[    0.000000] Linux version 6.1.0",
            *(probe.sample_line("ab-1", s) for s in samples),
            probe.sample_line("other-2", probe.Sample(1, 200, 1.0, 1.0, "us-central1")),
            "Nov 29 runner[12]: startup-script: "
            + probe.body_line("ab-1", json.dumps(BODY).encode()),
            probe.sample_line("ab-1", samples[0]),  # the same line logged twice
            probe.done_line("ab-1", 3),
        ]
    )
    report = probe.parse_serial(text, "ab-1")
    assert report.done
    assert report.samples == samples
    assert report.document == BODY


def test_parsing_accumulates_across_reads():
    report = probe.SerialReport()
    probe.parse_serial(
        probe.sample_line("x-1", probe.Sample(1, 200, 5.0, 4.0, "r")) + "\n", "x-1", report
    )
    assert not report.done and len(report.samples) == 1
    probe.parse_serial(probe.done_line("x-1", 1), "x-1", report)
    assert report.done


def test_a_garbled_body_line_is_ignored():
    report = probe.parse_serial(
        "GGPROBE a-1 body b64=!!!notbase64\nGGPROBE a-1 sample seq=x", "a-1"
    )
    assert report.document is None
    assert report.samples == [probe.Sample(0, 0, None, None, None)]


def test_script_header_carries_the_parameters():
    script = probe.startup_script("http://34.1.2.3", 3, 30.0, "ab12-1")
    assert script.startswith("#!/bin/bash\n")
    assert probe.read_script_header(script) == {
        "url": "http://34.1.2.3", "count": 3, "timeout_s": 30.0, "id": "ab12-1",
    }  # fmt: skip
    assert probe.read_script_header("#!/bin/sh\necho hi\n") is None


@pytest.mark.parametrize("url", ["http://x/'; rm -rf /", "file:///etc/passwd", "http://a b"])
def test_script_refuses_urls_that_are_not_plain(url):
    with pytest.raises(UsageError):
        probe.startup_script(url, 1, 10, "a-1")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_real_script_prints_what_the_parser_reads(tmp_path):
    """Run the startup script with a stand-in curl: its lines parse back."""
    fake = tmp_path / "curl"
    fake.write_text(
        "#!/bin/bash\n"
        'while [ $# -gt 0 ]; do [ "$1" = -o ] && { out=$2; shift; }; shift; done\n'
        f"printf '%s' '{json.dumps(BODY, separators=(',', ':'))}' > \"$out\"\n"
        "printf '200 0.012000 0.034000'\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    serial = tmp_path / "serial"
    serial.write_text("")
    script = tmp_path / "startup.sh"
    script.write_text(probe.startup_script("http://127.0.0.1:9", 2, 5, "t-1"))
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "GGPROBE_OUT": str(serial)}
    subprocess.run(["bash", str(script)], env=env, check=True, timeout=30)
    report = probe.parse_serial(serial.read_text(), "t-1")
    assert report.done
    assert report.samples == [
        probe.Sample(1, 200, 34.0, 12.0, "europe-west1"),
        probe.Sample(2, 200, 34.0, 12.0, "europe-west1"),
    ]
    assert report.document == BODY


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


def test_sse_is_parsed_into_text_and_meta():
    body = (
        b'data: {"text":"Hel"}\n\ndata: {"text":"lo"}\n\n'
        b'event: meta\ndata: {"served_from_region":"us-central1"}\n\n'
    )
    assert probe.parse_sse(body) == {
        "ai_response": "Hello", "meta": {"served_from_region": "us-central1"},
    }  # fmt: skip
    assert probe.parse_sse(b'event: error\ndata: {"error":"x"}\n\n') is None


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
    script = probe.startup_script("http://127.0.0.1:8080", 4, 5, "r-1")
    params, region = vm._plan(_instance(script))
    assert params == {"url": "http://127.0.0.1:8080", "count": 4, "timeout_s": 5.0, "id": "r-1"}
    assert region.name == "asia-northeast1"
    assert vm._plan(_instance(script, labels={})) is None  # not a probe VM
    assert vm._plan(_instance("#!/bin/bash\ncurl http://127.0.0.1:1/\n")) is None
    outside = probe.startup_script("http://34.1.2.3", 4, 5, "r-1")
    assert vm._plan(_instance(outside)) is None  # never leaves loopback
    too_many = script.replace('"count":4', '"count":500')
    assert vm._plan(_instance(too_many)) is None


def test_emulated_vm_stops_when_deleted():
    lines: list[str] = []
    probes = vm.VmProbes(lambda _link, text: lines.append(text) or True)
    script = probe.startup_script("http://127.0.0.1:9", 20, 1, "r-1")
    instance = _instance(script)
    probes.on_running(instance)
    probes.on_deleted(instance)
    probes.stop_all()
    assert not any("done" in line for line in lines)


def test_body_line_is_bounded():
    line = probe.body_line("a-1", b"x" * 10_000)
    assert len(base64.b64decode(line.split("b64=")[1])) == 4000


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

        assert probe.read_script_header(script)["count"] == 2
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
    lines = [probe.sample_line("r-1", probe.Sample(i, 200, 9.0, 3.0, "europe-west1"))
             for i in (1, 2)]  # fmt: skip
    vms = FakeVms(serial="\n".join([*lines, probe.done_line("r-1", 2)]) + "\n")
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
