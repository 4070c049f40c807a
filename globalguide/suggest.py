"""`regions suggest` and `deploy --regions suggest:K`: the best region set for each k, from
the user's demand and constraints, beside named baselines. Pure: no cloud calls."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from globalguide import demand as demand_mod
from globalguide import geo, placement
from globalguide.errors import UsageError

MAX_K = 10
DEFAULT_CITIES_TOP = 100
MAX_CITIES_TOP = 1000
_SPEC = re.compile(r"suggest:(\d{1,2})")


@dataclass(frozen=True)
class Constraints:
    candidates: tuple[str, ...]  # sorted
    required: tuple[str, ...]
    excluded: tuple[str, ...]
    model: str | None


def constraints(
    model: str | None = None, require: tuple[str, ...] = (), exclude: tuple[str, ...] = ()
) -> Constraints:
    """The candidate regions: every Cloud Run region, or only those serving ``model``
    in-region (the table deploy uses), minus the excluded; UsageError for a bad name."""
    from globalguide.gemini_catalog import MODELS

    required = tuple(sorted({_region(r, "--require") for r in require}))
    excluded = tuple(sorted({_region(r, "--exclude") for r in exclude}))
    pool = set(geo.REGIONS)
    if model is not None:
        known_model = MODELS.get(model.strip())
        served = known_model.regions if known_model is not None and known_model.regions else None
        if served is None:
            known = ", ".join(sorted(m for m, v in MODELS.items() if v.regions)) or "none"
            raise UsageError(
                f"--model {model[:64]!r} is served in-region nowhere this tool knows "
                f"(models with regional endpoints: {known}).",
                hint="Without --model every Cloud Run region is a candidate.",
            )
        pool &= served
    both = set(required) & set(excluded)
    if both:
        raise UsageError(f"{min(both)} is both required and excluded.")
    outside = sorted(set(required) - pool)
    if outside:
        raise UsageError(f"--require {outside[0]}: {model} is not served in that region.")
    candidates = tuple(sorted(pool - set(excluded)))
    if not candidates:
        raise UsageError("No candidate region is left after --model and --exclude.")
    return Constraints(candidates, required, excluded, model)


def _region(name: str, flag: str) -> str:
    try:
        return geo.validate_region(name)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def demand_for(weights: Path | None, cities_top: int | None) -> demand_mod.Demand:
    if weights is not None and cities_top is not None:
        raise UsageError("Give --weights or --cities-top, not both.")
    if weights is not None:
        return demand_mod.from_file(weights)
    top = DEFAULT_CITIES_TOP if cities_top is None else cities_top
    if not 1 <= top <= MAX_CITIES_TOP:
        raise UsageError(f"--cities-top must be between 1 and {MAX_CITIES_TOP}.")
    return demand_mod.population(top)


def ladder(k_max: int, demand: demand_mod.Demand, rules: Constraints) -> list[placement.Choice]:
    """The best set for every k from the smallest possible (1, or the required count) to
    k_max; UsageError when k_max is out of reach."""
    low = max(1, len(rules.required))
    high = min(MAX_K, len(rules.candidates))
    if not low <= k_max <= high:
        raise UsageError(f"-k must be between {low} and {high} here, not {k_max}.")
    return [
        placement.choose(k, demand.points, rules.candidates, required=rules.required)
        for k in range(low, k_max + 1)
    ]


def figures(regions: tuple[str, ...] | list[str], demand: demand_mod.Demand) -> dict[str, Any]:
    mean, p95 = placement.evaluate(sorted(regions), demand.points)
    return {"regions": sorted(regions), "mean_rtt_ms": round(mean, 2), "p95_rtt_ms": round(p95, 2)}


def document(
    demand: demand_mod.Demand,
    rules: Constraints,
    choices: list[placement.Choice],
    current: list[str] | None,
) -> dict[str, Any]:
    """What `regions suggest --json` prints; ``current`` is omitted when None."""
    best = []
    previous = None
    for choice in choices:
        best.append({
            "k": len(choice.regions),
            "regions": list(choice.regions),
            "mean_rtt_ms": round(choice.mean_rtt_ms, 2),
            "p95_rtt_ms": round(choice.p95_rtt_ms, 2),
            "gain_ms": None if previous is None else round(previous - choice.mean_rtt_ms, 2),
            "method": choice.method,
            "gap": round(choice.gap, 9),
            "lower_bound_ms": round(choice.lower_bound_ms, 4),
            "solve_s": round(choice.solve_s, 3),
        })  # fmt: skip
        previous = choice.mean_rtt_ms
    doc: dict[str, Any] = {
        "modelled": True,
        "demand": {"source": demand.source, "basis": demand.basis, "places": len(demand.points)},
        "constraints": {"model": rules.model, "required": list(rules.required),
                        "excluded": list(rules.excluded), "candidates": len(rules.candidates)},
        "regions": best[-1]["regions"],
        "best": best,
        "baseline": {"name": "tutorial", **figures(geo.DEFAULT_REGIONS, demand)},
    }  # fmt: skip
    if current:
        doc["current"] = figures(current, demand)
    return doc


# ------------------------------------------------------------------- deploy suggest:K


@dataclass(frozen=True)
class Suggested:
    """The regions `deploy --regions suggest:K` chose, and why."""

    k: int
    regions: tuple[str, ...]
    mean_rtt_ms: float
    p95_rtt_ms: float
    method: str
    gap: float
    basis: str

    def reason(self) -> str:
        proof = "proven optimal" if self.gap <= 1e-9 else f"within {self.gap:.2%} of optimal"
        return (
            f"suggest:{self.k} chose {', '.join(self.regions)}: the lowest weighted mean "
            f"modelled RTT ({self.mean_rtt_ms:.1f} ms, p95 {self.p95_rtt_ms:.1f} ms) over "
            f"{self.basis}, {proof} ({self.method})."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": f"suggest:{self.k}", "regions": list(self.regions),
            "mean_rtt_ms": round(self.mean_rtt_ms, 2), "p95_rtt_ms": round(self.p95_rtt_ms, 2),
            "method": self.method, "gap": round(self.gap, 9), "basis": self.basis, "modelled": True,
            "reason": self.reason(),
        }  # fmt: skip


def parse_spec(regions: tuple[str, ...]) -> int | None:
    """K when the regions setting is the single item "suggest:K", else None."""
    if len(regions) == 1 and regions[0].strip().lower().startswith("suggest"):
        match = _SPEC.fullmatch(regions[0].strip().lower())
        if not match or not 1 <= int(match.group(1)) <= MAX_K:
            raise UsageError(f"--regions suggest:K needs K between 1 and {MAX_K}.")
        return int(match.group(1))
    return None


def for_deploy(k: int, weights: Path | None) -> Suggested:
    """The best k of all Cloud Run regions for the demand `regions suggest` uses by default,
    or for the weights file."""
    if weights is None:
        return _for_deploy(k, None, None)
    try:
        stat = weights.stat()
    except OSError as exc:
        raise UsageError(f"Cannot read {weights.name}: {exc.strerror}.") from None
    return _for_deploy(k, weights, (stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=4)
def _for_deploy(k: int, weights: Path | None, version: tuple[int, int] | None) -> Suggested:
    # Cached on the file's version: the deploy command builds its spec twice.
    demand = demand_for(weights, None)
    rules = constraints()
    if not 1 <= k <= len(rules.candidates):
        raise UsageError(f"--regions suggest:K needs K between 1 and {len(rules.candidates)}.")
    choice = placement.choose(k, demand.points, rules.candidates)
    return Suggested(k, choice.regions, choice.mean_rtt_ms, choice.p95_rtt_ms, choice.method,
                     choice.gap, demand.basis)  # fmt: skip
