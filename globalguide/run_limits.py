"""Cloud Run's published CPU and memory limits, read by the product's early checks
(``container.py``) and by the emulator's rules (``emulator/run/validate.py``) alike.

Sources: https://cloud.google.com/run/docs/configuring/services/cpu and
https://cloud.google.com/run/docs/configuring/services/memory-limits (more than 4 GiB needs
2 CPUs ... more than 24 GiB needs 8; the fractional steps: 256 MiB .167, 512 MiB .333,
1 GiB .583, 2 GiB 1).
"""

from __future__ import annotations

WHOLE_CPUS = (1, 2, 4, 6, 8)
# (memory above this many MiB, the fewest CPUs it needs), largest first.
MIN_CPU_FOR_MEMORY = (
    (24576, 8.0),
    (16384, 6.0),
    (8192, 4.0),
    (4096, 2.0),
    (1024, 1.0),
    (512, 0.583),
    (256, 0.333),
    (128, 0.167),
)


def min_cpu_for_memory(mib: float, default: float) -> float:
    """The fewest CPUs ``mib`` of memory needs (``default`` at or below 128 MiB)."""
    return next((cpus for above, cpus in MIN_CPU_FOR_MEMORY if mib > above), default)
