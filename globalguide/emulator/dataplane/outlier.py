"""Outlier detection for serverless NEG backends: eject a failing region, bring it back later.

Semantics and defaults are those of the backend service's ``outlierDetection`` (compute_v1
OutlierDetection docstrings, https://cloud.google.com/compute/docs/reference/rest/v1/backendServices):

- ``consecutiveErrors`` (default 5) 5xx answers in a row eject an endpoint with probability
  ``enforcingConsecutiveErrors`` % (default **0**, so off unless set);
- ``consecutiveGatewayFailure`` (default 3) answers of 502, 503, 504 or failed connections
  in a row eject with probability ``enforcingConsecutiveGatewayFailure`` % (default 100);
- an ejected endpoint gets no traffic for ``baseEjectionTime`` (default 30 s) times the
  number of times it has been ejected, and returns at the next analysis sweep, every
  ``interval`` (default 1 s);
- at most ``maxEjectionPercent`` % (default 50) of the endpoints are ejected at once.

Success-rate detection is not supported for serverless NEGs (the same docstrings) and is
not modelled. As in Envoy, which implements these settings, an ejection happens as soon as
the streak is seen, and any non-5xx answer resets the streaks. When every endpoint is
ejected the ejections are ignored rather than refusing all traffic.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

GATEWAY_FAILURES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class OutlierConfig:
    consecutive_errors: int = 5
    consecutive_gateway_failure: int = 3
    enforcing_consecutive_errors: int = 0
    enforcing_consecutive_gateway_failure: int = 100
    interval_s: float = 1.0
    base_ejection_s: float = 30.0
    max_ejection_percent: int = 50

    @classmethod
    def from_rest(cls, value: dict[str, Any]) -> OutlierConfig:
        d = cls()
        return cls(
            consecutive_errors=int(value.get("consecutiveErrors", d.consecutive_errors)),
            consecutive_gateway_failure=int(
                value.get("consecutiveGatewayFailure", d.consecutive_gateway_failure)
            ),
            enforcing_consecutive_errors=int(
                value.get("enforcingConsecutiveErrors", d.enforcing_consecutive_errors)
            ),
            enforcing_consecutive_gateway_failure=int(
                value.get(
                    "enforcingConsecutiveGatewayFailure", d.enforcing_consecutive_gateway_failure
                )
            ),
            interval_s=_duration(value.get("interval"), d.interval_s),
            base_ejection_s=_duration(value.get("baseEjectionTime"), d.base_ejection_s),
            max_ejection_percent=int(value.get("maxEjectionPercent", d.max_ejection_percent)),
        )


def _duration(value: dict[str, Any] | None, default: float) -> float:
    if not value:
        return default
    return int(value.get("seconds", 0) or 0) + int(value.get("nanos", 0) or 0) / 1e9


@dataclass
class _Endpoint:
    errors: int = 0
    gateway_failures: int = 0
    ejected_at: float | None = None
    ejections: int = 0


class OutlierDetector:
    """The outlier state of one backend service's endpoints (one serverless NEG each)."""

    def __init__(
        self,
        config: OutlierConfig,
        rng: random.Random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._rng = rng
        self._clock = clock
        self._start = clock()
        self._lock = threading.Lock()
        self._endpoints: dict[str, _Endpoint] = {}

    def ejected(self, keys: Iterable[str]) -> set[str]:
        """The endpoints among ``keys`` that are ejected now."""
        with self._lock:
            self._sweep()
            return {k for k in keys if self._state(k).ejected_at is not None}

    def record(self, key: str, status: int | None, endpoints: Iterable[str]) -> None:
        """Count one answer from ``key`` (``status`` None: the connection failed)."""
        keys = list(endpoints)
        config = self.config
        with self._lock:
            self._sweep()
            state = self._state(key)
            if status is not None and status < 500:
                state.errors = state.gateway_failures = 0
                return
            state.errors += 1
            if status is None or status in GATEWAY_FAILURES:
                state.gateway_failures += 1
            else:
                state.gateway_failures = 0
            if state.ejected_at is not None:
                return
            if state.gateway_failures == config.consecutive_gateway_failure and self._roll(
                config.enforcing_consecutive_gateway_failure
            ):
                self._eject(key, state, keys)
            elif state.errors == config.consecutive_errors and self._roll(
                config.enforcing_consecutive_errors
            ):
                self._eject(key, state, keys)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            self._sweep()
            return {
                key: {
                    "ejected": s.ejected_at is not None,
                    "ejections": s.ejections,
                    "consecutiveErrors": s.errors,
                    "consecutiveGatewayFailures": s.gateway_failures,
                }
                for key, s in self._endpoints.items()
            }

    def _state(self, key: str) -> _Endpoint:
        return self._endpoints.setdefault(key, _Endpoint())

    def _roll(self, percent: int) -> bool:
        if percent >= 100:
            return True
        if percent <= 0:
            return False
        return self._rng.random() * 100 < percent

    def _eject(self, key: str, state: _Endpoint, keys: list[str]) -> None:
        active = sum(1 for k in keys if k != key and self._state(k).ejected_at is not None)
        if keys and 100.0 * (active + 1) / len(keys) > self.config.max_ejection_percent:
            return
        state.ejected_at = self._clock()
        state.ejections += 1
        state.errors = state.gateway_failures = 0

    def _sweep(self) -> None:
        """Return endpoints whose ejection time has passed, as of the latest sweep."""
        interval = max(self.config.interval_s, 1e-3)
        now = self._clock()
        last_sweep = self._start + math.floor((now - self._start) / interval) * interval
        for state in self._endpoints.values():
            if state.ejected_at is None:
                continue
            until = state.ejected_at + self.config.base_ejection_s * state.ejections
            if until <= last_sweep:
                state.ejected_at = None
