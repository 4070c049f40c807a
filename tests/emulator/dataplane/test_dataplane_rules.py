"""The edge's rules as pure functions: outlier detection, URL map routing, header variables."""

from __future__ import annotations

import random

import pytest

from globalguide.emulator.dataplane import headers as hdr
from globalguide.emulator.dataplane import urlmap
from globalguide.emulator.dataplane.outlier import OutlierConfig, OutlierDetector

KEYS = ["eu", "us", "asia"]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def detector(**settings) -> tuple[OutlierDetector, Clock]:
    clock = Clock()
    return OutlierDetector(OutlierConfig.from_rest(settings), random.Random(0), clock), clock


def fail(d: OutlierDetector, key: str, status: int | None, times: int) -> None:
    for _ in range(times):
        d.record(key, status, KEYS)


def test_defaults_are_the_documented_ones():
    assert OutlierConfig.from_rest({}) == OutlierConfig(
        consecutive_errors=5,
        consecutive_gateway_failure=3,
        enforcing_consecutive_errors=0,
        enforcing_consecutive_gateway_failure=100,
        interval_s=1.0,
        base_ejection_s=30.0,
        max_ejection_percent=50,
    )


@pytest.mark.parametrize("status", [502, 503, 504, None])
def test_three_gateway_failures_eject(status):
    d, _ = detector()
    fail(d, "eu", status, 2)
    assert d.ejected(KEYS) == set()
    fail(d, "eu", status, 1)
    assert d.ejected(KEYS) == {"eu"}


def test_a_success_resets_the_streak_and_500_is_not_a_gateway_failure():
    d, _ = detector()
    fail(d, "eu", 502, 2)
    d.record("eu", 200, KEYS)
    fail(d, "eu", 502, 2)
    d.record("eu", 500, KEYS)
    fail(d, "eu", 502, 2)
    assert d.ejected(KEYS) == set()


def test_consecutive_errors_eject_only_when_enforced():
    d, _ = detector(consecutiveErrors=2)
    fail(d, "eu", 500, 10)
    assert d.ejected(KEYS) == set()  # enforcingConsecutiveErrors defaults to 0
    d, _ = detector(consecutiveErrors=2, enforcingConsecutiveErrors=100)
    fail(d, "eu", 500, 2)
    assert d.ejected(KEYS) == {"eu"}


def test_gateway_ejection_can_be_switched_off():
    d, _ = detector(enforcingConsecutiveGatewayFailure=0)
    fail(d, "eu", 503, 10)
    assert d.ejected(KEYS) == set()


def test_ejection_time_is_base_times_ejections_and_ends_at_a_sweep():
    d, clock = detector(baseEjectionTime={"seconds": 10}, interval={"seconds": 4})
    fail(d, "eu", 503, 3)
    clock.now += 10.5  # ejection over, but the next sweep is at +12
    assert d.ejected(KEYS) == {"eu"}
    clock.now += 1.6
    assert d.ejected(KEYS) == set()
    fail(d, "eu", 503, 3)  # second ejection: 20 s
    clock.now += 16
    assert d.ejected(KEYS) == {"eu"}
    clock.now += 8
    assert d.ejected(KEYS) == set()


def test_at_most_max_ejection_percent_of_endpoints_are_ejected():
    d, _ = detector()
    fail(d, "eu", 503, 3)
    fail(d, "us", 503, 3)  # 2 of 3 would be 67% > 50%
    assert d.ejected(KEYS) == {"eu"}
    d, _ = detector(maxEjectionPercent=100)
    fail(d, "eu", 503, 3)
    fail(d, "us", 503, 3)
    assert d.ejected(KEYS) == {"eu", "us"}


# ---------------------------------------------------------------------- URL maps

RNG = random.Random(0)
BS = "https://compute.googleapis.com/compute/v1/projects/p/global/backendServices/"


