"""The image build runs as its own account with only its grants; a build that fails
because of the source is not retried; a bucket name held elsewhere is a clear error."""

from __future__ import annotations

import pytest
import requests

from globalguide.cloud import deployment
from globalguide.cloud.clients import CloudClients
from globalguide.cloud.names import Names
from globalguide.cloud.resources import BucketGrant
from globalguide.cloud.resources.build_log import LINE_CHARS, TAIL_LINES
from globalguide.cloud.source import BuildContext
from globalguide.emulator.session import bearer
from globalguide.errors import CloudError
from globalguide.spec import DeploySpec
from tests.emulator.fakes import tarball
from tests.reliability.support import control, resources_left


@pytest.fixture
def setup(emulator_server):
    endpoint = emulator_server.endpoint
    control(endpoint, "reset", {})
    project = emulator_server.emulator.project
    clients = CloudClients(project, endpoint=endpoint)
    spec = DeploySpec(project=project, local=True).validated()
    return endpoint, clients, spec


def _creates(endpoint: str) -> int:
    log = requests.get(
        f"{endpoint}/_emulator/requests", headers=bearer(endpoint), timeout=10
    ).json()
    return sum(1 for e in log if e["method"] == "POST" and e["path"].endswith("/builds"))


def test_the_build_runs_as_its_account_with_resource_grants_and_teardown_removes_it(setup):
    endpoint, clients, spec = setup
    names = Names(spec.name, spec.project)
    deployment.apply_deploy(deployment.make_plan(spec, clients), clients, wait=False)
    build = control(endpoint, "state")["cloudbuild"]["builds"][0]
    assert build["serviceAccount"] == (
        f"projects/{spec.project}/serviceAccounts/{names.build_account}"
    )
    # The log goes to a folder of the build bucket, and only there.
    assert build["options"]["logging"] == "GCS_ONLY"
    assert build["logsBucket"] == f"gs://{names.bucket}/logs"
    log = clients.storage.bucket(names.bucket).get_blob(f"logs/log-{build['id']}.txt")
    assert log is not None and log.download_as_bytes().decode().endswith("DONE\n")
    member = f"serviceAccount:{names.build_account}"
    project_roles = {
        b["role"]
        for b in control(endpoint, "state")["resourcemanager"]["policy"]["bindings"]
        if member in b["members"]
    }
    assert project_roles == set()  # every grant is on a single resource
    bucket_policy = clients.storage.bucket(names.bucket).get_iam_policy(requested_policy_version=3)
    # read the source, create the log: nothing that replaces or deletes an object
    assert sorted(b["role"] for b in bucket_policy.bindings if member in b["members"]) == [
        "roles/storage.objectCreator",
        "roles/storage.objectViewer",
    ]
    repo = f"projects/{spec.project}/locations/{spec.regions[0]}/repositories/{names.repository}"
    repo_policy = clients.artifact_registry.get_iam_policy(request={"resource": repo})
    assert [b.role for b in repo_policy.bindings if member in b.members] == [
        "roles/artifactregistry.writer"
    ]

    plan = deployment.make_teardown_plan(spec, clients, keep_images=False)
    deployment.apply_teardown(plan, clients, keep_images=False)
    state = control(endpoint, "state")
    assert state["iam"]["serviceAccounts"] == []
    assert resources_left(endpoint) == 0


def test_a_broken_dockerfile_is_built_once_and_the_log_url_shown(setup, monkeypatch):
    endpoint, clients, spec = setup
    broken = tarball({"Dockerfile": b"FROM python:3.12-slim\nRUN-THIS not an instruction\n"})
    context = BuildContext(data=broken, tag="0badbadbadbadbad")
    monkeypatch.setattr(deployment, "context_for", lambda spec: context)
    before = _creates(endpoint)
    with pytest.raises(CloudError) as caught:
        deployment.apply_deploy(deployment.make_plan(spec, clients), clients, wait=False)
    assert _creates(endpoint) - before == 1
    error = caught.value
    assert error.exit_code == 1
    assert "FAILURE at step 0 (gcr.io/cloud-builders/docker)" in error.message
    assert error.hint.startswith("Read the build log: https://console.cloud.google.com/")
    hint = error.hint.splitlines()
    assert hint[1] == "The build log ends:"
    tail = hint[2:]
    assert "  Step #0: Step 2/2 : RUN-THIS not an instruction" in tail
    assert any("RUN-THIS is not supported" in line for line in tail)
    assert tail[-1] == (
        '  ERROR: build step 0 "gcr.io/cloud-builders/docker" failed: step exited with '
        "non-zero status: 1"
    )


