"""Rolling a revision out: its process is started through the data plane, and the
operation's effect settles the service as Ready, or failed in Cloud Run's words."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from globalguide.emulator.core.operations import peek_operation_fault
from globalguide.emulator.core.routing import ApiError
from globalguide.emulator.run.state import (
    ServiceState,
    mark_failed,
    set_conditions,
    traffic_statuses,
)
from globalguide.emulator.run.validate import DEFAULT_PORT

if TYPE_CHECKING:
    from globalguide.emulator.artifactregistry import API as ArtifactRegistryAPI

CONTAINER_FAILED = (
    "The user-provided container failed to start and listen on the port defined provided "
    "by the PORT={port} environment variable within the allocated timeout. This can happen "
    "when the container port is misconfigured or if the timeout is too short. The health "
    "check timeout can be extended. Logs for this revision might contain more information."
)


@dataclass
class Rollout:
    """One revision being brought up by an operation."""

    op_name: str
    revision: str | None  # None when the template did not change
    image_uri: str = ""
    image_missing: bool = False
    handle: Any = None
    ingress_changed: bool = False


def start(
    emulator: Any,
    registry: ArtifactRegistryAPI,
    name: str,
    location: str,
    desired: dict[str, Any],
    rollout: Rollout,
) -> None:
    """Start the rollout's revision, if any: the image of the container that takes the
    requests, resolved in Artifact Registry, run by the data plane. No process starts for
    a missing image or an operation that is to fail."""
    if rollout.revision is None:
        return
    template = desired["template"]
    rollout.image_uri = template["containers"][0]["image"]
    for container in template["containers"]:
        if container.get("ports"):
            rollout.image_uri = container["image"]
    digest = registry.resolve(rollout.image_uri)
    image = emulator.images.get(digest) if digest else None
    rollout.image_missing = image is None
    if image is None or peek_operation_fault():
        return
    env = {}
    for container in template["containers"]:
        if container["image"] == rollout.image_uri:
            env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
    rollout.handle = emulator.dataplane.start_revision(
        service=name,
        region=location,
        revision=rollout.revision,
        image=image,
        env=env,
        ingress=desired["ingress"],
        template=copy.deepcopy(template),
    )


def settle(state: ServiceState, rollout: Rollout, name: str, dataplane: Any) -> None:
    """The operation's effect: the service becomes Ready, or fails as Cloud Run says."""
    if state.rollout is not rollout:
        raise ApiError(
            409,
            f"The operation was superseded by a newer change to {name}.",
            status="ABORTED",
        )
    state.rollout = None
    if rollout.ingress_changed:
        dataplane.set_ingress(name, state.desired["ingress"])
    if rollout.revision is not None:
        port = _ingress_port(state.desired["template"])
        prefix = f"Revision '{rollout.revision}' is not ready and cannot serve traffic. "
        if rollout.image_missing:
            _fail(state, prefix + f"Image '{rollout.image_uri}' not found.", "CONTAINER_MISSING")
        handle = rollout.handle
        if handle is None or handle.status != "ready":
            detail = CONTAINER_FAILED.format(port=port)
            error = getattr(handle, "error", "") if handle is not None else ""
            if error:
                detail += f"\n\nLogs: {error}"
            _fail(state, prefix + detail, "HEALTH_CHECK_CONTAINER_ERROR")
        state.output["latestReadyRevision"] = state.output["latestCreatedRevision"]
        state.output["uri"] = handle.uri
        state.output["urls"] = [handle.uri]
    elif not state.output.get("latestReadyRevision"):
        # No new revision, and no earlier one ever became ready.
        _fail(state, state.last_failure or "The service has no ready revision.", "REVISION_FAILED")
    state.output["reconciling"] = False
    state.output["observedGeneration"] = state.output["generation"]
    set_conditions(state.output, "CONDITION_SUCCEEDED")
    state.output["trafficStatuses"] = traffic_statuses(state.desired)


def _fail(state: ServiceState, message: str, reason: str) -> None:
    mark_failed(state, message, reason)
    raise ApiError(400, message, status="FAILED_PRECONDITION")


def _ingress_port(template: dict[str, Any]) -> int:
    for container in template.get("containers", []):
        if container.get("ports"):
            return int(container["ports"][0].get("containerPort", DEFAULT_PORT))
    return DEFAULT_PORT
