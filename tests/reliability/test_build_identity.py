"""The image build runs as its own account with only its grants; a build that fails
because of the source is not retried; a bucket name held elsewhere is a clear error."""

from __future__ import annotations

import pytest
import requests

from globalguide.cloud import deployment
from globalguide.cloud.clients import CloudClients
from globalguide.cloud.names import Names
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
    assert build["options"]["logging"] == "CLOUD_LOGGING_ONLY"
    member = f"serviceAccount:{names.build_account}"
    project_roles = {
        b["role"]
        for b in control(endpoint, "state")["resourcemanager"]["policy"]["bindings"]
        if member in b["members"]
    }
    assert project_roles == {"roles/logging.logWriter"}  # source and push are granted lower
    bucket_policy = clients.storage.bucket(names.bucket).get_iam_policy(requested_policy_version=3)
    assert [b["role"] for b in bucket_policy.bindings if member in b["members"]] == [
        "roles/storage.objectViewer"
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


def test_a_bucket_name_held_by_another_project_is_named_at_planning(setup):
    endpoint, clients, spec = setup
    names = Names(spec.name, spec.project)
    control(endpoint, "storage/foreign", {"names": [names.bucket]})
    with pytest.raises(CloudError, match=f"bucket name {names.bucket} is taken"):
        deployment.make_plan(spec, clients)
    # teardown and status are not blocked by a bucket that is not ours
    plan = deployment.make_teardown_plan(spec, clients, keep_images=False)
    assert all(s.resource.kind != "bucket" or s.action == "absent" for s in plan.steps)
