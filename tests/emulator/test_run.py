"""Cloud Run Admin API v2 through run_v2, with a stand-in data plane.

The data plane's own tests (real processes) live with the data plane; here a fake records
what the control plane asks of it and answers ready or failed as told.
"""

from __future__ import annotations

import re

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import artifactregistry_v1 as ar
from google.cloud import run_v2
from google.iam.v1 import iam_policy_pb2, policy_pb2
from google.longrunning import operations_pb2
from google.protobuf import duration_pb2, field_mask_pb2

from globalguide.emulator.session import bearer
from tests.emulator.fakes import FakeDataPlane, running_emulator, simple_context

REGION = "us-central1"
Ingress = run_v2.IngressTraffic
State = run_v2.Condition.State
LATEST = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST


@pytest.fixture
def dataplane(emu, monkeypatch) -> FakeDataPlane:
    fake = FakeDataPlane()
    monkeypatch.setattr(emu, "dataplane", fake)
    return fake


def _publish(clients, emu, project, tag="v1", marker="hello") -> str:
    """An emulator-built image recorded in Artifact Registry; returns its URI."""
    repo = f"projects/{project}/locations/{REGION}/repositories/images"
    if emu.artifactregistry.repository(repo) is None:
        clients.artifact_registry.create_repository(
            parent=f"projects/{project}/locations/{REGION}",
            repository_id="images",
            repository=ar.Repository(format_=ar.Repository.Format.DOCKER),
        ).result(timeout=30)
    image = emu.images.build(simple_context(marker))
    emu.artifactregistry.record_image(repo, "app", tag, image.digest, image.size_bytes)
    return f"{REGION}-docker.pkg.dev/{project}/images/app:{tag}"


def _service(image: str, **fields) -> run_v2.Service:
    env = fields.pop("env", {"SERVICE_REGION": REGION})
    container = run_v2.Container(
        image=image, env=[run_v2.EnvVar(name=k, value=v) for k, v in env.items()]
    )
    for key in ("resources", "ports"):
        if key in fields:
            setattr(container, key, fields.pop(key))
    template = run_v2.RevisionTemplate(containers=[container], **fields.pop("template", {}))
    return run_v2.Service(template=template, **fields)


def _parent(project: str, region: str = REGION) -> str:
    return f"projects/{project}/locations/{region}"


def _create(clients, project, service: run_v2.Service, service_id="guide"):
    return clients.run_services.create_service(
        parent=_parent(project), service=service, service_id=service_id
    )


