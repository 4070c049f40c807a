"""The services run as their own account with only the roles they need; teardown removes
the account and its bindings and never anyone else's."""

from __future__ import annotations

import threading

import pytest

from globalguide.cloud import deployment
from globalguide.cloud.apply import Backoff, Executor
from globalguide.cloud.clients import CloudClients
from globalguide.cloud.names import RUNTIME_ROLES, Names
from globalguide.cloud.plan import CREATE, Step
from globalguide.cloud.resources import Context, RuntimeAccount, RuntimeRoles
from globalguide.spec import DeploySpec
from tests.reliability.support import control, resources_left, serves_every_region

OTHERS = ("roles/owner", "user:owner@example.com")


def bindings(state: dict) -> set[tuple[str, str]]:
    policy = state["resourcemanager"]["policy"]
    return {(b["role"], m) for b in policy.get("bindings", []) for m in b["members"]}


@pytest.fixture
def setup(emulator_server):
    endpoint = emulator_server.endpoint
    control(endpoint, "reset", {})
    project = emulator_server.emulator.project
    clients = CloudClients(project, endpoint=endpoint)
    spec = DeploySpec(project=project, local=True).validated()
    return endpoint, clients, spec


def test_services_run_as_the_dedicated_account_and_teardown_removes_it(setup):
    endpoint, clients, spec = setup
    names = Names(spec.name, spec.project)
    document = deployment.apply_deploy(deployment.make_plan(spec, clients), clients)
    assert serves_every_region(document["url"], spec.regions)
    state = control(endpoint, "state")
    accounts = [a["email"] for a in state["iam"]["serviceAccounts"]]
    assert sorted(accounts) == sorted([names.runtime_account, names.build_account])
    for region in spec.regions:
        service = clients.run_services.get_service(
            name=f"projects/{spec.project}/locations/{region}/services/{names.service}"
        )
        assert service.template.service_account == names.runtime_account
    member = f"serviceAccount:{names.runtime_account}"
    held = {role for role, m in bindings(state) if m == member}
    assert held == set(RUNTIME_ROLES)
    # the build account holds nothing on the project: its grants are on the bucket and the
    # repository alone (tests/reliability/test_build_identity.py)
    assert not any(names.build_account in m for _, m in bindings(state))
    assert OTHERS in bindings(state)  # the owner's binding is untouched

    plan = deployment.make_teardown_plan(spec, clients, keep_images=False)
    deployment.apply_teardown(plan, clients, keep_images=False)
    state = control(endpoint, "state")
    assert state["iam"]["serviceAccounts"] == []
    assert not any(names.runtime_account in m for _, m in bindings(state))
    assert not any(names.build_account in m for _, m in bindings(state))
    assert OTHERS in bindings(state)
    assert resources_left(endpoint) == 0


def test_a_concurrent_policy_change_is_kept_and_the_write_redone(setup, monkeypatch):
    """Someone else writes the policy between our read and our write: our write is
    refused (stale etag), we read again, and both changes end up in the policy."""
    endpoint, clients, spec = setup
    names = Names(spec.name, spec.project)
    deployment.apply_deploy(deployment.make_plan(spec, clients), clients, wait=False)
    ctx = Context(clients)
    roles = RuntimeRoles(names)
    roles.delete(ctx)
    assert roles.read(clients) is None

    other = CloudClients(spec.project, endpoint=endpoint)
    real_get = type(clients.projects).get_iam_policy
    raced = threading.Event()

    def get_then_race(self, *args, **kwargs):
        policy = real_get(self, *args, **kwargs)
        if not raced.is_set():
            raced.set()
            theirs = real_get(other.projects, request={"resource": f"projects/{spec.project}"})
            theirs.bindings.add(role="roles/viewer", members=["user:colleague@example.com"])
            other.projects.set_iam_policy(
                request={"resource": f"projects/{spec.project}", "policy": theirs}
            )
        return policy

    monkeypatch.setattr(type(clients.projects), "get_iam_policy", get_then_race)
    events = []
    Executor(clients, listener=events.append, backoff=Backoff(base_s=0.01)).run_step(
        Step(roles, CREATE)
    )
    monkeypatch.undo()
    assert raced.is_set()
    retries = [e for e in events if e.state == "retrying"]
    assert len(retries) == 1 and "There were concurrent policy changes" in retries[0].detail
    state = control(endpoint, "state")
    assert ("roles/viewer", "user:colleague@example.com") in bindings(state)
    assert sorted(roles.read(clients)) == sorted(RUNTIME_ROLES)

    deployment.apply_teardown(
        deployment.make_teardown_plan(spec, clients, keep_images=False), clients, keep_images=False
    )
    state = control(endpoint, "state")
    assert ("roles/viewer", "user:colleague@example.com") in bindings(state)
    assert not any(names.runtime_account in m for _, m in bindings(state))


def test_short_names_still_make_a_valid_account_id():
    for name in ("a", "ab", "a" * 25):
        account_id = RuntimeAccount(Names(name, "p")).name
        assert 6 <= len(account_id) <= 30
