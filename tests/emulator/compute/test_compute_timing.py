"""Compute operations that take time (realistic profile) and injected faults, each against an
emulator of its own."""

from __future__ import annotations

import time

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from globalguide.cloud.clients import CloudClients
from globalguide.emulator.core.operations import FaultInjector
from globalguide.emulator.server import Emulator, EmulatorConfig, EmulatorServer
from globalguide.emulator.session import bearer
from tests.emulator.compute.test_compute import P, backend_service, serverless_neg
from tests.emulator.compute.test_compute_instances import ZONE, instance

DONE = compute_v1.Operation.Status.DONE
REGIONS = ("us-central1", "europe-west1", "asia-northeast1")


def start(tmp_path, **config) -> EmulatorServer:
    server = EmulatorServer(Emulator(EmulatorConfig(state_dir=tmp_path, **config))).start()
    server.emulator.serviceusage.set_enabled(["compute.googleapis.com"])
    return server


@pytest.fixture
def realistic(tmp_path):
    server = start(tmp_path, profile="realistic", time_scale=0.01)
    yield server, CloudClients(P, endpoint=server.endpoint)
    server.stop()


def poll(read, until, timeout: float = 10.0) -> list:
    """Call ``read`` until ``until(value)``; every value seen, in order (bounded wait)."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = read()
        seen.append(value)
        if until(value):
            return seen
        time.sleep(0.01)
    raise AssertionError(f"no final value within {timeout}s; saw {seen[-3:]}")


def test_operation_takes_time_and_the_resource_appears_when_it_is_done(realistic):
    server, c = realistic
    for region in REGIONS:
        op = c.region_negs.insert_unary(
            project=P, region=region, network_endpoint_group_resource=serverless_neg()
        )
        c.region_operations.wait(project=P, region=region, operation=op.name)

    op = c.backend_services.insert_unary(project=P, backend_service_resource=backend_service())
    assert op.status == compute_v1.Operation.Status.PENDING
    with pytest.raises(gexc.NotFound):  # not readable while its insert runs
        c.backend_services.get(project=P, backend_service="bs")
    with pytest.raises(gexc.Conflict):  # yet the name is taken
        c.backend_services.insert(project=P, backend_service_resource=backend_service())
    statuses = poll(
        lambda: c.global_operations.get(project=P, operation=op.name).status,
        lambda status: status == DONE,
    )
    assert compute_v1.Operation.Status.RUNNING in statuses
    assert c.backend_services.get(project=P, backend_service="bs").name == "bs"

    gone = c.backend_services.delete_unary(project=P, backend_service="bs")
    assert gone.status != DONE
    c.backend_services.get(project=P, backend_service="bs")  # still there while deleting
    c.global_operations.wait(project=P, operation=gone.name)
    with pytest.raises(gexc.NotFound):
        c.backend_services.get(project=P, backend_service="bs")


def test_result_waits_for_global_regional_and_zonal_operations(realistic):
    _, c = realistic
    c.global_addresses.insert(project=P, address_resource=compute_v1.Address(name="ip")).result(
        timeout=30
    )
    c.region_negs.insert(
        project=P, region="us-central1", network_endpoint_group_resource=serverless_neg()
    ).result(timeout=30)
    c.instances.insert(project=P, zone=ZONE, instance_resource=instance()).result(timeout=30)
    assert c.global_addresses.get(project=P, address="ip").status == "RESERVED"
    assert c.instances.get(project=P, zone=ZONE, instance="probe").status == "RUNNING"


def test_instance_goes_provisioning_staging_running(tmp_path):
    # A VM takes 25 s under the realistic profile: 1 s here, half PROVISIONING, half STAGING.
    server = start(tmp_path, profile="realistic", time_scale=0.04)
    try:
        _instance_lifecycle(CloudClients(P, endpoint=server.endpoint))
    finally:
        server.stop()


def _instance_lifecycle(c) -> None:
    op = c.instances.insert_unary(project=P, zone=ZONE, instance_resource=instance())
    statuses = poll(
        lambda: c.instances.get(project=P, zone=ZONE, instance="probe").status,
        lambda status: status == "RUNNING",
    )
    assert statuses[0] == "PROVISIONING"
    assert "STAGING" in statuses
    assert statuses == sorted(statuses, key=["PROVISIONING", "STAGING", "RUNNING"].index)
    assert c.zone_operations.wait(project=P, zone=ZONE, operation=op.name).status == DONE
    gone = c.instances.delete_unary(project=P, zone=ZONE, instance="probe")
    assert c.instances.get(project=P, zone=ZONE, instance="probe").status == "STOPPING"
    c.zone_operations.wait(project=P, zone=ZONE, operation=gone.name)
    with pytest.raises(gexc.NotFound):
        c.instances.get(project=P, zone=ZONE, instance="probe")


# ------------------------------------------------------------------ faults
ADDRESSES = f"/compute/v1/projects/{P}/global/addresses"


def predicted(seed: int, path: str, count: int) -> list[str]:
    """The fault kinds the emulator's injector will pick for ``count`` POSTs to ``path``."""
    injector = FaultInjector(1.0, seed)
    return [injector.decide("POST", path, has_operation=True) for _ in range(count)]


