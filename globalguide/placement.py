"""Exact region choice: the k regions that minimise the weighted mean modelled RTT.

This is the k-median problem over the candidate regions, each demand point served by its
nearest open region. Small instances are searched exhaustively; the rest are solved as an
integer program with SciPy's ``milp`` (HiGHS), which proves optimality or reports the gap.

The integer program is the pseudo-Boolean form of the k-median (Elloumi 2010; Goldengorin
and Krushinsky 2011) rather than the textbook assignment form (x_r open, y_cr assignment,
y_cr <= x_r). For a point whose regions sorted by RTT are r1, r2, ... with RTTs d1 <= d2 <=
..., its cost is d1 + sum_h (d_{h+1} - d_h) * [none of r1..rh is open]. One variable z_S per
distinct set S = {r1..rh} stands for that bracket (z_S >= 1 - sum_{r in S} x_r, z_S >= 0),
and points whose h nearest regions form the same set share it, their weighted steps summed.
Nearby points share most sets, so 1,000 cities need about 3,000 z variables where the
assignment form needs 42,000 y variables, and HiGHS solves it about ten times faster. Two
exact reductions shrink it further: with k open regions one of any n - k + 1 is open, so a
point's levels stop at h = n - k; and a required region is always open, so a point's levels
stop at its nearest required region.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from globalguide import geo
from globalguide.errors import GlobalGuideError

EXHAUSTIVE = "exhaustive"
MILP = "milp"

# Exhaustive search evaluates every combination against every point; below this many
# (combination x point) pairs it beats building and solving the integer program
# (bench/regions_bench.py measures both).
EXHAUSTIVE_MAX_WORK = 3_000_000
_CHUNK_CELLS = 4_000_000  # bounds the exhaustive search's working array (x 8 bytes)
MILP_TIME_LIMIT_S = 30.0
P95 = 0.95


class SolverError(GlobalGuideError):
    """The integer program found no solution within its limit (exit 1)."""


@dataclass(frozen=True)
class Point:
    """A place where demand comes from, and how much (any positive unit)."""

    lat: float
    lon: float
    weight: float


@dataclass(frozen=True)
class Choice:
    """The best regions for one k, with how good and how sure."""

    regions: tuple[str, ...]  # sorted by name
    mean_rtt_ms: float  # weighted mean modelled RTT, each point to its nearest chosen region
    p95_rtt_ms: float  # weighted 95th percentile of the same (weighted_percentile)
    method: str  # EXHAUSTIVE or MILP
    lower_bound_ms: float  # no set of k regions has a lower mean: proven by the method
    solve_s: float

    @property
    def gap(self) -> float:
        """Relative optimality gap: 0 when the set is proven optimal. Differences below
        1e-12 are the rounding of the solver's bound, not a gap."""
        gap = (self.mean_rtt_ms - self.lower_bound_ms) / self.mean_rtt_ms
        return gap if gap > 1e-12 else 0.0


def rtt_matrix(points: Sequence[Point], regions: Sequence[str]) -> np.ndarray:
    """Modelled RTT (ms) from every point (rows) to every region (columns), exactly as
    geo.modelled_rtt_ms computes it one at a time."""
    lat = np.radians([p.lat for p in points])[:, None]
    lon = np.radians([p.lon for p in points])[:, None]
    rlat = np.radians([geo.REGIONS[r].lat for r in regions])[None, :]
    rlon = np.radians([geo.REGIONS[r].lon for r in regions])[None, :]
    h = np.sin((rlat - lat) / 2) ** 2 + np.cos(lat) * np.cos(rlat) * np.sin((rlon - lon) / 2) ** 2
    km = 2 * geo.EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    return 2 * km * geo.ROUTE_INFLATION / geo.FIBRE_KM_PER_MS + geo.LAST_MILE_RTT_MS


def weighted_percentile(values: Sequence[float], weights: Sequence[float], q: float) -> float:
    """The smallest value v such that the points with a value <= v hold at least a fraction
    q of the total weight (the inverse of the weighted empirical distribution function, no
    interpolation). With equal weights it is the ceil(q * n)-th smallest value."""
    if not 0 < q <= 1:
        raise ValueError("q must be in (0, 1]")
    v = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    if v.shape != w.shape or not v.size or (w < 0).any() or w.sum() <= 0:
        raise ValueError("values and non-negative weights of the same, non-zero length needed")
    order = np.argsort(v, kind="stable")
    cumulative = np.cumsum(w[order])
    # A relative tolerance keeps float rounding in the running sum from skipping a value
    # that holds exactly q of the weight.
    at = int(np.searchsorted(cumulative, q * cumulative[-1] * (1 - 1e-12), side="left"))
    return float(v[order][min(at, v.size - 1)])


def evaluate(regions: Sequence[str], points: Sequence[Point]) -> tuple[float, float]:
    """(weighted mean, weighted p95) modelled RTT when each point uses its nearest region."""
    if not regions or not points:
        raise ValueError("regions and points are needed")
    served = rtt_matrix(points, list(regions)).min(axis=1)
    w = _weights(points)
    return float(w @ served), weighted_percentile(served, w, P95)


def _weights(points: Sequence[Point]) -> np.ndarray:
    w = np.array([p.weight for p in points], dtype=float)
    if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    return w / w.sum()


