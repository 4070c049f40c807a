"""The project's IAM policy and the rules a new one must meet.

A policy sent with an etag that is no longer current (someone changed the policy since it
was read) is 409 ABORTED, as in the cloud, and the caller must read again; one sent without
an etag overwrites blindly. Conditional bindings need version 3, and so does rewriting a
policy that holds them (with its etag). A member naming a service account of this project
that does not exist, or was created so recently that IAM has not propagated it, is 400, as
are malformed members, ``allUsers`` (projects do not take it), roles that do not exist, and
more than 1,500 principals (250 groups).
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable
from typing import Any

from globalguide.emulator.core.project import project_number
from globalguide.emulator.core.routing import ApiError, bad_request
from globalguide.emulator.iam.policy import ROLE, etag, version_and_bindings
from globalguide.emulator.iam.roles import PREDEFINED_ROLES

CONCURRENT = (
    "There were concurrent policy changes. Please retry the whole read-modify-write with "
    "exponential backoff. The request's ETag '{sent}' did not match the current policy's "
    "ETag '{current}'."
)
_MEMBER = re.compile(
    r"((user|serviceAccount|group|domain|principal|principalSet):[^\s,?]+"
    r"|deleted:(user|serviceAccount|group):[^\s,?]+\?uid=[0-9]+)\Z"
)
# Policy.bindings docstring (google/iam/v1/policy.proto): each occurrence counts.
MAX_PRINCIPALS = 1500
MAX_GROUPS = 250
_OWN_ACCOUNT = re.compile(r"serviceAccount:([^@]+)@([^.]+)\.iam\.gserviceaccount\.com\Z")


def requested_version(options: Any) -> int:
    """The policy version a getIamPolicy ``options`` asks for (0 and absent mean 1)."""
    requested = options.get("requestedPolicyVersion", 1) if isinstance(options, dict) else 1
    if requested not in (0, 1, 3):
        raise bad_request(f"Invalid requested policy version {requested}: use 1 or 3.")
    return requested or 1


def checked_policy(
    policy: Any, project: str, visible: Callable[[str], bool]
) -> tuple[int, list[dict[str, Any]]]:
    """The version and bindings of a setIamPolicy ``policy`` once it meets the rules;
    ``visible`` tells whether a service account of ``project`` may be named."""
    version, bindings = version_and_bindings(policy)
    clean = [_check_binding(binding, version, project, visible) for binding in bindings]
    members = [m for b in clean for m in b["members"]]
    groups = sum(m.startswith("group:") for m in members)
    if len(members) > MAX_PRINCIPALS or groups > MAX_GROUPS:
        raise bad_request(
            f"The policy names {len(members)} principals: a policy can refer to at most "
            f"{MAX_PRINCIPALS} principals, of which at most {MAX_GROUPS} groups."
        )
    return version, clean


def _check_binding(
    binding: Any, version: int, project: str, visible: Callable[[str], bool]
) -> dict[str, Any]:
    if not isinstance(binding, dict):
        raise bad_request("A binding must be an object.")
    role = binding.get("role")
    if not isinstance(role, str) or not ROLE.fullmatch(role):
        raise bad_request(f"Role {role!r} is not a valid role name.")
    if role not in PREDEFINED_ROLES:
        raise bad_request(f"Role {role} is not supported for this resource.")
    members = binding.get("members") or []
    if not isinstance(members, list) or not members:
        raise bad_request(f"The binding for {role} has no members.")
    for member in members:
        if member in ("allUsers", "allAuthenticatedUsers"):
            raise bad_request("Request contains an invalid argument.")
        if not isinstance(member, str) or not _MEMBER.fullmatch(member):
            raise bad_request(f"Invalid member {member!r} in the binding for {role}.")
        own = _OWN_ACCOUNT.fullmatch(member)
        if own and own.group(2) == project:
            email = member.split(":", 1)[1]
            if not visible(email):
                raise bad_request(f"Service account {email} does not exist.")
    out = {"role": role, "members": sorted(set(members))}
    if "condition" in binding:
        if version != 3:
            raise bad_request(
                "Conditional role bindings need policy version 3 (the request asked for "
                f"version {version})."
            )
        condition = binding["condition"]
        if not isinstance(condition, dict) or not condition.get("expression"):
            raise bad_request("A condition needs an expression.")
        out["condition"] = condition
    return out


def _initial_bindings(project: str) -> list[dict[str, Any]]:
    """A new project's policy: its owner, and the Google-managed default accounts."""
    number = project_number(project)
    return [
        {"role": "roles/owner", "members": ["user:owner@example.com"]},
        {
            "role": "roles/editor",
            "members": [
                f"serviceAccount:{number}-compute@developer.gserviceaccount.com",
                f"serviceAccount:{number}@cloudservices.gserviceaccount.com",
            ],
        },
    ]


class ProjectPolicy:
    """The IAM policy of the emulator's one project. Callers hold the emulator's lock."""

    def __init__(self, project: str) -> None:
        self.project = project
        self._policy: dict[str, Any] = {}
        self._revision = 0
        self.reset()

    def reset(self) -> None:
        self._revision = 0
        self._policy = {"version": 1, "bindings": _initial_bindings(self.project)}

    def added_count(self) -> int:
        """Bindings beyond the project's initial ones (what a deployment added)."""
        initial = {(b["role"], m) for b in _initial_bindings(self.project) for m in b["members"]}
        return sum(
            1
            for b in self._policy["bindings"]
            for m in b["members"]
            if (b["role"], m) not in initial
        )

    def account_deleted(self, email: str, unique_id: str) -> None:
        old, new = f"serviceAccount:{email}", f"deleted:serviceAccount:{email}?uid={unique_id}"
        for binding in self._policy["bindings"]:
            binding["members"] = [new if m == old else m for m in binding["members"]]
        self._revision += 1

    def roles_of(self, member: str) -> set[str]:
        """The unconditional roles bound to ``member``."""
        return {
            b["role"]
            for b in self._policy["bindings"]
            if member in b["members"] and "condition" not in b
        }

    def render(self, requested: int) -> dict[str, Any]:
        policy = copy.deepcopy(self._policy)
        bindings = policy["bindings"]
        if requested < 3 and any("condition" in b for b in bindings):
            # Older clients see conditional bindings with a marker in the role name.
            for b in bindings:
                if "condition" in b:
                    b["role"] += "_withcond_" + hashlib.sha256(b["role"].encode()).hexdigest()[:20]
                    del b["condition"]
        out = {"version": policy["version"], "etag": etag(self.project, self._revision)}
        if bindings:
            out["bindings"] = bindings
        return out

    def replace(self, version: int, bindings: list[dict[str, Any]], sent_etag: Any) -> None:
        """Replace the policy with checked ``bindings``; 409 ABORTED on a stale etag."""
        current = etag(self.project, self._revision)
        if sent_etag and sent_etag != current:
            raise ApiError(
                409, CONCURRENT.format(sent=sent_etag, current=current), status="ABORTED"
            )
        if sent_etag and version < 3 and any("condition" in b for b in self._policy["bindings"]):
            raise bad_request(
                "The policy has conditional role bindings: a change to it must specify "
                "policy version 3."
            )
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for b in bindings:
            key = (b["role"], repr(sorted(b.get("condition", {}).items())))
            if key in merged:
                merged[key]["members"] = sorted(set(merged[key]["members"]) | set(b["members"]))
            else:
                merged[key] = b
        self._policy = {"version": version, "bindings": list(merged.values())}
        self._revision += 1
