"""Cloud Run services: created, read, updated and deleted, their revisions brought up or failed."""

from __future__ import annotations

import re

import pytest
from google.api_core import exceptions as gexc
from google.cloud import run_v2
from google.protobuf import field_mask_pb2

from tests.emulator.run.support import (
    REGION,
    Ingress,
    State,
    create_service,
    parent_of,
    publish,
    service_with,
)


def test_create_brings_a_revision_up_through_the_data_plane(enabled, emu, project, dataplane):
    image = publish(enabled, emu, project)
    service = service_with(
        image,
        labels={"globalguide": "demo"},
        ingress=Ingress.INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER,
        env={"SERVICE_REGION": REGION, "GEMINI_MODEL": "gemini-x"},
    )
    op = create_service(enabled, project, service)
    result = op.result(timeout=10)
    name = f"{parent_of(project)}/services/guide"

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
    assert re.fullmatch(rf"{parent_of(project)}/revisions/guide-00001-[a-z0-9]{{3}}", revision)
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
    assert [s.name for s in enabled.run_services.list_services(parent=parent_of(project))] == [name]


def test_creating_an_existing_service_is_a_conflict(enabled, emu, project, dataplane):
    image = publish(enabled, emu, project)
    create_service(enabled, project, service_with(image)).result(timeout=10)
    with pytest.raises(gexc.Conflict, match="Resource 'guide' already exists."):
        create_service(enabled, project, service_with(image))


def test_an_image_missing_from_the_registry_fails_the_operation(enabled, project, dataplane):
    image = f"{REGION}-docker.pkg.dev/{project}/images/app:absent"
    op = create_service(enabled, project, service_with(image))
    with pytest.raises(gexc.GoogleAPICallError) as info:
        op.result(timeout=10)
    assert re.search(
        rf"Revision 'guide-00001-[a-z0-9]{{3}}' is not ready and cannot serve traffic. "
        rf"Image '{re.escape(image)}' not found.",
        info.value.message,
    )
    assert dataplane.started == []
    service = enabled.run_services.get_service(name=f"{parent_of(project)}/services/guide")
    assert service.terminal_condition.state == State.CONDITION_FAILED
    assert "not found" in service.terminal_condition.message
    assert not service.uri
    assert not service.latest_ready_revision


def test_a_container_that_fails_to_start_fails_the_operation(enabled, emu, project, dataplane):
    dataplane.outcome = "failed"
    op = create_service(enabled, project, service_with(publish(enabled, emu, project)))
    with pytest.raises(gexc.GoogleAPICallError) as info:
        op.result(timeout=10)
    assert (
        "The user-provided container failed to start and listen on the port defined provided "
        "by the PORT=8080 environment variable within the allocated timeout."
    ) in info.value.message
    assert "process exited with status 1" in info.value.message
    service = enabled.run_services.get_service(name=f"{parent_of(project)}/services/guide")
    assert service.terminal_condition.state == State.CONDITION_FAILED
    assert not service.uri


