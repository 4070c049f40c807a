"""An edge keeps its resolved route while the configuration's generation stays the same, and
resolves again after every kind of change, a delayed one included once its time has come."""

from __future__ import annotations

import pytest

from globalguide.emulator.dataplane.propagation import PropagatedConfig
from globalguide.emulator.dataplane.routes import Routes

BASE = "https://compute.googleapis.com/compute/v1/projects/p"
RULE = f"{BASE}/global/forwardingRules/fr"
PROXY = f"{BASE}/global/targetHttpProxies/px"
URL_MAP = f"{BASE}/global/urlMaps/um"
BACKEND = f"{BASE}/global/backendServices/bs"
OTHER_BACKEND = f"{BASE}/global/backendServices/other"


def neg(region: str) -> str:
    return f"{BASE}/regions/{region}/networkEndpointGroups/neg"


class CountingCompute:
    """Resources by (kind, link), a change counter as the compute API keeps, and a count of
    reads."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict] = {}
        self.generation = 0
        self.reads = 0

    def put(self, kind: str, resource: dict) -> None:
        self.items[(kind, resource["selfLink"])] = resource
        self.generation += 1

    def delete(self, kind: str, link: str) -> None:
        del self.items[(kind, link)]
        self.generation += 1

    def get(self, kind: str, link: str) -> dict | None:
        self.reads += 1
        found = self.items.get((kind, link))
        return dict(found) if found is not None else None

    def list(self, kind: str) -> list[dict]:
        return [dict(v) for (k, _), v in self.items.items() if k == kind]


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def backend_service(link: str, regions: list[str]) -> dict:
    return {"selfLink": link, "backends": [{"group": neg(r)} for r in regions]}


@pytest.fixture
def world():
    compute, clock = CountingCompute(), Clock()
    delay = [0.0]
    config = PropagatedConfig(lambda: compute, lambda: delay[0], clock)
    compute.put("forwardingRules", {"selfLink": RULE, "target": PROXY, "IPAddress": "1.2.3.4"})
    compute.put("targetHttpProxies", {"selfLink": PROXY, "urlMap": URL_MAP})
    compute.put("urlMaps", {"selfLink": URL_MAP, "defaultService": BACKEND})
    compute.put("backendServices", backend_service(BACKEND, ["us-central1", "europe-west1"]))
    compute.put("backendServices", backend_service(OTHER_BACKEND, ["asia-northeast1"]))
    for region in ("us-central1", "europe-west1", "asia-northeast1"):
        compute.put(
            "networkEndpointGroups",
            {
                "selfLink": neg(region),
                "region": f"{BASE}/regions/{region}",
                "cloudRun": {"service": "s"},
            },
        )
    config.observe_all()
    return compute, clock, delay, config


def regions(routes: Routes, config: PropagatedConfig) -> list[str]:
    chain = routes.current(config)
    backend = chain.backend(chain.url_map["defaultService"])
    return [c.region for c in backend.candidates] if backend else []


def test_the_route_is_kept_while_nothing_changes(world):
    compute, _, _, config = world
    routes = Routes(RULE)
    first = routes.current(config)
    assert regions(routes, config) == ["us-central1", "europe-west1"]
    reads = compute.reads
    for _ in range(5):
        assert routes.current(config) is first
        assert regions(routes, config) == ["us-central1", "europe-west1"]
    assert compute.reads == reads


@pytest.mark.parametrize(
    "change, expected",
    [
        ("rule", []),
        ("proxy", []),
        ("url map", ["asia-northeast1"]),
        ("backend service", ["us-central1"]),
        ("neg", ["europe-west1"]),
        ("neg deleted", ["europe-west1"]),
    ],
)
def test_every_kind_of_change_is_read_again(world, change, expected):
    compute, _, _, config = world
    routes = Routes(RULE)
    assert regions(routes, config) == ["us-central1", "europe-west1"]
    if change == "rule":
        compute.put("forwardingRules", {"selfLink": RULE, "target": ""})
    elif change == "proxy":
        compute.put("targetHttpProxies", {"selfLink": PROXY})
    elif change == "url map":
        compute.put("urlMaps", {"selfLink": URL_MAP, "defaultService": OTHER_BACKEND})
    elif change == "backend service":
        compute.put("backendServices", backend_service(BACKEND, ["us-central1"]))
    elif change == "neg":
        compute.put("networkEndpointGroups", {"selfLink": neg("us-central1"), "cloudRun": {}})
    else:
        compute.delete("networkEndpointGroups", neg("us-central1"))
    config.observe_all()
    if change in ("rule", "proxy"):
        assert routes.current(config).url_map is None
    else:
        assert regions(routes, config) == expected


def test_a_delayed_change_takes_effect_at_its_time_without_any_call(world):
    compute, clock, delay, config = world
    delay[0] = 10.0
    routes = Routes(RULE)
    assert regions(routes, config) == ["us-central1", "europe-west1"]
    compute.put("backendServices", backend_service(BACKEND, ["us-central1"]))
    config.observe_all()
    clock.now += 9.9
    assert regions(routes, config) == ["us-central1", "europe-west1"]
    kept = routes.current(config)
    assert routes.current(config) is kept
    clock.now += 0.2  # nothing else happens: only the time passes
    assert routes.current(config) is not kept
    assert regions(routes, config) == ["us-central1"]
    assert config.pending() == 0


def test_a_deletion_reaches_the_edge_only_after_the_delay(world):
    compute, clock, delay, config = world
    delay[0] = 5.0
    routes = Routes(RULE)
    compute.put("backendServices", backend_service(BACKEND, ["us-central1"]))
    compute.delete("networkEndpointGroups", neg("us-central1"))
    config.observe_all()
    assert regions(routes, config) == ["us-central1", "europe-west1"]
    clock.now += 5.0
    assert regions(routes, config) == []


def test_a_configuration_without_a_generation_is_read_for_every_request():
    compute = CountingCompute()
    compute.put("forwardingRules", {"selfLink": RULE, "target": PROXY})
    compute.put("targetHttpProxies", {"selfLink": PROXY, "urlMap": URL_MAP})
    compute.put("urlMaps", {"selfLink": URL_MAP, "defaultService": BACKEND})
    del compute.generation
    routes = Routes(RULE)
    routes.current(compute)
    reads = compute.reads
    compute.items[("urlMaps", URL_MAP)] = {"selfLink": URL_MAP, "defaultService": OTHER_BACKEND}
    assert routes.current(compute).url_map["defaultService"] == OTHER_BACKEND
    assert compute.reads == reads + 3
