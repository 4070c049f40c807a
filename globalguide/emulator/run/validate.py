"""The v2 API's rules for a Service, beyond what the proto schema checks.

The rules come from the run_v2 types' docstrings, the Cloud Run limits and memory pages and
public error messages (register in docs/emulator.md). A broken rule is a 400
:class:`Violation` naming the field, in the API's words.
"""

from __future__ import annotations

import re
from typing import Any

from globalguide.emulator.core.labels import check_labels
from globalguide.emulator.core.routing import ApiError
from globalguide.run_limits import WHOLE_CPUS, min_cpu_for_memory

RESERVED_NAMESPACES = (
    "run.googleapis.com",
    "cloud.googleapis.com",
    "serving.knative.dev",
    "autoscaling.knative.dev",
)
RESERVED_ENV = ("PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION")
MAX_DESCRIPTION = 512
MAX_CONCURRENCY = 1000
MAX_CONTAINERS = 10
MAX_TIMEOUT_S = 3600
MAX_ENV_CHARS = 32768  # EnvVar docstring: name "must not exceed 32768 characters", value bytes
MIN_MEMORY_GEN2_MIB = 512  # memory-limits page: 128 MiB first generation, 512 MiB second
DEFAULT_PORT = 8080
# (minimum, maximum) memory in MiB for each whole CPU count.
_MEMORY_BOUNDS_MIB = {
    1: (128, 4096),
    2: (128, 8192),
    4: (2048, 16384),
    6: (4096, 24576),
    8: (4096, 32768),
}
_SERVICE_ID = re.compile(r"[a-z](?:[a-z0-9-]{0,47}[a-z0-9])?\Z")
MAX_REVISION_CHARS = 63
_REVISION = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_ENV_NAME = re.compile(r"[^=\s][^=]*\Z")
_DURATION = re.compile(r"(\d+)(?:\.(\d{1,9}))?s\Z")
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?\Z")


class Violation(ApiError):
    """400 naming the offending field, with the BadRequest detail the v2 API adds."""

    def __init__(self, field_path: str, description: str, *, prefix: bool = True) -> None:
        message = (
            f"Violation in {field_path}: {description}"
            if prefix
            else (f"{field_path}: {description}")
        )
        super().__init__(400, message, reason="badRequest", status="INVALID_ARGUMENT")
        self.field = f"Violation in {field_path}" if prefix else field_path
        self.description = description

    def body(self, style: str = "google") -> dict[str, Any]:
        out = super().body(style)
        out["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": self.field, "description": self.description}],
            }
        ]
        return out


def seconds(duration: Any, where: str) -> float:
    """A google.protobuf.Duration in its JSON spelling ("3.5s"), in seconds."""
    match = _DURATION.match(str(duration)) if duration is not None else None
    if match is None:
        raise Violation(where, f"invalid duration {duration!r}.")
    return int(match.group(1)) + float("0." + (match.group(2) or "0"))


def cpu_value(raw: str) -> float | None:
    try:
        return int(raw[:-1]) / 1000 if raw.endswith("m") else float(raw)
    except ValueError:
        return None


def memory_mib(raw: str) -> float | None:
    match = _MEMORY.match(raw)
    if match is None:
        return None
    factors = {
        None: 1 / 2**20,
        "k": 1e3 / 2**20,
        "K": 1e3 / 2**20,
        "Ki": 1 / 1024,
        "M": 1e6 / 2**20,
        "Mi": 1.0,
        "G": 1e9 / 2**20,
        "Gi": 1024.0,
        "T": 1e12 / 2**20,
        "Ti": 2**20,
    }
    return float(match.group(1)) * factors[match.group(2)]


def check_service_id(service_id: str, request_name: str) -> None:
    if not service_id:
        raise Violation(f"{request_name}.service_id", "required field not present.")
    if not _SERVICE_ID.match(service_id):
        raise Violation(
            f"{request_name}.service_id",
            f"'{service_id}' is not a valid service ID: it must begin with a letter, "
            "contain only lowercase letters, digits and hyphens, not end with a hyphen, "
            "and be fewer than 50 characters long.",
        )


