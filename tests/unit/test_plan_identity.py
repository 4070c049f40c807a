"""The runtime identity in the plan: created before the services that run as it, removed
after them, bindings before the account."""

from __future__ import annotations

from globalguide.cloud import plan as planning
from globalguide.cloud.names import Names
from globalguide.cloud.plan import CREATE, DELETE
from globalguide.cloud.resources import Context, RuntimeRoles
from tests.unit.test_plan import as_deployed, context, planner, spec  # noqa: F401


def test_services_wait_for_their_account_and_its_roles(spec, context):  # noqa: F811
    p = planner({}).deploy(spec, context)
    account = p.step("service-account/global/" + Names(spec.name, spec.project).runtime_account_id)
    roles = p.step("iam-binding/global/runtime-roles")
    assert account.action == roles.action == CREATE
    assert account.key in roles.waits_for
    for s in p.steps:
        if s.resource.kind == "run-service":
            assert {account.key, roles.key} <= set(s.waits_for)
            assert (
                s.resource.desired().template.service_account
                == Names(spec.name, spec.project).runtime_account
            )


def test_teardown_removes_services_then_bindings_then_the_account(
    spec,  # noqa: F811
    context,  # noqa: F811
):
    resources, _ = planning.desired_resources(spec, context)
    p = planner(as_deployed(resources)).teardown(spec, context, keep_images=False)
    by_kind: dict[str, list] = {}
    for s in p.steps:
        by_kind.setdefault(s.resource.kind, []).append(s)
    roles = by_kind["iam-binding"][0]
    account = by_kind["service-account"][0]
    assert roles.action == account.action == DELETE
    assert roles.key in account.waits_for
    assert all(s.key in roles.waits_for for s in by_kind["run-service"])


class PolicyStore:
    """A project's IAM policy behind get/set, as the Resource Manager client serves it."""

    def __init__(self, policy) -> None:
        self.policy = policy

    def get_iam_policy(self, request):
        from google.iam.v1 import policy_pb2

        copy = policy_pb2.Policy()
        copy.CopyFrom(self.policy)
        return copy

    def set_iam_policy(self, request):
        self.policy = request["policy"]
        return self.policy


def test_the_runtime_account_is_granted_what_a_service_needs_and_no_more(spec):  # noqa: F811
    from types import SimpleNamespace

    from google.iam.v1 import policy_pb2

    someone = policy_pb2.Binding(role="roles/editor", members=["user:someone@example.com"])
    store = PolicyStore(policy_pb2.Policy(version=1, bindings=[someone]))
    roles = RuntimeRoles(Names(spec.name, spec.project))
    roles.create(Context(SimpleNamespace(projects=store)))
    granted = {b.role for b in store.policy.bindings if roles.member in b.members}
    # Calling Gemini and writing logs: nothing that could change the project.
    assert granted == {"roles/aiplatform.user", "roles/logging.logWriter"}
    assert someone in store.policy.bindings
    assert roles.same(roles.read(SimpleNamespace(projects=store)))
