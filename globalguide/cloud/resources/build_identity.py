"""The image build's own identity: a service account holding only what a build of the
service uses, each grant on the narrowest resource the API allows.

- read the source tarball: roles/storage.objectViewer on the build bucket (bucket IAM);
- push the image: roles/artifactregistry.writer on the repository (repository IAM);
- write the build log to Cloud Logging: roles/logging.logWriter on the project (log
  entries have no finer resource to grant on).

Without it Cloud Build runs as a default account whose roles depend on the organisation
(the Compute Engine default account, Editor or nothing). Resource policies are changed by
read-modify-write with their etag, as the project policy is.
"""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc

from globalguide.cloud.clients import CloudClients
from globalguide.cloud.names import (
    BUILD_PROJECT_ROLES,
    BUILD_PUSH_ROLE,
    BUILD_SOURCE_ROLE,
    Names,
)
from globalguide.cloud.resources.base import Context, Resource, get_or_none
from globalguide.cloud.resources.project import RuntimeAccount, RuntimeRoles

RMW_ATTEMPTS = 5


class BuildAccount(RuntimeAccount):
    """The service account Cloud Build runs the image build as."""

    def __init__(self, names: Names) -> None:
        Resource.__init__(self, names, names.build_account_id)

    @property
    def email(self) -> str:
        return self.names.build_account

    @property
    def resource_name(self) -> str:
        """The form Cloud Build's ``serviceAccount`` field takes."""
        return f"projects/{self.project}/serviceAccounts/{self.email}"

    def create(self, ctx: Context) -> None:
        try:
            ctx.clients.service_accounts.create(
                self.project,
                self.name,
                display_name=f"globalguide {self.names.name} build",
                description=f"Identity of the image builds of the globalguide deployment "
                f"{self.names.name}.",
            )
        except gexc.Conflict:
            pass  # created by an earlier attempt whose answer was lost


class BuildLogRoles(RuntimeRoles):
    """The build account's project roles: writing its logs."""

    roles = BUILD_PROJECT_ROLES
    label = "build-roles"

    @property
    def account(self) -> str:
        return self.names.build_account


class _ResourceGrant(Resource):
    """One role for the build account on one resource's own IAM policy."""

    kind = "iam-binding"
    rank = 2
    role: str

    @property
    def member(self) -> str:
        return f"serviceAccount:{self.names.build_account}"

    def _ours(self, member: str) -> bool:
        return member == self.member or member.startswith(f"deleted:{self.member}?uid=")

    def desired(self) -> list[str]:
        return [self.role]

    def same(self, current: Any) -> bool:
        return current == self.desired()

    def summary(self, current: Any) -> dict[str, Any]:
        return {"roles": ", ".join(current or [])}

    def update(self, ctx: Context, current: Any) -> None:
        self.create(ctx)

    def _held(self, bindings: list[tuple[str, list[str]]]) -> list[str] | None:
        held = any(role == self.role and any(self._ours(m) for m in ms) for role, ms in bindings)
        return [self.role] if held else None


class BucketReadGrant(_ResourceGrant):
    """roles/storage.objectViewer for the build account on the build bucket."""

    role = BUILD_SOURCE_ROLE

    def __init__(self, names: Names) -> None:
        super().__init__(names, f"{names.bucket}-build-read")

    def _policy(self, c: CloudClients) -> Any:
        return c.storage.bucket(self.names.bucket).get_iam_policy(requested_policy_version=3)

    def read(self, c: CloudClients) -> list[str] | None:
        try:
            policy = get_or_none(self._policy, c)
        except gexc.Forbidden:
            return None  # a bucket of another project: nothing of ours is on it
        if policy is None:
            return None
        return self._held([(b["role"], list(b["members"])) for b in policy.bindings])

    def _modify(self, ctx: Context, add: bool) -> None:
        bucket = ctx.clients.storage.bucket(self.names.bucket)
        for attempt in range(RMW_ATTEMPTS):
            policy = bucket.get_iam_policy(requested_policy_version=3)
            bindings = [b for b in policy.bindings if b["role"] == self.role]
            if add and any(self.member in b["members"] for b in bindings):
                return
            if add:
                policy.bindings.append({"role": self.role, "members": {self.member}})
            else:
                before = sum(len(b["members"]) for b in policy.bindings)
                kept = [
                    {**b, "members": {m for m in b["members"] if not self._ours(m)}}
                    for b in policy.bindings
                ]
                kept = [b for b in kept if b["members"]]
                if sum(len(b["members"]) for b in kept) == before:
                    return
                policy.bindings[:] = kept
            try:
                bucket.set_iam_policy(policy)
                return
            except gexc.PreconditionFailed:  # a concurrent change: read again
                if attempt == RMW_ATTEMPTS - 1:
                    raise

    def create(self, ctx: Context) -> None:
        self._modify(ctx, add=True)

    def delete(self, ctx: Context) -> None:
        try:
            self._modify(ctx, add=False)
        except gexc.NotFound:
            pass  # the bucket, and its policy, are gone


class RepositoryPushGrant(_ResourceGrant):
    """roles/artifactregistry.writer for the build account on the image repository."""

    role = BUILD_PUSH_ROLE

    def __init__(self, names: Names, region: str) -> None:
        super().__init__(names, f"{names.repository}-build-push", region)

    @property
    def path(self) -> str:
        return (
            f"projects/{self.project}/locations/{self.region}/repositories/{self.names.repository}"
        )

    def _policy(self, c: CloudClients) -> Any:
        return c.artifact_registry.get_iam_policy(
            request={"resource": self.path, "options": {"requested_policy_version": 3}}
        )

    def read(self, c: CloudClients) -> list[str] | None:
        policy = get_or_none(self._policy, c)
        if policy is None:
            return None
        return self._held([(b.role, list(b.members)) for b in policy.bindings])

    def _modify(self, ctx: Context, add: bool) -> None:
        for attempt in range(RMW_ATTEMPTS):
            policy = self._policy(ctx.clients)
            changed = False
            if add:
                binding = next((b for b in policy.bindings if b.role == self.role), None)
                if binding is None:
                    binding = policy.bindings.add(role=self.role)
                if self.member not in binding.members:
                    binding.members.append(self.member)
                    changed = True
            else:
                for binding in list(policy.bindings):
                    members = [m for m in binding.members if not self._ours(m)]
                    if len(members) == len(binding.members):
                        continue
                    changed = True
                    if members:
                        del binding.members[:]
                        binding.members.extend(members)
                    else:
                        policy.bindings.remove(binding)
            if not changed:
                return
            try:
                ctx.clients.artifact_registry.set_iam_policy(
                    request={"resource": self.path, "policy": policy}
                )
                return
            except (gexc.Aborted, gexc.Conflict):  # a concurrent change: read again
                if attempt == RMW_ATTEMPTS - 1:
                    raise

    def create(self, ctx: Context) -> None:
        self._modify(ctx, add=True)

    def delete(self, ctx: Context) -> None:
        try:
            self._modify(ctx, add=False)
        except gexc.NotFound:
            pass  # the repository, and its policy, are gone
