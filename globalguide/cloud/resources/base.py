"""What every resource kind shares: the Resource interface, reads that treat "absent"
and "API not enabled yet" alike, and waiting for operations.

``read`` returns the current resource or None. ``owned`` reduces a resource (desired or
current) to the fields globalguide manages, so "same" vs "changed" is a plain comparison
and fields the cloud fills in never look like drift. Each mutating method waits for its
operation; the executor retries a whole step, re-reading first, so every method may run
again after a transient failure.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from google.api_core import exceptions as gexc

from globalguide.cloud.clients import CloudClients
from globalguide.cloud.names import (
    Names,
)
from globalguide.cloud.propagation import Propagation
from globalguide.errors import CloudError

OPERATION_TIMEOUT_S = 600.0
BUILD_TIMEOUT_S = 1200.0
_LINK_PREFIX = re.compile(r"^https?://[^/]+/compute/(v1|beta|alpha)/")


def short_link(link: str) -> str:
    """``projects/...`` form of a compute reference, whatever form the API returned."""
    return _LINK_PREFIX.sub("", link or "")


def api_disabled(exc: BaseException) -> bool:
    """A 403 that says the API is not enabled in the project (SERVICE_DISABLED)."""
    if not isinstance(exc, gexc.Forbidden | gexc.PermissionDenied):
        return False
    text = str(exc)
    return "SERVICE_DISABLED" in text or "has not been used in project" in text


def get_or_none(call: Any, *args: Any, **kwargs: Any) -> Any:
    """The resource, or None when it does not exist (or its API is not enabled yet)."""
    try:
        return call(*args, **kwargs)
    except gexc.NotFound:
        return None
    except (gexc.Forbidden, gexc.PermissionDenied) as exc:
        if api_disabled(exc):
            return None
        raise


@dataclass
class Context:
    """What steps share while a plan runs: clients, the per-step idempotency key, and
    what this run enabled or created that may still be propagating."""

    clients: CloudClients
    request_id: str | None = None
    propagation: Propagation = field(default_factory=Propagation)


class Resource(ABC):
    """A managed resource. ``rank`` orders kinds: a kind may only reference lower ranks."""

    kind: ClassVar[str]
    rank: ClassVar[int]
    deletable: ClassVar[bool] = True

    def __init__(self, names: Names, name: str, region: str | None = None) -> None:
        self.names = names
        self.name = name
        self.region = region
        self.depends_on: list[str] = []

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.region or 'global'}/{self.name}"

    @property
    def project(self) -> str:
        return self.names.project

    def row(self, action: str) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "region": self.region, "action": action}

    @abstractmethod
    def read(self, c: CloudClients) -> Any | None: ...

    def desired_owned(self) -> dict[str, Any]:
        return self.owned(self.desired())

    def desired(self) -> Any:
        raise NotImplementedError

    def owned(self, resource: Any) -> dict[str, Any]:
        return {}

    def same(self, current: Any) -> bool:
        return self.owned(current) == self.desired_owned()

    @abstractmethod
    def create(self, ctx: Context) -> None: ...

    def update(self, ctx: Context, current: Any) -> None:
        raise CloudError(
            f"The {self.kind} {self.name} differs from what globalguide would create and cannot "
            "be changed in place.",
            hint="Run `globalguide teardown`, then deploy again.",
        )

    def delete(self, ctx: Context) -> None:
        raise NotImplementedError

    def summary(self, current: Any) -> dict[str, Any]:
        """A few fields `status` shows for this resource."""
        return {}

    def problem(self, current: Any) -> str | None:
        """Why a resource that exists is not healthy (the plan then repairs it), or None."""
        return None

    def repair(self, ctx: Context, current: Any) -> None:
        self.update(ctx, current)

    def verify(self, ctx: Context) -> None:
        """After a create, update or repair: raise Unhealthy if the result cannot serve.
        Most kinds are healthy once their operation is done."""
        return None

    def present(self, current: Any) -> bool:
        """Whether ``current`` (what ``read`` returned) is this deployment's resource."""
        return current is not None


class Unhealthy(Exception):
    """A resource exists but is not healthy after its operation: worth a repair and retry."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OperationFailed(Exception):
    """An operation was accepted and then ended in error: a retry needs a new requestId."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def poll_policy(timeout: float) -> Any:
    """Poll an operation every 50 ms at first, backing off to 1 s: the library's default
    starts at 1 s and grows to 20 s, which adds seconds to every step of a dependency
    chain to save a few GETs."""
    from google.api_core import retry
    from google.api_core.future import polling

    return retry.Retry(
        predicate=retry.if_exception_type(polling._OperationNotComplete),
        initial=0.05,
        maximum=1.0,
        multiplier=1.3,
        timeout=timeout,
    )


def wait_operation(op: Any, timeout: float = OPERATION_TIMEOUT_S) -> Any:
    try:
        return op.result(timeout=timeout, polling=poll_policy(timeout))
    except gexc.GoogleAPICallError as exc:
        raise OperationFailed(exc) from exc
