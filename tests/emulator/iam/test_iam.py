"""IAM service accounts and the project IAM policy, through the official clients."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import run_v2, service_usage_v1

from globalguide.emulator.session import bearer

IAM_APIS = ["iam.googleapis.com", "cloudresourcemanager.googleapis.com"]


@pytest.fixture
def iam(enabled, clients, project):
    op = clients.service_usage.batch_enable_services(
        service_usage_v1.BatchEnableServicesRequest(
            parent=f"projects/{project}", service_ids=IAM_APIS
        )
    )
    op.result(timeout=30)
    return clients


def policy(clients, project):
    return clients.projects.get_iam_policy(
        request={"resource": f"projects/{project}", "options": {"requested_policy_version": 3}}
    )


def set_policy(clients, project, p):
    return clients.projects.set_iam_policy(request={"resource": f"projects/{project}", "policy": p})


def test_account_lifecycle(iam, project):
    sa = iam.service_accounts
    made = sa.create(project, "guide-run", display_name="d", description="x")
    email = f"guide-run@{project}.iam.gserviceaccount.com"
    assert made["email"] == email and made["projectId"] == project
    assert sa.get(project, email)["uniqueId"] == made["uniqueId"]
    assert sa.get(project, made["uniqueId"])["email"] == email
    with pytest.raises(gexc.Conflict):
        sa.create(project, "guide-run", display_name="d", description="x")
    sa.delete(project, email)
    with pytest.raises(gexc.NotFound):
        sa.get(project, email)
    with pytest.raises(gexc.NotFound):
        sa.delete(project, email)


@pytest.mark.parametrize(
    "account_id", ["short", "a" * 31, "1abcdef", "abcdef-", "Abcdefg", "abc_def", ""]
)
def test_account_id_rules(iam, project, account_id):
    with pytest.raises(gexc.BadRequest):
        iam.service_accounts.create(project, account_id, display_name="", description="")


def test_account_ids_at_the_limits_are_accepted(iam, project):
    for account_id in ("abcdef", "a" + "b" * 28 + "c"):
        iam.service_accounts.create(project, account_id, display_name="", description="")


def test_iam_api_must_be_enabled(enabled, clients, project):
    with pytest.raises(gexc.Forbidden) as info:
        clients.service_accounts.get(project, f"x-run@{project}.iam.gserviceaccount.com")
    assert "SERVICE_DISABLED" in str(info.value) or "has not been used" in str(info.value)


def test_policy_read_modify_write_with_a_stale_etag_is_aborted(iam, project):
    iam.service_accounts.create(project, "guide-run", display_name="", description="")
    member = f"serviceAccount:guide-run@{project}.iam.gserviceaccount.com"
    first = policy(iam, project)
    second = policy(iam, project)
    assert first.etag == second.etag
    first.bindings.add(role="roles/logging.logWriter", members=[member])
    written = set_policy(iam, project, first)
    assert written.etag != second.etag
    second.bindings.add(role="roles/aiplatform.user", members=[member])
    with pytest.raises(gexc.Conflict) as info:  # HTTP 409 with status ABORTED
        set_policy(iam, project, second)
    assert "concurrent policy changes" in str(info.value)
    assert "ABORTED" in str(info.value.response.json())
    roles = {b.role for b in policy(iam, project).bindings}
    assert "roles/logging.logWriter" in roles and "roles/aiplatform.user" not in roles
    # Without an etag the write is blind, and wins.
    blind = policy(iam, project)
    blind.etag = b""
    blind.bindings.add(role="roles/aiplatform.user", members=[member])
    set_policy(iam, project, blind)
    assert "roles/aiplatform.user" in {b.role for b in policy(iam, project).bindings}


def test_policy_refuses_unknown_accounts_bad_members_and_unversioned_conditions(iam, project):
    base = policy(iam, project)
    for role, member in [
        ("roles/viewer", f"serviceAccount:nobody-here@{project}.iam.gserviceaccount.com"),
        ("roles/viewer", "somebody"),
        ("not-a-role", "user:a@example.com"),
    ]:
        p = policy(iam, project)
        p.bindings.add(role=role, members=[member])
        with pytest.raises(gexc.BadRequest):
            set_policy(iam, project, p)
    p = policy(iam, project)
    binding = p.bindings.add(role="roles/viewer", members=["user:a@example.com"])
    binding.condition.expression = "request.time < timestamp('2030-01-01T00:00:00Z')"
    p.version = 1
    with pytest.raises(gexc.BadRequest):
        set_policy(iam, project, p)
    p.version = 3
    set_policy(iam, project, p)
    assert policy(iam, project).version == 3
    assert policy(iam, project).etag != base.etag


def test_deleting_an_account_leaves_deleted_members_in_the_policy(iam, project, endpoint):
    made = iam.service_accounts.create(project, "guide-run", display_name="", description="")
    p = policy(iam, project)
    p.bindings.add(role="roles/logging.logWriter", members=[f"serviceAccount:{made['email']}"])
    set_policy(iam, project, p)
    assert (
        requests.get(f"{endpoint}/_emulator/resources", headers=bearer(endpoint), timeout=5).json()[
            "count"
        ]
        == 2
    )
    iam.service_accounts.delete(project, made["email"])
    members = [m for b in policy(iam, project).bindings for m in b.members]
    assert f"deleted:serviceAccount:{made['email']}?uid={made['uniqueId']}" in members
    # The leftover binding still counts: removing it is the deployer's job.
    assert (
        requests.get(f"{endpoint}/_emulator/resources", headers=bearer(endpoint), timeout=5).json()[
            "count"
        ]
        == 1
    )


def test_cloud_run_refuses_a_service_account_that_does_not_exist(iam, project, enabled):
    service = run_v2.Service(
        template=run_v2.RevisionTemplate(
            service_account=f"ghost-run@{project}.iam.gserviceaccount.com",
            containers=[run_v2.Container(image="us-docker.pkg.dev/cloudrun/container/hello")],
        )
    )
    with pytest.raises(gexc.Forbidden) as info:
        iam.run_services.create_service(
            parent=f"projects/{project}/locations/us-central1", service=service, service_id="s1"
        )
    assert "iam.serviceaccounts.actAs" in str(info.value)
    assert "(or it may not exist)" in str(info.value)


def test_names_and_descriptions_are_limited_in_utf8_bytes(iam, project):
    sa = iam.service_accounts
    sa.create(project, "fits-in-bytes", display_name="é" * 50, description="é" * 128)
    with pytest.raises(gexc.BadRequest):  # 51 characters, 102 bytes
        sa.create(project, "too-many-bytes", display_name="é" * 51, description="")
    with pytest.raises(gexc.BadRequest):  # 129 characters, 258 bytes
        sa.create(project, "too-long-desc", display_name="", description="é" * 129)


def test_policy_refuses_roles_that_do_not_exist_and_all_users(iam, project):
    for role, member in [
        ("roles/run.invokerr", "user:a@example.com"),
        ("roles/compute.browser", "user:a@example.com"),
        ("projects/p/roles/custom", "user:a@example.com"),
        ("roles/viewer", "allUsers"),
        ("roles/viewer", "allAuthenticatedUsers"),
        ("roles/viewer", "deleted:serviceAccount:gone@p.iam.gserviceaccount.com"),
    ]:
        p = policy(iam, project)
        p.bindings.add(role=role, members=[member])
        with pytest.raises(gexc.BadRequest) as info:
            set_policy(iam, project, p)
        if role.startswith("roles/") and member.startswith("user:"):
            assert f"Role {role} is not supported for this resource." in str(info.value)
    p = policy(iam, project)
    p.bindings.add(
        role="roles/viewer",
        members=["deleted:serviceAccount:gone@p.iam.gserviceaccount.com?uid=123456789012345678901"],
    )
    set_policy(iam, project, p)


def test_policy_holds_at_most_1500_principals(iam, project):
    p = policy(iam, project)
    held = sum(len(b.members) for b in p.bindings)
    p.bindings.add(
        role="roles/viewer", members=[f"user:u{i}@example.com" for i in range(1501 - held)]
    )
    with pytest.raises(gexc.BadRequest):
        set_policy(iam, project, p)
    p = policy(iam, project)
    p.bindings.add(
        role="roles/viewer", members=[f"user:u{i}@example.com" for i in range(1500 - held)]
    )
    set_policy(iam, project, p)


def test_a_policy_with_conditions_is_only_rewritten_at_version_3(iam, project):
    p = policy(iam, project)
    binding = p.bindings.add(role="roles/viewer", members=["user:a@example.com"])
    binding.condition.expression = "request.time < timestamp('2030-01-01T00:00:00Z')"
    p.version = 3
    set_policy(iam, project, p)
    current = policy(iam, project)
    current.version = 1
    current.bindings.add(role="roles/logging.logWriter", members=["user:b@example.com"])
    with pytest.raises(gexc.BadRequest):
        set_policy(iam, project, current)


def test_a_new_account_is_invisible_until_iam_has_propagated_it(tmp_path):
    import time

    from tests.emulator.fakes import running_emulator

    with running_emulator(tmp_path, profile="realistic", time_scale=0.05) as (emu, clients):
        emu.serviceusage.set_enabled(IAM_APIS)
        project = emu.project
        made = clients.service_accounts.create(
            project, "fresh-run", display_name="", description=""
        )
        email = made["email"]
        iam = emu.iam
        assert iam.exists(email) and not iam.visible(email)
        with pytest.raises(gexc.NotFound):
            clients.service_accounts.get(project, email)
        p = policy(clients, project)
        p.bindings.add(role="roles/logging.logWriter", members=[f"serviceAccount:{email}"])
        with pytest.raises(gexc.BadRequest) as info:
            set_policy(clients, project, p)
        assert f"Service account {email} does not exist." in str(info.value)
        deadline = time.monotonic() + 10
        while not iam.visible(email) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert iam.visible(email)  # 30 s x 0.05 = 1.5 s after create
        assert clients.service_accounts.get(project, email)["email"] == email
        set_policy(clients, project, p)


def test_act_as_denied_has_the_cloud_run_shape():
    from globalguide.emulator.iam import act_as_denied

    error = act_as_denied("x-run@p.iam.gserviceaccount.com")
    assert (error.code, error.status, error.reason) == (403, "PERMISSION_DENIED", "forbidden")
    assert error.message == (
        "Permission 'iam.serviceaccounts.actAs' denied on service account "
        "x-run@p.iam.gserviceaccount.com (or it may not exist)."
    )
