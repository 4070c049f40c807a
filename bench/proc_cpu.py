"""CPU seconds spent by a process and its descendants, from /proc (Linux).

Throughput on a machine shared with other work moves with what else runs; the CPU a
request costs does not, much. The benches report both: requests per second, and CPU
milliseconds per request of the processes that serve it.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of ``pid`` alone (all its threads); 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # Fields after the command name, which is in parentheses and may hold spaces.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of ``pid`` and every live descendant."""
    total, seen, todo = 0.0, set(), [pid]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        total += process_cpu_s(current)
        todo += _children(current)
    return total


def own_cpu_s() -> float:
    """CPU seconds of this process (the load generator), all threads."""
    times = os.times()
    return times.user + times.system
