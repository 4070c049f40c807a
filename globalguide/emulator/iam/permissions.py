"""Who may do what: predefined roles as permissions, and IAM policies on single resources.

A member holds a permission when a role bound to it on the project, or on the resource
itself (a bucket, a repository), contains the permission. Only the permissions the
emulated data paths check are listed; owner and editor stand for "every one of them".
Source: the predefined roles reference, https://cloud.google.com/iam/docs/roles-permissions
(storage, artifactregistry, logging pages).

A resource policy is read and replaced whole, with an etag: a stale etag is refused (Cloud
Storage answers 412 conditionNotMet, the google.iam.v1 APIs 409 ABORTED).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from globalguide.emulator.core.routing import ApiError, bad_request
from globalguide.emulator.iam.policy import ROLE, etag, version_and_bindings

if TYPE_CHECKING:
    from globalguide.emulator.iam.api import API as IamAPI
    from globalguide.emulator.resourcemanager.api import API as ResourceManagerAPI

READ_OBJECT = "storage.objects.get"
UPLOAD_ARTIFACTS = "artifactregistry.repositories.uploadArtifacts"
WRITE_LOGS = "logging.logEntries.create"

_AR_READ = {
    "artifactregistry.repositories.downloadArtifacts",
    "artifactregistry.repositories.get",
    "artifactregistry.repositories.list",
}
_AR_WRITE = _AR_READ | {UPLOAD_ARTIFACTS, "artifactregistry.tags.create"}
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "roles/storage.objectViewer": frozenset({READ_OBJECT, "storage.objects.list"}),
    "roles/storage.objectCreator": frozenset({"storage.objects.create"}),
    "roles/storage.objectUser": frozenset(
        {READ_OBJECT, "storage.objects.list", "storage.objects.create", "storage.objects.delete"}
    ),
    "roles/storage.objectAdmin": frozenset(
        {READ_OBJECT, "storage.objects.list", "storage.objects.create", "storage.objects.delete"}
    ),
    "roles/storage.admin": frozenset(
        {READ_OBJECT, "storage.objects.list", "storage.objects.create", "storage.objects.delete"}
    ),
    "roles/storage.legacyObjectReader": frozenset({READ_OBJECT}),
    "roles/storage.legacyObjectOwner": frozenset({READ_OBJECT}),
    "roles/artifactregistry.reader": frozenset(_AR_READ),
    "roles/artifactregistry.writer": frozenset(_AR_WRITE),
    "roles/artifactregistry.repoAdmin": frozenset(_AR_WRITE),
    "roles/artifactregistry.admin": frozenset(_AR_WRITE),
    "roles/logging.logWriter": frozenset({WRITE_LOGS}),
}
BROAD_ROLES = frozenset({"roles/owner", "roles/editor"})

_MEMBER = re.compile(
    r"(user|serviceAccount|group|domain|principal|principalSet|deleted:user"
    r"|deleted:serviceAccount|deleted:group|projectOwner|projectEditor|projectViewer)"
    r":[^\s,]+\Z|allUsers\Z|allAuthenticatedUsers\Z"
)


def holds(
    project: ResourceManagerAPI, member: str, permission: str, resource: ResourcePolicy | None
) -> bool:
    """Whether ``member`` holds ``permission`` on the project or on ``resource``."""
    roles = set(project.roles_of(member))
    if resource is not None:
        roles |= resource.roles_of(member)
    return any(r in BROAD_ROLES or permission in ROLE_PERMISSIONS.get(r, ()) for r in roles)


class ResourcePolicy:
    """The IAM policy of one resource. Callers hold the emulator's lock."""

    def __init__(self, resource: str, bindings: list[dict[str, Any]] | None = None) -> None:
        self.resource = resource
        self.version = 1
        self.bindings: list[dict[str, Any]] = bindings or []
        self._revision = 0

    @property
    def etag(self) -> str:
        return etag(self.resource, self._revision)

    def roles_of(self, member: str) -> set[str]:
        return {b["role"] for b in self.bindings if member in b["members"]}

    def render(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version, "etag": self.etag}
        if self.bindings:
            out["bindings"] = copy.deepcopy(self.bindings)
        return out

    def replace(self, policy: Any, *, stale: ApiError, account_exists: Any) -> None:
        """Replace the policy with ``policy``; ``stale`` is raised on an outdated etag."""
        version, bindings = version_and_bindings(policy)
        merged: dict[str, set[str]] = {}
        for binding in bindings:
            role, members = _check_binding(binding, account_exists)
            merged.setdefault(role, set()).update(members)
        sent = policy.get("etag")
        if sent and sent != self.etag:
            raise stale
        self.version = version
        self.bindings = [{"role": r, "members": sorted(m)} for r, m in merged.items()]
        self._revision += 1


def account_exists(project: str, iam: IamAPI) -> Callable[[str], bool]:
    """A check for policy members: an account of this project must exist."""
    own = f"@{project}.iam.gserviceaccount.com"
    return lambda email: not email.endswith(own) or iam.exists(email)


def _check_binding(binding: Any, account_exists: Any) -> tuple[str, list[str]]:
    if not isinstance(binding, dict):
        raise bad_request("A binding must be an object.")
    if "condition" in binding and binding["condition"]:
        raise bad_request("Conditional bindings are not supported on this resource.")
    role = binding.get("role")
    if not isinstance(role, str) or not ROLE.fullmatch(role):
        raise bad_request(f"Role {role!r} is not a valid role name.")
    members = binding.get("members") or []
    if not isinstance(members, list) or not members:
        raise bad_request(f"The binding for {role} has no members.")
    for member in members:
        if not isinstance(member, str) or not _MEMBER.fullmatch(member):
            raise bad_request(f"Invalid member {member!r} in the binding for {role}.")
        if member.startswith("serviceAccount:") and not account_exists(member.split(":", 1)[1]):
            raise bad_request(f"Service account {member.split(':', 1)[1]} does not exist.")
    return role, members
