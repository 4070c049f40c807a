"""Probes: which region answers a city, how fast (measured), and what the model predicts.

Three ways to probe the deployed load balancer:

- ``edge`` (emulator only): requests go through the emulated load balancer as if sent from
  the city, by the emulator-only ``X-Emulator-Client-LatLng`` header with its coordinates;
- ``vm`` (the "teleport"): a short-lived e2-micro VM in the zone nearest the city runs a
  startup script that requests the load balancer and prints one line per request to the
  serial port (:mod:`globalguide.wire.probe_serial`); the VM is always deleted;
- ``direct``: one plain request from this machine.

Times under ``measured`` are wall-clock times seen by the prober. Everything under
``modelled`` comes from :mod:`globalguide.geo`'s great-circle fibre model, never from a
measurement.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import signal
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any

from globalguide import demand, geo, placement
from globalguide.errors import UsageError
from globalguide.wire import guide_request
from globalguide.wire.guide_request import Sample
from globalguide.wire.probe_serial import SerialReport, parse_serial, startup_script

MAX_COUNT = 20
MAX_CITIES_TOP = 100
MAX_CITIES = 100
PARALLEL_PROBES = 8
BEST_SINGLE_BASIS_CITIES = 100

VIA_EDGE, VIA_VM, VIA_DIRECT = "edge", "vm", "direct"

# ---------------------------------------------------------------------------- the model


@dataclass
class CityProbe:
    """Everything known about one city's probe; ``to_dict`` is its --json form."""

    city: geo.City | None
    via: str
    samples: list[Sample] = field(default_factory=list)
    served_from_region: str | None = None
    user_detected_location: str | None = None
    ai_response: str | None = None
    error: str | None = None
    vm: dict[str, Any] | None = None  # zone and name of the teleport VM
    modelled: dict[str, Any] = field(default_factory=dict)

    @property
    def ok_samples(self) -> list[Sample]:
        return [s for s in self.samples if s.http_status == 200]

    @property
    def status(self) -> str:
        ok = len(self.ok_samples)
        if ok and ok == len(self.samples) and self.error is None:
            return "ok"
        return "partial" if ok else "failed"

    def median(self, attr: str) -> float | None:
        values = [getattr(s, attr) for s in self.ok_samples if getattr(s, attr) is not None]
        return round(statistics.median(values), 1) if values else None

    def to_dict(self) -> dict[str, Any]:
        city = self.city
        return {
            "city": None
            if city is None
            else {"name": city.name, "country": city.country, "lat": city.lat, "lon": city.lon},
            "via": self.via,
            "vm": self.vm,
            "status": self.status,
            "error": self.error,
            "served_from_region": self.served_from_region,
            "user_detected_location": self.user_detected_location,
            "ai_response": self.ai_response,
            "measured": {
                "requests": len(self.samples),
                "ok": len(self.ok_samples),
                "total_ms": self.median("total_ms"),
                "ttfb_ms": self.median("ttfb_ms"),
                "samples": [asdict(s) for s in self.samples],
            },
            "modelled": self.modelled,
        }


@functools.lru_cache(maxsize=1)
def best_single_region() -> placement.Choice:
    """The one Cloud Run region with the lowest population-weighted modelled RTT over the
    largest cities: what a single-region deployment would at best offer."""
    points = demand.population(BEST_SINGLE_BASIS_CITIES).points
    return placement.choose(1, points, sorted(geo.REGIONS))


def modelled_for(city: geo.City | None, deployed: Sequence[str], served: str | None) -> dict:
    """The modelled figures for a city (empty when the city is not known)."""
    if city is None or not deployed:
        return {}
    by_region = {r: round(geo.modelled_rtt_ms(city.lat, city.lon, r), 1) for r in deployed}
    nearest, nearest_rtt = geo.nearest_region(city.lat, city.lon, deployed)
    single = best_single_region().regions[0]
    single_rtt = round(geo.modelled_rtt_ms(city.lat, city.lon, single), 1)
    served_rtt = by_region.get(served or "", round(nearest_rtt, 1))
    return {
        "rtt_ms_by_region": by_region,
        "nearest_deployed_region": nearest,
        "served_by_nearest": served == nearest if served else None,
        "best_single_region": {
            "region": single,
            "rtt_ms": single_rtt,
            "basis": f"lowest population-weighted modelled RTT over the "
            f"{BEST_SINGLE_BASIS_CITIES} largest cities",
        },
        "saving_ms": round(single_rtt - served_rtt, 1),
    }