def test_create_brings_a_revision_up_through_the_data_plane(enabled, emu, project, dataplane):
    image = _publish(enabled, emu, project)
    service = _service(
        image,
        labels={"globalguide": "demo"},
        ingress=Ingress.INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER,
        env={"SERVICE_REGION": REGION, "GEMINI_MODEL": "gemini-x"},
    )
    op = _create(enabled, project, service)
    result = op.result(timeout=10)
    name = f"{_parent(project)}/services/guide"

    assert result.name == name
    assert result.generation == 1
    assert result.observed_generation == 1
    assert re.fullmatch(r"[0-9a-f-]{36}", result.uid)
    assert result.creator and result.create_time and result.update_time
    assert result.terminal_condition.type_ == "Ready"
    assert result.terminal_condition.state == State.CONDITION_SUCCEEDED
    assert not result.reconciling
    revision = result.latest_ready_revision
    assert revision == result.latest_created_revision
    assert re.fullmatch(rf"{_parent(project)}/revisions/guide-00001-[a-z0-9]{{3}}", revision)
    assert result.uri == dataplane.handles[0].uri
    assert list(result.urls) == [result.uri]
    assert result.traffic_statuses[0].percent == 100
    assert result.etag
    container = result.template.containers[0]
    assert container.resources.limits == {"cpu": "1000m", "memory": "512Mi"}
    assert container.ports[0].container_port == 8080
    assert result.template.max_instance_request_concurrency == 80
    assert result.template.timeout.seconds == 300

    call = dataplane.started[0]
    assert call["service"] == name
    assert call["region"] == REGION
    assert call["revision"] == revision.rsplit("/", 1)[1]
    assert call["env"] == {"SERVICE_REGION": REGION, "GEMINI_MODEL": "gemini-x"}
    assert call["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
    assert call["image"].digest == emu.artifactregistry.resolve(image)
    assert call["template"]["containers"][0]["image"] == image

    fetched = enabled.run_services.get_service(name=name)
    assert fetched.uri == result.uri
    assert [s.name for s in enabled.run_services.list_services(parent=_parent(project))] == [name]


def test_creating_an_existing_service_is_a_conflict(enabled, emu, project, dataplane):
    image = _publish(enabled, emu, project)
    _create(enabled, project, _service(image)).result(timeout=10)
    with pytest.raises(gexc.Conflict, match="Resource 'guide' already exists."):
        _create(enabled, project, _service(image))


@pytest.mark.parametrize("service_id", ["Guide", "1guide", "guide-", "gu_ide", "g" * 50, ""])
def test_service_id_rules(enabled, emu, project, dataplane, service_id):
    with pytest.raises(gexc.BadRequest, match="service_id"):
        _create(enabled, project, _service("x"), service_id=service_id)


def test_service_id_of_49_characters_is_fine(enabled, emu, project, dataplane):
    image = _publish(enabled, emu, project)
    _create(enabled, project, _service(image), service_id="g" * 49).result(timeout=10)


@pytest.mark.parametrize(
    "namespace",
    [
        "run.googleapis.com",
        "cloud.googleapis.com",
        "serving.knative.dev",
        "autoscaling.knative.dev",
    ],
)
@pytest.mark.parametrize("kind", ["labels", "annotations"])
def test_reserved_namespaces_are_refused(enabled, project, dataplane, namespace, kind):
    service = _service("x", **{kind: {f"{namespace}/thing": "v"}})
    with pytest.raises(gexc.BadRequest, match=re.escape(f"{kind}[{namespace}/thing]")):
        _create(enabled, project, service)


@pytest.mark.parametrize("name", ["PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"])
def test_reserved_env_names_are_refused(enabled, project, dataplane, name):
    with pytest.raises(gexc.BadRequest) as info:
        _create(enabled, project, _service("x", env={name: "1"}))
    assert (
        f"template.containers[0].env: The following reserved env names were provided: {name}. "
        "These values are automatically set by the system."
    ) in info.value.message


def test_container_rules(enabled, project, dataplane):
    client = enabled.run_services
    parent = _parent(project)
    no_containers = run_v2.Service(template=run_v2.RevisionTemplate())
    with pytest.raises(gexc.BadRequest, match="template.containers: required field not present"):
        client.create_service(parent=parent, service=no_containers, service_id="a")
    with pytest.raises(gexc.BadRequest, match=r"containers\[0\].image: required field"):
        client.create_service(parent=parent, service=_service(""), service_id="a")
    two = run_v2.Service(
        template=run_v2.RevisionTemplate(
            containers=[
                run_v2.Container(name="a", image="x"),
                run_v2.Container(name="b", image="y"),
            ]
        )
    )
    with pytest.raises(gexc.BadRequest, match="exactly one container with an exposed port"):
        client.create_service(parent=parent, service=two, service_id="a")
    ports = [run_v2.ContainerPort(container_port=8080), run_v2.ContainerPort(container_port=9090)]
    with pytest.raises(gexc.BadRequest, match="ports should contain 0 or 1 port."):
        client.create_service(parent=parent, service=_service("x", ports=ports), service_id="a")
    duplicate = run_v2.Service(
        template=run_v2.RevisionTemplate(
            containers=[
                run_v2.Container(
                    image="x",
                    env=[run_v2.EnvVar(name="A", value="1"), run_v2.EnvVar(name="A", value="2")],
                )
            ]
        )
    )
    with pytest.raises(gexc.BadRequest, match="Duplicate env var names"):
        client.create_service(parent=parent, service=duplicate, service_id="a")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {
                "template": {
                    "scaling": run_v2.RevisionScaling(min_instance_count=3, max_instance_count=2)
                }
            },
            "max_instance_count must be greater than or equal to min_instance_count",
        ),
        ({"scaling": run_v2.ServiceScaling(min_instance_count=-1)}, "must not be negative"),
        ({"template": {"max_instance_request_concurrency": 1001}}, "between 1 and 1000"),
        (
            {"resources": run_v2.ResourceRequirements(limits={"cpu": "3"})},
            "Invalid value specified for cpu",
        ),
        (
            {"resources": run_v2.ResourceRequirements(limits={"cpu": "4", "memory": "1Gi"})},
            "For 4.0 CPU, memory must be between 2Gi and 16Gi inclusive.",
        ),
        (
            {"resources": run_v2.ResourceRequirements(limits={"cpu": "1", "memory": "64Gi"})},
            "memory must be between",
        ),
        (
            {
                "resources": run_v2.ResourceRequirements(limits={"cpu": "500m"}),
                "template": {"max_instance_request_concurrency": 80},
            },
            "Total cpu < 1 is not supported with concurrency > 1.",
        ),
        ({"resources": run_v2.ResourceRequirements(limits={"disk": "1Gi"})}, "unknown resource"),
        ({"description": "d" * 513}, "at most 512 characters"),
        ({"template": {"timeout": duration_pb2.Duration(seconds=3601)}}, "at most 3600 seconds"),
        (
            {"traffic": [run_v2.TrafficTarget(type_=LATEST, percent=50)]},
            "must add up to 100",
        ),
        ({"labels": {"Bad Key": "v"}}, "Invalid"),
    ],
)
def test_resource_and_scaling_rules(enabled, project, dataplane, fields, message):
    with pytest.raises(gexc.BadRequest, match=re.escape(message)):
        _create(enabled, project, _service("x", **fields))


