"""What differs between Google Cloud and the emulator lives in one object made by the clients
factory; the code that waits on either reads its attributes."""

from __future__ import annotations

import time

import pytest
from google.auth.credentials import AnonymousCredentials

from globalguide.cloud import serving, targets
from globalguide.cloud.clients import CloudClients
from globalguide.errors import CloudError
from globalguide.spec import DeploySpec

SPEC = DeploySpec(project="p-local", local=True)
EDGES = [
    {"forwardingRule": "projects/p/global/forwardingRules/other-http", "url": "http://x:1"},
    {"forwardingRule": "projects/p/global/forwardingRules/local-guide-http",
     "url": "http://127.0.0.1:4242", "regions": ["us-central1", "europe-west1"]},
]  # fmt: skip


def cloud() -> CloudClients:
    return CloudClients("p-cloud", credentials=AnonymousCredentials())


def emulator() -> CloudClients:
    # Nothing listens on port 9: every test control is unreachable.
    return CloudClients("p-local", endpoint="http://127.0.0.1:9", token="t")


def test_the_factory_makes_the_target_that_fits_the_clients():
    on_cloud, local = cloud().target, emulator().target
    assert isinstance(on_cloud, targets.GoogleCloud) and isinstance(local, targets.Emulator)
    assert (on_cloud.kind, on_cloud.display_name, on_cloud.plan_key, on_cloud.local_flag) == (
        "google-cloud", "project p-cloud", "google-cloud/p-cloud", "",
    )  # fmt: skip
    assert (local.kind, local.display_name, local.plan_key, local.local_flag) == (
        "emulator", "the emulator", "emulator", " --local",
    )  # fmt: skip
    assert local.places_clients and not on_cloud.places_clients
    assert local.lb_wait_s < on_cloud.lb_wait_s and local.verify_s < on_cloud.verify_s


def test_google_cloud_cannot_see_the_routing():
    target = cloud().target
    assert target.edge(SPEC) is None and target.routed_regions(SPEC) is None
    assert target.drilled_regions() == []


def test_an_unreachable_emulator_has_no_edge():
    target = emulator().target
    assert target.control("edges") is None
    assert target.edge(SPEC) is None and target.load_balancer_url(SPEC) is None
    assert target.routed_regions(SPEC) == set() and target.drilled_regions() == []


def test_the_emulator_reads_the_deployment_s_edge(monkeypatch):
    target = emulator().target
    monkeypatch.setattr(target, "control", lambda name: EDGES if name == "edges" else None)
    assert target.load_balancer_url(SPEC) == "http://127.0.0.1:4242"
    assert target.routed_regions(SPEC) == {"us-central1", "europe-west1"}
    other = DeploySpec(project="p-local", name="absent", local=True)
    assert target.load_balancer_url(other) is None


class FakeTarget:
    drain_s = 0.3
    drain_poll_s = 0.02

    def __init__(self, routed):
        self.routed = routed  # a list of answers, the last repeated

    def routed_regions(self, spec):
        return self.routed.pop(0) if len(self.routed) > 1 else self.routed[0]


class FakeClients:
    def __init__(self, target):
        self.target = target


def test_draining_ends_once_the_regions_have_left():
    clients = FakeClients(FakeTarget([{"europe-west1", "us-central1"}, {"us-central1"}]))
    seconds = serving.wait_drained(SPEC, clients, {"europe-west1"})  # type: ignore[arg-type]
    assert seconds < FakeTarget.drain_s


def test_draining_refuses_to_go_on_while_the_regions_are_still_routed():
    clients = FakeClients(FakeTarget([{"europe-west1"}]))
    with pytest.raises(CloudError, match="still routes to europe-west1"):
        serving.wait_drained(SPEC, clients, {"europe-west1"})  # type: ignore[arg-type]


def test_draining_where_routing_cannot_be_seen_waits_the_bound_out():
    clients = FakeClients(FakeTarget([None]))
    started = time.monotonic()
    serving.wait_drained(SPEC, clients, {"europe-west1"})  # type: ignore[arg-type]
    assert time.monotonic() - started >= FakeTarget.drain_s
