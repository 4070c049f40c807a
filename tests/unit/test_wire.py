"""The wire protocols both sides speak: the probe VM's startup script and serial lines,
their parser and the probe label, and how a guide's answer (JSON, event stream, header)
is read."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess

import pytest

from globalguide.errors import UsageError
from globalguide.wire import guide_request, probe_serial
from globalguide.wire.guide_request import Sample, served_region

BODY = {
    "ai_response": "Welcome to Paris!",
    "meta": {"served_from_region": "europe-west1", "user_detected_location": "Paris, FR"},
}


def test_sample_lines_round_trip_and_noise_is_ignored():
    samples = [
        Sample(1, 200, 34.5, 12.0, "europe-west1"),
        Sample(2, 503, 8.0, 8.0, None),
        Sample(3, 0, None, None, None),
    ]
    text = "\n".join(
        [
            "[    0.000000] Linux version 6.1.0",
            *(probe_serial.sample_line("ab-1", s) for s in samples),
            probe_serial.sample_line("other-2", Sample(1, 200, 1.0, 1.0, "us-central1")),
            "Nov 29 runner[12]: startup-script: "
            + probe_serial.body_line("ab-1", json.dumps(BODY).encode()),
            probe_serial.sample_line("ab-1", samples[0]),  # the same line logged twice
            probe_serial.done_line("ab-1", 3),
        ]
    )
    report = probe_serial.parse_serial(text, "ab-1")
    assert report.done
    assert report.samples == samples
    assert report.document == BODY


def test_parsing_accumulates_across_reads():
    report = probe_serial.SerialReport()
    probe_serial.parse_serial(
        probe_serial.sample_line("x-1", Sample(1, 200, 5.0, 4.0, "r")) + "\n", "x-1", report
    )
    assert not report.done and len(report.samples) == 1
    probe_serial.parse_serial(probe_serial.done_line("x-1", 1), "x-1", report)
    assert report.done


def test_a_garbled_body_line_is_ignored():
    report = probe_serial.parse_serial(
        "GGPROBE a-1 body b64=!!!notbase64\nGGPROBE a-1 sample seq=x", "a-1"
    )
    assert report.document is None
    assert report.samples == [Sample(0, 0, None, None, None)]


def test_script_header_carries_the_parameters():
    script = probe_serial.startup_script("http://34.1.2.3", 3, 30.0, "ab12-1")
    assert script.startswith("#!/bin/bash\n")
    assert probe_serial.read_script_header(script) == {
        "url": "http://34.1.2.3", "count": 3, "timeout_s": 30.0, "id": "ab12-1",
    }  # fmt: skip
    assert probe_serial.read_script_header("#!/bin/sh\necho hi\n") is None


@pytest.mark.parametrize("url", ["http://x/'; rm -rf /", "file:///etc/passwd", "http://a b"])
def test_script_refuses_urls_that_are_not_plain(url):
    with pytest.raises(UsageError):
        probe_serial.startup_script(url, 1, 10, "a-1")


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
    script.write_text(probe_serial.startup_script("http://127.0.0.1:9", 2, 5, "t-1"))
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "GGPROBE_OUT": str(serial)}
    subprocess.run(["bash", str(script)], env=env, check=True, timeout=30)
    report = probe_serial.parse_serial(serial.read_text(), "t-1")
    assert report.done
    assert report.samples == [
        Sample(1, 200, 34.0, 12.0, "europe-west1"),
        Sample(2, 200, 34.0, 12.0, "europe-west1"),
    ]
    assert report.document == BODY


def test_body_line_is_bounded():
    line = probe_serial.body_line("a-1", b"x" * 10_000)
    assert len(base64.b64decode(line.split("b64=")[1])) == 4000


def test_sse_is_parsed_into_text_and_meta():
    body = (
        b'data: {"text":"Hel"}\n\ndata: {"text":"lo"}\n\n'
        b'event: meta\ndata: {"served_from_region":"us-central1"}\n\n'
    )
    assert guide_request.parse_sse(body) == {
        "ai_response": "Hello", "meta": {"served_from_region": "us-central1"},
    }  # fmt: skip
    assert guide_request.parse_sse(b'event: error\ndata: {"error":"x"}\n\n') is None


def test_the_served_region_comes_from_the_header_and_is_checked():
    assert served_region({"X-Served-Region": "europe-west1"}) == "europe-west1"
    assert served_region({}, {"meta": {"served_from_region": "us-central1"}}) == "us-central1"
    assert served_region({"X-Served-Region": "<script>"}) is None
    assert served_region({}) is None
