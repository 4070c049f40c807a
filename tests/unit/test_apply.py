"""The executor against a stub client: the order of the graph, parallel steps, what a
failure skips, retries, and the requestId a Compute insert carries across them."""

from __future__ import annotations

import threading
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from globalguide.cloud.apply import MAX_ATTEMPTS, Backoff, Executor, raise_for_failures
from globalguide.cloud.names import Names
from globalguide.cloud.plan import CREATE, Plan, Step
from globalguide.cloud.resources import Context, Resource, ServerlessNeg
from globalguide.errors import CloudError
from globalguide.spec import DeploySpec

NAMES = Names("guide", "demo-project-1")
SPEC = DeploySpec(project="demo-project-1")


class StubCloud:
    """The client the executor hands to every step: records which resource was created
    when, on which thread; a resource's entry in ``errors`` is raised by its next creates."""

    def __init__(self, errors: dict[str, list[BaseException]] | None = None) -> None:
        self.errors = {key: list(raised) for key, raised in (errors or {}).items()}
        self.created: dict[str, Any] = {}
        self.calls: list[str] = []
        self.events: list[tuple[str, str]] = []  # ("start" | "end", key), in order
        self.threads: dict[str, str] = {}
        self.lock = threading.Lock()
        self.during_create: dict[str, Any] = {}  # key -> a callable run inside its create

    def create(self, key: str) -> None:
        with self.lock:
            self.calls.append(key)
            self.events.append(("start", key))
            self.threads[key] = threading.current_thread().name
            pending = self.errors.get(key)
            error = pending.pop(0) if pending else None
        try:
            if key in self.during_create:
                self.during_create[key]()
            if error is not None:
                raise error
            with self.lock:
                self.created[key] = object()
        finally:
            with self.lock:
                self.events.append(("end", key))


class Stubbed(Resource):
    """A resource whose every call goes to the stub client."""

    kind = "stub"
    rank = 1

    def read(self, c: StubCloud) -> Any | None:
        return c.created.get(self.key)

    def same(self, current: Any) -> bool:
        return True  # existing is all there is to it

    def create(self, ctx: Context) -> None:
        ctx.clients.create(self.key)


def stub(name: str, *after: Stubbed) -> Stubbed:
    resource = Stubbed(NAMES, name)
    resource.depends_on = [a.key for a in after]
    return resource


def plan_of(*resources: Resource) -> Plan:
    """Every resource to create, each waiting for what it depends on (as the planner links
    creates)."""
    steps = [Step(r, CREATE, waits_for=list(r.depends_on)) for r in resources]
    return Plan(SPEC, steps)


def executor(cloud: Any, events: list | None = None) -> Executor:
    listener = events.append if events is not None else None
    return Executor(cloud, listener=listener, backoff=Backoff(base_s=0.0, cap_s=0.0))


def position(cloud: StubCloud, event: str, key: str) -> int:
    return cloud.events.index((event, key))


def test_a_step_starts_only_once_what_it_waits_for_is_done():
    apis = stub("apis")
    repo, account = stub("repo", apis), stub("account", apis)
    image = stub("image", repo, account)
    service = stub("service", image)
    cloud = StubCloud()
    result = executor(cloud).apply(plan_of(service, image, account, repo, apis))
    assert result.ok and len(result.done) == 5
    for later, earlier in [(repo, apis), (account, apis), (image, repo), (image, account),
                           (service, image)]:  # fmt: skip
        assert position(cloud, "end", earlier.key) < position(cloud, "start", later.key)


def test_independent_steps_run_at_the_same_time():
    regions = [stub(f"neg-{n}") for n in range(3)]
    everyone_in = threading.Barrier(len(regions), timeout=5)
    cloud = StubCloud()
    # Each create waits until all three are inside theirs: only parallel steps get through.
    cloud.during_create = {r.key: everyone_in.wait for r in regions}
    result = executor(cloud).apply(plan_of(*regions))
    assert result.ok, result.failed
    assert len({cloud.threads[r.key] for r in regions}) == 3


def test_a_failed_step_skips_what_depends_on_it_and_nothing_else():
    repo = stub("repo")
    image, neg = stub("image", repo), stub("neg")
    service = stub("service", image)
    denied = gexc.Forbidden("The caller does not have permission")
    cloud = StubCloud(errors={repo.key: [denied]})
    events: list = []
    result = executor(cloud, events).apply(plan_of(repo, image, neg, service))
    assert list(result.failed) == [repo.key] and result.failed[repo.key] is denied
    assert {s.key for s in result.skipped} == {image.key, service.key}
    assert [s.key for s in result.done] == [neg.key]
    assert cloud.calls.count(repo.key) == 1  # a permission error is not retried
    assert image.key not in cloud.calls and service.key not in cloud.calls
    skipped = {e.step.key for e in events if e.state == "skipped"}
    assert skipped == {image.key, service.key}
    with pytest.raises(CloudError, match=f"failed at {repo.key}: 403"):
        raise_for_failures(result, "Deploy")