def check_revision_name(template: dict[str, Any], service_id: str, used: list[str]) -> None:
    """A named revision must be prefixed with the service name and a hyphen, and a
    name already ``used`` by the service cannot be reused for another revision."""
    revision = template.get("revision")
    if not revision:
        return
    if not revision.startswith(f"{service_id}-") or not _REVISION.match(revision):
        raise Violation(
            "template.revision",
            f"Revision name '{revision}' must be prefixed with the name of the enclosing "
            f"Service or Configuration with a trailing -, and be a valid name of at most "
            f"{MAX_REVISION_CHARS} lowercase letters, digits and hyphens.",
            prefix=False,
        )
    if revision in used:
        raise ApiError(
            409,
            f"Revision named '{revision}' with different configuration already exists.",
            status="ALREADY_EXISTS",
        )


def validate_service(svc: dict[str, Any], request_name: str) -> None:
    """The v2 API's semantic rules, beyond what the proto schema checks."""
    root = f"{request_name}.service"
    if len(svc.get("description", "")) > MAX_DESCRIPTION:
        raise Violation(
            f"{root}.description", f"must be at most {MAX_DESCRIPTION} characters long."
        )
    _check_metadata(svc, root)
    template = svc.get("template")
    if not isinstance(template, dict):
        raise Violation(f"{root}.template", "required field not present.")
    _check_metadata(template, f"{root}.template")
    containers = template.get("containers") or []
    if not containers:
        raise Violation(f"{root}.template.containers", "required field not present.")
    if len(containers) > MAX_CONTAINERS:
        raise Violation(
            f"{root}.template.containers", f"at most {MAX_CONTAINERS} containers are allowed."
        )
    if len(containers) > 1:
        if sum(1 for c in containers if c.get("ports")) != 1:
            raise Violation(
                "template.containers",
                "Revision template should contain exactly one container with an exposed port.",
                prefix=False,
            )
        names = [c.get("name", "") for c in containers]
        if len(set(names)) != len(names):
            raise Violation(f"{root}.template.containers", "container names must be unique.")
    cpu_total = 0.0
    gen2 = template.get("executionEnvironment") == "EXECUTION_ENVIRONMENT_GEN2"
    for index, container in enumerate(containers):
        cpu_total += _check_container(container, index, root, gen2=gen2)
    concurrency = template.get("maxInstanceRequestConcurrency", 0)
    if not 0 <= concurrency <= MAX_CONCURRENCY:
        raise Violation(
            f"{root}.template.max_instance_request_concurrency",
            f"must be between 1 and {MAX_CONCURRENCY}.",
        )
    if cpu_total < 1 and concurrency > 1:
        raise Violation(
            f"{root}.template.containers[0].resources.limits.cpu",
            "Invalid value specified for cpu. Total cpu < 1 is not supported with concurrency > 1.",
        )
    if "timeout" in template:
        timeout = seconds(template["timeout"], f"{root}.template.timeout")
        if timeout > MAX_TIMEOUT_S:
            raise Violation(f"{root}.template.timeout", f"must be at most {MAX_TIMEOUT_S} seconds.")
    _check_scaling(template.get("scaling"), f"{root}.template.scaling")
    _check_scaling(svc.get("scaling"), f"{root}.scaling")
    _check_traffic(svc.get("traffic"), root)


def _check_metadata(obj: dict[str, Any], where: str) -> None:
    for kind in ("labels", "annotations"):
        for key in obj.get(kind) or {}:
            namespace = key.split("/", 1)[0] if "/" in key else ""
            for reserved in RESERVED_NAMESPACES:
                if namespace == reserved or namespace.endswith("." + reserved):
                    raise Violation(
                        f"{where}.{kind}[{key}]",
                        f"{kind.capitalize()} with the '{reserved}' namespace are not "
                        "supported in Cloud Run API v2; use the corresponding field of the "
                        "resource instead.",
                    )
    check_labels(obj.get("labels"), field_name=f"{where}.labels")


def _check_container(
    container: dict[str, Any], index: int, root: str, *, gen2: bool = False
) -> float:
    where = f"{root}.template.containers[{index}]"
    if not container.get("image"):
        raise Violation(f"{where}.image", "required field not present.")
    ports = container.get("ports") or []
    if len(ports) > 1:
        raise Violation(f"{where}.ports", "ports should contain 0 or 1 port.")
    for port in ports:
        number = port.get("containerPort", DEFAULT_PORT)
        if not 1 <= number <= 65535:
            raise Violation(f"{where}.ports[0].container_port", "must be between 1 and 65535.")
        if port.get("name", "http1") not in ("http1", "h2c"):
            raise Violation(f"{where}.ports[0].name", "must be one of http1 or h2c.")
    _check_env(container.get("env") or [], index, where)
    return _check_resources((container.get("resources") or {}).get("limits") or {}, where, gen2)