def choose(
    k: int,
    points: Sequence[Point],
    candidates: Sequence[str],
    *,
    required: Sequence[str] = (),
    method: str | None = None,
) -> Choice:
    """The k candidate regions (including every required one) with the lowest weighted
    mean modelled RTT. ``method`` forces EXHAUSTIVE or MILP; by default the faster one."""
    names = sorted(set(candidates))
    required = sorted(set(required))
    if any(r not in names for r in required):
        raise ValueError("every required region must be a candidate")
    if not max(1, len(required)) <= k <= len(names):
        raise ValueError(f"k must be between {max(1, len(required))} and {len(names)}, got {k}")
    if not points:
        raise ValueError("at least one point is needed")
    started = time.perf_counter()
    rtt = rtt_matrix(points, names)
    w = _weights(points)
    fixed = [names.index(r) for r in required]
    free = [i for i in range(len(names)) if i not in fixed]
    work = math.comb(len(free), k - len(fixed)) * len(points)
    if method is None:
        method = EXHAUSTIVE if work <= EXHAUSTIVE_MAX_WORK else MILP
    if method == EXHAUSTIVE:
        chosen, bound = _exhaustive(rtt, w, k, fixed, free)
    elif method == MILP:
        chosen, bound = _milp(rtt, w, k, fixed)
    else:
        raise ValueError(f"unknown method {method!r}")
    regions = tuple(names[i] for i in sorted(chosen))
    served = rtt[:, sorted(chosen)].min(axis=1)
    mean = float(w @ served)
    return Choice(
        regions=regions,
        mean_rtt_ms=mean,
        p95_rtt_ms=weighted_percentile(served, w, P95),
        method=method,
        lower_bound_ms=min(mean, bound),
        solve_s=time.perf_counter() - started,
    )


def _exhaustive(
    rtt: np.ndarray, w: np.ndarray, k: int, fixed: list[int], free: list[int]
) -> tuple[list[int], float]:
    """Every combination of the free regions, best first found in lexicographic order."""
    base = rtt[:, fixed].min(axis=1) if fixed else np.full(rtt.shape[0], np.inf)
    m = k - len(fixed)
    if m == 0:
        return fixed, float(w @ base)
    combos = itertools.combinations(free, m)
    per_chunk = max(1, _CHUNK_CELLS // (rtt.shape[0] * m))
    best_cost, best = math.inf, None
    while block := list(itertools.islice(combos, per_chunk)):
        idx = np.array(block)
        served = np.minimum(rtt[:, idx].min(axis=2), base[:, None])  # points x combos
        costs = w @ served
        i = int(np.argmin(costs))
        if costs[i] < best_cost:
            best_cost, best = float(costs[i]), block[i]
    return [*fixed, *best], best_cost


def _milp(rtt: np.ndarray, w: np.ndarray, k: int, fixed: list[int]) -> tuple[list[int], float]:
    """Solve the pseudo-Boolean k-median (module docstring) with HiGHS."""
    from scipy import sparse
    from scipy.optimize import Bounds, LinearConstraint, milp

    n_points, n = rtt.shape
    order = np.argsort(rtt, axis=1, kind="stable")
    ranked = np.take_along_axis(rtt, order, axis=1)
    steps = np.diff(ranked, axis=1) * w[:, None]  # step h: from the h-th to the (h+1)-th
    constant = float(w @ ranked[:, 0])
    is_fixed = np.zeros(n, dtype=bool)
    is_fixed[fixed] = True
    coefficient: dict[int, float] = {}  # a set of regions as a bit mask -> its weight
    for p in range(n_points):
        mask = 0
        for h in range(n - k):
            region = int(order[p, h])
            if is_fixed[region]:
                break
            mask |= 1 << region
            if steps[p, h] > 0:
                coefficient[mask] = coefficient.get(mask, 0.0) + float(steps[p, h])
    sets = list(coefficient)
    rows, cols = [], []
    for row, mask in enumerate(sets):
        members = [r for r in range(n) if mask >> r & 1]
        rows += [row] * len(members)
        cols += members
    n_sets = len(sets)
    cover = sparse.csr_matrix(
        (
            np.ones(len(rows) + n_sets),
            (rows + list(range(n_sets)), cols + [n + s for s in range(n_sets)]),
        ),
        shape=(n_sets, n + n_sets),
    )
    count = sparse.csr_matrix(
        (np.ones(n), (np.zeros(n, dtype=int), np.arange(n))), shape=(1, n + n_sets)
    )
    lower = np.concatenate([is_fixed.astype(float), np.zeros(n_sets)])
    upper = np.concatenate([np.ones(n), np.full(n_sets, np.inf)])
    constraints = [LinearConstraint(count, k, k)]
    if n_sets:
        constraints.append(LinearConstraint(cover, 1, np.inf))
    result = milp(
        np.concatenate([np.zeros(n), [coefficient[s] for s in sets]]),
        constraints=constraints,
        integrality=np.concatenate([np.ones(n), np.zeros(n_sets)]),
        bounds=Bounds(lower, upper),
        options={"time_limit": MILP_TIME_LIMIT_S, "mip_rel_gap": 1e-9},
    )
    if result.x is None:
        raise SolverError(
            f"The region solver found no solution within {MILP_TIME_LIMIT_S:g} s "
            f"({result.message}).",
            hint="Lower -k, or use fewer places in the weights file.",
        )
    chosen = [int(i) for i in np.flatnonzero(result.x[:n] > 0.5)]
    bound = getattr(result, "mip_dual_bound", None)
    if bound is None or not math.isfinite(bound):
        bound = -math.inf
    return chosen, constant + float(bound)