def test_transient_errors_are_retried_until_the_step_succeeds():
    flaky = stub("flaky")
    errors = [gexc.TooManyRequests("quota"), gexc.ServiceUnavailable("try again")]
    cloud = StubCloud(errors={flaky.key: errors})
    events: list = []
    result = executor(cloud, events).apply(plan_of(flaky))
    assert result.ok
    assert cloud.calls == [flaky.key] * 3
    retries = [e for e in events if e.state == "retrying"]
    assert [e.attempt for e in retries] == [1, 2]
    assert retries[0].detail == "429 quota"


def test_a_transient_error_that_never_clears_fails_after_the_last_attempt():
    stuck = stub("stuck")
    cloud = StubCloud(errors={stuck.key: [gexc.ServiceUnavailable("down")] * (MAX_ATTEMPTS + 1)})
    result = executor(cloud).apply(plan_of(stuck))
    assert isinstance(result.failed[stuck.key], gexc.ServiceUnavailable)
    assert cloud.calls == [stuck.key] * MAX_ATTEMPTS


def test_a_retry_that_finds_the_resource_made_does_not_make_it_again():
    slow = stub("slow")
    cloud = StubCloud()

    def made_but_answered_409() -> None:
        # The first insert went through, its answer was lost, a second saw it in flight.
        cloud.created[slow.key] = object()
        raise gexc.Conflict("The resource is not ready")

    cloud.during_create = {slow.key: made_but_answered_409}
    result = executor(cloud).apply(plan_of(slow))
    assert result.ok
    assert cloud.calls == [slow.key]


class Operation:
    """A compute extended operation as ``insert`` returns it: ``result`` waits for it."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def result(self, timeout: float | None = None, polling: Any = None) -> Any:
        if self.error is not None:
            raise self.error
        return None


class StubNegs:
    """The Compute NEG client: each insert's outcome comes from ``outcomes`` in turn
    (an exception raised by the call itself, an Operation, or None for success)."""

    def __init__(self, outcomes: list[Any]) -> None:
        self.outcomes = list(outcomes)
        self.request_ids: list[str] = []
        self.exists = False

    def get(self, **request: Any) -> Any:
        if not self.exists:
            raise gexc.NotFound("The resource was not found")
        return SimpleNamespace(network_endpoint_type="SERVERLESS")

    def insert(self, request: dict[str, Any]) -> Operation:
        self.request_ids.append(request["request_id"])
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        if outcome is None:
            self.exists = True
            return Operation(None)
        return outcome


def test_the_request_id_is_kept_while_the_outcome_is_unknown_and_renewed_after_a_failure():
    neg = ServerlessNeg(NAMES, NAMES.neg, "europe-west1")
    negs = StubNegs(
        [
            gexc.ServiceUnavailable("no answer"),  # did the insert happen? unknown
            gexc.GatewayTimeout("no answer"),  # still unknown
            Operation(gexc.InternalServerError("Internal error")),  # known: it failed
            None,
        ]
    )
    result = executor(SimpleNamespace(region_negs=negs)).apply(plan_of(neg))
    assert result.ok, result.failed
    first, second, third, fourth = negs.request_ids
    # The same key while a repeated insert could be the one that already happened...
    assert first == second == third
    # ...and a new one once the operation is known to have failed: the old key would
    # only replay the failure.
    assert fourth != third
    assert all(uuid.UUID(r) for r in negs.request_ids)


def test_two_steps_never_share_a_request_id():
    negs_by_region = {r: StubNegs([None]) for r in ("us-central1", "europe-west1")}

    class Router:
        """One stub per region, chosen by the request."""

        def get(self, **request: Any) -> Any:
            return negs_by_region[request["region"]].get(**request)

        def insert(self, request: dict[str, Any]) -> Operation:
            return negs_by_region[request["region"]].insert(request)

    steps = [ServerlessNeg(NAMES, NAMES.neg, r) for r in negs_by_region]
    result = executor(SimpleNamespace(region_negs=Router())).apply(plan_of(*steps))
    assert result.ok
    ids = [negs.request_ids[0] for negs in negs_by_region.values()]
    assert len(set(ids)) == 2
