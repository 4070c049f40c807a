"""What the Cloud Run twin holds for a service: its settable and output fields, revisions,
the rollout in progress, its IAM policy; and the conditions and etag it reports."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from globalguide.emulator.core.timestamps import rfc3339

if TYPE_CHECKING:
    from globalguide.emulator.run.rollout import Rollout

# Condition reasons are three enums in three fields (a oneof): ``reason`` (CommonReason),
# ``revisionReason`` and ``executionReason``. The client refuses a value outside its enum.
_REVISION_REASONS = frozenset(
    {"PENDING", "RESERVE", "RETIRED", "RETIRING", "RECREATING", "HEALTH_CHECK_CONTAINER_ERROR",
     "CUSTOMIZED_PATH_RESPONSE_PENDING", "MIN_INSTANCES_NOT_PROVISIONED",
     "ACTIVE_REVISION_LIMIT_REACHED", "NO_DEPLOYMENT", "HEALTH_CHECK_SKIPPED",
     "MIN_INSTANCES_WARMING"}
)  # fmt: skip


@dataclass
class ServiceState:
    """One service: ``desired`` is its settable part with defaults, ``output`` the Service
    as GET returns it (without its etag, which is computed from it)."""

    desired: dict[str, Any]
    output: dict[str, Any]
    revisions: list[str] = field(default_factory=list)
    rollout: Rollout | None = None
    policy: dict[str, Any] = field(default_factory=lambda: {"version": 1, "etag": "ACAB"})
    deleting: str | None = None  # the name of the delete operation under way
    last_failure: str = ""


def revision_id(
    rng: random.Random, service_id: str, generation: int, template: dict[str, Any]
) -> str:
    """The template's own revision name, or ``{service}-{generation:05d}-{3 random}``."""
    if template.get("revision"):
        return str(template["revision"])
    suffix = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in "abc")
    return f"{service_id}-{generation:05d}-{suffix}"


def etag(output: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(output, sort_keys=True).encode()).digest()
    return '"' + base64.b64encode(digest[:18]).decode() + '"'


def rendered(state: ServiceState) -> dict[str, Any]:
    """The service as GET returns it."""
    out = copy.deepcopy(state.output)
    out["etag"] = etag(state.output)
    return out


def set_conditions(service: dict[str, Any], condition_state: str) -> None:
    """Ready and its two parts (routes, configurations) all in ``condition_state``."""
    now = rfc3339()
    service["terminalCondition"] = {
        "type": "Ready",
        "state": condition_state,
        "lastTransitionTime": now,
    }
    service["conditions"] = [
        {"type": t, "state": condition_state, "lastTransitionTime": now}
        for t in ("RoutesReady", "ConfigurationsReady")
    ]


def mark_reconciling(state: ServiceState) -> None:
    state.output["reconciling"] = True
    set_conditions(state.output, "CONDITION_RECONCILING")


def mark_failed(state: ServiceState, message: str, reason: str) -> None:
    """Ready failed with ``message``; ``reason`` goes on ConfigurationsReady."""
    now = rfc3339()
    state.last_failure = message
    state.output["reconciling"] = False
    state.output["observedGeneration"] = state.output["generation"]
    state.output["terminalCondition"] = {
        "type": "Ready",
        "state": "CONDITION_FAILED",
        "message": message,
        "lastTransitionTime": now,
    }
    state.output["conditions"] = [
        {
            "type": "RoutesReady",
            "state": "CONDITION_FAILED",
            "message": message,
            "lastTransitionTime": now,
        },
        {
            "type": "ConfigurationsReady",
            "state": "CONDITION_FAILED",
            "message": message,
            "lastTransitionTime": now,
            **_condition_reason(reason),
        },
    ]


def _condition_reason(reason: str) -> dict[str, str]:
    return {"revisionReason" if reason in _REVISION_REASONS else "reason": reason}


def traffic_statuses(desired: dict[str, Any]) -> list[dict[str, Any]]:
    """What each traffic target reports once the service has settled."""
    out = []
    for target in desired.get("traffic", []):
        status = {k: v for k, v in target.items() if k in ("type", "percent", "revision", "tag")}
        out.append(status)
    return out
