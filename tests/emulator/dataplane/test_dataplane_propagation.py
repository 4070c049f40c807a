"""Load-balancer configuration reaches the edge after the propagation delay: the first
version of a resource at once, every later change (a deletion too) only after the delay."""

from __future__ import annotations

from globalguide.emulator.dataplane.propagation import PropagatedConfig

LINK = "https://compute.googleapis.com/compute/v1/projects/p/global/backendServices/b"
NEG = "https://compute.googleapis.com/compute/v1/projects/p/regions/r/networkEndpointGroups/n"


class FakeCompute:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict] = {}

    def get(self, kind: str, link: str) -> dict | None:
        return self.items.get((kind, link))

    def list(self, kind: str) -> list[dict]:
        return [v for (k, _), v in self.items.items() if k == kind]


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def make(delay: float = 10.0):
    compute, clock = FakeCompute(), Clock()
    return compute, clock, PropagatedConfig(lambda: compute, lambda: delay, clock)


def test_a_change_takes_effect_only_after_the_delay():
    compute, clock, config = make()
    compute.items[("backendServices", LINK)] = {"selfLink": LINK, "backends": ["a", "b"]}
    config.observe_all()
    assert config.get("backendServices", LINK)["backends"] == ["a", "b"]
    compute.items[("backendServices", LINK)] = {"selfLink": LINK, "backends": ["a"]}
    config.observe_all()
    clock.now += 9.9
    assert config.get("backendServices", LINK)["backends"] == ["a", "b"]
    assert config.pending() == 1
    clock.now += 0.2
    assert config.get("backendServices", LINK)["backends"] == ["a"]
    assert config.pending() == 0


def test_a_deleted_neg_stays_at_the_edge_until_the_deletion_propagates():
    compute, clock, config = make()
    compute.items[("networkEndpointGroups", NEG)] = {"selfLink": NEG, "cloudRun": {}}
    config.observe_all()
    del compute.items[("networkEndpointGroups", NEG)]
    config.observe_all()
    assert config.get("networkEndpointGroups", NEG) is not None
    clock.now += 10.1
    assert config.get("networkEndpointGroups", NEG) is None


def test_without_a_delay_changes_are_immediate():
    compute, _, config = make(delay=0.0)
    compute.items[("urlMaps", LINK)] = {"selfLink": LINK, "defaultService": "x"}
    config.observe_all()
    compute.items[("urlMaps", LINK)] = {"selfLink": LINK, "defaultService": "y"}
    assert config.get("urlMaps", LINK)["defaultService"] == "y"


def test_other_kinds_are_read_live():
    compute, _, config = make()
    rule = "projects/p/global/forwardingRules/f"
    compute.items[("forwardingRules", rule)] = {"target": "t1"}
    config.observe_all()
    compute.items[("forwardingRules", rule)] = {"target": "t2"}
    assert config.get("forwardingRules", rule)["target"] == "t2"
