"""The project itself: enabled APIs and the services' runtime identity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import service_usage_v1

from globalguide.cloud.clients import CloudClients
from globalguide.cloud.names import (
    REQUIRED_APIS,
    RUNTIME_ROLES,
    Names,
)
from globalguide.cloud.resources.base import (
    Context,
    Resource,
    get_or_none,
    wait_operation,
)


class EnabledApis(Resource):
    kind = "apis"
    rank = 0
    deletable = False  # teardown never disables APIs: other things in the project use them.

    def __init__(self, names: Names) -> None:
        super().__init__(names, "required-apis")

    def read(self, c: CloudClients) -> list[str]:
        response = c.service_usage.batch_get_services(
            service_usage_v1.BatchGetServicesRequest(
                parent=f"projects/{self.project}",
                names=[f"projects/{self.project}/services/{s}" for s in REQUIRED_APIS],
            )
        )
        enabled = service_usage_v1.State.ENABLED
        return sorted(s.config.name for s in response.services if s.state == enabled)

    def same(self, current: Any) -> bool:
        return set(REQUIRED_APIS) <= set(current or [])

    def create(self, ctx: Context) -> None:
        missing = sorted(set(REQUIRED_APIS) - set(self.read(ctx.clients)))
        if not missing:
            return
        op = ctx.clients.service_usage.batch_enable_services(
            service_usage_v1.BatchEnableServicesRequest(
                parent=f"projects/{self.project}", service_ids=missing
            )
        )
        wait_operation(op)
        ctx.propagation.enabled(missing)

    def update(self, ctx: Context, current: Any) -> None:
        self.create(ctx)

    def summary(self, current: Any) -> dict[str, Any]:
        return {"enabled": len(current or [])}


# ------------------------------------------------------------------ identity


class RuntimeAccount(Resource):
    """The Cloud Run services' own service account, instead of the default compute
    account (which holds Editor on the project)."""

    kind = "service-account"
    rank = 1

    def __init__(self, names: Names) -> None:
        super().__init__(names, names.runtime_account_id)

    @property
    def email(self) -> str:
        return self.names.runtime_account

    def desired(self) -> dict[str, Any]:
        return {"email": self.email}

    def read(self, c: CloudClients) -> Any | None:
        return get_or_none(c.service_accounts.get, self.project, self.email)

    def same(self, current: Any) -> bool:
        return True  # nothing on the account itself is managed beyond its existence

    purpose = "runtime"
    identity_of = "the Cloud Run services"

    def create(self, ctx: Context) -> None:
        try:
            ctx.clients.service_accounts.create(
                self.project,
                self.name,
                display_name=f"globalguide {self.names.name} {self.purpose}",
                description=f"Identity of {self.identity_of} of the globalguide "
                f"deployment {self.names.name}.",
            )
        except gexc.Conflict:
            pass  # created by an earlier attempt whose answer was lost
        ctx.propagation.created(self.email)

    def delete(self, ctx: Context) -> None:
        try:
            ctx.clients.service_accounts.delete(self.project, self.email)
        except gexc.NotFound:
            pass


class RuntimeRoles(Resource):
    """The runtime account's roles on the project: only RUNTIME_ROLES. The project policy
    is shared with everyone else's bindings, so it is changed by read-modify-write with
    the policy's etag: members are only added or removed for this account, and a
    concurrent change (409 ABORTED) means read again and redo the change. A binding for
    an account this run just created can be refused until IAM has propagated it
    (400 "does not exist"): ``cloud.propagation`` says when that is worth waiting for."""

    kind = "iam-binding"
    rank = 2
    roles: tuple[str, ...] = RUNTIME_ROLES
    label = "runtime-roles"

    def __init__(self, names: Names) -> None:
        super().__init__(names, self.label)

    @property
    def account(self) -> str:
        return self.names.runtime_account

    @property
    def member(self) -> str:
        return f"serviceAccount:{self.account}"

    def _policy(self, c: CloudClients) -> Any:
        return c.projects.get_iam_policy(
            request={
                "resource": f"projects/{self.project}",
                "options": {"requested_policy_version": 3},
            }
        )

    def _ours(self, member: str) -> bool:
        return member == self.member or member.startswith(f"deleted:{self.member}?uid=")

    def read(self, c: CloudClients) -> list[str] | None:
        policy = get_or_none(self._policy, c)
        if policy is None:
            return None
        held = sorted(
            {
                b.role
                for b in policy.bindings
                if b.role in self.roles
                and not b.condition.expression
                and any(self._ours(m) for m in b.members)
            }
        )
        return held or None

    def desired(self) -> list[str]:
        return sorted(self.roles)

    def same(self, current: Any) -> bool:
        return sorted(current or []) == self.desired()

    def _modify(self, ctx: Context, change: Any) -> None:
        """Read the policy, apply ``change`` to it, write it back with the etag it was read
        with. A concurrent change answers 409 ABORTED, which the executor retries (logged,
        with backoff): the step runs again, so the policy is read again and the change
        redone."""
        policy = self._policy(ctx.clients)
        if change(policy):
            ctx.clients.projects.set_iam_policy(
                request={"resource": f"projects/{self.project}", "policy": policy}
            )

    def create(self, ctx: Context) -> None:
        self._modify(ctx, lambda policy: add_member(policy, self.roles, self.member))

    def update(self, ctx: Context, current: Any) -> None:
        self.create(ctx)

    def delete(self, ctx: Context) -> None:
        self._modify(ctx, lambda policy: remove_members(policy, self._ours))

    def summary(self, current: Any) -> dict[str, Any]:
        return {"roles": ", ".join(current or [])}


def add_member(policy: Any, roles: tuple[str, ...] | list[str], member: str) -> bool:
    """Add ``member`` to each role's unconditional binding of an IAM ``Policy`` message;
    whether anything changed."""
    changed = False
    for role in roles:
        binding = next(
            (b for b in policy.bindings if b.role == role and not b.condition.expression),
            None,
        )
        if binding is None:
            binding = policy.bindings.add(role=role)
        if member not in binding.members:
            binding.members.append(member)
            changed = True
    if changed and policy.version < 1:
        policy.version = 1
    return changed


def remove_members(policy: Any, ours: Callable[[str], bool]) -> bool:
    """Remove every member ``ours`` accepts from an IAM ``Policy`` message, dropping the
    bindings left empty; whether anything changed."""
    changed = False
    for binding in list(policy.bindings):
        members = [m for m in binding.members if not ours(m)]
        if len(members) == len(binding.members):
            continue
        changed = True
        if members:
            del binding.members[:]
            binding.members.extend(members)
        else:
            policy.bindings.remove(binding)
    return changed
