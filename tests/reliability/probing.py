"""Continuous probes through the emulator's edge, one thread per region's city, bounded in
requests and time; each answer is judged by which region served it, not by its status only.
Used by the convergence tests and bench/convergence.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from globalguide import geo
from globalguide.wire import guide_request

PAUSE_S = 0.05


def fetch_guide(url: str, *, latlng: str, timeout: float) -> tuple[int, dict | None]:
    """GET the guide's JSON as a client at ``latlng``; (status, document or None)."""
    answer = guide_request.ask(url, latlng=latlng, timeout=timeout)
    return answer.status, answer.document


@dataclass
class Tally:
    requests: int = 0
    failed: int = 0
    by_region: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


class Prober:
    """Probe ``url`` as a client in each region's city until stopped or a bound is hit."""

    def __init__(
        self,
        url: str,
        regions: list[str],
        *,
        max_requests: int = 20_000,
        max_s: float = 600.0,
        fetch: Callable[..., tuple[int, dict | None]] = fetch_guide,
    ) -> None:
        self.url = url
        self.places = {r: geo.REGIONS[r] for r in regions}
        self.max_requests, self.max_s, self.fetch = max_requests, max_s, fetch
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.tally = Tally()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Prober:
        started = time.monotonic()
        for region, place in self.places.items():
            thread = threading.Thread(
                target=self._run, args=(region, place, started), name=f"probe-{region}"
            )
            thread.daemon = True
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def phase(self) -> Tally:
        """The tally so far, and a fresh one from now."""
        with self._lock:
            done, self.tally = self.tally, Tally()
        return done

    def _run(self, region: str, place: geo.Region, started: float) -> None:
        while not self._stop.is_set() and time.monotonic() - started < self.max_s:
            status, doc = self.fetch(self.url, latlng=f"{place.lat},{place.lon}", timeout=10.0)
            served = ((doc or {}).get("meta") or {}).get("served_from_region")
            with self._lock:
                tally = self.tally
                if tally.requests >= self.max_requests:
                    return
                tally.requests += 1
                if status != 200 or not served:
                    tally.failed += 1
                    if len(tally.failures) < 20:
                        tally.failures.append(f"{region}: HTTP {status}")
                else:
                    tally.by_region[served] = tally.by_region.get(served, 0) + 1
            self._stop.wait(PAUSE_S)
