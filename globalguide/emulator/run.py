"""Cloud Run Admin API v2: services, their operations and IAM policies.

A service is stored with the defaults the real API fills in and the output-only fields it
reports (generation, conditions, revisions, uri, etag...). Creating or changing the
revision template starts a revision through the data plane, which runs the image as a
local process; the operation completes when that process is ready or has failed, and the
service's conditions say which, in the real API's words. Validation follows the v2 API's
rules (run_v2 types docstrings, public error messages): see ``validate_service``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import random
import re
import string
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from globalguide.emulator.core.labels import check_labels
from globalguide.emulator.core.operations import peek_operation_fault
from globalguide.emulator.core.paging import offset_page
from globalguide.emulator.core.project import project_number
from globalguide.emulator.core.routing import ApiError, Route, bad_request, read_json
from globalguide.emulator.core.schema import canonical, validate_body
from globalguide.emulator.core.timestamps import rfc3339
from globalguide.emulator.iam import act_as_denied

if TYPE_CHECKING:
    from globalguide.emulator.artifactregistry import API as ArtifactRegistryAPI
    from globalguide.emulator.iam import API as IamAPI

SERVICE = "run.googleapis.com"
RESERVED_NAMESPACES = (
    "run.googleapis.com",
    "cloud.googleapis.com",
    "serving.knative.dev",
    "autoscaling.knative.dev",
)
RESERVED_ENV = ("PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION")
INGRESS = (
    "INGRESS_TRAFFIC_UNSPECIFIED",
    "INGRESS_TRAFFIC_ALL",
    "INGRESS_TRAFFIC_INTERNAL_ONLY",
    "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
    "INGRESS_TRAFFIC_NONE",
)
MAX_DESCRIPTION = 512
MAX_CONCURRENCY = 1000
MAX_CONTAINERS = 10
MAX_TIMEOUT_S = 3600
MAX_ENV_CHARS = 32768  # EnvVar docstring: name "must not exceed 32768 characters", value bytes
MIN_MEMORY_GEN2_MIB = 512  # memory-limits page: 128 MiB first generation, 512 MiB second
WHOLE_CPUS = (1, 2, 4, 6, 8)
DEFAULT_PORT = 8080
CREATOR = "emulator@globalguide.local"
# (minimum, maximum) memory in MiB for each whole CPU count.
_MEMORY_BOUNDS_MIB = {
    1: (128, 4096),
    2: (128, 8192),
    4: (2048, 16384),
    6: (4096, 24576),
    8: (4096, 32768),
}
# The fewest CPUs each memory size needs (Cloud Run memory-limits page: more than 4 GiB needs
# 2 CPUs ... more than 24 GiB needs 8; the services memory page adds the fractional steps:
# 256 MiB .167, 512 MiB .333, 1 GiB .583, 2 GiB 1). (memory above MiB, fewest CPUs)
_MIN_CPU_FOR_MEMORY = (
    (24576, 8.0),
    (16384, 6.0),
    (8192, 4.0),
    (4096, 2.0),
    (1024, 1.0),
    (512, 0.583),
    (256, 0.333),
    (128, 0.167),
)
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
IAM_ROLES = {
    "roles/run.invoker",
    "roles/run.servicesInvoker",
    "roles/run.admin",
    "roles/run.developer",
    "roles/run.viewer",
    "roles/run.sourceDeveloper",
    "roles/owner",
    "roles/editor",
    "roles/viewer",
    "roles/iam.securityReviewer",
}
_MEMBER = re.compile(
    r"(allUsers|allAuthenticatedUsers"
    r"|(user|serviceAccount|group|domain|principal|principalSet|deleted:user"
    r"|deleted:serviceAccount|deleted:group):\S+)\Z"
)
_SERVICE_ID = re.compile(r"[a-z](?:[a-z0-9-]{0,47}[a-z0-9])?\Z")
MAX_REVISION_CHARS = 63
_REVISION = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_ENV_NAME = re.compile(r"[^=\s][^=]*\Z")
_DURATION = re.compile(r"(\d+)(?:\.(\d{1,9}))?s\Z")
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?\Z")
_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"
CONTAINER_FAILED = (
    "The user-provided container failed to start and listen on the port defined provided "
    "by the PORT={port} environment variable within the allocated timeout. This can happen "
    "when the container port is misconfigured or if the timeout is too short. The health "
    "check timeout can be extended. Logs for this revision might contain more information."
)


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


def _seconds(duration: Any, where: str) -> float:
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


# ---------------------------------------------------------------- validation


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
        seconds = _seconds(template["timeout"], f"{root}.template.timeout")
        if seconds > MAX_TIMEOUT_S:
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
    names = []
    for env_index, env in enumerate(container.get("env") or []):
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
    limits = (container.get("resources") or {}).get("limits") or {}
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
        needed = next((c for above, c in _MIN_CPU_FOR_MEMORY if mib and mib > above), 0.08)
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


# ---------------------------------------------------------------- defaults


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


def _settable(body: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in body.items() if k in SETTABLE}


# Condition reasons are three enums in three fields (a oneof): ``reason`` (CommonReason),
# ``revisionReason`` and ``executionReason``. The client refuses a value outside its enum.
_REVISION_REASONS = frozenset(
    {"PENDING", "RESERVE", "RETIRED", "RETIRING", "RECREATING", "HEALTH_CHECK_CONTAINER_ERROR",
     "CUSTOMIZED_PATH_RESPONSE_PENDING", "MIN_INSTANCES_NOT_PROVISIONED",
     "ACTIVE_REVISION_LIMIT_REACHED", "NO_DEPLOYMENT", "HEALTH_CHECK_SKIPPED",
     "MIN_INSTANCES_WARMING"}
)  # fmt: skip


def _condition_reason(reason: str) -> dict[str, str]:
    return {"revisionReason" if reason in _REVISION_REASONS else "reason": reason}


def _ingress_port(template: dict[str, Any]) -> int:
    for container in template.get("containers", []):
        if container.get("ports"):
            return int(container["ports"][0].get("containerPort", DEFAULT_PORT))
    return DEFAULT_PORT


def _camel(path: str) -> str:
    return ".".join(re.sub(r"_([a-z])", lambda m: m.group(1).upper(), p) for p in path.split("."))


# ---------------------------------------------------------------- state


@dataclass
class _Rollout:
    """One revision being brought up by an operation."""

    op_name: str
    revision: str | None  # None when the template did not change
    image_uri: str = ""
    image_missing: bool = False
    handle: Any = None
    ingress_changed: bool = False


@dataclass
class _State:
    desired: dict[str, Any]
    output: dict[str, Any]
    revisions: list[str] = field(default_factory=list)
    rollout: _Rollout | None = None
    policy: dict[str, Any] = field(default_factory=lambda: {"version": 1, "etag": "ACAB"})
    deleting: str | None = None
    last_failure: str = ""


def _set_conditions(service: dict[str, Any], condition_state: str) -> None:
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


class API:
    """Cloud Run Admin API v2 services for the emulator's one project."""

    name = "run"
    # The APIs it calls, handed over by the server.
    iam: IamAPI
    registry: ArtifactRegistryAPI

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self._services: dict[str, _State] = {}
        self._ops: dict[str, str] = {}  # operation name -> location prefix
        self._rng = random.Random(os.getpid() ^ int(time.time()))

    # ------------------------------------------------------------ contract
    def routes(self) -> list[Route]:
        api = self.name
        loc = "/v2/projects/<project>/locations/<location>"
        svc = f"{loc}/services/<service>"
        return [
            Route("POST", f"{loc}/services", self.create_service, api=api, mutating=True),
            Route("GET", f"{loc}/services", self.list_services, api=api),
            Route("GET", svc, self.get_service, api=api),
            Route("PATCH", svc, self.update_service, api=api, mutating=True),
            Route("DELETE", svc, self.delete_service, api=api, mutating=True),
            Route("GET", f"{svc}:getIamPolicy", self.get_iam_policy, api=api),
            Route(
                "POST",
                f"{svc}:setIamPolicy",
                self.set_iam_policy,
                api=api,
                mutating=True,
                endpoint="no-operation",
            ),
            Route("POST", f"{svc}:testIamPermissions", self.test_iam_permissions, api=api),
            Route("GET", f"{loc}/operations", self.list_operations, api=api),
            Route("GET", f"{loc}/operations/<operation>", self.get_operation, api=api),
            Route("DELETE", f"{loc}/operations/<operation>", self.delete_operation, api=api),
            Route("POST", f"{loc}/operations/<operation>:wait", self.wait_operation, api=api),
        ]

    def snapshot(self) -> dict[str, Any]:
        with self.emulator.lock:
            return {
                "services": [self._render(n) for n in sorted(self._services)],
                "iamPolicies": {n: dict(s.policy) for n, s in self._services.items()},
            }

    def reset(self) -> None:
        with self.emulator.lock:
            self._services.clear()
            self._ops.clear()

    def resource_count(self) -> int:
        with self.emulator.lock:
            return len(self._services)

    # ------------------------------------------------------------ for other APIs
    def service(self, name: str) -> dict[str, Any] | None:
        """The service as GET returns it, or None."""
        with self.emulator.lock:
            return self._render(name) if name in self._services else None

    # ------------------------------------------------------------ helpers
    def _enter(self, project: str, location: str) -> None:
        from globalguide import geo

        self.emulator.enter(project, SERVICE, by_number=True)
        if location not in geo.REGIONS:
            raise bad_request(f"Location '{location}' is not a valid Cloud Run region.")

    def _check_service_account(self, service: dict[str, Any]) -> None:
        """Deploying as an account needs iam.serviceaccounts.actAs on it. An account of this
        project that does not exist, or that IAM does not show Cloud Run yet (just created,
        under the realistic profile), is refused with the same 403: IAM does not say which.
        """
        email = (service.get("template") or {}).get("serviceAccount")
        if not email or not isinstance(email, str):
            return
        iam = self.iam
        own = email.endswith(f"@{self.emulator.project}.iam.gserviceaccount.com")
        if own and not iam.visible(email):
            raise act_as_denied(email)

    def _check_revision_name(
        self, template: dict[str, Any], service_id: str, state: _State | None
    ) -> None:
        """A named revision must be prefixed with the service name and a hyphen, and a
        name already used by the service cannot be reused for another revision."""
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
        if state is not None and revision in state.revisions:
            raise ApiError(
                409,
                f"Revision named '{revision}' with different configuration already exists.",
                status="ALREADY_EXISTS",
            )

    def _name(self, project: str, location: str, service: str) -> str:
        return f"projects/{self.emulator.project}/locations/{location}/services/{service}"

    def _not_found(self, name: str) -> ApiError:
        return ApiError(404, f'service "{name}" not found', status="NOT_FOUND")

    def _new_revision(self, service_id: str, generation: int, template: dict[str, Any]) -> str:
        if template.get("revision"):
            return str(template["revision"])
        suffix = "".join(self._rng.choice(string.ascii_lowercase + string.digits) for _ in "abc")
        return f"{service_id}-{generation:05d}-{suffix}"

    def _etag(self, output: dict[str, Any]) -> str:
        digest = hashlib.sha256(json.dumps(output, sort_keys=True).encode()).digest()
        return '"' + base64.b64encode(digest[:18]).decode() + '"'

    def _refresh(self, name: str) -> None:
        """Settle a rollout whose operation ended without its effect (a transient fault)."""
        state = self._services.get(name)
        if state is None or state.rollout is None:
            return
        op = self.emulator.operations.get(state.rollout.op_name)
        state = self._services.get(name)
        if state is None or state.rollout is None or op is None or not op.done:
            return
        message = op.error[2] if op.error else "The operation ended without a result."
        state.rollout = None
        self._mark_failed(state, message, "INTERNAL")

    def _render(self, name: str) -> dict[str, Any]:
        self._refresh(name)
        state = self._services[name]
        out = copy.deepcopy(state.output)
        out["etag"] = self._etag(state.output)
        return out

    # ------------------------------------------------------------ services
    def create_service(self, request: Request, project: str, location: str) -> dict:
        self._enter(project, location)
        service_id = request.args.get("serviceId", "")
        body = read_json(request)
        return self._create(request, project, location, service_id, body, "CreateServiceRequest")

    def _create(
        self,
        request: Request,
        project: str,
        location: str,
        service_id: str,
        body: dict[str, Any],
        request_name: str,
    ) -> dict:
        if not service_id:
            raise Violation(f"{request_name}.service_id", "required field not present.")
        if not _SERVICE_ID.match(service_id):
            raise Violation(
                f"{request_name}.service_id",
                f"'{service_id}' is not a valid service ID: it must begin with a letter, "
                "contain only lowercase letters, digits and hyphens, not end with a hyphen, "
                "and be fewer than 50 characters long.",
            )
        validate_body(body, _service_cls(), resource="service")
        body = canonical(body, _service_cls())
        validate_service(body, request_name)
        self._check_revision_name(body.get("template") or {}, service_id, None)
        self._check_service_account(body)
        name = self._name(project, location, service_id)
        number = project_number(self.emulator.project)
        desired = with_defaults(_settable(body), number)
        validate_only = request.args.get("validateOnly", "").lower() == "true"
        now = rfc3339()
        output: dict[str, Any] = {
            "name": name,
            "uid": str(uuid.uuid4()),
            "generation": "1",
            **desired,
            "createTime": now,
            "updateTime": now,
            "creator": CREATOR,
            "lastModifier": CREATOR,
        }
        with self.emulator.lock:
            if name in self._services:
                raise ApiError(
                    409, f"Resource '{service_id}' already exists.", status="ALREADY_EXISTS"
                )
        if validate_only:
            return self._start_validation(project, location, output)
        with self.emulator.lock:
            if name in self._services:
                raise ApiError(
                    409, f"Resource '{service_id}' already exists.", status="ALREADY_EXISTS"
                )
            state = _State(desired=desired, output=output)
            revision = self._new_revision(service_id, 1, desired["template"])
            state.revisions.append(revision)
            output["latestCreatedRevision"] = (
                f"projects/{self.emulator.project}/locations/{location}/revisions/{revision}"
            )
            self._mark_reconciling(state)
            self._services[name] = state
        return self._roll_out(name, location, state, revision, "run.create")

    def get_service(self, request: Request, project: str, location: str, service: str) -> dict:
        self._enter(project, location)
        name = self._name(project, location, service)
        with self.emulator.lock:
            if name not in self._services:
                raise self._not_found(name)
            return self._render(name)

    def list_services(self, request: Request, project: str, location: str) -> dict:
        self._enter(project, location)
        prefix = f"projects/{self.emulator.project}/locations/{location}/services/"
        with self.emulator.lock:
            items = [self._render(n) for n in sorted(self._services) if n.startswith(prefix)]
        return _page(request, items, "services")

    def update_service(self, request: Request, project: str, location: str, service: str) -> dict:
        self._enter(project, location)
        name = self._name(project, location, service)
        body = read_json(request)
        allow_missing = request.args.get("allowMissing", "").lower() == "true"
        with self.emulator.lock:
            exists = name in self._services
        if not exists:
            if not allow_missing:
                raise self._not_found(name)
            return self._create(request, project, location, service, body, "UpdateServiceRequest")
        validate_body(body, _service_cls(), resource="service")
        body = canonical(body, _service_cls())
        mask = [_camel(p) for p in request.args.get("updateMask", "").split(",") if p]
        for path in mask:
            if path.split(".")[0] not in SETTABLE:
                raise Violation("UpdateServiceRequest.update_mask", f"invalid path {path!r}.")
        number = project_number(self.emulator.project)
        with self.emulator.lock:
            state = self._services.get(name)
            if state is None:
                raise self._not_found(name)
            self._refresh(name)
            etag = body.get("etag")
            if etag and etag != self._etag(state.output):
                raise ApiError(
                    409,
                    f"The etag {etag} does not match the current etag of "
                    f"{name}; read the service again and retry.",
                    status="ABORTED",
                )
            if state.deleting:
                raise ApiError(409, f"Service {name} is being deleted.", status="ABORTED")
            merged = _apply_mask(state.desired, _settable(body), mask)
            validate_service(merged, "UpdateServiceRequest")
            self._check_service_account(merged)
            desired = with_defaults(merged, number)
            if request.args.get("validateOnly", "").lower() == "true":
                return self._start_validation(project, location, {**state.output, **desired})
            template_changed = desired["template"] != state.desired["template"]
            ingress_changed = desired["ingress"] != state.desired["ingress"]
            changed = desired != state.desired
            output = state.output
            if changed:
                generation = int(output["generation"]) + 1
                for key in SETTABLE:
                    output.pop(key, None)
                output.update(copy.deepcopy(desired))
                output["generation"] = str(generation)
                output["updateTime"] = rfc3339()
                output["lastModifier"] = CREATOR
                state.desired = desired
            revision = None
            if template_changed:
                self._check_revision_name(desired["template"], service, state)
                revision = self._new_revision(
                    service, int(output["generation"]), desired["template"]
                )
                state.revisions.append(revision)
                output["latestCreatedRevision"] = (
                    f"projects/{self.emulator.project}/locations/{location}/revisions/{revision}"
                )
            self._mark_reconciling(state)
        return self._roll_out(
            name, location, state, revision, "run.update", ingress_changed=ingress_changed
        )

    def delete_service(self, request: Request, project: str, location: str, service: str) -> dict:
        self._enter(project, location)
        name = self._name(project, location, service)
        with self.emulator.lock:
            state = self._services.get(name)
            if state is None:
                raise self._not_found(name)
            etag = request.args.get("etag")
            if etag and etag != self._etag(state.output):
                raise ApiError(
                    409,
                    f"The etag {etag} does not match the current etag of "
                    f"{name}; read the service again and retry.",
                    status="ABORTED",
                )
            snapshot = self._render(name)
        if request.args.get("validateOnly", "").lower() == "true":
            return self._start_validation(project, location, snapshot)
        faulted = peek_operation_fault()
        removed = threading.Event()
        op_name = self._op_name(location)

        def effect() -> dict:
            with self.emulator.lock:
                current = self._services.get(name)
                if current is None or current.deleting != op_name:
                    raise self._not_found(name)
                del self._services[name]
            return {"@type": _TYPE, **snapshot, "deleteTime": rfc3339()}

        with self.emulator.lock:
            state.deleting = op_name
            op = self.emulator.operations.start_google(
                parent="",
                kind="run.delete",
                name=op_name,
                effect=effect,
                metadata={"@type": _TYPE, **snapshot},
                ready=None if faulted else removed.is_set,
            )
            record = self.emulator.operations.get(op_name)
        if not faulted and record is not None:
            # The process stops before the operation reports done, off the emulator's lock.
            threading.Thread(
                target=self._remove_later,
                args=(name, record.due, removed),
                name="run-delete",
                daemon=True,
            ).start()
        return op

    def _remove_later(self, name: str, due: float, removed: threading.Event) -> None:
        try:
            time.sleep(max(0.0, due - time.time()))
            self.emulator.dataplane.remove_service(name)
        finally:
            removed.set()

    # ------------------------------------------------------------ rollouts
    def _op_name(self, location: str) -> str:
        name = f"projects/{self.emulator.project}/locations/{location}/operations/{uuid.uuid4()}"
        with self.emulator.lock:
            self._ops[name] = f"projects/{self.emulator.project}/locations/{location}"
        return name

    def _mark_reconciling(self, state: _State) -> None:
        state.output["reconciling"] = True
        _set_conditions(state.output, "CONDITION_RECONCILING")

    def _roll_out(
        self,
        name: str,
        location: str,
        state: _State,
        revision: str | None,
        kind: str,
        *,
        ingress_changed: bool = False,
    ) -> dict:
        """Start the revision (if any) and the operation that reports on it."""
        template = state.desired["template"]
        op_name = self._op_name(location)
        rollout = _Rollout(op_name=op_name, revision=revision, ingress_changed=ingress_changed)
        if revision is not None:
            rollout.image_uri = template["containers"][0]["image"]
            for container in template["containers"]:
                if container.get("ports"):
                    rollout.image_uri = container["image"]
            digest = self.registry.resolve(rollout.image_uri)
            image = self.emulator.images.get(digest) if digest else None
            rollout.image_missing = image is None
            if image is not None and not peek_operation_fault():
                env = {}
                for container in template["containers"]:
                    if container["image"] == rollout.image_uri:
                        env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
                rollout.handle = self.emulator.dataplane.start_revision(
                    service=name,
                    region=location,
                    revision=revision,
                    image=image,
                    env=env,
                    ingress=state.desired["ingress"],
                    template=copy.deepcopy(template),
                )
        handle = rollout.handle

        def ready() -> bool:
            return handle is None or handle.status != "starting"

        with self.emulator.lock:
            state.rollout = rollout
            return self.emulator.operations.start_google(
                parent="",
                kind=kind,
                name=op_name,
                effect=lambda: self._settle(name, rollout),
                metadata=lambda: self._metadata(name),
                ready=ready,
            )

    def _metadata(self, name: str) -> dict[str, Any]:
        with self.emulator.lock:
            if name not in self._services:
                return {"@type": _TYPE, "name": name}
            return {"@type": _TYPE, **self._render(name)}

    def _settle(self, name: str, rollout: _Rollout) -> dict:
        """The operation's effect: the service becomes Ready, or fails as Cloud Run says."""
        with self.emulator.lock:
            state = self._services.get(name)
            if state is None:
                raise self._not_found(name)
            if state.rollout is not rollout:
                raise ApiError(
                    409,
                    f"The operation was superseded by a newer change to {name}.",
                    status="ABORTED",
                )
            state.rollout = None
            if rollout.ingress_changed:
                self.emulator.dataplane.set_ingress(name, state.desired["ingress"])
            if rollout.revision is not None:
                port = _ingress_port(state.desired["template"])
                prefix = f"Revision '{rollout.revision}' is not ready and cannot serve traffic. "
                if rollout.image_missing:
                    self._fail(
                        state,
                        prefix + f"Image '{rollout.image_uri}' not found.",
                        "CONTAINER_MISSING",
                    )
                handle = rollout.handle
                if handle is None or handle.status != "ready":
                    detail = CONTAINER_FAILED.format(port=port)
                    error = getattr(handle, "error", "") if handle is not None else ""
                    if error:
                        detail += f"\n\nLogs: {error}"
                    self._fail(state, prefix + detail, "HEALTH_CHECK_CONTAINER_ERROR")
                state.output["latestReadyRevision"] = state.output["latestCreatedRevision"]
                state.output["uri"] = handle.uri
                state.output["urls"] = [handle.uri]
            elif not state.output.get("latestReadyRevision"):
                # No new revision, and no earlier one ever became ready.
                self._fail(
                    state,
                    state.last_failure or "The service has no ready revision.",
                    "REVISION_FAILED",
                )
            state.output["reconciling"] = False
            state.output["observedGeneration"] = state.output["generation"]
            _set_conditions(state.output, "CONDITION_SUCCEEDED")
            state.output["trafficStatuses"] = self._traffic_statuses(state)
            return {"@type": _TYPE, **self._render(name)}

    def _traffic_statuses(self, state: _State) -> list[dict[str, Any]]:
        out = []
        for target in state.desired.get("traffic", []):
            status = {
                k: v for k, v in target.items() if k in ("type", "percent", "revision", "tag")
            }
            out.append(status)
        return out

    def _fail(self, state: _State, message: str, reason: str) -> None:
        self._mark_failed(state, message, reason)
        raise ApiError(400, message, status="FAILED_PRECONDITION")

    def _mark_failed(self, state: _State, message: str, reason: str) -> None:
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

    def _start_validation(self, project: str, location: str, service: dict[str, Any]) -> dict:
        op_name = self._op_name(location)
        body = {"@type": _TYPE, **service}
        return self.emulator.operations.start_google(
            parent="", kind="run.validate", name=op_name, effect=lambda: body, metadata=body
        )

    # ------------------------------------------------------------ IAM
    def _state_or_404(self, project: str, location: str, service: str) -> _State:
        self._enter(project, location)
        name = self._name(project, location, service)
        state = self._services.get(name)
        if state is None:
            raise self._not_found(name)
        return state

    def get_iam_policy(self, request: Request, project: str, location: str, service: str) -> dict:
        with self.emulator.lock:
            return dict(self._state_or_404(project, location, service).policy)

    def set_iam_policy(self, request: Request, project: str, location: str, service: str) -> dict:
        from google.iam.v1 import policy_pb2

        body = read_json(request)
        policy = body.get("policy")
        if not isinstance(policy, dict):
            raise Violation("SetIamPolicyRequest.policy", "required field not present.")
        validate_body(policy, policy_pb2.Policy, resource="policy")
        bindings = []
        for binding in policy.get("bindings", []):
            role = binding.get("role", "")
            if not role.startswith(("roles/", "projects/", "organizations/")):
                raise bad_request(f"Role ({role}) does not exist in the resource's hierarchy.")
            if role.startswith("roles/") and role not in IAM_ROLES:
                raise bad_request(f"Role {role} is not supported for this resource.")
            if "condition" in binding:
                raise bad_request("Conditions are not supported for this resource.")
            for member in binding.get("members", []):
                if not _MEMBER.match(member):
                    raise bad_request(f"Invalid argument: principal {member!r} is not valid.")
            if binding.get("members"):
                bindings.append({"role": role, "members": sorted(set(binding["members"]))})
        with self.emulator.lock:
            state = self._state_or_404(project, location, service)
            sent = policy.get("etag")
            current = state.policy["etag"]
            if sent and sent != current:
                raise ApiError(
                    409,
                    "There were concurrent policy changes. Please retry the whole "
                    "read-modify-write with exponential backoff. The request's ETag "
                    f"'{sent}' did not match the current policy's ETag '{current}'.",
                    status="ABORTED",
                )
            new: dict[str, Any] = {"version": 1}
            if bindings:
                new["bindings"] = bindings
            new["etag"] = base64.b64encode(os.urandom(8)).decode()
            state.policy = new
            return dict(new)

    def test_iam_permissions(
        self, request: Request, project: str, location: str, service: str
    ) -> dict:
        body = read_json(request)
        permissions = body.get("permissions", [])
        for permission in permissions:
            if not re.fullmatch(r"[a-z]+\.[a-zA-Z]+\.[a-zA-Z]+", str(permission)):
                raise bad_request(f"Permission {permission} is not valid.")
        with self.emulator.lock:
            self._state_or_404(project, location, service)
        granted = [p for p in permissions if p.startswith("run.")]
        return {"permissions": granted} if granted else {}

    # ------------------------------------------------------------ operations
    def _op_or_404(self, project: str, location: str, operation: str) -> str:
        self._enter(project, location)
        name = f"projects/{self.emulator.project}/locations/{location}/operations/{operation}"
        if name not in self._ops:
            raise ApiError(404, f"Operation {name} not found.", status="NOT_FOUND")
        return name

    def get_operation(self, request: Request, project: str, location: str, operation: str) -> dict:
        name = self._op_or_404(project, location, operation)
        rendered = self.emulator.operations.render(name)
        if rendered is None:
            raise ApiError(404, f"Operation {name} not found.", status="NOT_FOUND")
        return rendered

    def list_operations(self, request: Request, project: str, location: str) -> dict:
        self._enter(project, location)
        prefix = f"projects/{self.emulator.project}/locations/{location}"
        with self.emulator.lock:
            names = [n for n, p in self._ops.items() if p == prefix]
        items = [r for r in (self.emulator.operations.render(n) for n in names) if r]
        return _page(request, items, "operations")

    def delete_operation(
        self, request: Request, project: str, location: str, operation: str
    ) -> dict:
        name = self._op_or_404(project, location, operation)
        with self.emulator.lock:
            self._ops.pop(name, None)
        return {}

    def wait_operation(self, request: Request, project: str, location: str, operation: str) -> dict:
        name = self._op_or_404(project, location, operation)
        body = read_json(request)
        timeout = (
            _seconds(body["timeout"], "WaitOperationRequest.timeout")
            if body.get("timeout")
            else 60.0
        )
        rendered = self.emulator.operations.wait(name, timeout=min(timeout, 60.0))
        if rendered is None:
            raise ApiError(404, f"Operation {name} not found.", status="NOT_FOUND")
        return rendered


def _service_cls() -> Any:
    from google.cloud import run_v2

    return run_v2.Service


def _apply_mask(current: dict[str, Any], body: dict[str, Any], mask: list[str]) -> dict:
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


def _page(request: Request, items: list[dict], key: str) -> dict:
    raw = request.args.get("pageSize", "")
    try:
        size = int(raw) if raw else 100
        offset = int(request.args.get("pageToken") or 0)
    except ValueError as exc:
        raise bad_request("Invalid page size or page token.") from exc
    size = size if size > 0 else 100
    return offset_page(items, offset, size, key)
