"""IAM v1 service accounts: create, get, list, delete, with the real rules.

An account id is 6-30 characters, a lowercase letter first, then lowercase letters,
digits or hyphens, not ending with a hyphen. Creating an existing id is 409
ALREADY_EXISTS; an unknown account is 404 NOT_FOUND. An account is addressed by its
email or its unique id. Deleting an account leaves its project-policy bindings in place
as ``deleted:serviceAccount:EMAIL?uid=ID`` members, as in the cloud.

Creation is eventually consistent: under the realistic profile a new account is not
visible for a propagation window. Meanwhile a get answers 404, a policy binding naming it
400 "does not exist", and Cloud Run refuses to run as it (403 on actAs): ``visible`` is
what the other emulated APIs ask.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from globalguide.emulator.core.routing import ApiError, Route, bad_request, read_json

if TYPE_CHECKING:
    from globalguide.emulator.resourcemanager import API as ResourceManagerAPI

_ACCOUNT_ID = re.compile(r"[a-z](?:[-a-z0-9]{4,28}[a-z0-9])\Z")
SERVICE = "iam.googleapis.com"
MAX_DISPLAY_NAME_BYTES = 100  # ServiceAccount.displayName, IAM REST reference
MAX_DESCRIPTION_BYTES = 256  # ServiceAccount.description, IAM REST reference


def act_as_denied(email: str) -> ApiError:
    """What an API that runs code as ``email`` answers when the caller may not act as it,
    or the account does not exist (yet): 403, reason forbidden."""
    return ApiError(
        403,
        f"Permission 'iam.serviceaccounts.actAs' denied on service account {email} "
        "(or it may not exist).",
        reason="forbidden",
        status="PERMISSION_DENIED",
    )


class API:
    name = "iam"
    # The APIs it calls, handed over by the server.
    resourcemanager: ResourceManagerAPI

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self._accounts: dict[str, dict[str, Any]] = {}  # email -> ServiceAccount
        self._visible_at: dict[str, float] = {}  # email -> when its creation has propagated

    # ------------------------------------------------------------ contract
    def routes(self) -> list[Route]:
        base = "/v1/projects/<project>/serviceAccounts"
        one = f"{base}/<account>"
        return [
            Route("POST", base, self.create, api=self.name, mutating=True,
                  endpoint="no-operation"),
            Route("GET", base, self.list, api=self.name),
            Route("GET", one, self.get, api=self.name),
            Route("DELETE", one, self.delete, api=self.name, mutating=True,
                  endpoint="no-operation"),
        ]  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        with self.emulator.lock:
            return {"serviceAccounts": [dict(a) for a in self._accounts.values()]}

    def reset(self) -> None:
        with self.emulator.lock:
            self._accounts.clear()
            self._visible_at.clear()

    def resource_count(self) -> int:
        with self.emulator.lock:
            return len(self._accounts)

    # ------------------------------------------------------------ for other APIs
    def exists(self, email: str) -> bool:
        """True while the account exists, whether or not its creation has propagated."""
        with self.emulator.lock:
            return email in self._accounts

    def visible(self, email: str) -> bool:
        """True once the account exists and its creation has propagated: the
        ``iam.serviceAccount`` window of the timing profile after create (none when
        instant, fixed when the account is created). Cloud Run's actAs check and policy
        bindings ask this, not ``exists``."""
        with self.emulator.lock:
            visible_at = self._visible_at.get(email)
            return visible_at is not None and time.time() >= visible_at

    # ------------------------------------------------------------ handlers
    def _enter(self, project: str) -> None:
        self.emulator.enter(project, SERVICE)

    def _find(self, project: str, account: str, *, propagated: bool = False) -> dict[str, Any]:
        for email, found in self._accounts.items():
            if account in (email, found["uniqueId"]) and (not propagated or self.visible(email)):
                return found
        raise ApiError(
            404,
            f"Unknown service account: projects/{project}/serviceAccounts/{account}",
            status="NOT_FOUND",
        )

    def create(self, request: Request, project: str) -> dict[str, Any]:
        self._enter(project)
        body = read_json(request)
        account_id = body.get("accountId")
        if not isinstance(account_id, str) or not _ACCOUNT_ID.fullmatch(account_id):
            raise bad_request(
                f"Invalid account ID {account_id!r}: it must be 6-30 characters long and "
                "match the regular expression [a-z]([-a-z0-9]*[a-z0-9])."
            )
        given = body.get("serviceAccount") or {}
        if not isinstance(given, dict):
            raise bad_request("serviceAccount must be an object.")
        display = given.get("displayName", "")
        if not isinstance(display, str) or len(display.encode()) > MAX_DISPLAY_NAME_BYTES:
            raise bad_request(f"displayName must be at most {MAX_DISPLAY_NAME_BYTES} UTF-8 bytes.")
        description = given.get("description", "")
        if not isinstance(description, str) or len(description.encode()) > MAX_DESCRIPTION_BYTES:
            raise bad_request(f"description must be at most {MAX_DESCRIPTION_BYTES} UTF-8 bytes.")
        email = f"{account_id}@{self.emulator.project}.iam.gserviceaccount.com"
        with self.emulator.lock:
            if email in self._accounts:
                raise ApiError(
                    409,
                    f"Service account {account_id} already exists within project "
                    f"projects/{self.emulator.project}.",
                    status="ALREADY_EXISTS",
                )
            digest = hashlib.sha256(email.encode()).hexdigest()
            unique = str(int(digest[:16], 16) % 10**21).rjust(21, "1")
            account = {
                "name": f"projects/{self.emulator.project}/serviceAccounts/{email}",
                "projectId": self.emulator.project,
                "uniqueId": unique,
                "email": email,
                "displayName": display,
                "description": description,
                "etag": "MDEwMjE5MjA=",
                "oauth2ClientId": unique,
            }
            self._accounts[email] = account
            self._visible_at[email] = time.time() + self.emulator.timing.propagation(
                "iam.serviceAccount"
            )
            return dict(account)

    def list(self, request: Request, project: str) -> dict[str, Any]:
        self._enter(project)
        with self.emulator.lock:
            accounts = [dict(a) for a in self._accounts.values()]
        return {"accounts": accounts} if accounts else {}

    def get(self, request: Request, project: str, account: str) -> dict[str, Any]:
        self._enter(project)
        with self.emulator.lock:
            return dict(self._find(project, account, propagated=True))

    def delete(self, request: Request, project: str, account: str) -> dict[str, Any]:
        self._enter(project)
        with self.emulator.lock:
            found = self._find(project, account)
            del self._accounts[found["email"]]
            self._visible_at.pop(found["email"], None)
            self.resourcemanager.account_deleted(found["email"], found["uniqueId"])
        return {}