def test_fractional_cpu_with_concurrency_one_is_fine(enabled, emu, project, dataplane):
    image = _publish(enabled, emu, project)
    service = _service(
        image,
        resources=run_v2.ResourceRequirements(limits={"cpu": "500m", "memory": "256Mi"}),
        template={"max_instance_request_concurrency": 1},
    )
    assert (
        _create(enabled, project, service)
        .result(timeout=10)
        .template.max_instance_request_concurrency
        == 1
    )


def test_region_and_schema_are_checked(enabled, emu, project, dataplane):
    with pytest.raises(gexc.BadRequest, match="not a valid Cloud Run region"):
        enabled.run_services.create_service(
            parent=_parent(project, "moon-central1"), service=_service("x"), service_id="a"
        )
    response = requests.post(
        f"{emu.base_url}/v2/{_parent(project)}/services?serviceId=a",
        headers=bearer(emu.base_url),
        json={"template": {"containers": [{"image": "x"}]}, "replicas": 3},
        timeout=5,
    )
    assert response.status_code == 400
    assert 'Unknown name "replicas"' in response.json()["error"]["message"]
    bad_enum = requests.post(
        f"{emu.base_url}/v2/{_parent(project)}/services?serviceId=a",
        headers=bearer(emu.base_url),
        json={"template": {"containers": [{"image": "x"}]}, "ingress": "INGRESS_TRAFFIC_SOME"},
        timeout=5,
    )
    assert bad_enum.status_code == 400


def test_an_image_missing_from_the_registry_fails_the_operation(enabled, project, dataplane):
    image = f"{REGION}-docker.pkg.dev/{project}/images/app:absent"
    op = _create(enabled, project, _service(image))
    with pytest.raises(gexc.GoogleAPICallError) as info:
        op.result(timeout=10)
    assert re.search(
        rf"Revision 'guide-00001-[a-z0-9]{{3}}' is not ready and cannot serve traffic. "
        rf"Image '{re.escape(image)}' not found.",
        info.value.message,
    )
    assert dataplane.started == []
    service = enabled.run_services.get_service(name=f"{_parent(project)}/services/guide")
    assert service.terminal_condition.state == State.CONDITION_FAILED
    assert "not found" in service.terminal_condition.message
    assert not service.uri
    assert not service.latest_ready_revision


def test_a_container_that_fails_to_start_fails_the_operation(enabled, emu, project, dataplane):
    dataplane.outcome = "failed"
    op = _create(enabled, project, _service(_publish(enabled, emu, project)))
    with pytest.raises(gexc.GoogleAPICallError) as info:
        op.result(timeout=10)
    assert (
        "The user-provided container failed to start and listen on the port defined provided "
        "by the PORT=8080 environment variable within the allocated timeout."
    ) in info.value.message
    assert "process exited with status 1" in info.value.message
    service = enabled.run_services.get_service(name=f"{_parent(project)}/services/guide")
    assert service.terminal_condition.state == State.CONDITION_FAILED
    assert not service.uri


