"""Whether what exists of a deployment is all of it: for `status` after an interrupted
deploy, the resources a complete deployment in the same regions would have and that are
missing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from globalguide.cloud.names import Names
from globalguide.cloud.plan import ABSENT, Plan, resource_graph

_REGIONAL = ("run-service", "neg")


def missing_resources(plan: Plan, context: Any) -> list[str]:
    """Keys of the resources a complete deployment would have that do not exist (empty
    when nothing exists at all: that is "not deployed", not "incomplete")."""
    present = {s.key for s in plan.steps if s.action != ABSENT}
    if not present:
        return []
    kinds = {s.resource.kind for s in plan.steps if s.action != ABSENT}
    if kinds <= {"apis"}:
        return []
    spec = plan.spec
    regions = sorted(
        {s.resource.region for s in plan.steps
         if s.action != ABSENT and s.resource.kind in _REGIONAL and s.resource.region}
    ) or list(spec.regions)  # fmt: skip
    names = Names(spec.name, spec.project)
    https = any(k.endswith(f"/{names.https_rule}") for k in present)
    wanted, _ = resource_graph(replace(spec, regions=tuple(regions)), context, https=https)
    missing = []
    for resource in wanted:
        if resource.kind in ("image", "certificate") or resource.key in present:
            continue
        if resource.kind == "repository" and "repository" in kinds:
            continue  # the repository sits beside the first region the deploy was given
        missing.append(resource.key)
    return missing