# ---------------------------------------------------------------------- city resolution


def resolve_city(name: str) -> geo.City:
    """One city by name; UsageError (exit 2) naming the candidates for an ambiguous name
    and the closest matches for an unknown one."""
    try:
        return geo.find_city(name)
    except geo.AmbiguousCity as exc:
        listed = "; ".join(f"{c.label} (pop. {c.population:,})" for c in exc.candidates[:5])
        raise UsageError(
            f"{name[:80]!r} matches several cities: {listed}.",
            hint=f"Add a country or state, e.g. --as-city '{exc.candidates[0].label}'.",
        ) from None
    except geo.CityNotFound as exc:
        close = "; ".join(c.label for c in exc.suggestions)
        raise UsageError(
            f"No known city matches {name[:80]!r}." + (f" Closest: {close}." if close else ""),
            hint="Cities come from the geonames table of places over 15,000 people.",
        ) from None


def resolve_cities(names: Sequence[str], top: int | None) -> list[geo.City]:
    """The cities asked for, in order, without repeats; UsageError (exit 2) naming the
    candidates for an ambiguous name and the closest matches for an unknown one."""
    if top is not None and not 1 <= top <= MAX_CITIES_TOP:
        raise UsageError(f"--cities-top must be between 1 and {MAX_CITIES_TOP}.")
    cities = [resolve_city(name) for name in names]
    if top:
        cities.extend(geo.largest_cities(top))
    unique = list({c.geonameid: c for c in cities}.values())
    if len(unique) > MAX_CITIES:
        raise UsageError(f"At most {MAX_CITIES} cities per probe.")
    return unique


# ------------------------------------------------------------------ requests from here


def request_guide(
    url: str,
    seq: int,
    *,
    stream: bool = False,
    latlng: str | None = None,
    timeout: float = guide_request.TIMEOUT_S,
) -> tuple[Sample, dict[str, Any] | None]:
    """One timed request to the guide; the sample and the answer's document (the JSON body,
    or for --stream the SSE ``meta`` with the joined text as ``ai_response``)."""
    answer = guide_request.ask(
        url, stream=stream, latlng=latlng, timeout=timeout, user_agent="globalguide-probe"
    )
    if answer.failed:
        return Sample(seq, answer.status, answer.total_ms), None
    # Any service: the region is its X-Served-Region header (unknown without it).
    ttfb = answer.ttfb_ms if stream else None
    sample = Sample(seq, answer.status, answer.total_ms, ttfb, answer.served_region)
    return sample, answer.document


def _absorb(probe: CityProbe, region: str | None, document: dict[str, Any] | None) -> None:
    """The first answer that names its region (or, for the Local Guide, its JSON) speaks
    for the city; a service that names none leaves the region unknown."""
    if probe.served_from_region is not None:
        return
    probe.served_from_region = region
    if document is None:
        return
    meta = document.get("meta") or {}
    probe.user_detected_location = meta.get("user_detected_location")
    answer = document.get("ai_response")
    probe.ai_response = None if answer is None else str(answer)


def probe_from_here(
    url: str,
    city: geo.City | None,
    *,
    via: str,
    count: int,
    stream: bool,
    timeout: float = guide_request.TIMEOUT_S,
    stop: threading.Event | None = None,
) -> CityProbe:
    """``count`` requests from this machine; through the edge as if from ``city``."""
    probe = CityProbe(city, via)
    latlng = f"{city.lat:.5f},{city.lon:.5f}" if city is not None and via == VIA_EDGE else None
    for seq in range(1, count + 1):
        if stop is not None and stop.is_set():
            probe.error = "interrupted"
            break
        sample, document = request_guide(url, seq, stream=stream, latlng=latlng, timeout=timeout)
        probe.samples.append(sample)
        _absorb(probe, sample.served_from_region, document)
    failed = [s for s in probe.samples if s.http_status != 200]
    if failed and probe.error is None:
        codes = sorted({s.http_status for s in failed})
        probe.error = f"{len(failed)} of {len(probe.samples)} requests failed " + (
            f"(HTTP {', '.join(map(str, codes))})".replace("HTTP 0", "no answer")
        )
        if set(codes) & PROPAGATING_CODES:
            probe.error += f"; {PROPAGATION_NOTE}"
    return probe