def _check_env(envs: list[dict[str, Any]], index: int, where: str) -> None:
    names = []
    for env_index, env in enumerate(envs):
        name = env.get("name", "")
        if not name or not _ENV_NAME.match(name):
            raise Violation(
                f"{where}.env[{env_index}].name", "must be a non-empty string without '='."
            )
        if len(name) > MAX_ENV_CHARS:
            raise Violation(
                f"{where}.env[{env_index}].name", f"must not exceed {MAX_ENV_CHARS} characters."
            )
        if len(str(env.get("value", "")).encode()) > MAX_ENV_CHARS:
            raise Violation(
                f"{where}.env[{env_index}].value", f"must not exceed {MAX_ENV_CHARS} bytes."
            )
        names.append(name)
    reserved = [n for n in names if n in RESERVED_ENV]
    if reserved:
        raise Violation(
            f"template.containers[{index}].env",
            f"The following reserved env names were provided: {', '.join(reserved)}. These "
            "values are automatically set by the system.",
            prefix=False,
        )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise Violation(
            f"{where}.env", f"Duplicate env var names were provided: {', '.join(duplicates)}."
        )


def _check_resources(limits: dict[str, Any], where: str, gen2: bool) -> float:
    """The container's CPU and memory limits; returns its CPUs."""
    for key in limits:
        if key not in ("cpu", "memory", "nvidia.com/gpu"):
            raise Violation(f"{where}.resources.limits", f"unknown resource {key!r}.")
    cpu = cpu_value(str(limits.get("cpu", "1")))
    fraction_ok = cpu is not None and 0.08 <= cpu < 1 and abs(cpu * 100 - round(cpu * 100)) < 1e-6
    if cpu is None or not (fraction_ok or cpu in WHOLE_CPUS):
        raise Violation(
            f"{where}.resources.limits.cpu",
            f"Invalid value specified for cpu: {limits.get('cpu')!r}. Use a whole number of "
            "CPUs (1, 2, 4, 6 or 8) or a fraction from 0.08 to less than 1, in steps of 0.01.",
        )
    if "memory" in limits:
        mib = memory_mib(str(limits["memory"]))
        low, high = _MEMORY_BOUNDS_MIB.get(int(cpu), (128, 4096)) if cpu >= 1 else (128, 1024)
        if gen2:
            low = max(low, MIN_MEMORY_GEN2_MIB)
        needed = min_cpu_for_memory(mib, 0.08) if mib else 0.08
        if mib is None or not low <= mib <= high or cpu < needed:
            raise Violation(
                f"{where}.resources.limits.memory",
                f"Invalid value specified for memory. For {float(cpu)} CPU, memory must be "
                f"between {_mib_text(low)} and {_mib_text(high)} inclusive"
                + (f"; {limits['memory']} needs at least {needed:g} CPU." if cpu < needed else "."),
            )
    return cpu


def _mib_text(mib: float) -> str:
    return f"{int(mib // 1024)}Gi" if mib >= 1024 and mib % 1024 == 0 else f"{int(mib)}Mi"


def _check_scaling(scaling: Any, where: str) -> None:
    if not scaling:
        return
    low = scaling.get("minInstanceCount", 0)
    high = scaling.get("maxInstanceCount", 0)
    if low < 0 or high < 0:
        raise Violation(where, "instance counts must not be negative.")
    if high and low > high:
        raise Violation(
            f"{where}.max_instance_count",
            "max_instance_count must be greater than or equal to min_instance_count.",
        )


def _check_traffic(traffic: Any, root: str) -> None:
    if not traffic:
        return
    total = sum(t.get("percent", 0) for t in traffic)
    if total != 100:
        raise Violation(f"{root}.traffic", f"traffic percentages must add up to 100, not {total}.")
    for index, target in enumerate(traffic):
        kind = target.get("type", "TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED")
        if kind == "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION" and not target.get("revision"):
            raise Violation(f"{root}.traffic[{index}].revision", "required field not present.")
