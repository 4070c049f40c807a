"""Service accounts: the rules a new one must meet, and the project's accounts.

An account id is 6-30 characters, a lowercase letter first, then lowercase letters,
digits or hyphens, not ending with a hyphen. Creating an existing id is 409
ALREADY_EXISTS; an unknown account is 404 NOT_FOUND. An account is addressed by its
email or its unique id.

Creation is eventually consistent: an account is visible once its creation has
propagated (see :meth:`Accounts.visible`).
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any

from globalguide.emulator.core.routing import ApiError, bad_request

_ACCOUNT_ID = re.compile(r"[a-z](?:[-a-z0-9]{4,28}[a-z0-9])\Z")
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


@dataclass(frozen=True)
class NewAccount:
    """A create request that meets the rules."""

    account_id: str
    display_name: str
    description: str


def new_account(body: dict[str, Any]) -> NewAccount:
    """The account a ``serviceAccounts.create`` body asks for; 400 when it breaks a rule."""
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
    return NewAccount(account_id, display, description)


class Accounts:
    """The service accounts of one project, as the REST JSON the API returns, and when
    each one's creation has propagated. Callers hold the emulator's lock."""

    def __init__(self, project: str) -> None:
        self.project = project
        self._by_email: dict[str, dict[str, Any]] = {}
        self._visible_at: dict[str, float] = {}  # email -> when its creation has propagated

    def clear(self) -> None:
        self._by_email.clear()
        self._visible_at.clear()

    def __len__(self) -> int:
        return len(self._by_email)

    def rendered(self) -> list[dict[str, Any]]:
        return [dict(a) for a in self._by_email.values()]

    def exists(self, email: str) -> bool:
        return email in self._by_email

    def visible(self, email: str) -> bool:
        """True once the account exists and its creation has propagated."""
        visible_at = self._visible_at.get(email)
        return visible_at is not None and time.time() >= visible_at

    def add(self, new: NewAccount, *, propagation: float) -> dict[str, Any]:
        """Create the account, visible ``propagation`` seconds from now; 409 if it exists."""
        email = f"{new.account_id}@{self.project}.iam.gserviceaccount.com"
        if email in self._by_email:
            raise ApiError(
                409,
                f"Service account {new.account_id} already exists within project "
                f"projects/{self.project}.",
                status="ALREADY_EXISTS",
            )
        digest = hashlib.sha256(email.encode()).hexdigest()
        unique = str(int(digest[:16], 16) % 10**21).rjust(21, "1")
        account = {
            "name": f"projects/{self.project}/serviceAccounts/{email}",
            "projectId": self.project,
            "uniqueId": unique,
            "email": email,
            "displayName": new.display_name,
            "description": new.description,
            "etag": "MDEwMjE5MjA=",
            "oauth2ClientId": unique,
        }
        self._by_email[email] = account
        self._visible_at[email] = time.time() + propagation
        return dict(account)

    def find(self, project: str, account: str, *, propagated: bool = False) -> dict[str, Any]:
        """The account named by email or unique id (only once visible if ``propagated``);
        404 naming ``project`` as the request did otherwise."""
        for email, found in self._by_email.items():
            if account in (email, found["uniqueId"]) and (not propagated or self.visible(email)):
                return found
        raise ApiError(
            404,
            f"Unknown service account: projects/{project}/serviceAccounts/{account}",
            status="NOT_FOUND",
        )

    def remove(self, email: str) -> None:
        del self._by_email[email]
        self._visible_at.pop(email, None)