def test_default_service_and_url_map_header_action():
    action = {"requestHeadersToRemove": ["X-A"]}
    route = urlmap.resolve({"defaultService": BS + "a", "headerAction": action}, "h", "/x", RNG)
    assert route == urlmap.Route(service=BS + "a", header_actions=[action])


def test_host_and_path_rules_pick_the_most_specific_and_order_header_actions():
    url_map = {
        "defaultService": BS + "default",
        "headerAction": {"requestHeadersToRemove": ["outer"]},
        "hostRules": [
            {"hosts": ["*"], "pathMatcher": "any"},
            {"hosts": ["api.example.com"], "pathMatcher": "api"},
        ],
        "pathMatchers": [
            {"name": "any", "defaultService": BS + "any"},
            {
                "name": "api",
                "defaultService": BS + "api",
                "headerAction": {"requestHeadersToRemove": ["inner"]},
                "pathRules": [
                    {"paths": ["/v1/*"], "service": BS + "v1"},
                    {"paths": ["/v1/special"], "service": BS + "special"},
                ],
                "routeRules": [
                    {
                        "priority": 1,
                        "matchRules": [{"prefixMatch": "/beta/"}],
                        "service": BS + "beta",
                        "headerAction": {"requestHeadersToRemove": ["rule"]},
                    }
                ],
            },
        ],
    }
    assert urlmap.resolve(url_map, "other.org", "/", RNG).service == BS + "any"
    assert urlmap.resolve(url_map, "api.example.com", "/v1/x", RNG).service == BS + "v1"
    assert urlmap.resolve(url_map, "api.example.com", "/v1/special", RNG).service == BS + "special"
    assert urlmap.resolve(url_map, "api.example.com", "/other", RNG).service == BS + "api"
    beta = urlmap.resolve(url_map, "API.example.com", "/beta/x", RNG)
    assert beta.service == BS + "beta"
    assert [a["requestHeadersToRemove"][0] for a in beta.header_actions] == [
        "rule",
        "inner",
        "outer",
    ]


def test_redirects():
    redirect = {"hostRedirect": "example.com", "pathRedirect": "/new", "stripQuery": True}
    assert urlmap.redirect_target(
        redirect, scheme="http", host="h:1", path="/old", query="q=1", prefix=""
    ) == (301, "http://example.com/new")
    redirect = {"prefixRedirect": "/v2/", "redirectResponseCode": "PERMANENT_REDIRECT"}
    assert urlmap.redirect_target(
        redirect, scheme="http", host="h", path="/v1/a", query="q=1", prefix="/v1/"
    ) == (308, "http://h/v2/a?q=1")


def test_weighted_backend_services_follow_their_weights():
    url_map = {
        "defaultRouteAction": {
            "weightedBackendServices": [
                {"backendService": BS + "a", "weight": 0},
                {"backendService": BS + "b", "weight": 100},
            ]
        }
    }
    assert {urlmap.resolve(url_map, "h", "/", RNG).service for _ in range(20)} == {BS + "b"}


# ---------------------------------------------------------------------- header values


def test_variables_escapes_and_unknown_values():
    values = {"client_city": "Zürich", "client_region": "CH"}
    assert hdr.expand("{client_city},{client_region}", values) == "Zürich,CH"
    assert hdr.expand("{{client_city}}", values) == "{client_city}"
    assert hdr.expand("{tls_version}|{cdn_cache_id}", values) == "|"


def test_replace_defaults_to_true_unless_the_value_has_a_variable():
    assert hdr.header_option_replace({"headerValue": "fixed"}) is True
    assert hdr.header_option_replace({"headerValue": "{client_city}"}) is False
    assert hdr.header_option_replace({"headerValue": "{{literal}}"}) is True
    assert hdr.header_option_replace({"headerValue": "{client_city}", "replace": True}) is True


def test_custom_header_entries_split_at_the_first_colon():
    assert hdr.split_custom_header("X-Geo:{client_city}:x") == ("X-Geo", "{client_city}:x")