# A new global load balancer answers 502 or 503 (or nothing) for several minutes while its
# configuration reaches every Google front end.
PROPAGATING_CODES = {502, 503}
PROPAGATION_NOTE = (
    "a new load balancer answers 502/503 while its configuration propagates (often "
    "several minutes): probe again shortly"
)


# ----------------------------------------------------------------------- orchestration


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt here, like Ctrl-C, so cleanup runs for both."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM while cleanup runs (it is bounded in time)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_parallel(
    jobs: Sequence[Callable[[threading.Event], CityProbe]],
    *,
    on_done: Callable[[CityProbe], None] | None = None,
    cleanup: Callable[[Callable[[float], None]], None] | None = None,
) -> list[CityProbe]:
    """Run the jobs a few at a time, results in job order. On Ctrl-C or SIGTERM every job is
    told to stop. ``cleanup`` always runs last, with signals deferred; it is given a
    function that waits (at most the given seconds) for jobs still running."""
    stop = threading.Event()
    results: list[CityProbe | None] = [None] * len(jobs)
    pool = ThreadPoolExecutor(max_workers=min(PARALLEL_PROBES, max(1, len(jobs))))
    futures: dict[Any, int] = {}

    def settle(timeout: float) -> None:
        wait(list(futures), timeout=timeout)

    try:
        with sigterm_as_interrupt():
            for i, job in enumerate(jobs):
                futures[pool.submit(job, stop)] = i
            pending = set(futures)
            while pending:
                # A short wait keeps the main thread responsive to signals.
                done = {f for f in pending if f.done()}
                if not done:
                    time.sleep(0.05)
                    continue
                for future in done:
                    pending.discard(future)
                    results[futures[future]] = future.result()
                    if on_done is not None:
                        on_done(results[futures[future]])  # type: ignore[arg-type]
    finally:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        if cleanup is not None:
            with signals_deferred():
                cleanup(settle)
    return [r for r in results if r is not None]


# ------------------------------------------------------------------------ the teleport


def new_probe_id() -> str:
    return secrets.token_hex(4)


@dataclass(frozen=True)
class VmSettings:
    deployment: str
    url: str
    count: int
    timeout_s: float
    wait_s: float
    poll_s: float


def vm_job(
    vms: Any, settings: VmSettings, city: geo.City, index: int
) -> Callable[[threading.Event], CityProbe]:
    """A job that teleports to ``city``: VM in the nearest zone, serial output read until
    the script's ``done`` line (bounded), the VM deleted in every case."""
    from globalguide.errors import CloudError

    zone = geo.nearest_zone(city.lat, city.lon)
    probe_id = f"{vms.run_id}-{index}"
    name = f"{settings.deployment}-probe-{probe_id}"[:63]

    def job(stop: threading.Event) -> CityProbe:
        probe = CityProbe(city, VIA_VM, vm={"name": name, "zone": zone})
        if stop.is_set():
            probe.error = "interrupted"
            return probe
        script = startup_script(settings.url, settings.count, settings.timeout_s, probe_id)
        report = SerialReport()
        try:
            vms.create(name, zone, script)
            deadline = time.monotonic() + settings.wait_s
            start = 0
            while not report.done and time.monotonic() < deadline and not stop.is_set():
                text, start = vms.serial(name, zone, start)
                parse_serial(text, probe_id, report)
                if not report.done:
                    stop.wait(settings.poll_s)
            if stop.is_set() and not report.done:
                probe.error = "interrupted"
            elif not report.done:
                probe.error = f"no complete report within {settings.wait_s:.0f} s"
        except CloudError as exc:
            probe.error = exc.message
        finally:
            try:
                vms.delete(name, zone)
            except CloudError as exc:
                probe.error = probe.error or exc.message
        probe.samples = report.samples
        region = next((s.served_from_region for s in report.samples if s.served_from_region), None)
        _absorb(probe, region, report.document)
        failed = [s for s in probe.samples if s.http_status != 200]
        if failed and probe.error is None:
            probe.error = f"{len(failed)} of {len(probe.samples)} requests failed"
        return probe

    return job