def test_updates(enabled, emu, project, dataplane):
    client = enabled.run_services
    v1 = publish(enabled, emu, project, "v1")
    v2 = publish(enabled, emu, project, "v2", marker="second")
    first = create_service(
        enabled, project, service_with(v1, labels={"globalguide": "demo"})
    ).result(timeout=10)
    name = first.name

    same = service_with(v1, labels={"globalguide": "demo"})
    same.name = name
    unchanged = client.update_service(service=same).result(timeout=10)
    assert unchanged.generation == 1
    assert len(dataplane.started) == 1

    relabelled = service_with(v1, labels={"globalguide": "other"})
    relabelled.name = name
    second = client.update_service(service=relabelled).result(timeout=10)
    assert second.generation == 2
    assert second.latest_ready_revision == first.latest_ready_revision
    assert len(dataplane.started) == 1

    ingress_only = service_with(
        v1, labels={"globalguide": "other"}, ingress=Ingress.INGRESS_TRAFFIC_INTERNAL_ONLY
    )
    ingress_only.name = name
    client.update_service(service=ingress_only).result(timeout=10)
    assert dataplane.ingress == [(name, "INGRESS_TRAFFIC_INTERNAL_ONLY")]
    assert len(dataplane.started) == 1

    new_image = service_with(
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
    first = create_service(enabled, project, service_with(publish(enabled, emu, project))).result(
        timeout=10
    )
    dataplane.outcome = "failed"
    update = service_with(publish(enabled, emu, project, "v2", marker="broken"))
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
    image = publish(enabled, emu, project)
    name = f"{parent_of(project)}/services/guide"
    missing = service_with(image)
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

    stale = service_with(image)
    stale.name = name
    stale.etag = created.etag
    with pytest.raises(gexc.Conflict, match="etag"):
        client.update_service(service=stale)


def test_validate_only_changes_nothing(enabled, emu, project, dataplane):
    image = publish(enabled, emu, project)
    op = enabled.run_services.create_service(
        request=run_v2.CreateServiceRequest(
            parent=parent_of(project),
            service=service_with(image),
            service_id="dry",
            validate_only=True,
        )
    )
    assert op.result(timeout=10).template.containers[0].image == image
    with pytest.raises(gexc.NotFound):
        enabled.run_services.get_service(name=f"{parent_of(project)}/services/dry")
    assert dataplane.started == []


def test_delete_removes_the_service_and_its_processes(enabled, emu, project, dataplane):
    created = create_service(enabled, project, service_with(publish(enabled, emu, project))).result(
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


def test_a_failed_service_can_be_deleted_through_its_operation(enabled, project, dataplane):
    """Regression: the failed condition's reason was rendered as a name outside the
    client's enums ("ContainerMissing" as revisionReason), so the delete operation's
    metadata (the service) did not parse and every teardown of a failed service failed."""
    image = f"{REGION}-docker.pkg.dev/{project}/images/app:absent"
    with pytest.raises(gexc.GoogleAPICallError):
        create_service(enabled, project, service_with(image)).result(timeout=10)
    name = f"{parent_of(project)}/services/guide"
    service = enabled.run_services.get_service(name=name)
    failed = [c for c in service.conditions if c.state == State.CONDITION_FAILED]
    assert run_v2.Condition.CommonReason.CONTAINER_MISSING in [c.reason for c in failed]
    enabled.run_services.delete_service(name=name).result(timeout=10)
    with pytest.raises(gexc.NotFound):
        enabled.run_services.get_service(name=name)


def test_a_named_revision_is_used_and_cannot_be_reused(enabled, emu, project, dataplane):
    image = publish(enabled, emu, project)
    service = service_with(image, template={"revision": "guide-first"})
    created = create_service(enabled, project, service).result(timeout=10)
    assert created.latest_created_revision.endswith("/revisions/guide-first")
    changed = service_with(
        image, env={"SERVICE_REGION": "elsewhere"}, template={"revision": "guide-first"}
    )
    changed.name = created.name
    with pytest.raises(gexc.Conflict, match="Revision named 'guide-first'"):
        enabled.run_services.update_service(service=changed)


def test_a_service_a_neg_points_at_can_be_deleted(enabled, emu, project, dataplane):
    from google.cloud import compute_v1

    image = publish(enabled, emu, project)
    create_service(enabled, project, service_with(image)).result(timeout=10)
    neg = compute_v1.NetworkEndpointGroup(
        name="guide-neg",
        network_endpoint_type="SERVERLESS",
        cloud_run=compute_v1.NetworkEndpointGroupCloudRun(service="guide"),
    )
    enabled.region_negs.insert(
        project=project, region=REGION, network_endpoint_group_resource=neg
    ).result(timeout=30)
    name = f"{parent_of(project)}/services/guide"
    enabled.run_services.delete_service(name=name).result(timeout=30)
    with pytest.raises(gexc.NotFound):
        enabled.run_services.get_service(name=name)