def test_updates(enabled, emu, project, dataplane):
    client = enabled.run_services
    v1 = _publish(enabled, emu, project, "v1")
    v2 = _publish(enabled, emu, project, "v2", marker="second")
    first = _create(enabled, project, _service(v1, labels={"globalguide": "demo"})).result(
        timeout=10
    )
    name = first.name

    same = _service(v1, labels={"globalguide": "demo"})
    same.name = name
    unchanged = client.update_service(service=same).result(timeout=10)
    assert unchanged.generation == 1
    assert len(dataplane.started) == 1

    relabelled = _service(v1, labels={"globalguide": "other"})
    relabelled.name = name
    second = client.update_service(service=relabelled).result(timeout=10)
    assert second.generation == 2
    assert second.latest_ready_revision == first.latest_ready_revision
    assert len(dataplane.started) == 1

    ingress_only = _service(
        v1, labels={"globalguide": "other"}, ingress=Ingress.INGRESS_TRAFFIC_INTERNAL_ONLY
    )
    ingress_only.name = name
    client.update_service(service=ingress_only).result(timeout=10)
    assert dataplane.ingress == [(name, "INGRESS_TRAFFIC_INTERNAL_ONLY")]
    assert len(dataplane.started) == 1

    new_image = _service(
        v2, labels={"globalguide": "other"}, ingress=Ingress.INGRESS_TRAFFIC_INTERNAL_ONLY
    )
    new_image.name = name
    third = client.update_service(service=new_image).result(timeout=10)
    assert third.generation == 4
    assert re.search(r"/revisions/guide-00004-[a-z0-9]{3}$", third.latest_ready_revision)
    assert third.uri == dataplane.handles[1].uri
    assert dataplane.started[1]["image"].digest == emu.artifactregistry.resolve(v2)


def test_a_failed_new_revision_keeps_the_old_one_serving(enabled, emu, project, dataplane):
    client = enabled.run_services
    first = _create(enabled, project, _service(_publish(enabled, emu, project))).result(timeout=10)
    dataplane.outcome = "failed"
    update = _service(_publish(enabled, emu, project, "v2", marker="broken"))
    update.name = first.name
    with pytest.raises(gexc.GoogleAPICallError):
        client.update_service(service=update).result(timeout=10)
    current = client.get_service(name=first.name)
    assert current.latest_ready_revision == first.latest_ready_revision
    assert current.latest_created_revision != first.latest_created_revision
    assert current.uri == first.uri
    assert current.terminal_condition.state == State.CONDITION_FAILED


def test_update_mask_allow_missing_and_etags(enabled, emu, project, dataplane):
    client = enabled.run_services
    image = _publish(enabled, emu, project)
    name = f"{_parent(project)}/services/guide"
    missing = _service(image)
    missing.name = name
    with pytest.raises(gexc.NotFound, match=f'service "{name}" not found'):
        client.update_service(service=missing)
    created = client.update_service(
        request=run_v2.UpdateServiceRequest(service=missing, allow_missing=True)
    ).result(timeout=10)
    assert created.generation == 1

    partial = run_v2.Service(name=name, labels={"team": "guides"})
    masked = client.update_service(
        request=run_v2.UpdateServiceRequest(
            service=partial, update_mask=field_mask_pb2.FieldMask(paths=["labels"])
        )
    ).result(timeout=10)
    assert masked.labels == {"team": "guides"}
    assert masked.template.containers[0].image == image

    stale = _service(image)
    stale.name = name
    stale.etag = created.etag
    with pytest.raises(gexc.Conflict, match="etag"):
        client.update_service(service=stale)


def test_validate_only_changes_nothing(enabled, emu, project, dataplane):
    image = _publish(enabled, emu, project)
    op = enabled.run_services.create_service(
        request=run_v2.CreateServiceRequest(
            parent=_parent(project), service=_service(image), service_id="dry", validate_only=True
        )
    )
    assert op.result(timeout=10).template.containers[0].image == image
    with pytest.raises(gexc.NotFound):
        enabled.run_services.get_service(name=f"{_parent(project)}/services/dry")
    assert dataplane.started == []


