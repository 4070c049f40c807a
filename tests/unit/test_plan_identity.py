"""The runtime identity in the plan: created before the services that run as it, removed
after them, bindings before the account."""

from __future__ import annotations

from globalguide.cloud import plan as planning
from globalguide.cloud.names import RUNTIME_ROLES, Names
from globalguide.cloud.plan import CREATE, DELETE
from tests.unit.test_plan import as_deployed, context, fake_remote, spec  # noqa: F401


def test_services_wait_for_their_account_and_its_roles(monkeypatch, spec, context):  # noqa: F811
    fake_remote(monkeypatch, {})
    p = planning.plan_deploy(spec, None, context)
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
    monkeypatch,
    spec,  # noqa: F811
    context,  # noqa: F811
):
    resources, _ = planning.desired_resources(spec, context)
    fake_remote(monkeypatch, as_deployed(resources))
    p = planning.plan_teardown(spec, None, context, keep_images=False)
    by_kind: dict[str, list] = {}
    for s in p.steps:
        by_kind.setdefault(s.resource.kind, []).append(s)
    roles = by_kind["iam-binding"][0]
    account = by_kind["service-account"][0]
    assert roles.action == account.action == DELETE
    assert roles.key in account.waits_for
    assert all(s.key in roles.waits_for for s in by_kind["run-service"])


def test_only_the_needed_roles():
    assert set(RUNTIME_ROLES) == {"roles/aiplatform.user", "roles/logging.logWriter"}