def test_the_failure_shows_a_bounded_tail_of_the_log(setup, monkeypatch):
    endpoint, clients, spec = setup
    steps = "".join(f"ENV V{i}={'x' * 300}\n" for i in range(40))
    broken = tarball({"Dockerfile": f"FROM python:3.12-slim\n{steps}SHELL x\n".encode()})
    context = BuildContext(data=broken, tag="0badbadbadbad0ff")
    monkeypatch.setattr(deployment, "context_for", lambda spec: context)
    with pytest.raises(CloudError) as caught:
        deployment.apply_deploy(deployment.make_plan(spec, clients), clients, wait=False)
    tail = caught.value.hint.splitlines()[2:]
    assert len(tail) == TAIL_LINES
    assert all(len(line) <= LINE_CHARS + 2 for line in tail)
    assert any(line.endswith("…") for line in tail)  # a long line is cut, and says so
    assert any("SHELL is not supported" in line for line in tail)


def test_an_account_that_may_not_write_the_log_fails_once_and_says_so(setup, monkeypatch):
    endpoint, clients, spec = setup
    names = Names(spec.name, spec.project)
    plan = deployment.make_plan(spec, clients)
    grant = next(s for s in plan.steps if isinstance(s.resource, BucketGrant))
    # the bucket grant without the log's role: as if objectCreator had not been granted
    monkeypatch.setattr(type(grant.resource), "roles", ("roles/storage.objectViewer",))
    before = _creates(endpoint)
    with pytest.raises(CloudError) as caught:
        deployment.apply_deploy(plan, clients, wait=False)
    assert _creates(endpoint) - before == 1
    assert caught.value.exit_code == 1
    assert "ended FAILURE" in caught.value.message
    assert (
        f"{names.build_account} does not have storage.objects.create access" in caught.value.message
    )


def test_the_project_role_of_earlier_versions_is_removed(setup):
    """Earlier versions gave the build account roles/logging.logWriter on the project (its
    log went to Cloud Logging); a deploy that finds it removes it."""
    endpoint, clients, spec = setup
    names = Names(spec.name, spec.project)
    member = f"serviceAccount:{names.build_account}"
    deployment.apply_deploy(deployment.make_plan(spec, clients), clients, wait=False)
    resource = f"projects/{spec.project}"
    policy = clients.projects.get_iam_policy(request={"resource": resource})
    policy.bindings.add(role="roles/logging.logWriter", members=[member])
    clients.projects.set_iam_policy(request={"resource": resource, "policy": policy})

    plan = deployment.make_plan(spec, clients)
    assert [s.action for s in plan.changes] == ["delete"]
    assert plan.changes[0].resource.kind == "iam-binding"
    deployment.apply_deploy(plan, clients, wait=False)
    policy = clients.projects.get_iam_policy(request={"resource": resource})
    assert not any(member in b.members for b in policy.bindings)
    assert deployment.make_plan(spec, clients).changes == []


def test_a_bucket_name_held_by_another_project_is_named_at_planning(setup):
    endpoint, clients, spec = setup
    names = Names(spec.name, spec.project)
    control(endpoint, "storage/foreign", {"names": [names.bucket]})
    with pytest.raises(CloudError, match=f"bucket name {names.bucket} is taken"):
        deployment.make_plan(spec, clients)
    # teardown and status are not blocked by a bucket that is not ours
    plan = deployment.make_teardown_plan(spec, clients, keep_images=False)
    assert all(s.resource.kind != "bucket" or s.action == "absent" for s in plan.steps)
