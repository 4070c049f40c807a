"""What a caller sets on a Service, what the API fills in when it is absent, update masks."""

from __future__ import annotations

import copy
import re
from typing import Any

from globalguide.emulator.run.validate import DEFAULT_PORT, Violation, cpu_value

# Fields a caller sets; the rest of a Service is output only.
SETTABLE = (
    "description",
    "labels",
    "annotations",
    "client",
    "clientVersion",
    "ingress",
    "launchStage",
    "binaryAuthorization",
    "template",
    "traffic",
    "scaling",
    "invokerIamDisabled",
    "defaultUriDisabled",
    "customAudiences",
    "iapEnabled",
    "multiRegionSettings",
    "buildConfig",
)


def settable(body: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in body.items() if k in SETTABLE}


def with_defaults(desired: dict[str, Any], number: str) -> dict[str, Any]:
    """The settable part of a Service, with the values the API fills in when absent."""
    out = copy.deepcopy(desired)
    if out.get("ingress", "INGRESS_TRAFFIC_UNSPECIFIED") == "INGRESS_TRAFFIC_UNSPECIFIED":
        out["ingress"] = "INGRESS_TRAFFIC_ALL"
    out.setdefault("launchStage", "GA")
    template = out.setdefault("template", {})
    template.setdefault("scaling", {}).setdefault("maxInstanceCount", 100)
    template.setdefault("timeout", "300s")
    template.setdefault("serviceAccount", f"{number}-compute@developer.gserviceaccount.com")
    containers = template.setdefault("containers", [])
    cpu_total = 0.0
    for container in containers:
        # cpu_idle defaults to true only when no resources are given at all (ResourceRequirements
        # docstring: with resources set, the caller must set it to keep that behaviour).
        if "resources" not in container:
            container["resources"] = {"cpuIdle": True}
        resources = container["resources"]
        limits = resources.setdefault("limits", {})
        limits.setdefault("cpu", "1000m")
        limits.setdefault("memory", "512Mi")
        cpu_total += cpu_value(limits["cpu"]) or 1.0
        if len(containers) == 1 or container.get("ports"):
            ports = container.setdefault("ports", [{}]) or [{}]
            container["ports"] = ports
            ports[0].setdefault("name", "http1")
            ports[0].setdefault("containerPort", DEFAULT_PORT)
            container.setdefault(
                "startupProbe",
                {
                    "timeoutSeconds": 240,
                    "periodSeconds": 240,
                    "failureThreshold": 1,
                    "tcpSocket": {"port": ports[0]["containerPort"]},
                },
            )
    if not template.get("maxInstanceRequestConcurrency"):
        template["maxInstanceRequestConcurrency"] = 80 if cpu_total >= 1 else 1
    if not out.get("traffic"):
        out["traffic"] = [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}]
    return out


def mask_paths(paths: list[str]) -> list[str]:
    """An update mask's paths in the JSON spelling; 400 for a path outside the settable fields."""
    mask = [_camel(p) for p in paths]
    for path in mask:
        if path.split(".")[0] not in SETTABLE:
            raise Violation("UpdateServiceRequest.update_mask", f"invalid path {path!r}.")
    return mask


def _camel(path: str) -> str:
    return ".".join(re.sub(r"_([a-z])", lambda m: m.group(1).upper(), p) for p in path.split("."))


def apply_mask(current: dict[str, Any], body: dict[str, Any], mask: list[str]) -> dict:
    """Full replacement without a mask; with one, only the named (nested) fields change."""
    if not mask:
        return body
    out = copy.deepcopy(current)
    for path in mask:
        keys = path.split(".")
        source: Any = body
        for key in keys:
            source = source.get(key) if isinstance(source, dict) else None
        target = out
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        if source is None:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = copy.deepcopy(source)
    return out
