"""Long-running operations, their timing profiles, and deterministic fault injection.

Two operation families exist in the APIs the emulator serves:
- compute ``Operation`` objects (PENDING -> RUNNING -> DONE, failure as ``error`` plus
  ``httpErrorStatusCode``/``httpErrorMessage`` on a DONE operation);
- ``google.longrunning.Operation`` (``done`` false/true, ``response`` or ``error``) for
  Cloud Run, Cloud Build, Artifact Registry and Service Usage.

An operation's effect (the resource appearing, changing or going away) is applied when
the operation completes, as in the cloud: a resource being inserted is not readable yet,
and one being deleted is still there. ``tick()`` completes every operation whose time has
come; the server calls it on every request and from a background ticker.
"""

from __future__ import annotations

import contextvars
import hashlib
import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from globalguide.emulator.core.routing import ApiError
from globalguide.emulator.core.timestamps import compute_timestamp

# Seconds each kind of operation takes under the realistic profile, before --time-scale.
# Sources and reasoning are in docs/emulator.md ("Timing profiles"). Unlisted kinds use
# the "default" entry.
REALISTIC_SECONDS: dict[str, float] = {
    "serviceusage.enable": 20.0,
    "artifactregistry.createRepository": 8.0,
    "artifactregistry.delete": 5.0,
    "cloudbuild.build": 90.0,
    "run.create": 30.0,
    "run.update": 25.0,
    "run.delete": 10.0,
    "compute.address": 5.0,
    "compute.networkEndpointGroup": 6.0,
    "compute.backendService": 12.0,
    "compute.urlMap": 10.0,
    "compute.targetProxy": 10.0,
    "compute.sslCertificate": 8.0,
    "compute.forwardingRule": 20.0,
    "compute.instance": 25.0,
    "compute.delete": 8.0,
    "default": 5.0,
}

# Seconds after a change has completed during which other parts of the cloud do not see it
# yet, under the realistic profile, before --time-scale. Sources in docs/emulator.md
# ("Eventual consistency").
REALISTIC_PROPAGATION_SECONDS: dict[str, float] = {
    "serviceusage.enable": 45.0,
    "iam.serviceAccount": 30.0,
}

@dataclass
class Timing:
    profile: str = "instant"
    time_scale: float = 1.0

    def seconds(self, kind: str) -> float:
        if self.profile == "instant":
            return 0.0
        base = REALISTIC_SECONDS.get(kind, REALISTIC_SECONDS["default"])
        return base * self.time_scale

    def propagation(self, kind: str) -> float:
        """How long a completed change of ``kind`` stays invisible elsewhere (0 if instant)."""
        if self.profile == "instant":
            return 0.0
        return REALISTIC_PROPAGATION_SECONDS[kind] * self.time_scale


# ---------------------------------------------------------------- fault injection

FAULT_KINDS = ("429", "503", "operation")

# Set by the server for the request being handled: the fault, if any, to apply to the
# operation the handler starts.
_pending_operation_fault: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "pending_operation_fault", default=False
)


