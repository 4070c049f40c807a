"""The two timestamp spellings the emulated APIs answer with."""

from __future__ import annotations

import time


def rfc3339(ts: float | None = None) -> str:
    """RFC 3339 in UTC with microseconds, as the google.protobuf.Timestamp APIs render it."""
    ts = time.time() if ts is None else ts
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e6):06d}Z"


def compute_timestamp(ts: float | None = None) -> str:
    """Compute's string timestamps: milliseconds and a ``-00:00`` offset."""
    ts = time.time() if ts is None else ts
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}-00:00"
