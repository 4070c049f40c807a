"""Cloud Run operations: read, listed, waited and deleted; their timing and injected faults."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.longrunning import operations_pb2
from google.protobuf import duration_pb2

from tests.emulator.fakes import FakeDataPlane, running_emulator, simple_context
from tests.emulator.run.support import (
    REGION,
    State,
    create_service,
    parent_of,
    publish,
    service_with,
)


def test_operations_can_be_read_listed_waited_and_deleted(enabled, emu, project, dataplane):
    client = enabled.run_services
    op = create_service(enabled, project, service_with(publish(enabled, emu, project)))
    op.result(timeout=10)
    name = op.operation.name
    assert name.startswith(f"{parent_of(project)}/operations/")
    got = client.get_operation(request=operations_pb2.GetOperationRequest(name=name))
    assert got.done
    listed = client.list_operations(
        request=operations_pb2.ListOperationsRequest(name=parent_of(project))
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
        create_service(clients, project, service_with("x"))


def test_a_deploy_takes_time_under_the_realistic_profile(tmp_path):
    with running_emulator(tmp_path, profile="realistic", time_scale=0.02) as (emu, clients):
        emu.dataplane = FakeDataPlane()
        image = publish(clients, emu, emu.project)
        op = create_service(clients, emu.project, service_with(image))
        assert not op.done()
        during = clients.run_services.get_service(name=f"{parent_of(emu.project)}/services/guide")
        assert during.reconciling
        assert during.terminal_condition.state == State.CONDITION_RECONCILING
        assert not during.uri
        assert op.metadata.name == during.name
        result = op.result(timeout=20)
        assert result.terminal_condition.state == State.CONDITION_SUCCEEDED


def test_a_revision_still_starting_holds_the_operation(enabled, emu, project, dataplane):
    dataplane.outcome = "starting"
    op = create_service(enabled, project, service_with(publish(enabled, emu, project)))
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
                    parent=parent_of(emu.project),
                    service=service_with(uri),
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
                name=f"{parent_of(emu.project)}/services/guide-{attempt}"
            )
            assert failed.terminal_condition.state == State.CONDITION_FAILED
        assert seen_operation_fault
        assert fake.started == []
