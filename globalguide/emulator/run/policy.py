"""A service's IAM policy: the bindings Cloud Run accepts, read-modify-write by etag, and
which permissions a caller is told it holds."""

from __future__ import annotations

import base64
import os
import re
from typing import Any

from globalguide.emulator.core.routing import ApiError, bad_request
from globalguide.emulator.core.schema import validate_body
from globalguide.emulator.run.validate import Violation

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
_PERMISSION = re.compile(r"[a-z]+\.[a-zA-Z]+\.[a-zA-Z]+")


def checked_bindings(policy: Any) -> list[dict[str, Any]]:
    """The bindings of a SetIamPolicyRequest's ``policy``, each role once with its members
    sorted; a binding without members is dropped."""
    from google.iam.v1 import policy_pb2

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
    return bindings


def replaced(current: dict[str, Any], sent_etag: str | None, bindings: list[dict]) -> dict:
    """The policy that replaces ``current``, with a new etag; 409 when the caller sent the
    etag of a policy that has changed since it read it."""
    if sent_etag and sent_etag != current["etag"]:
        raise ApiError(
            409,
            "There were concurrent policy changes. Please retry the whole "
            "read-modify-write with exponential backoff. The request's ETag "
            f"'{sent_etag}' did not match the current policy's ETag '{current['etag']}'.",
            status="ABORTED",
        )
    new: dict[str, Any] = {"version": 1}
    if bindings:
        new["bindings"] = bindings
    new["etag"] = base64.b64encode(os.urandom(8)).decode()
    return new


def check_permissions(permissions: list[Any]) -> None:
    for permission in permissions:
        if not _PERMISSION.fullmatch(str(permission)):
            raise bad_request(f"Permission {permission} is not valid.")


def granted(permissions: list[str]) -> list[str]:
    """The caller is taken to hold every Cloud Run permission it asks about, and no other."""
    return [p for p in permissions if p.startswith("run.")]