def test_delete_removes_the_service_and_its_processes(enabled, emu, project, dataplane):
    created = _create(enabled, project, _service(_publish(enabled, emu, project))).result(
        timeout=10
    )
    deleted = enabled.run_services.delete_service(name=created.name).result(timeout=10)
    assert deleted.name == created.name
    assert dataplane.removed == [created.name]
    with pytest.raises(gexc.NotFound):
        enabled.run_services.get_service(name=created.name)
    assert emu.run.resource_count() == 0
    with pytest.raises(gexc.NotFound):
        enabled.run_services.delete_service(name=created.name)


def test_iam_policy_read_modify_write(enabled, emu, project, dataplane):
    client = enabled.run_services
    created = _create(enabled, project, _service(_publish(enabled, emu, project))).result(
        timeout=10
    )
    policy = client.get_iam_policy(
        request=iam_policy_pb2.GetIamPolicyRequest(resource=created.name)
    )
    assert list(policy.bindings) == []
    policy.bindings.append(policy_pb2.Binding(role="roles/run.invoker", members=["allUsers"]))
    stored = client.set_iam_policy(
        request=iam_policy_pb2.SetIamPolicyRequest(resource=created.name, policy=policy)
    )
    assert stored.bindings[0].members == ["allUsers"]
    assert stored.etag != policy.etag

    with pytest.raises(gexc.Conflict, match="There were concurrent policy changes"):
        client.set_iam_policy(
            request=iam_policy_pb2.SetIamPolicyRequest(resource=created.name, policy=policy)
        )
    bad_role = policy_pb2.Policy(
        bindings=[policy_pb2.Binding(role="roles/nope", members=["allUsers"])]
    )
    with pytest.raises(gexc.BadRequest, match="is not supported for this resource"):
        client.set_iam_policy(
            request=iam_policy_pb2.SetIamPolicyRequest(resource=created.name, policy=bad_role)
        )
    bad_member = policy_pb2.Policy(
        bindings=[policy_pb2.Binding(role="roles/run.invoker", members=["everyone"])]
    )
    with pytest.raises(gexc.BadRequest, match="principal"):
        client.set_iam_policy(
            request=iam_policy_pb2.SetIamPolicyRequest(resource=created.name, policy=bad_member)
        )
    allowed = client.test_iam_permissions(
        request=iam_policy_pb2.TestIamPermissionsRequest(
            resource=created.name, permissions=["run.routes.invoke", "compute.instances.list"]
        )
    )
    assert list(allowed.permissions) == ["run.routes.invoke"]
    with pytest.raises(gexc.NotFound):
        client.get_iam_policy(
            request=iam_policy_pb2.GetIamPolicyRequest(resource=f"{_parent(project)}/services/x")
        )


def test_operations_can_be_read_listed_waited_and_deleted(enabled, emu, project, dataplane):
    client = enabled.run_services
    op = _create(enabled, project, _service(_publish(enabled, emu, project)))
    op.result(timeout=10)
    name = op.operation.name
    assert name.startswith(f"{_parent(project)}/operations/")
    got = client.get_operation(request=operations_pb2.GetOperationRequest(name=name))
    assert got.done
    listed = client.list_operations(
        request=operations_pb2.ListOperationsRequest(name=_parent(project))
    )
    assert name in [o.name for o in listed.operations]
    waited = client.wait_operation(
        request=operations_pb2.WaitOperationRequest(
            name=name, timeout=duration_pb2.Duration(seconds=1)
        )
    )
    assert waited.done
    client.delete_operation(request=operations_pb2.DeleteOperationRequest(name=name))
    with pytest.raises(gexc.NotFound):
        client.get_operation(request=operations_pb2.GetOperationRequest(name=name))


def test_the_api_must_be_enabled(emu, clients, project, dataplane):
    with pytest.raises(gexc.Forbidden, match="Cloud Run Admin API has not been used"):
        _create(clients, project, _service("x"))


