"""The image build's own identity: a service account holding only what a build of the
service uses, each grant on the narrowest resource the API allows.

- read the source tarball and create the build log: roles/storage.objectViewer and
  roles/storage.objectCreator on the build bucket (bucket IAM), where the build writes its
  log (``logs/log-<build id>.txt``, Cloud Storage only). Creating is not replacing: the
  account cannot overwrite or delete the sources;
- push the image: roles/artifactregistry.writer on the repository (repository IAM).

No project role is needed. Without it Cloud Build runs as a default account whose roles
depend on the organisation (the Compute Engine default account, Editor or nothing).
Resource policies are changed by read-modify-write with their etag, as the project policy
is: one pass per attempt, and the executor retries a concurrent change.
"""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc

from globalguide.cloud.clients import CloudClients
from globalguide.cloud.names import (
    BUILD_BUCKET_ROLES,
    BUILD_PUSH_ROLE,
    FORMER_BUILD_PROJECT_ROLES,
    Names,
)
from globalguide.cloud.resources.base import Context, Resource, get_or_none
from globalguide.cloud.resources.project import (
    RuntimeAccount,
    RuntimeRoles,
    add_member,
    remove_members,
)


class BuildAccount(RuntimeAccount):
    """The service account Cloud Build runs the image build as."""

    def __init__(self, names: Names) -> None:
        Resource.__init__(self, names, names.build_account_id)

    @property
    def email(self) -> str:
        return self.names.build_account

    purpose = "build"
    identity_of = "the image builds"


class FormerBuildRoles(RuntimeRoles):
    """The build account's project role of earlier versions (writing its log to Cloud
    Logging). Never created: a deploy or a teardown that finds it removes it."""

    roles = FORMER_BUILD_PROJECT_ROLES
    label = "build-roles"

    @property
    def account(self) -> str:
        return self.names.build_account


class _ResourceGrant(Resource):
    """Roles for the build account on one resource's own IAM policy."""

    kind = "iam-binding"
    rank = 2
    roles: tuple[str, ...]

    @property
    def member(self) -> str:
        return f"serviceAccount:{self.names.build_account}"

    def _ours(self, member: str) -> bool:
        return member == self.member or member.startswith(f"deleted:{self.member}?uid=")

    def desired(self) -> list[str]:
        return sorted(self.roles)

    def same(self, current: Any) -> bool:
        return current == self.desired()

    def summary(self, current: Any) -> dict[str, Any]:
        return {"roles": ", ".join(current or [])}

    def update(self, ctx: Context, current: Any) -> None:
        self.create(ctx)

    def create(self, ctx: Context) -> None:
        self._modify(ctx, add=True)

    def delete(self, ctx: Context) -> None:
        try:
            self._modify(ctx, add=False)
        except gexc.NotFound:
            pass  # the resource, and its policy, are gone

    def _modify(self, ctx: Context, add: bool) -> None:
        raise NotImplementedError

    def _held(self, bindings: list[tuple[str, list[str]]]) -> list[str] | None:
        held = {
            role for role, ms in bindings if role in self.roles and any(self._ours(m) for m in ms)
        }
        return sorted(held) or None


class BucketGrant(_ResourceGrant):
    """Reading the source and creating the build log, for the build account on the build
    bucket."""

    roles = BUILD_BUCKET_ROLES

    def __init__(self, names: Names) -> None:
        super().__init__(names, f"{names.bucket}-builder")

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
        """One read-modify-write with the policy's etag; a concurrent change (412) is
        retried by the executor, which runs the step again from the read."""
        bucket = ctx.clients.storage.bucket(self.names.bucket)
        policy = bucket.get_iam_policy(requested_policy_version=3)
        if add:
            missing = [
                role
                for role in self.roles
                if not any(
                    b["role"] == role and self.member in b["members"] for b in policy.bindings
                )
            ]
            if not missing:
                return
            policy.bindings.extend({"role": role, "members": {self.member}} for role in missing)
        else:
            kept = [
                {**b, "members": {m for m in b["members"] if not self._ours(m)}}
                for b in policy.bindings
            ]
            kept = [b for b in kept if b["members"]]
            if sum(len(b["members"]) for b in kept) == sum(
                len(b["members"]) for b in policy.bindings
            ):
                return
            policy.bindings[:] = kept
        bucket.set_iam_policy(policy)


class RepositoryPushGrant(_ResourceGrant):
    """roles/artifactregistry.writer for the build account on the image repository."""

    roles = (BUILD_PUSH_ROLE,)

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
        """One read-modify-write with the policy's etag; a concurrent change (409 ABORTED)
        is retried by the executor, which runs the step again from the read."""
        policy = self._policy(ctx.clients)
        if add:
            changed = add_member(policy, self.roles, self.member)
        else:
            changed = remove_members(policy, self._ours)
        if changed:
            ctx.clients.artifact_registry.set_iam_policy(
                request={"resource": self.path, "policy": policy}
            )
