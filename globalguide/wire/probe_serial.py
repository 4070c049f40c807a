"""The probe VM's wire protocol: its startup script, the lines it prints on the serial port,
and their parser.

The script requests the load balancer from the VM's zone and prints one ``GGPROBE`` line
per request, then the first answer (base64) and a ``done`` line. Its parameters are
repeated in a one-line JSON header, which is all the emulator reads (it never runs the
script): an emulated probe VM prints the very same lines (:func:`sample_line`,
:func:`body_line`, :func:`done_line`).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from globalguide.errors import UsageError
from globalguide.wire.guide_request import SERVED_REGION_HEADER, Sample, json_object

# Every probe VM carries this label (its value: the probe run's id).
PROBE_LABEL = "globalguide-probe"
LINE_TAG = "GGPROBE"
HEADER_TAG = "# globalguide-probe:"
MAX_BODY_LINE_BYTES = 4000
_LINE = re.compile(rf"{LINE_TAG} (?P<id>[a-z0-9-]+) (?P<kind>sample|body|done)\b(?P<rest>.*)")
_FIELD = re.compile(r"(\w+)=(\S*)")


def startup_script(url: str, count: int, timeout_s: float, probe_id: str) -> str:
    """A bash script for a stock Debian image: ``count`` curl requests to ``url``, one
    ``GGPROBE`` line per request on the serial port, then the first answer (base64) and a
    ``done`` line. Its parameters are repeated in a one-line JSON header, which is all the
    emulator reads (it never runs the script)."""
    if not re.fullmatch(r"https?://[A-Za-z0-9.:\[\]-]+(/[A-Za-z0-9._~/-]*)?", url):
        raise UsageError(f"Cannot probe {url!r}: not a plain http(s) URL.")
    params = {"url": url, "count": count, "timeout_s": timeout_s, "id": probe_id}
    target = url.rstrip("/") + "/"
    return f"""#!/bin/bash
{HEADER_TAG} {json.dumps(params, separators=(",", ":"))}
# Requests the load balancer from this zone and reports on the serial port (ttyS0).
out=${{GGPROBE_OUT:-/dev/ttyS0}}; [ -w "$out" ] || out=/dev/console
say() {{ echo "{LINE_TAG} {probe_id} $*" >> "$out"; }}
body=$(mktemp); hdrs=$(mktemp)
for i in $(seq 1 {count}); do
  : > "$body"
  res=$(curl -s -o "$body" -D "$hdrs" -H 'Accept: application/json' --max-time {timeout_s:g} \\
    -w '%{{http_code}} %{{time_starttransfer}} %{{time_total}}' '{target}')
  set -- $res
  region=$(tr -d '\\r' < "$hdrs" | sed -n 's/^{SERVED_REGION_HEADER.lower()}: *//Ip' | head -n1)
  [ -n "$region" ] || \\
    region=$(grep -o '"served_from_region": *"[^"]*"' "$body" | head -n1 | cut -d'"' -f4)
  say sample seq=$i http=${{1:-0}} ttfb_s=${{2:-}} total_s=${{3:-}} region=${{region:--}}
  [ "$i" = 1 ] && say body b64=$(head -c {MAX_BODY_LINE_BYTES} "$body" | base64 -w0)
done
say done count={count}
"""


def read_script_header(script: str) -> dict[str, Any] | None:
    """The JSON parameters in a probe startup script's header line, or None."""
    for line in script.splitlines()[:5]:
        if line.startswith(HEADER_TAG):
            try:
                params = json.loads(line[len(HEADER_TAG) :])
            except ValueError:
                return None
            return params if isinstance(params, dict) else None
    return None


def sample_line(probe_id: str, sample: Sample) -> str:
    """The serial line the startup script prints for one request (the emulator's too)."""
    ttfb = "" if sample.ttfb_ms is None else f"{sample.ttfb_ms / 1000:.6f}"
    total = "" if sample.total_ms is None else f"{sample.total_ms / 1000:.6f}"
    return (
        f"{LINE_TAG} {probe_id} sample seq={sample.seq} http={sample.http_status} "
        f"ttfb_s={ttfb} total_s={total} region={sample.served_from_region or '-'}"
    )


def body_line(probe_id: str, body: bytes) -> str:
    encoded = base64.b64encode(body[:MAX_BODY_LINE_BYTES]).decode()
    return f"{LINE_TAG} {probe_id} body b64={encoded}"


def done_line(probe_id: str, count: int) -> str:
    return f"{LINE_TAG} {probe_id} done count={count}"


@dataclass
class SerialReport:
    samples: list[Sample] = field(default_factory=list)
    document: dict[str, Any] | None = None
    done: bool = False


def parse_serial(text: str, probe_id: str, report: SerialReport | None = None) -> SerialReport:
    """Fold the probe's lines in ``text`` into ``report``; other lines (boot messages,
    other probes) are ignored. A line may carry a console prefix before the tag."""
    report = report or SerialReport()
    for raw in text.splitlines():
        at = raw.find(LINE_TAG + " ")
        match = _LINE.match(raw[at:]) if at >= 0 else None
        if match is None or match.group("id") != probe_id:
            continue
        fields = dict(_FIELD.findall(match.group("rest")))
        kind = match.group("kind")
        if kind == "done":
            report.done = True
        elif kind == "body" and report.document is None:
            with contextlib.suppress(ValueError):
                report.document = json_object(base64.b64decode(fields.get("b64", "")))
        elif kind == "sample":
            sample = _sample_from(fields)
            # A line logged twice (console and script log) counts once.
            if all(s.seq != sample.seq for s in report.samples):
                report.samples.append(sample)
    return report


def _sample_from(fields: dict[str, str]) -> Sample:
    def ms(key: str) -> float | None:
        try:
            return round(float(fields[key]) * 1000, 1)
        except (KeyError, ValueError):
            return None

    try:
        seq, status = int(fields.get("seq", "0")), int(fields.get("http", "0"))
    except ValueError:
        seq, status = 0, 0
    region = fields.get("region") or "-"
    total = ms("total_s") if status else None
    return Sample(seq, status, total, ms("ttfb_s") if status else None,
                  None if region == "-" else region)  # fmt: skip
