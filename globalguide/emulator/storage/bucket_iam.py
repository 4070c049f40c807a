"""A bucket's IAM policy (JSON API ``buckets.getIamPolicy`` / ``setIamPolicy``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from globalguide.emulator.iam.permissions import ResourcePolicy
from globalguide.emulator.storage.errors import invalid, storage_error

REQUESTABLE_VERSIONS = ("1", "3")


def default_policy(bucket: str, project: str) -> ResourcePolicy:
    """A new bucket's policy: the project's owners, editors and viewers by convenience
    value. Source: https://cloud.google.com/storage/docs/access-control/iam#convenience-values
    """
    owners = [f"projectEditor:{project}", f"projectOwner:{project}"]
    return ResourcePolicy(
        f"projects/_/buckets/{bucket}",
        [
            {"role": "roles/storage.legacyBucketOwner", "members": owners},
            {"role": "roles/storage.legacyBucketReader", "members": [f"projectViewer:{project}"]},
            {"role": "roles/storage.legacyObjectOwner", "members": owners},
            {"role": "roles/storage.legacyObjectReader", "members": [f"projectViewer:{project}"]},
        ],
    )


def check_requested_version(requested: str) -> None:
    if requested not in REQUESTABLE_VERSIONS:
        raise invalid(f"Invalid requested policy version {requested}.")


def render_policy(bucket: str, policy: ResourcePolicy) -> dict[str, Any]:
    return {
        "kind": "storage#policy",
        "resourceId": f"projects/_/buckets/{bucket}",
        **policy.render(),
    }


def set_policy(
    policy: ResourcePolicy, body: dict[str, Any], account_exists: Callable[[str], bool]
) -> None:
    """Replace ``policy`` with the request body (the policy itself, not wrapped)."""
    stale = storage_error(412, "Precondition Failed", "conditionNotMet")
    policy.replace(body, stale=stale, account_exists=account_exists)
