"""Probe VMs come alive: the emulator runs a probe VM's requests from its zone's location.

The emulator never executes a startup script. A probe VM's script (see
:mod:`globalguide.wire.probe_serial`) declares its parameters in a one-line JSON
header, ``# globalguide-probe: {"url": ..., "count": N, "timeout_s": T, "id": ...}``; when
an instance labelled ``globalguide-probe`` with such a script reaches RUNNING, a background
thread sends the N requests to the (loopback) load balancer URL with
``X-Emulator-Client-LatLng`` set to the location of the zone's region, and appends to the
instance's serial port the very lines the real script prints. Deleting the instance stops
the thread. Anything else about a VM (other scripts, other URLs) is left alone.
"""

from __future__ import annotations

import threading
from typing import Any

from globalguide import geo
from globalguide.wire import guide_request, probe_serial
from globalguide.wire.guide_request import Sample

MAX_COUNT = 20
MAX_TIMEOUT_S = 30.0
BOOT_S = 0.2  # the script starts a moment after RUNNING, as after a real boot
_LOOPBACK = ("http://127.0.0.1:", "http://localhost:", "http://[::1]:")


class VmProbes:
    def __init__(self, append_serial: Any) -> None:
        self._append = append_serial  # (instance self link, text) -> still there?
        self._lock = threading.Lock()
        self._stops: dict[str, threading.Event] = {}

    def on_running(self, instance: dict[str, Any]) -> None:
        plan = _plan(instance)
        if plan is None:
            return
        link = str(instance.get("selfLink", ""))
        stop = threading.Event()
        with self._lock:
            previous = self._stops.pop(link, None)
            self._stops[link] = stop
        if previous is not None:
            previous.set()
        thread = threading.Thread(
            target=self._run, args=(link, stop, *plan), name=f"vm-probe-{link[-40:]}", daemon=True
        )
        thread.start()

    def on_deleted(self, instance: dict[str, Any]) -> None:
        with self._lock:
            stop = self._stops.pop(str(instance.get("selfLink", "")), None)
        if stop is not None:
            stop.set()

    def stop_all(self) -> None:
        with self._lock:
            stops = list(self._stops.values())
            self._stops.clear()
        for stop in stops:
            stop.set()

    def _run(
        self, link: str, stop: threading.Event, params: dict[str, Any], region: geo.Region
    ) -> None:
        probe_id, url, count = params["id"], params["url"], params["count"]
        timeout = params["timeout_s"]
        latlng = f"{region.lat},{region.lon}"
        try:
            if stop.wait(BOOT_S):
                return
            for seq in range(1, count + 1):
                if stop.is_set():
                    return
                sample, body = _request(url, seq, latlng, timeout)
                if not self._append(link, probe_serial.sample_line(probe_id, sample) + "\n"):
                    return
                if seq == 1 and body is not None:
                    self._append(link, probe_serial.body_line(probe_id, body) + "\n")
            if not stop.is_set():
                self._append(link, probe_serial.done_line(probe_id, count) + "\n")
        finally:
            with self._lock:
                if self._stops.get(link) is stop:
                    del self._stops[link]


def _plan(instance: dict[str, Any]) -> tuple[dict[str, Any], geo.Region] | None:
    """The probe's parameters and the region it runs from, or None if it is no probe VM."""
    if probe_serial.PROBE_LABEL not in (instance.get("labels") or {}):
        return None
    items = (instance.get("metadata") or {}).get("items") or []
    script = next((i.get("value", "") for i in items if i.get("key") == "startup-script"), "")
    params = probe_serial.read_script_header(str(script))
    if params is None:
        return None
    url, count, timeout = params.get("url"), params.get("count"), params.get("timeout_s", 10)
    if not isinstance(url, str) or not url.startswith(_LOOPBACK):
        return None  # only the loopback load balancer of this emulator
    if not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        return None
    if not isinstance(timeout, int | float) or not 0 < timeout <= MAX_TIMEOUT_S:
        return None
    if not isinstance(params.get("id"), str):
        return None
    zone = str(instance.get("zone", "")).rsplit("/", 1)[-1]
    region = geo.REGIONS.get(zone.rsplit("-", 1)[0])
    if region is None:
        return None
    return {"url": url, "count": count, "timeout_s": float(timeout), "id": params["id"]}, region


def _request(url: str, seq: int, latlng: str, timeout: float) -> tuple[Sample, bytes | None]:
    """What the script's curl does: one GET, timed; (sample, body). As the script does, the
    region is the X-Served-Region header, else the guide's JSON."""
    answer = guide_request.ask(url, latlng=latlng, timeout=timeout, user_agent=None)
    if answer.failed:
        return Sample(seq, answer.status, answer.total_ms, answer.ttfb_ms), None
    sample = Sample(seq, answer.status, answer.total_ms, answer.ttfb_ms, answer.served_region)
    return sample, answer.body
