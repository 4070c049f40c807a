"""Region choice: the exact solver against exhaustive search and the old heuristic.

For k = 1 .. K over every Cloud Run region and the N largest cities (population-weighted):
the integer program's objective, proven gap and solve time; the exhaustive optimum and its
time where that is computable; and the objective of the heuristic `regions suggest` used
before (greedy addition, then single swaps until none improves).

    python bench/regions_bench.py [--k-max 10] [--cities 1000] [--exhaustive-max-k 3]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numpy as np

from globalguide import demand, geo, placement


def greedy_then_swap(rtt: np.ndarray, w: np.ndarray, k: int) -> list[int]:
    """The previous heuristic, as it was: greedy addition, then the best single swap while
    one improves the weighted mean."""
    n = rtt.shape[1]

    def cost(chosen: list[int]) -> float:
        return float(w @ rtt[:, chosen].min(axis=1))

    chosen: list[int] = []
    for _ in range(k):
        rest = [i for i in range(n) if i not in chosen]
        chosen.append(min(rest, key=lambda i: cost([*chosen, i])))
    current = cost(chosen)
    while True:
        swaps = (
            (cost(chosen[:pos] + [i] + chosen[pos + 1 :]), pos, i)
            for pos in range(k)
            for i in range(n)
            if i not in chosen
        )
        best = min(swaps, default=None)
        if best is None or best[0] >= current - 1e-9:
            return chosen
        current, pos, i = best
        chosen[pos] = i


def timed(fn, repeat: int):
    """(result, median wall seconds, median CPU seconds of this process)."""
    wall, cpu, result = [], [], None
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return result, statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k-max", type=int, default=10)
    parser.add_argument("--cities", type=int, default=1000)
    parser.add_argument("--exhaustive-max-k", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="solve times: median of N")
    parser.add_argument(
        "--heuristic-check", default="30,100,300",
        help="also compare the heuristic with the optimum over these city counts",
    )  # fmt: skip
    args = parser.parse_args()

    started = time.perf_counter()
    import scipy.optimize  # noqa: F401  (timed apart: paid once per process)

    print(f"import scipy.optimize: {time.perf_counter() - started:.2f} s (once per process)")
    names = sorted(geo.REGIONS)
    points = demand.population(args.cities).points
    rtt = placement.rtt_matrix(points, names)
    w = np.array([p.weight for p in points]) / sum(p.weight for p in points)
    load = os.getloadavg()[0]
    print(f"{len(names)} regions, the {len(points)} largest cities, population-weighted; "
          f"solve times median of {args.repeat}; load average {load:.1f}")  # fmt: skip
    print(f"{'k':>2}  {'milp ms':>9} {'gap':>7} {'milp s':>7} {'cpu s':>6}  {'exhaustive ms':>13} "
          f"{'exh. s':>7}  {'heuristic ms':>12} {'heur. s':>7}  default")  # fmt: skip
    for k in range(1, args.k_max + 1):
        milp, milp_s, milp_cpu = timed(
            lambda k=k: placement.choose(k, points, names, method=placement.MILP), args.repeat
        )
        exhaustive = exhaustive_s = None
        if k <= args.exhaustive_max_k:
            exhaustive, exhaustive_s, _ = timed(
                lambda k=k: placement.choose(k, points, names, method=placement.EXHAUSTIVE),
                args.repeat,
            )
        chosen, heuristic_s, _ = timed(lambda k=k: greedy_then_swap(rtt, w, k), 1)
        heuristic = float(w @ rtt[:, chosen].min(axis=1))
        default = placement.choose(k, points, names).method
        ex_ms = f"{exhaustive.mean_rtt_ms:13.4f}" if exhaustive else f"{'-':>13}"
        ex_s = f"{exhaustive_s:7.3f}" if exhaustive_s is not None else f"{'-':>7}"
        mark = "" if math.isclose(heuristic, milp.mean_rtt_ms, rel_tol=1e-9) else " (worse)"
        print(f"{k:>2}  {milp.mean_rtt_ms:9.4f} {milp.gap:7.1e} {milp_s:7.3f} {milp_cpu:6.3f}  "
              f"{ex_ms} {ex_s}  "
              f"{heuristic:12.4f} {heuristic_s:7.3f}  {default}{mark}")  # fmt: skip
    for n in (int(x) for x in args.heuristic_check.split(",") if x):
        compare_heuristic(n, args.k_max, names)


def compare_heuristic(n: int, k_max: int, names: list[str]) -> None:
    """Where the old heuristic (used for k >= 4) misses the optimum over the n largest."""
    points = demand.population(n).points
    rtt = placement.rtt_matrix(points, names)
    w = np.array([p.weight for p in points]) / sum(p.weight for p in points)
    misses = []
    for k in range(4, k_max + 1):
        heuristic = float(w @ rtt[:, greedy_then_swap(rtt, w, k)].min(axis=1))
        best = placement.choose(k, points, names)
        if heuristic > best.mean_rtt_ms * (1 + 1e-9):
            misses.append(f"k={k} {heuristic:.3f} vs {best.mean_rtt_ms:.3f} ms "
                          f"(+{heuristic / best.mean_rtt_ms - 1:.2%})")  # fmt: skip
    print(
        f"heuristic over the {n} largest, k = 4..{k_max}: "
        + ("; ".join(misses) if misses else "optimal for every k")
    )


if __name__ == "__main__":
    main()
