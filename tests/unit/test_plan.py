"""Planning without a cloud: the desired graph, the diff, and the order of steps."""

from __future__ import annotations

import pytest

from globalguide.cloud import plan as planning
from globalguide.cloud.plan import CREATE, DELETE, REPAIR, UNCHANGED, UPDATE
from globalguide.cloud.source import make_context
from globalguide.spec import DeploySpec


@pytest.fixture
def context(tmp_path):
    (tmp_path / "app.py").write_text("print('hi')\n")
    return make_context(tmp_path)


@pytest.fixture
def spec():
    return DeploySpec(project="demo-project-1", model="gemini-3.8-flash")


def fake_remote(monkeypatch, state: dict, regions=()):
    monkeypatch.setattr(planning, "read_all", lambda rs, c: {r.key: state.get(r.key) for r in rs})
    monkeypatch.setattr(
        planning, "discover", lambda s, c: planning.Found(frozenset(regions), frozenset())
    )


def test_everything_is_created_on_an_empty_project(monkeypatch, spec, context):
    fake_remote(monkeypatch, {})
    p = planning.plan_deploy(spec, None, context)
    assert {s.action for s in p.steps} == {CREATE}
    kinds = sorted(s.resource.kind for s in p.steps)
    assert kinds.count("run-service") == 3 and kinds.count("neg") == 3
    waits = {s.key: set(s.waits_for) for s in p.steps}
    neg = next(s for s in p.steps if s.resource.kind == "neg")
    assert not any("run-service" in k or "image" in k for k in waits[neg.key])
    backend = next(s for s in p.steps if s.resource.kind == "backend-service")
    assert all(k.startswith("neg/") for k in waits[backend.key])
    rule = next(s for s in p.steps if s.resource.kind == "forwarding-rule")
    assert {k.split("/")[0] for k in waits[rule.key]} == {"http-proxy", "address"}


def healthy(service):
    """A Cloud Run service as a read returns it once Ready on its latest revision."""
    from google.cloud import run_v2

    current = service.desired()
    current.terminal_condition.state = run_v2.Condition.State.CONDITION_SUCCEEDED
    path = f"projects/p/locations/{service.region}/revisions/{service.name}-00001-abc"
    current.latest_created_revision = current.latest_ready_revision = path
    return current


def as_deployed(resources) -> dict:
    """Current state equal to the desired state (the bucket and image left missing)."""
    from globalguide.cloud.names import REQUIRED_APIS

    state = {}
    for r in resources:
        if r.kind == "apis":
            state[r.key] = list(REQUIRED_APIS)
        elif r.kind == "run-service":
            state[r.key] = healthy(r)
        elif r.kind not in ("bucket", "image"):
            state[r.key] = r.desired()
    return state


def test_unchanged_resources_cost_nothing(monkeypatch, spec, context):
    resources, _ = planning.desired_resources(spec, context)
    fake_remote(monkeypatch, as_deployed(resources))
    p = planning.plan_deploy(spec, None, context)
    actions = {s.resource.kind: s.action for s in p.steps}
    assert actions["run-service"] == UNCHANGED
    assert actions["backend-service"] == UNCHANGED
    assert actions["url-map"] == UNCHANGED
    assert actions["forwarding-rule"] == UNCHANGED
    assert actions["image"] == CREATE


def test_a_changed_setting_is_an_update(monkeypatch, spec, context):
    resources, _ = planning.desired_resources(spec, context)
    service = next(r for r in resources if r.kind == "run-service")
    current = healthy(service)
    current.template.scaling.max_instance_count = 99
    fake_remote(monkeypatch, {service.key: current})
    p = planning.plan_deploy(spec, None, context)
    assert p.step(service.key).action == UPDATE