def outcome(call) -> str:
    try:
        op = call()
    except gexc.GoogleAPICallError as exc:
        return type(exc).__name__
    try:
        op.result(timeout=30)
    except gexc.GoogleAPICallError as exc:
        return f"operation:{type(exc).__name__}"
    return "ok"


EXPECTED = {
    "429": "TooManyRequests",
    "503": "ServiceUnavailable",
    "operation": "operation:ServiceUnavailable",
}


def test_each_fault_kind_surfaces_as_the_right_exception(tmp_path):
    seed = 7
    kinds = predicted(seed, ADDRESSES, 12)
    assert {"429", "503", "operation"} <= set(kinds), "pick a seed that shows every kind"
    server = start(tmp_path, fault_rate=1.0, fault_seed=seed)
    try:
        c = CloudClients(P, endpoint=server.endpoint)
        seen = [
            outcome(
                lambda i=i: c.global_addresses.insert(
                    project=P, address_resource=compute_v1.Address(name=f"ip{i}")
                )
            )
            for i in range(len(kinds))
        ]
        assert seen == [EXPECTED[k] for k in kinds]
        assert server.emulator.compute.resource_count() == 0
        server.emulator.faults.rate = 0.0
        # The names of failed inserts are free again.
        c.global_addresses.insert(
            project=P, address_resource=compute_v1.Address(name="ip0")
        ).result(timeout=30)
    finally:
        server.stop()


@pytest.mark.parametrize("scope", ["regions", "zones"])
def test_failed_regional_and_zonal_operations_raise_from_result(tmp_path, scope):
    seed = 11
    if scope == "regions":
        path = f"/compute/v1/projects/{P}/regions/us-central1/networkEndpointGroups"
    else:
        path = f"/compute/v1/projects/{P}/zones/{ZONE}/instances"
    kinds = predicted(seed, path, 20)
    first_operation_fault = kinds.index("operation")
    server = start(tmp_path, fault_rate=1.0, fault_seed=seed)
    try:
        c = CloudClients(P, endpoint=server.endpoint)

        def call(i: int):
            if scope == "regions":
                return c.region_negs.insert(
                    project=P,
                    region="us-central1",
                    network_endpoint_group_resource=serverless_neg(name=f"neg{i}"),
                )
            return c.instances.insert(project=P, zone=ZONE, instance_resource=instance(f"vm{i}"))

        seen = [outcome(lambda i=i: call(i)) for i in range(first_operation_fault + 1)]
        assert seen == [EXPECTED[k] for k in kinds[: first_operation_fault + 1]]
        assert server.emulator.compute.resource_count() == 0
    finally:
        server.stop()


def test_same_seed_same_faults(tmp_path):
    def run(directory) -> tuple[list[str], list[dict]]:
        server = start(directory, fault_rate=0.5, fault_seed=42)
        try:
            c = CloudClients(P, endpoint=server.endpoint)
            results = []
            for i in range(8):
                results.append(
                    outcome(
                        lambda i=i: c.global_addresses.insert(
                            project=P, address_resource=compute_v1.Address(name=f"ip{i}")
                        )
                    )
                )
            injected = requests.get(
                f"{server.endpoint}/_emulator/faults", headers=bearer(server.endpoint), timeout=5
            ).json()
            return results, injected["injected"]
        finally:
            server.stop()

    first = run(tmp_path / "a")
    second = run(tmp_path / "b")
    assert first == second
    assert any(r != "ok" for r in first[0]) and "ok" in first[0]
