"""Changes of this run that Google Cloud has not propagated yet.

Enabling an API and creating a service account are eventually consistent. Right after an
enable, the API can still answer 403 SERVICE_DISABLED ("If you enabled this API recently,
wait a few minutes for the action to propagate to our systems and retry."); right after an
account is created, a policy naming it can be refused with 400 "Service account X does not
exist." and Cloud Run can refuse to run as it with 403 "Permission
'iam.serviceaccounts.actAs' denied on service account X (or it may not exist).".

Those answers are worth waiting for only when they name something this run itself just
enabled or created: otherwise they mean a real problem (an API nobody enabled, a missing
role) and must fail at once. ``Propagation`` records what this run changed and says, for an
error, whether it is one of those waits and until when.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from google.api_core import exceptions as gexc

# How long to keep retrying after our own change. The error text says "a few minutes";
# IAM changes "typically propagate in 2 minutes, but could potentially take 7 minutes"
# (https://cloud.google.com/iam/docs/access-change-propagation).
SERVICE_WINDOW_S = 300.0
ACCOUNT_WINDOW_S = 420.0

_SERVICE_IN_URL = re.compile(r"/apis/api/([a-z0-9.-]+\.googleapis\.com)/")
_ACT_AS = re.compile(
    r"Permission 'iam\.serviceaccounts\.actAs' denied on service account (\S+) "
    r"\(or it may not exist\)"
)
_NO_ACCOUNT = re.compile(r"Service account (\S+?)\.? does not exist")


@dataclass(frozen=True)
class Wait:
    """An error explained by a change of ours still propagating."""

    what: str  # "the service run.googleapis.com", "the service account x@p.iam..."
    since: float  # when we made the change (clock seconds)
    deadline: float  # give up after this


class Propagation:
    """What this run enabled and created, shared by every step of one apply."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        service_window_s: float = SERVICE_WINDOW_S,
        account_window_s: float = ACCOUNT_WINDOW_S,
    ) -> None:
        self.clock = clock
        self.service_window_s = service_window_s
        self.account_window_s = account_window_s
        self._lock = threading.Lock()
        self._services: dict[str, float] = {}
        self._accounts: dict[str, float] = {}

    def enabled(self, services: Iterable[str]) -> None:
        now = self.clock()
        with self._lock:
            for service in services:
                self._services[service] = now

    def created(self, email: str) -> None:
        with self._lock:
            self._accounts[email.lower()] = self.clock()

    def wait_for(self, exc: BaseException) -> Wait | None:
        """The propagation ``exc`` is waiting for, or None when it is not one of ours."""
        cause = getattr(exc, "cause", None)  # OperationFailed wraps the API error
        if isinstance(cause, BaseException):
            exc = cause
        if isinstance(exc, gexc.Forbidden | gexc.PermissionDenied):
            service = _disabled_service(exc)
            if service is not None:
                return self._wait(self._services, service, "the service", self.service_window_s)
            match = _ACT_AS.search(str(exc))
            if match:
                return self._account_wait(match.group(1))
        if isinstance(exc, gexc.BadRequest):
            match = _NO_ACCOUNT.search(str(exc))
            if match:
                return self._account_wait(match.group(1))
        return None

    def wait_for_text(self, text: str) -> Wait | None:
        """The same for an error known only by its text (google-genai's errors)."""
        match = _SERVICE_IN_URL.search(text)
        if match and ("SERVICE_DISABLED" in text or "has not been used in project" in text):
            return self._wait(self._services, match.group(1), "the service", self.service_window_s)
        return None

    def _account_wait(self, email: str) -> Wait | None:
        return self._wait(
            self._accounts, email.lower(), "the service account", self.account_window_s
        )

    def _wait(self, seen: dict[str, float], key: str, noun: str, window: float) -> Wait | None:
        with self._lock:
            since = seen.get(key)
        if since is None:
            return None
        return Wait(f"{noun} {key}", since, since + window)


def _disabled_service(exc: gexc.GoogleAPICallError) -> str | None:
    """The API a 403 SERVICE_DISABLED names (ErrorInfo metadata, else its activation URL)."""
    if getattr(exc, "reason", None) == "SERVICE_DISABLED":
        service = (getattr(exc, "metadata", None) or {}).get("service")
        if service:
            return service
    text = str(exc)
    if "SERVICE_DISABLED" in text or "has not been used in project" in text:
        match = _SERVICE_IN_URL.search(text)
        if match:
            return match.group(1)
    return None
