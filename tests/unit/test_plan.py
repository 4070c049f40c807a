"""Planning without a cloud: the desired graph, the diff, and the order of steps."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from globalguide.cloud import plan as planning
from globalguide.cloud.plan import ABSENT, CREATE, DELETE, REPAIR, UNCHANGED, UPDATE, Planner
from globalguide.cloud.remote_state import Found
from globalguide.cloud.source import make_context
from globalguide.spec import DeploySpec


@pytest.fixture
def context(tmp_path):
    (tmp_path / "app.py").write_text("print('hi')\n")
    return make_context(tmp_path)


@pytest.fixture
def spec():
    return DeploySpec(project="demo-project-1", model="gemini-3.8-flash")


class InMemoryRemoteState:
    """What exists, as a dictionary: resource key -> what a read returns (absent: None), and
    the regions where the deployment has regional resources. Records what it was asked."""

    def __init__(self, state: dict | None = None, regions=(), repositories=()) -> None:
        self.state = dict(state or {})
        self.found = Found(frozenset(regions), frozenset(repositories))
        self.read_keys: list[str] = []

    def find(self, spec):
        return self.found

    def read(self, resources):
        self.read_keys += [r.key for r in resources]
        return {r.key: self.state.get(r.key) for r in resources}


def planner(state: dict | None = None, regions=(), repositories=()) -> Planner:
    return Planner(InMemoryRemoteState(state, regions, repositories))


def test_everything_is_created_on_an_empty_project(spec, context):
    p = planner({}).deploy(spec, context)
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


def test_unchanged_resources_cost_nothing(spec, context):
    resources, _ = planning.desired_resources(spec, context)
    p = planner(as_deployed(resources)).deploy(spec, context)
    actions = {s.resource.kind: s.action for s in p.steps}
    assert actions["run-service"] == UNCHANGED
    assert actions["backend-service"] == UNCHANGED
    assert actions["url-map"] == UNCHANGED
    assert actions["forwarding-rule"] == UNCHANGED
    assert actions["image"] == CREATE


def test_a_changed_setting_is_an_update(spec, context):
    resources, _ = planning.desired_resources(spec, context)
    service = next(r for r in resources if r.kind == "run-service")
    current = healthy(service)
    current.template.scaling.max_instance_count = 99
    p = planner({service.key: current}).deploy(spec, context)
    step = p.step(service.key)
    assert step.action == UPDATE
    assert step.resource.owned(step.current)["max"] == 99
    assert step.resource.desired_owned()["max"] == spec.max_instances


def test_a_service_whose_ready_condition_failed_is_repaired(spec, context):
    from google.cloud import run_v2

    resources, _ = planning.desired_resources(spec, context)
    state = as_deployed(resources)
    service = next(r for r in resources if r.kind == "run-service")
    broken = state[service.key]
    broken.terminal_condition.state = run_v2.Condition.State.CONDITION_FAILED
    broken.terminal_condition.message = "The operation failed because of a transient error."
    p = planner(state).deploy(spec, context)
    step = p.step(service.key)
    assert step.action == REPAIR
    assert "transient error" in step.reason
    row = next(r for r in p.rows() if r["kind"] == "run-service" and r["action"] == REPAIR)
    assert row["reason"] == step.reason
    done = next(r for r in p.rows(done=True) if r.get("reason"))
    assert done["action"] == "repaired"


def test_a_service_whose_latest_revision_never_became_ready_is_repaired(spec, context):
    resources, _ = planning.desired_resources(spec, context)
    state = as_deployed(resources)
    service = next(r for r in resources if r.kind == "run-service")
    state[service.key].latest_created_revision = "projects/p/locations/x/revisions/s-00002-new"
    step = planner(state).deploy(spec, context).step(service.key)
    assert step.action == REPAIR
    assert step.reason == "latest revision s-00002-new is not ready"


def test_a_new_region_joins_the_backend_only_once_its_service_is_up(spec, context):
    two = replace(spec, regions=("us-central1", "europe-west1"))
    deployed, _ = planning.desired_resources(two, context)
    plans = planner(as_deployed(deployed), regions={"us-central1", "europe-west1"})
    p = plans.deploy(spec, context)
    backend = p.step("backend-service/global/local-guide-backend")
    assert backend.action == UPDATE
    assert "run-service/asia-northeast1/local-guide" in backend.waits_for


def test_a_region_no_longer_wanted_is_swept(spec, context):
    two = replace(spec, regions=("us-central1", "europe-west1"))
    everything, _ = planning.desired_resources(spec, context)
    p = planner(as_deployed(everything), regions={"asia-northeast1"}).deploy(two, context)
    backend = p.step("backend-service/global/local-guide-backend")
    assert backend.action == UPDATE
    deletes = {s.key for s in p.steps if s.action == DELETE}
    assert "run-service/asia-northeast1/local-guide" in deletes
    assert "neg/asia-northeast1/local-guide-neg" in deletes
    neg_delete = p.step("neg/asia-northeast1/local-guide-neg")
    assert "backend-service/global/local-guide-backend" in neg_delete.waits_for


def test_teardown_goes_level_by_level(spec, context):
    everything = planning.every_possible_resource(spec, context, set(spec.regions))
    p = planner({r.key: object() for r in everything}).teardown(spec, context, keep_images=False)
    by_key = {s.key: s for s in p.steps}
    assert all(s.action == DELETE for s in p.steps)
    assert not any(s.resource.kind == "apis" for s in p.steps)
    rule = by_key["forwarding-rule/global/local-guide-http"]
    assert rule.waits_for == []
    url_map = by_key["url-map/global/local-guide-urlmap"]
    assert "http-proxy/global/local-guide-http-proxy" in url_map.waits_for
    neg = by_key["neg/europe-west1/local-guide-neg"]
    assert "backend-service/global/local-guide-backend" in neg.waits_for


def test_keep_images_keeps_the_repository(spec, context):
    everything = planning.every_possible_resource(spec, context, set(spec.regions))
    plans = planner({r.key: object() for r in everything})
    kinds = {s.resource.kind for s in plans.teardown(spec, context, keep_images=True).steps}
    assert "repository" not in kinds and "image" not in kinds


DOMAIN = "guide.example.com"
# What --domain adds: a URL map that redirects plain HTTP, the certificate, HTTPS proxy and rule.
HTTPS_FRONT = {
    "url-map/global/local-guide-redirect",
    "certificate/global/local-guide-cert",
    "https-proxy/global/local-guide-https-proxy",
    "forwarding-rule/global/local-guide-https",
}
HTTP_PROXY = "http-proxy/global/local-guide-http-proxy"
FORMER_ROLES = "iam-binding/global/build-roles"


def test_a_second_deploy_of_the_same_spec_changes_nothing(spec, context):
    resources, image = planning.desired_resources(spec, context)
    state = as_deployed(resources)
    state[image.key] = object()  # the tag exists: this source was built
    bucket = next(r for r in resources if r.kind == "bucket")
    state[bucket.key] = SimpleNamespace(labels={"globalguide": spec.name})
    remote = InMemoryRemoteState(state)
    p = Planner(remote).deploy(spec, context)
    assert p.changes == []
    assert {s.action for s in p.steps} == {UNCHANGED}
    # Each resource read once; besides them, only what a sweep looks for (an HTTPS front,
    # the build account's project role of earlier versions).
    assert len(remote.read_keys) == len(set(remote.read_keys))
    assert set(remote.read_keys) == {r.key for r in resources} | HTTPS_FRONT | {FORMER_ROLES}


def test_created_services_carry_the_spec_settings(spec, context):
    custom = replace(spec, max_instances=7, env=(("MODE", "demo"),))
    p = planner({}).deploy(custom, context)
    services = [s for s in p.steps if s.resource.kind == "run-service"]
    assert [s.resource.region for s in services] == list(spec.regions)
    for step in services:
        assert step.action == CREATE and step.current is None
        owned = step.resource.desired_owned()
        assert owned["max"] == 7
        assert owned["env"]["MODE"] == "demo"
        assert owned["env"]["SERVICE_REGION"] == step.resource.region
        assert owned["env"]["VERTEX_LOCATION"] == p.vertex_locations[step.resource.region]
        assert owned["image"] == p.image.uri


def test_a_domain_adds_the_https_front_and_redirects_plain_http(spec, context):
    plain, _ = planning.desired_resources(spec, context)
    p = planner(as_deployed(plain)).deploy(replace(spec, domain=DOMAIN), context)
    created = {s.key for s in p.steps if s.action == CREATE}
    assert created - {"bucket/global/demo-project-1-local-guide-build"} == HTTPS_FRONT | {
        p.image.key
    }
    cert = p.step("certificate/global/local-guide-cert")
    assert cert.resource.desired_owned()["domains"] == [DOMAIN]
    proxy = p.step(HTTP_PROXY)
    assert proxy.action == UPDATE
    assert proxy.resource.owned(proxy.current)["url_map"].endswith("/urlMaps/local-guide-urlmap")
    assert proxy.resource.desired_owned()["url_map"].endswith("/urlMaps/local-guide-redirect")
    assert "url-map/global/local-guide-redirect" in proxy.waits_for
    assert not [s for s in p.steps if s.action == DELETE]


def test_dropping_the_domain_sweeps_the_https_front(spec, context):
    with_domain, _ = planning.desired_resources(replace(spec, domain=DOMAIN), context)
    p = planner(as_deployed(with_domain)).deploy(spec, context)
    assert {s.key for s in p.steps if s.action == DELETE} == HTTPS_FRONT
    # The certificate is found without being told its domain.
    cert = p.step("certificate/global/local-guide-cert")
    assert list(cert.current.managed.domains) == [DOMAIN]
    proxy = p.step(HTTP_PROXY)
    assert proxy.action == UPDATE
    assert proxy.resource.desired_owned()["url_map"].endswith("/urlMaps/local-guide-urlmap")
    # Nothing is deleted while something still uses it.
    assert HTTP_PROXY in p.step("url-map/global/local-guide-redirect").waits_for
    assert "https-proxy/global/local-guide-https-proxy" in cert.waits_for
    assert p.step("forwarding-rule/global/local-guide-https").waits_for == []


def test_teardown_without_the_domain_still_removes_the_https_front(spec, context):
    with_domain, _ = planning.desired_resources(replace(spec, domain=DOMAIN), context)
    p = planner(as_deployed(with_domain)).teardown(spec, context, keep_images=False)
    assert HTTPS_FRONT <= {s.key for s in p.steps if s.action == DELETE}


def test_only_the_regions_the_cloud_names_are_read_beyond_the_spec(spec, context):
    remote = InMemoryRemoteState({}, regions={"asia-east1"})
    p = Planner(remote).deploy(spec, context)
    assert {k.split("/")[1] for k in remote.read_keys} == {"global", *spec.regions, "asia-east1"}
    # Nothing exists there, so nothing is deleted.
    assert not [s for s in p.steps if s.action == DELETE]


def test_teardown_removes_a_repository_wherever_the_cloud_found_one(spec, context):
    elsewhere = "repository/europe-west4/local-guide"
    plans = planner({elsewhere: object()}, repositories={"europe-west4"})
    p = plans.teardown(spec, context, keep_images=False)
    assert p.step(elsewhere).action == DELETE
    assert p.step("repository/us-central1/local-guide").action == ABSENT


def test_status_reads_what_exists_and_marks_the_rest_absent(spec, context):
    resources, _ = planning.desired_resources(spec, context)
    state = as_deployed(resources)
    del state["neg/europe-west1/local-guide-neg"]
    p = planner(state).status(spec, context)
    assert p.step("neg/europe-west1/local-guide-neg").action == ABSENT
    assert p.step("run-service/europe-west1/local-guide").action == UNCHANGED
    assert {s.key for s in p.steps if s.key in HTTPS_FRONT and s.action == ABSENT} == HTTPS_FRONT
    assert not any(s.resource.kind == "image" for s in p.steps)
    assert p.changes == []


def test_context_is_deterministic(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    first = make_context(tmp_path)
    assert make_context(tmp_path) == first
    (tmp_path / "a.txt").write_text("y")
    assert make_context(tmp_path).tag != first.tag