def test_a_deploy_takes_time_under_the_realistic_profile(tmp_path):
    with running_emulator(tmp_path, profile="realistic", time_scale=0.02) as (emu, clients):
        emu.dataplane = FakeDataPlane()
        image = _publish(clients, emu, emu.project)
        op = _create(clients, emu.project, _service(image))
        assert not op.done()
        during = clients.run_services.get_service(name=f"{_parent(emu.project)}/services/guide")
        assert during.reconciling
        assert during.terminal_condition.state == State.CONDITION_RECONCILING
        assert not during.uri
        assert op.metadata.name == during.name
        result = op.result(timeout=20)
        assert result.terminal_condition.state == State.CONDITION_SUCCEEDED


def test_a_revision_still_starting_holds_the_operation(enabled, emu, project, dataplane):
    dataplane.outcome = "starting"
    op = _create(enabled, project, _service(_publish(enabled, emu, project)))
    assert not op.done()
    handle = dataplane.handles[0]
    handle.status, handle.uri = "ready", "http://127.0.0.1:45678"
    assert op.result(timeout=10).uri == "http://127.0.0.1:45678"


def test_faulted_operations_start_no_process(tmp_path):
    with running_emulator(tmp_path, fault_rate=1.0, fault_seed=4) as (emu, clients):
        fake = FakeDataPlane()
        emu.dataplane = fake
        repo = f"projects/{emu.project}/locations/{REGION}/repositories/images"
        emu.artifactregistry.state.repos[repo] = {"name": repo, "format": "DOCKER"}
        image = emu.images.build(simple_context())
        emu.artifactregistry.record_image(repo, "app", "v1", image.digest)
        uri = f"{REGION}-docker.pkg.dev/{emu.project}/images/app:v1"
        seen_operation_fault = False
        for attempt in range(3):
            try:
                op = clients.run_services.create_service(
                    parent=_parent(emu.project),
                    service=_service(uri),
                    service_id=f"guide-{attempt}",
                    retry=None,
                )
            except gexc.GoogleAPICallError as exc:
                assert exc.code in (429, 503)
                continue
            with pytest.raises(gexc.GoogleAPICallError, match="transient"):
                op.result(timeout=10)
            seen_operation_fault = True
            failed = clients.run_services.get_service(
                name=f"{_parent(emu.project)}/services/guide-{attempt}"
            )
            assert failed.terminal_condition.state == State.CONDITION_FAILED
        assert seen_operation_fault
        assert fake.started == []


def test_a_failed_service_can_be_deleted_through_its_operation(enabled, project, dataplane):
    """Regression: the failed condition's reason was rendered as a name outside the
    client's enums ("ContainerMissing" as revisionReason), so the delete operation's
    metadata (the service) did not parse and every teardown of a failed service failed."""
    image = f"{REGION}-docker.pkg.dev/{project}/images/app:absent"
    with pytest.raises(gexc.GoogleAPICallError):
        _create(enabled, project, _service(image)).result(timeout=10)
    name = f"{_parent(project)}/services/guide"
    service = enabled.run_services.get_service(name=name)
    failed = [c for c in service.conditions if c.state == State.CONDITION_FAILED]
    assert run_v2.Condition.CommonReason.CONTAINER_MISSING in [c.reason for c in failed]
    enabled.run_services.delete_service(name=name).result(timeout=10)
    with pytest.raises(gexc.NotFound):
        enabled.run_services.get_service(name=name)


# -- the v2 sweep: rules found in the run_v2 docstrings and the Cloud Run limits pages --------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"env": {"E" * 32769: "v"}}, "must not exceed 32768 characters"),
        ({"env": {"BIG": "v" * 32769}}, "must not exceed 32768 bytes"),
        (
            {"resources": run_v2.ResourceRequirements(limits={"cpu": "0.085"})},
            "in steps of 0.01",
        ),
        (
            {
                "resources": run_v2.ResourceRequirements(limits={"cpu": "0.5", "memory": "1Gi"}),
                "template": {"max_instance_request_concurrency": 1},
            },
            "1Gi needs at least 0.583 CPU",
        ),
        (
            {"resources": run_v2.ResourceRequirements(limits={"cpu": "1", "memory": "6Gi"})},
            "6Gi needs at least 2 CPU",
        ),
        (
            {
                "resources": run_v2.ResourceRequirements(limits={"cpu": "1", "memory": "256Mi"}),
                "template": {
                    "execution_environment": run_v2.ExecutionEnvironment.EXECUTION_ENVIRONMENT_GEN2
                },
            },
            "memory must be between 512Mi and 4Gi",
        ),
        (
            {"template": {"revision": "other-00001-abc"}},
            "must be prefixed with the name of the enclosing Service",
        ),
        ({"template": {"revision": "guide-Bad_Name"}}, "must be prefixed"),
    ],
)
def test_more_container_and_revision_rules(enabled, project, dataplane, fields, message):
    with pytest.raises(gexc.BadRequest, match=re.escape(message)):
        _create(enabled, project, _service("x", **fields))


