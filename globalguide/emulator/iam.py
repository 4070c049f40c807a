"""IAM v1 service accounts: create, get, list, delete, with the real rules.

An account id is 6-30 characters, a lowercase letter first, then lowercase letters,
digits or hyphens, not ending with a hyphen. Creating an existing id is 409
ALREADY_EXISTS; an unknown account is 404 NOT_FOUND. An account is addressed by its
email or its unique id. Deleting an account leaves its project-policy bindings in place
as ``deleted:serviceAccount:EMAIL?uid=ID`` members, as in the cloud.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from werkzeug.wrappers import Request

from globalguide.emulator.routing import ApiError, Route, bad_request, read_json
from globalguide.emulator.serviceusage import project_number

_ACCOUNT_ID = re.compile(r"[a-z](?:[-a-z0-9]{4,28}[a-z0-9])\Z")
SERVICE = "iam.googleapis.com"


class API:
    name = "iam"

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self._accounts: dict[str, dict[str, Any]] = {}  # email -> ServiceAccount

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

    def resource_count(self) -> int:
        with self.emulator.lock:
            return len(self._accounts)

    # ------------------------------------------------------------ for other APIs
    def exists(self, email: str) -> bool:
        with self.emulator.lock:
            return email in self._accounts

    # ------------------------------------------------------------ handlers
    def _enter(self, project: str) -> None:
        self.emulator.check_project(project)
        self.emulator.require_enabled(SERVICE)

    def _find(self, project: str, account: str) -> dict[str, Any]:
        for email, found in self._accounts.items():
            if account in (email, found["uniqueId"]):
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
        if not isinstance(display, str) or len(display) > 100:
            raise bad_request("displayName must be at most 100 characters.")
        description = given.get("description", "")
        if not isinstance(description, str) or len(description) > 256:
            raise bad_request("description must be at most 256 characters.")
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
            return dict(account)

    def list(self, request: Request, project: str) -> dict[str, Any]:
        self._enter(project)
        with self.emulator.lock:
            accounts = [dict(a) for a in self._accounts.values()]
        return {"accounts": accounts} if accounts else {}

    def get(self, request: Request, project: str, account: str) -> dict[str, Any]:
        self._enter(project)
        with self.emulator.lock:
            return dict(self._find(project, account))

    def delete(self, request: Request, project: str, account: str) -> dict[str, Any]:
        self._enter(project)
        with self.emulator.lock:
            found = self._find(project, account)
            del self._accounts[found["email"]]
            policy = self.emulator.apis.get("resourcemanager")
            if policy is not None:
                policy.account_deleted(found["email"], found["uniqueId"])
        return {}


def default_compute_account(project: str) -> str:
    return f"{project_number(project)}-compute@developer.gserviceaccount.com"
