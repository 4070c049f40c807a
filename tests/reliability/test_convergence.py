"""Changes under continuous probing, against the realistic profile scaled down: a rollout, a
region added and a region removed drop no request; a repair makes a broken region serve;
a drill fails a region over and back, and `status` shows it while it fails."""

from __future__ import annotations

from dataclasses import replace

import pytest
from google.cloud import run_v2

from globalguide.cloud import deployment, drill
from globalguide.cloud.clients import CloudClients
from globalguide.cloud.plan import REPAIR
from globalguide.emulator.server import Emulator, EmulatorConfig, EmulatorServer
from globalguide.spec import DeploySpec
from tests.reliability.probing import Prober
from tests.reliability.support import control

pytestmark = pytest.mark.slow

# Operations and load-balancer propagation at 2% of their realistic durations: the config
# propagation (120 s) becomes 2.4 s, long enough to drop requests if a region's service were
# deleted before its NEG left the edge.
TIME_SCALE = 0.02


@pytest.fixture(scope="module")
def realistic(tmp_path_factory):
    config = EmulatorConfig(
        state_dir=tmp_path_factory.mktemp("converge-emulator"),
        profile="realistic",
        time_scale=TIME_SCALE,
    )
    server = EmulatorServer(Emulator(config)).start()
    yield server
    server.stop()


def deploy(spec: DeploySpec, clients: CloudClients) -> dict:
    return deployment.apply_deploy(deployment.make_plan(spec, clients), clients)


def test_rollout_add_and_remove_drop_no_request(realistic):
    clients = CloudClients(realistic.emulator.project, endpoint=realistic.endpoint)
    two = DeploySpec(
        project=clients.project, local=True, regions=("us-central1", "europe-west1")
    ).validated()
    first = deploy(two, clients)
    assert [r["status"] for r in first["regions"]] == ["serving", "serving"]
    three = replace(two, regions=(*two.regions, "asia-northeast1"))
    with Prober(first["url"], list(three.regions), max_s=240) as prober:
        prober.phase()
        # (a) a new revision everywhere (a changed setting)
        deploy(replace(two, concurrency=two.concurrency + 1), clients)
        rollout = prober.phase()
        # (b) a region added
        added = deploy(replace(three, concurrency=two.concurrency + 1), clients)
        add = prober.phase()
        # (c) a region removed: drained from the edge before its service is deleted
        removed = deploy(
            replace(
                three, regions=("us-central1", "asia-northeast1"), concurrency=two.concurrency + 1
            ),
            clients,
        )
        remove = prober.phase()
    for name, tally in (("rollout", rollout), ("add", add), ("remove", remove)):
        assert tally.requests > 0, name
        assert tally.failed == 0, (name, tally.failures)
    assert {r["region"]: r["served_from_region"] for r in added["regions"]} == {
        r: r for r in three.regions
    }
    assert removed["drained_s"] >= 120 * TIME_SCALE * 0.5
    edge = clients.target.edge(two)
    assert edge["regions"] == ["asia-northeast1", "us-central1"]


def test_a_broken_region_is_planned_as_repair_and_repaired(realistic):
    clients = CloudClients(realistic.emulator.project, endpoint=realistic.endpoint)
    spec = DeploySpec(
        project=clients.project, local=True, regions=("us-central1", "asia-northeast1")
    ).validated()
    deploy(spec, clients)
    path = f"projects/{clients.project}/locations/asia-northeast1/services/local-guide"
    service = clients.run_services.get_service(name=path)
    service.template.containers[0].image = service.template.containers[0].image + "-missing"
    with pytest.raises(Exception, match="not found"):
        clients.run_services.update_service(service=service).result(timeout=60)
    status = deployment.status(spec, clients)
    broken = next(r for r in status["regions"] if r["region"] == "asia-northeast1")
    assert broken["ready"] is False and broken["reason"]
    plan = deployment.make_plan(spec, clients)
    step = plan.step("run-service/asia-northeast1/local-guide")
    assert step.action == REPAIR and "not ready" in step.reason
    document = deployment.apply_deploy(plan, clients)
    assert [r["status"] for r in document["regions"]] == ["serving", "serving"]
    healed = clients.run_services.get_service(name=path)
    assert healed.terminal_condition.state == run_v2.Condition.State.CONDITION_SUCCEEDED
    assert healed.latest_ready_revision == healed.latest_created_revision


def test_drill_fails_over_and_recovers_and_status_shows_it(realistic):
    clients = CloudClients(realistic.emulator.project, endpoint=realistic.endpoint)
    spec = DeploySpec(
        project=clients.project, local=True, regions=("us-central1", "asia-northeast1")
    ).validated()
    deploy(spec, clients)
    control(realistic.endpoint, "drill", {"region": "asia-northeast1"})
    try:
        shown = deployment.status(spec, clients)
        tokyo = next(r for r in shown["regions"] if r["region"] == "asia-northeast1")
        assert tokyo["failing"].startswith("drill")
        assert tokyo["answers"] is False
    finally:
        control(realistic.endpoint, "drill", {"region": "asia-northeast1", "failing": False})
    # Let the ejection the status probe may have caused expire before measuring.
    report = drill.run_drill(spec, clients, "asia-northeast1", phase_s=150)
    assert report["expected_fallback"] == "us-central1"
    assert report["failover"]["seconds"] is not None
    assert report["failover"]["failed_requests"] >= 1
    assert set(report["failover"]["served_by"].values()) == {"us-central1"}
    assert report["recovery"]["seconds"] is not None
    assert set(report["recovery"]["served_by"].values()) == {"asia-northeast1"}
    assert report["outlier_detection"]["consecutive_gateway_failure"] == 3
    assert control(realistic.endpoint, "drill")["failingRegions"] == []