def test_first_generation_takes_128_mib(enabled, emu, project, dataplane):
    image = _publish(enabled, emu, project)
    gen1 = run_v2.ExecutionEnvironment.EXECUTION_ENVIRONMENT_GEN1
    service = _service(
        image,
        resources=run_v2.ResourceRequirements(limits={"cpu": "0.17", "memory": "256Mi"}),
        template={"execution_environment": gen1, "max_instance_request_concurrency": 1},
    )
    created = _create(enabled, project, service).result(timeout=10)
    assert created.template.containers[0].resources.limits["memory"] == "256Mi"


def test_a_named_revision_is_used_and_cannot_be_reused(enabled, emu, project, dataplane):
    image = _publish(enabled, emu, project)
    service = _service(image, template={"revision": "guide-first"})
    created = _create(enabled, project, service).result(timeout=10)
    assert created.latest_created_revision.endswith("/revisions/guide-first")
    changed = _service(
        image, env={"SERVICE_REGION": "elsewhere"}, template={"revision": "guide-first"}
    )
    changed.name = created.name
    with pytest.raises(gexc.Conflict, match="Revision named 'guide-first'"):
        enabled.run_services.update_service(service=changed)


def _account(project: str) -> str:
    return f"guide-runtime@{project}.iam.gserviceaccount.com"


def test_a_missing_service_account_is_an_act_as_denial(enabled, emu, project, dataplane):
    service = _service("x", template={"service_account": _account(project)})
    with pytest.raises(gexc.Forbidden) as caught:
        _create(enabled, project, service)
    assert caught.value.message.endswith(
        f": Permission 'iam.serviceaccounts.actAs' denied on service account {_account(project)} "
        "(or it may not exist)."
    )
    assert enabled.run_services.list_services(parent=_parent(project)).services == []


def test_an_account_iam_does_not_show_yet_is_refused_until_it_does(
    enabled, emu, project, dataplane, monkeypatch
):
    """Under the realistic profile IAM tells Cloud Run when a new account becomes visible."""
    visible = {"now": False}
    seen = []

    def account_visible(email):
        seen.append(email)
        return visible["now"]

    monkeypatch.setattr(emu.iam, "visible", account_visible)
    image = _publish(enabled, emu, project)
    service = _service(image, template={"service_account": _account(project)})
    with pytest.raises(gexc.Forbidden, match="iam.serviceaccounts.actAs"):
        _create(enabled, project, service)
    visible["now"] = True
    created = _create(enabled, project, service).result(timeout=10)
    assert created.template.service_account == _account(project)
    assert seen == [_account(project)] * 2


def test_a_service_a_neg_points_at_can_be_deleted(enabled, emu, project, dataplane):
    from google.cloud import compute_v1

    image = _publish(enabled, emu, project)
    _create(enabled, project, _service(image)).result(timeout=10)
    neg = compute_v1.NetworkEndpointGroup(
        name="guide-neg",
        network_endpoint_type="SERVERLESS",
        cloud_run=compute_v1.NetworkEndpointGroupCloudRun(service="guide"),
    )
    enabled.region_negs.insert(
        project=project, region=REGION, network_endpoint_group_resource=neg
    ).result(timeout=30)
    name = f"{_parent(project)}/services/guide"
    enabled.run_services.delete_service(name=name).result(timeout=30)
    with pytest.raises(gexc.NotFound):
        enabled.run_services.get_service(name=name)
