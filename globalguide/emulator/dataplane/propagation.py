"""Load-balancer configuration as the edge sees it: changes arrive after a delay.

On Google Cloud a change to a backend service or URL map is accepted at once by the API,
but the Google Front Ends pick it up only after it has propagated, which takes minutes
("After waiting several minutes, the load balancer configuration will propagate globally",
ahmetb/cloud-run-multi-region-terraform README; gcp-facts §7). Until then they keep routing
by the old configuration: a serverless NEG removed from the backend service still receives
requests, and if its Cloud Run service has been deleted those requests fail.

:class:`PropagatedConfig` wraps the compute state the edge reads. For the kinds listed in
``DELAYED`` it keeps each resource's versions with the time each one takes effect: the first
version seen is effective at once (nothing referenced it before; a new forwarding rule has
its own propagation time in :mod:`edge`), every later change, deletion included, only
``delay_s`` after it was observed. Other kinds are read live.

:meth:`PropagatedConfig.generation` tells a reader that keeps what it read when to read
again: it changes with the compute state, with every version recorded, and once more each
time a recorded version's effective time has come (with no API call at that moment).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Protocol

DELAYED = ("backendServices", "urlMaps", "networkEndpointGroups")

# A modelled figure inside "several minutes" (gcp-facts §7); the realistic profile scales it
# by --time-scale, the instant profile makes it 0.
CONFIG_PROPAGATION_S = 120.0


class Compute(Protocol):
    def get(self, kind: str, link: str) -> dict[str, Any] | None: ...

    def list(self, kind: str) -> list[dict[str, Any]]: ...


class PropagatedConfig:
    def __init__(
        self,
        compute: Callable[[], Compute | None],
        delay_s: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._compute = compute
        self._delay_s = delay_s
        self._clock = clock
        self._lock = threading.Lock()
        # (kind, link) -> [(effective_at, value or None)], oldest first
        self._versions: dict[tuple[str, str], list[tuple[float, dict[str, Any] | None]]] = {}
        self._recorded = 0  # versions recorded, plus versions whose time has come
        self._next_effective = math.inf  # the earliest effective time still to come

    # ------------------------------------------------------------------ observing
    def observe_all(self) -> None:
        """Record the current value of every delayed resource (after an API change)."""
        compute = self._compute()
        if compute is None:
            return
        seen: set[tuple[str, str]] = set()
        for kind in DELAYED:
            for resource in compute.list(kind):
                link = str(resource.get("selfLink", ""))
                seen.add((kind, link))
                self._record(kind, link, resource)
        with self._lock:
            gone = [key for key in self._versions if key not in seen]
        for kind, link in gone:
            self._record(kind, link, None)

    def _record(self, kind: str, link: str, value: dict[str, Any] | None) -> None:
        now = self._clock()
        with self._lock:
            versions = self._versions.get((kind, link))
            if versions is None:
                if value is not None:
                    self._versions[(kind, link)] = [(now, value)]
                    self._recorded += 1
                return
            if versions[-1][1] == value:
                return
            effective_at = now + self._delay_s()
            versions.append((effective_at, value))
            self._prune(versions, now)
            self._recorded += 1
            self._next_effective = min(self._next_effective, effective_at)

    @staticmethod
    def _prune(versions: list[tuple[float, Any]], now: float) -> None:
        """Drop versions a newer effective one has replaced."""
        while len(versions) > 1 and versions[1][0] <= now:
            versions.pop(0)

    # ------------------------------------------------------------------ reading
    def generation(self) -> Hashable | None:
        """A value equal to an earlier one only while :meth:`get` would answer as it did
        then; None when the compute state counts no changes (nothing read may be kept)."""
        compute = self._compute()
        counted = getattr(compute, "generation", None)
        if not isinstance(counted, int):
            return None
        now = self._clock()
        with self._lock:
            if now >= self._next_effective:
                self._recorded += 1
                self._next_effective = min(
                    (at for vs in self._versions.values() for at, _ in vs if at > now),
                    default=math.inf,
                )
            return (compute, counted, self._recorded)

    def get(self, kind: str, link: str) -> dict[str, Any] | None:
        compute = self._compute()
        if compute is None or not link:
            return None
        live = compute.get(kind, link)
        if kind not in DELAYED:
            return live
        key_link = str(live.get("selfLink", link)) if live else self._known_link(kind, link)
        self._record(kind, key_link, live)
        now = self._clock()
        with self._lock:
            versions = self._versions.get((kind, key_link))
            if not versions:
                return live
            self._prune(versions, now)
            effective = [value for at, value in versions if at <= now]
            return effective[-1] if effective else None

    def _known_link(self, kind: str, link: str) -> str:
        """The recorded self link a short or full reference names (for a deleted resource)."""
        tail = link.split("/compute/v1/", 1)[-1]
        with self._lock:
            for k, known in self._versions:
                if k == kind and (known == link or known.endswith("/" + tail)):
                    return known
        return link

    def pending(self) -> int:
        """How many accepted changes have not reached the edge yet."""
        now = self._clock()
        with self._lock:
            return sum(1 for vs in self._versions.values() for at, _ in vs if at > now)
