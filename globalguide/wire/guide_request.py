"""One timed request to a deployed service, and how its answer names the region that served it.

Probe, deploy's serving checks, drill and the emulator's probe VMs all ask the same way:
``GET /`` (or ``/stream`` for server-sent events), optionally placed in a city by the
emulator-only location headers, bounded in time and size. A service names its region in the
``X-Served-Region`` response header (docs/service.md); an older Local Guide only in its
JSON, ``meta.served_from_region``.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

# The response header a deployed service adds naming the region that served the request.
SERVED_REGION_HEADER = "X-Served-Region"
# Where the emulator's edge places a client (every client of the emulator is on loopback);
# the real load balancer ignores them.
CITY_HEADER = "X-Emulator-Client-City"
LATLNG_HEADER = "X-Emulator-Client-LatLng"
TIMEOUT_S = 30.0
USER_AGENT = "globalguide"
MAX_BODY_BYTES = 1_000_000
_REGION_NAME = re.compile(r"[a-z]{2,12}-[a-z]{2,16}[0-9]{1,2}")


@dataclass(frozen=True)
class Sample:
    """One measured request."""

    seq: int
    http_status: int  # 0: no answer (connection failed or timed out)
    total_ms: float | None
    ttfb_ms: float | None = None
    served_from_region: str | None = None


@dataclass(frozen=True)
class Answer:
    """What one request brought back. ``failed``: an error status or no answer at all, so
    no body and no document; an error status still has its times and its headers' region."""

    status: int  # 0: no answer (connection failed or timed out)
    total_ms: float | None = None
    ttfb_ms: float | None = None  # the first byte of the body; for an error, the status line
    body: bytes = b""
    document: dict[str, Any] | None = None
    served_region: str | None = None
    failed: bool = True


def ask(
    url: str,
    *,
    stream: bool = False,
    city: str | None = None,
    latlng: str | None = None,
    timeout: float = TIMEOUT_S,
    user_agent: str | None = USER_AGENT,
) -> Answer:
    """GET the service's ``/`` (JSON) or ``/stream`` (server-sent events), timed. The
    document is the JSON object, or for a stream the joined text and the ``meta`` event.
    ``user_agent`` None sends urllib's own, as a plain HTTP client would."""
    headers = {"Accept": "text/event-stream" if stream else "application/json"}
    if user_agent:
        headers["User-Agent"] = user_agent
    if city:
        headers[CITY_HEADER] = city
    if latlng:
        headers[LATLNG_HEADER] = latlng
    target = url.rstrip("/") + ("/stream" if stream else "/")
    request = urllib.request.Request(target, headers=headers)  # noqa: S310
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            first = resp.read(1)
            ttfb = _ms_since(started)
            body = first + resp.read(MAX_BODY_BYTES - 1)
            status = resp.status
            answer_headers = resp.headers
    except urllib.error.HTTPError as exc:
        elapsed = _ms_since(started)
        return Answer(exc.code, elapsed, elapsed, served_region=served_region(exc.headers))
    except (urllib.error.URLError, OSError, ValueError):
        return Answer(0)
    total = _ms_since(started)
    document = parse_sse(body) if stream else json_object(body)
    region = served_region(answer_headers, document)
    return Answer(status, total, ttfb, body, document, region, failed=False)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def served_region(headers: Any, document: Any = None) -> str | None:
    """The region an answer names: its X-Served-Region header, else (an older Local Guide)
    ``meta.served_from_region`` in its JSON; None when it names none or a malformed one."""
    value = headers.get(SERVED_REGION_HEADER) if headers is not None else None
    if value is None and isinstance(document, dict) and isinstance(document.get("meta"), dict):
        value = document["meta"].get("served_from_region")
    if isinstance(value, str) and _REGION_NAME.fullmatch(value.strip()):
        return value.strip()
    return None


def json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object whose ``meta``, if any, is an object; else None."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("meta", {}), dict):
        return None
    return document


def parse_sse(body: bytes) -> dict[str, Any] | None:
    """The guide's event stream as {"ai_response": joined text, "meta": {...}}."""
    text, meta = [], None
    for block in body.decode("utf-8", errors="replace").split("\n\n"):
        event, data = "message", ""
        for line in block.splitlines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
        if not data:
            continue
        try:
            payload = json.loads(data)
        except ValueError:
            continue
        if event == "meta" and isinstance(payload, dict):
            meta = payload
        elif event == "message" and isinstance(payload, dict):
            text.append(str(payload.get("text", "")))
    if meta is None:
        return None
    return {"ai_response": "".join(text), "meta": meta}