class FaultInjector:
    """Decides, deterministically from the seed, which mutating calls fail.

    The decision for a call depends only on the seed, the method and path, and how many
    times that same method and path have been called before. So the same seed gives the
    same faults even when independent calls arrive in a different order.
    """

    def __init__(self, rate: float = 0.0, seed: int = 0) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        self.rate = rate
        self.seed = seed
        self._attempts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self.injected: list[dict[str, Any]] = []

    def decide(self, method: str, path: str, *, has_operation: bool) -> str | None:
        if self.rate <= 0.0:
            return None
        with self._lock:
            key = (method, path)
            attempt = self._attempts.get(key, 0)
            self._attempts[key] = attempt + 1
        digest = hashlib.sha256(f"{self.seed}|{method}|{path}|{attempt}".encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64
        if draw >= self.rate:
            return None
        kinds = FAULT_KINDS if has_operation else FAULT_KINDS[:2]
        kind = kinds[digest[8] % len(kinds)]
        with self._lock:
            self.injected.append({"method": method, "path": path, "attempt": attempt, "kind": kind})
        return kind

    @staticmethod
    def error_for(kind: str) -> ApiError:
        if kind == "429":
            return ApiError(
                429,
                "Quota exceeded: too many requests in a short time. Retry with backoff.",
                reason="rateLimitExceeded",
                status="RESOURCE_EXHAUSTED",
            )
        return ApiError(
            503,
            "The service is currently unavailable.",
            reason="backendError",
            status="UNAVAILABLE",
        )


def set_operation_fault(value: bool) -> contextvars.Token:
    return _pending_operation_fault.set(value)


def reset_operation_fault(token: contextvars.Token) -> None:
    _pending_operation_fault.reset(token)


def peek_operation_fault() -> bool:
    """True if the operation the current request starts will end in error (not consumed)."""
    return _pending_operation_fault.get()


def take_operation_fault() -> bool:
    """True once if the current request's operation is to end in error."""
    value = _pending_operation_fault.get()
    if value:
        _pending_operation_fault.set(False)
    return value


# ---------------------------------------------------------------- operations

Effect = Callable[[], Any]

_TRANSIENT_OPERATION_ERROR = (
    503,
    "UNAVAILABLE",
    "The operation failed because of a transient internal error. Retry the request.",
)


@dataclass
class Operation:
    """One operation of either family; ``render()`` gives its wire form."""

    family: str  # "compute" or "google"
    name: str
    kind: str
    started: float
    due: float
    effect: Effect | None
    fails: bool
    body: dict[str, Any] = field(default_factory=dict)
    # Optional readiness check: the operation completes only once its time has come AND
    # this returns True (a Cloud Run revision whose process is still starting, say).
    ready: Callable[[], bool] | None = None
    done: bool = False
    result: Any = None
    error: tuple[int, str, str] | None = None
    finished: float | None = None

    def can_complete(self, now: float) -> bool:
        return not self.done and self.due <= now and (self.ready is None or self.ready())

    def complete(self, now: float) -> None:
        if self.done:
            return
        self.finished = now
        if self.fails:
            self.error = _TRANSIENT_OPERATION_ERROR
        elif self.effect is not None:
            try:
                self.result = self.effect()
            except ApiError as exc:
                self.error = (exc.code, exc.status, exc.message)
        self.done = True

    def render(self, now: float) -> dict[str, Any]:
        if self.family == "compute":
            return self._render_compute(now)
        return self._render_google()

    def _render_compute(self, now: float) -> dict[str, Any]:
        out = dict(self.body)
        if self.done:
            out["status"] = "DONE"
            out["progress"] = 100
            out["endTime"] = compute_timestamp(self.finished or now)
            if self.error is not None:
                code, status, message = self.error
                out["httpErrorStatusCode"] = code
                # The reason phrase in capitals, as in "PRECONDITION FAILED".
                out["httpErrorMessage"] = HTTPStatus(code).phrase.upper()
                out["error"] = {
                    "errors": [{"code": status, "message": message}],
                }
        elif now - self.started < (self.due - self.started) / 4:
            out["status"] = "PENDING"
            out["progress"] = 0
        else:
            out["status"] = "RUNNING"
            out["progress"] = int(100 * (now - self.started) / max(self.due - self.started, 1e-9))
            out["startTime"] = out["insertTime"]
        return out

    def _render_google(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        metadata = self.body.get("metadata")
        if metadata is not None:
            out["metadata"] = metadata() if callable(metadata) else metadata
        out["done"] = self.done
        if self.done:
            if self.error is not None:
                code, status, message = self.error
                out["error"] = {"code": _GRPC_CODES.get(status, 2), "message": message}
            else:
                response = self.result if self.result is not None else self.body.get("response")
                if response is not None:
                    out["response"] = response
        return out


# google.rpc.Code numbers, which google.longrunning errors carry.
_GRPC_CODES = {
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
}


class OperationStore:
    """Every operation the emulator started, completed lazily in start order."""

    def __init__(self, timing: Timing, lock: threading.RLock) -> None:
        self.timing = timing
        self._lock = lock
        self._ops: dict[str, Operation] = {}
        self._by_request_id: dict[str, str] = {}
        self._ids = itertools.count(1)

    # -- starting
    def start_compute(
        self,
        *,
        project: str,
        kind: str,
        operation_type: str,
        target_link: str,
        target_id: str,
        scope: tuple[str, str] | None,
        self_link_base: str,
        effect: Effect | None,
        request_id: str | None = None,
        ready: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """Start a compute operation; ``scope`` is None (global), ("regions", r) or ("zones", z)."""
        with self._lock:
            if request_id:
                known = self._by_request_id.get(f"{project}|{request_id}")
                if known is not None:
                    return self._ops[known].render(time.time())
            now = time.time()
            op_id = f"{next(self._ids):019d}"
            name = f"operation-{int(now * 1000)}-{uuid.uuid4().hex[:12]}"
            if scope is None:
                collection = f"projects/{project}/global/operations/{name}"
            else:
                collection = f"projects/{project}/{scope[0]}/{scope[1]}/operations/{name}"
            body: dict[str, Any] = {
                "kind": "compute#operation",
                "id": op_id,
                "name": name,
                "operationType": operation_type,
                "targetLink": target_link,
                "targetId": target_id,
                "user": "emulator@globalguide.local",
                "insertTime": compute_timestamp(now),
                "selfLink": f"{self_link_base}/{collection}",
            }
            if request_id:
                body["clientOperationId"] = request_id
            if scope is not None:
                body[scope[0][:-1]] = f"{self_link_base}/projects/{project}/{scope[0]}/{scope[1]}"
            op = self._add("compute", collection, kind, now, effect, body, ready)
            if request_id:
                self._by_request_id[f"{project}|{request_id}"] = collection
            return op.render(time.time())

    def start_google(
        self,
        *,
        parent: str,
        kind: str,
        effect: Effect | None,
        metadata: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
        name: str | None = None,
        ready: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """Start a google.longrunning operation named ``{parent}/operations/{id}``.

        ``effect`` returns the operation's ``response`` (a dict with ``@type``) or raises
        ApiError, which becomes the operation's ``error``.
        """
        with self._lock:
            now = time.time()
            op_name = name or f"{parent}/operations/{uuid.uuid4()}"
            op = self._add("google", op_name, kind, now, effect, {"metadata": metadata}, ready)
            return op.render(time.time())

    def _add(self, family, name, kind, now, effect, body, ready=None) -> Operation:
        fails = take_operation_fault()
        op = Operation(
            family=family,
            name=name,
            kind=kind,
            started=now,
            due=now + self.timing.seconds(kind),
            effect=effect,
            fails=fails,
            body=body,
            ready=ready,
        )
        self._ops[name] = op
        if op.can_complete(now) or (op.fails and op.due <= now):
            op.complete(now)
        return op

    # -- reading
    def get(self, name: str) -> Operation | None:
        self.tick()
        with self._lock:
            return self._ops.get(name)

    def peek(self, name: str) -> Operation | None:
        """The operation, without completing any (safe to call from inside an effect)."""
        with self._lock:
            return self._ops.get(name)

    def delete(self, name: str) -> bool:
        """Forget an operation (compute's operations.delete); False if it is unknown."""
        with self._lock:
            if self._ops.pop(name, None) is None:
                return False
            self._by_request_id = {k: v for k, v in self._by_request_id.items() if v != name}
            return True

    def render(self, name: str) -> dict[str, Any] | None:
        op = self.get(name)
        return None if op is None else op.render(time.time())

    def wait(self, name: str, timeout: float = 30.0) -> dict[str, Any] | None:
        """Block until the operation is done or ``timeout`` passes (compute's ``wait``)."""
        deadline = time.time() + timeout
        while True:
            op = self.get(name)
            if op is None or op.done or time.time() >= deadline:
                return None if op is None else op.render(time.time())
            time.sleep(min(0.05, max(0.0, deadline - time.time())))

    def tick(self) -> None:
        now = time.time()
        with self._lock:
            for op in list(self._ops.values()):
                if op.can_complete(now) or (op.fails and not op.done and op.due <= now):
                    op.complete(now)

    def pending(self) -> list[Operation]:
        with self._lock:
            return [op for op in self._ops.values() if not op.done]

    def snapshot(self) -> list[dict[str, Any]]:
        now = time.time()
        with self._lock:
            return [op.render(now) for op in self._ops.values()]

    def reset(self) -> None:
        with self._lock:
            self._ops.clear()
            self._by_request_id.clear()