# ------------------------------------------------------------------------------ a run


@dataclass(frozen=True)
class ProbeRequest:
    cities: list[geo.City]
    via: str
    count: int
    stream: bool


def run(
    request: ProbeRequest,
    *,
    url: str,
    deployed: Sequence[str],
    clients: Any = None,
    deployment: str = "",
    on_done: Callable[[CityProbe], None] | None = None,
) -> dict[str, Any]:
    """Probe every city (or this machine when there is none); the --json document."""
    if not 1 <= request.count <= MAX_COUNT:
        raise UsageError(f"--count must be between 1 and {MAX_COUNT}.")
    vm_report: dict[str, Any] | None = None
    if request.via == VIA_VM:
        probes, vm_report = _run_vms(request, url, clients, deployment, on_done)
    else:
        targets: list[geo.City | None] = list(request.cities) or [None]
        jobs = [
            functools.partial(_from_here_job, url, city, request.via, request.count, request.stream)
            for city in targets
        ]
        probes = run_parallel(jobs, on_done=on_done)
    for probe in probes:
        probe.modelled = modelled_for(probe.city, deployed, probe.served_from_region)
    document: dict[str, Any] = {
        "url": url,
        "via": request.via,
        "count": request.count,
        "stream": request.stream,
        "deployed_regions": list(deployed),
        "probes": [p.to_dict() for p in probes],
        "note": "measured: wall-clock times seen by the prober; modelled: great-circle "
        "fibre estimate, not a measurement",
    }
    if vm_report is not None:
        document["vms"] = vm_report
    return document


def _from_here_job(
    url: str, city: geo.City | None, via: str, count: int, stream: bool, stop: threading.Event
) -> CityProbe:
    return probe_from_here(url, city, via=via, count=count, stream=stream, stop=stop)


def _run_vms(
    request: ProbeRequest,
    url: str,
    clients: Any,
    deployment: str,
    on_done: Callable[[CityProbe], None] | None,
) -> tuple[list[CityProbe], dict[str, Any]]:
    from globalguide.cloud.probe_vm import ProbeVms
    from globalguide.errors import CloudError

    if not request.cities:
        raise UsageError("--via vm needs --as-city or --cities-top.")
    if request.stream:
        raise UsageError("--stream is not available with --via vm.")
    target = clients.target
    settings = VmSettings(
        deployment=deployment,
        url=url,
        count=request.count,
        timeout_s=target.probe_vm_request_timeout_s,
        wait_s=target.probe_vm_wait_s,
        poll_s=target.probe_vm_poll_s,
    )
    vms = ProbeVms(clients, deployment, new_probe_id())
    jobs = [vm_job(vms, settings, city, i) for i, city in enumerate(request.cities, 1)]
    report: dict[str, Any] = {"run_id": vms.run_id, "created": len(jobs), "left": None}

    def cleanup(settle: Callable[[float], None]) -> None:
        budget = target.probe_vm_cleanup_s
        vms.sweep(budget / 2)  # a VM whose job was stopped half way
        settle(budget / 2)  # jobs still running delete their own VM, then stop
        left = vms.sweep(budget / 2)
        report["left"] = len(left)
        if left:
            listed = ", ".join(f"{n} ({z})" for z, n in left)
            raise CloudError(
                f"{len(left)} probe VMs are left: {listed}.",
                hint=f"Delete them: gcloud compute instances delete NAME --zone ZONE "
                f"(label {vms.labels})",
            )

    probes = run_parallel(jobs, on_done=on_done, cleanup=cleanup)
    return probes, report
