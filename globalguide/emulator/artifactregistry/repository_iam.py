"""A repository's IAM policy (v1 ``getIamPolicy`` / ``setIamPolicy``): the policy versions a
reader may ask for, and a write that carries a stale etag."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from globalguide.emulator.core.routing import ApiError, bad_request
from globalguide.emulator.iam.permissions import ResourcePolicy

REQUESTABLE_VERSIONS = ("0", "1", "3")


def check_requested_version(requested: str) -> None:
    if requested not in REQUESTABLE_VERSIONS:
        raise bad_request(f"Invalid requested policy version {requested}.")


def set_policy(
    policy: ResourcePolicy, body: dict[str, Any], account_exists: Callable[[str], bool]
) -> dict[str, Any]:
    """Replace ``policy`` with the request's ``policy`` field; the policy as it now stands."""
    stale = ApiError(
        409,
        "There were concurrent policy changes. Please retry the whole read-modify-write "
        "with exponential backoff.",
        status="ABORTED",
    )
    policy.replace(body.get("policy"), stale=stale, account_exists=account_exists)
    return policy.render()
