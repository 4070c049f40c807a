"""Retrying our own changes while they propagate: only ours, bounded, logged, clear at the end."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc

from globalguide.cloud.apply import Backoff, Executor, is_transient
from globalguide.cloud.plan import CREATE, Step
from globalguide.cloud.propagation import Propagation
from globalguide.cloud.resources.base import OperationFailed, Resource
from globalguide.errors import CloudError

RUN = "run.googleapis.com"
ACCOUNT = "guide-run@p.iam.gserviceaccount.com"


def service_disabled(service: str = RUN) -> gexc.PermissionDenied:
    url = f"https://console.developers.google.com/apis/api/{service}/overview?project=123"
    return gexc.PermissionDenied(
        f"Cloud Run Admin API has not been used in project 123 before or it is disabled. "
        f"Enable it by visiting {url} then retry. If you enabled this API recently, wait a "
        "few minutes for the action to propagate to our systems and retry."
    )


def act_as_denied(email: str = ACCOUNT) -> gexc.Forbidden:
    return gexc.Forbidden(
        f"Permission 'iam.serviceaccounts.actAs' denied on service account {email} "
        "(or it may not exist)."
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def propagation(clock):
    return Propagation(clock=clock, service_window_s=300, account_window_s=420)


def test_only_errors_about_our_own_recent_changes_are_waits(propagation):
    assert propagation.wait_for(service_disabled()) is None
    assert propagation.wait_for(act_as_denied()) is None
    propagation.enabled([RUN])
    propagation.created(ACCOUNT)
    assert propagation.wait_for(service_disabled()).what == f"the service {RUN}"
    assert propagation.wait_for(service_disabled("compute.googleapis.com")) is None
    assert propagation.wait_for(act_as_denied()).what == f"the service account {ACCOUNT}"
    assert propagation.wait_for(act_as_denied("other@p.iam.gserviceaccount.com")) is None
    missing = gexc.BadRequest(f"Service account {ACCOUNT} does not exist.")
    assert propagation.wait_for(missing).deadline == 1000.0 + 420
    assert propagation.wait_for(OperationFailed(act_as_denied())) is not None
    assert propagation.wait_for(gexc.Forbidden("The caller does not have permission")) is None
    assert propagation.wait_for(gexc.BadRequest("Invalid member 'somebody'.")) is None


def test_the_error_info_names_the_service(propagation):
    from google.rpc import error_details_pb2

    propagation.enabled([RUN])
    info = error_details_pb2.ErrorInfo(
        reason="SERVICE_DISABLED", domain="googleapis.com", metadata={"service": RUN}
    )
    assert propagation.wait_for(gexc.PermissionDenied("disabled", error_info=info)) is not None
    other = error_details_pb2.ErrorInfo(
        reason="SERVICE_DISABLED", metadata={"service": "compute.googleapis.com"}
    )
    assert propagation.wait_for(gexc.PermissionDenied("disabled", error_info=other)) is None


def test_a_missing_account_alone_is_no_longer_transient():
    assert not is_transient(gexc.BadRequest(f"Service account {ACCOUNT} does not exist."))
    assert is_transient(gexc.Aborted("There were concurrent policy changes."))


class Flaky(Resource):
    """Create fails with the given errors, in order, then succeeds."""

    kind = "fake"
    rank = 0

    def __init__(self, errors: list[BaseException]) -> None:
        from globalguide.cloud.names import Names

        super().__init__(Names(project="p", name="local-guide"), "flaky")
        self.errors = list(errors)
        self.creates = 0

    def read(self, c):
        return None

    def create(self, ctx):
        self.creates += 1
        if self.errors:
            raise self.errors.pop(0)


def executor(propagation, events):
    return Executor(
        None,
        listener=events.append,
        backoff=Backoff(base_s=0.0, cap_s=0.0),
        propagation=propagation,
    )


def test_a_service_we_enabled_is_waited_for_and_each_wait_is_reported(propagation):
    propagation.enabled([RUN])
    events = []
    resource = Flaky([service_disabled()] * 12)  # more than the transient budget of 8
    executor(propagation, events).run_step(Step(resource, CREATE))
    assert resource.creates == 13
    retries = [e for e in events if e.state == "retrying"]
    assert len(retries) == 12
    assert all(f"waiting for the service {RUN} to propagate" in e.detail for e in retries)


def test_a_service_nobody_enabled_fails_at_once(propagation):
    events = []
    resource = Flaky([service_disabled()])
    with pytest.raises(gexc.PermissionDenied):
        executor(propagation, events).run_step(Step(resource, CREATE))
    assert resource.creates == 1 and events == []


def test_past_the_deadline_the_wait_ends_with_a_clear_message(propagation, clock):
    propagation.created(ACCOUNT)
    clock.now += 421
    resource = Flaky([act_as_denied()])
    with pytest.raises(CloudError) as raised:
        executor(propagation, []).run_step(Step(resource, CREATE))
    message = raised.value.message
    assert f"the service account {ACCOUNT} is still not usable 421 s" in message
    assert "run the same command again" in message
    assert resource.creates == 1


def test_a_stale_policy_etag_is_read_modify_written_again_with_logged_backoff(propagation):
    events = []
    resource = Flaky([gexc.Aborted("There were concurrent policy changes.")] * 2)
    executor(propagation, events).run_step(Step(resource, CREATE))
    assert resource.creates == 3
    assert [e.attempt for e in events if e.state == "retrying"] == [1, 2]