def test_a_service_whose_ready_condition_failed_is_repaired(monkeypatch, spec, context):
    from google.cloud import run_v2

    resources, _ = planning.desired_resources(spec, context)
    state = as_deployed(resources)
    service = next(r for r in resources if r.kind == "run-service")
    broken = state[service.key]
    broken.terminal_condition.state = run_v2.Condition.State.CONDITION_FAILED
    broken.terminal_condition.message = "The operation failed because of a transient error."
    fake_remote(monkeypatch, state)
    p = planning.plan_deploy(spec, None, context)
    step = p.step(service.key)
    assert step.action == REPAIR
    assert "transient error" in step.reason
    row = next(r for r in p.rows() if r["kind"] == "run-service" and r["action"] == REPAIR)
    assert row["reason"] == step.reason
    done = next(r for r in p.rows(done=True) if r.get("reason"))
    assert done["action"] == "repaired"


def test_a_service_whose_latest_revision_never_became_ready_is_repaired(monkeypatch, spec, context):
    resources, _ = planning.desired_resources(spec, context)
    state = as_deployed(resources)
    service = next(r for r in resources if r.kind == "run-service")
    state[service.key].latest_created_revision = "projects/p/locations/x/revisions/s-00002-new"
    fake_remote(monkeypatch, state)
    step = planning.plan_deploy(spec, None, context).step(service.key)
    assert step.action == REPAIR
    assert step.reason == "latest revision s-00002-new is not ready"


def test_a_new_region_joins_the_backend_only_once_its_service_is_up(monkeypatch, spec, context):
    from dataclasses import replace

    two = replace(spec, regions=("us-central1", "europe-west1"))
    deployed, _ = planning.desired_resources(two, context)
    fake_remote(monkeypatch, as_deployed(deployed), regions={"us-central1", "europe-west1"})
    p = planning.plan_deploy(spec, None, context)
    backend = p.step("backend-service/global/local-guide-backend")
    assert backend.action == UPDATE
    assert "run-service/asia-northeast1/local-guide" in backend.waits_for


def test_a_region_no_longer_wanted_is_swept(monkeypatch, spec, context):
    from dataclasses import replace

    two = replace(spec, regions=("us-central1", "europe-west1"))
    everything, _ = planning.desired_resources(spec, context)
    fake_remote(monkeypatch, as_deployed(everything), regions={"asia-northeast1"})
    p = planning.plan_deploy(two, None, context)
    backend = p.step("backend-service/global/local-guide-backend")
    assert backend.action == UPDATE
    deletes = {s.key for s in p.steps if s.action == DELETE}
    assert "run-service/asia-northeast1/local-guide" in deletes
    assert "neg/asia-northeast1/local-guide-neg" in deletes
    neg_delete = p.step("neg/asia-northeast1/local-guide-neg")
    assert "backend-service/global/local-guide-backend" in neg_delete.waits_for


def test_teardown_goes_level_by_level(monkeypatch, spec, context):
    everything = planning.every_possible_resource(spec, context, set(spec.regions))
    fake_remote(monkeypatch, {r.key: object() for r in everything})
    p = planning.plan_teardown(spec, None, context, keep_images=False)
    by_key = {s.key: s for s in p.steps}
    assert all(s.action == DELETE for s in p.steps)
    assert not any(s.resource.kind == "apis" for s in p.steps)
    rule = by_key["forwarding-rule/global/local-guide-http"]
    assert rule.waits_for == []
    url_map = by_key["url-map/global/local-guide-urlmap"]
    assert "http-proxy/global/local-guide-http-proxy" in url_map.waits_for
    neg = by_key["neg/europe-west1/local-guide-neg"]
    assert "backend-service/global/local-guide-backend" in neg.waits_for


def test_keep_images_keeps_the_repository(monkeypatch, spec, context):
    everything = planning.every_possible_resource(spec, context, set(spec.regions))
    fake_remote(monkeypatch, {r.key: object() for r in everything})
    kinds = {
        s.resource.kind for s in planning.plan_teardown(spec, None, context, keep_images=True).steps
    }
    assert "repository" not in kinds and "image" not in kinds


def test_context_is_deterministic(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    first = make_context(tmp_path)
    assert make_context(tmp_path) == first
    (tmp_path / "a.txt").write_text("y")
    assert make_context(tmp_path).tag != first.tag
