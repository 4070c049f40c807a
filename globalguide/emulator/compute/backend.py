"""Serverless NEGs, backend services and URL maps: the back half of the load balancer.

Each ``build_*`` turns a request body into the stored resource, raising the API's error for
a request the real API refuses. ``base`` carries the identity fields (kind, id, name,
creationTimestamp, selfLink); the caller adds the fingerprint.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

from google.cloud import compute_v1

from globalguide.emulator.compute.errors import invalid_value, required
from globalguide.emulator.compute.headers import check_custom_headers, check_header_action
from globalguide.emulator.compute.links import scope_link
from globalguide.emulator.compute.validate import References, check_enum, check_name
from globalguide.emulator.dataplane.urlmap import resolve

SERVERLESS_TARGETS = ("cloudRun", "appEngine", "cloudFunction", "serverlessDeployment")
ZONAL_ONLY_TYPES = ("GCE_VM_IP", "GCE_VM_IP_PORT")
# Backend capacity settings; the emulator refuses them on serverless NEG backends, which
# have no endpoints to measure (gcp-facts §1.3: lb-http sets only `group`). maxUtilization
# is refused in the API's words (terraform-provider-google#7167).
CAPACITY_FIELDS = (
    "maxUtilization",
    "maxRate",
    "maxRatePerInstance",
    "maxRatePerEndpoint",
    "maxConnections",
    "maxConnectionsPerInstance",
    "maxConnectionsPerEndpoint",
    "maxInFlightRequests",
    "maxInFlightRequestsPerInstance",
    "maxInFlightRequestsPerEndpoint",
)
MAX_HEALTH_CHECKS = 1
OUTLIER_DETECTION_SCHEMES = ("EXTERNAL_MANAGED", "INTERNAL_SELF_MANAGED")
# compute_v1 BackendService.timeoutSec docstring: default 30, range 1 through 2,147,483,647.
DEFAULT_TIMEOUT_SEC = 30
MAX_TIMEOUT_SEC = 2_147_483_647
# The one balancing mode a serverless NEG backend takes: terraform-provider-google sends it
# by default for every backend (BackendService.yaml), and any other is refused
# (cloud-foundation-fabric PR #1801 quotes the API for RATE).
SERVERLESS_BALANCING_MODE = "UTILIZATION"
SERVICE_COLLECTIONS = ("backendServices", "backendBuckets")


# ------------------------------------------------------------------ network endpoint groups
def build_neg(
    refs: References, body: dict[str, Any], base: dict[str, Any], region: str
) -> dict[str, Any]:
    neg_type = check_enum(
        body.get("networkEndpointType"),
        compute_v1.NetworkEndpointGroup.NetworkEndpointType,
        "resource.networkEndpointType",
        default="GCE_VM_IP_PORT",
    )
    if neg_type in ZONAL_ONLY_TYPES:
        raise invalid_value(
            "resource.networkEndpointType",
            neg_type,
            f"Network endpoint of type {neg_type} is only allowed in zonal scope.",
        )
    if neg_type != "SERVERLESS":
        raise invalid_value(
            "resource.networkEndpointType",
            neg_type,
            "The emulator models only SERVERLESS regional network endpoint groups.",
        )
    targets = [t for t in SERVERLESS_TARGETS if body.get(t) is not None]
    if len(targets) != 1:
        raise invalid_value(
            f"resource.{targets[1]}" if targets else "resource",
            "",
            "A serverless network endpoint group must specify exactly one of cloudRun, "
            "appEngine, cloudFunction or serverlessDeployment.",
        )
    for field in ("defaultPort", "network", "subnetwork"):
        if body.get(field) not in (None, "", 0):
            # compute_v1 NetworkEndpointGroup.default_port ("must not be specified") and
            # .network ("cannot be set for NEGs with networkEndpointType set to SERVERLESS").
            raise invalid_value(
                f"resource.{field}",
                body[field],
                f"{field} cannot be set for a network endpoint group of type SERVERLESS.",
            )
    target = targets[0]
    spec = body[target]
    if target == "cloudRun":
        # compute_v1 NetworkEndpointGroupCloudRun.service and .tag: 1-63 characters, RFC 1035.
        for key in ("service", "tag"):
            if spec.get(key) not in (None, ""):
                check_name(spec[key], f"resource.cloudRun.{key}")
    needs = {
        "cloudRun": ("service", "urlMask"),
        "cloudFunction": ("function", "urlMask"),
        "serverlessDeployment": ("platform",),
    }.get(target)
    if needs and not any(spec.get(k) for k in needs):
        raise invalid_value(
            f"resource.{target}",
            "",
            f"{' or '.join(needs)} must be specified for a {target} network endpoint group.",
        )
    out = {**base, **_input(body), "networkEndpointType": "SERVERLESS"}
    out["region"] = scope_link(refs.project, ("regions", region))
    out["size"] = 0
    return out


# ------------------------------------------------------------------ backend services
def build_backend_service(
    refs: References, body: dict[str, Any], base: dict[str, Any]
) -> dict[str, Any]:
    bs = compute_v1.BackendService
    scheme = check_enum(
        body.get("loadBalancingScheme"),
        bs.LoadBalancingScheme,
        "resource.loadBalancingScheme",
        default="EXTERNAL",
    )
    if scheme == "INVALID_LOAD_BALANCING_SCHEME":
        raise invalid_value("resource.loadBalancingScheme", scheme, "Invalid scheme.")
    protocol = check_enum(body.get("protocol"), bs.Protocol, "resource.protocol", default="HTTP")
    affinity = check_enum(
        body.get("sessionAffinity"), bs.SessionAffinity, "resource.sessionAffinity", "NONE"
    )
    backends, serverless = _backends(refs, body.get("backends") or [])
    health_checks = list(body.get("healthChecks") or [])
    if len(health_checks) > MAX_HEALTH_CHECKS:
        # compute_v1 BackendService.health_checks: "at most one health check".
        raise invalid_value(
            "resource.healthChecks",
            len(health_checks),
            "At most one health check can be specified for a backend service.",
        )
    if health_checks and serverless:
        # terraform-provider-google#7311, lb-http#149: the API's words.
        raise invalid_value(
            "resource.healthChecks",
            "",
            "A backend service cannot have a healthcheck with Serverless network endpoint "
            "group backends.",
        )
    health_checks = [
        refs.existing(
            f"resource.healthChecks[{i}]",
            hc,
            ("healthChecks", "httpHealthChecks", "httpsHealthChecks"),
        )
        for i, hc in enumerate(health_checks)
    ]
    if body.get("outlierDetection") is not None and scheme not in OUTLIER_DETECTION_SCHEMES:
        # cloud-foundation-fabric#1783: the API's words; which schemes from the
        # compute_v1 BackendService.outlierDetection docstring.
        raise invalid_value(
            "resource.outlierDetection",
            body["outlierDetection"],
            "Outlier detection is not supported.",
        )
    _check_timeout(body.get("timeoutSec"), serverless)
    _check_log_config(body.get("logConfig"))
    envoy = scheme != "EXTERNAL"
    check_custom_headers(
        body.get("customRequestHeaders") or [], "resource.customRequestHeaders", envoy=envoy
    )
    check_custom_headers(
        body.get("customResponseHeaders") or [], "resource.customResponseHeaders", envoy=envoy
    )
    out = {**base, "port": 80, "portName": "http", "timeoutSec": DEFAULT_TIMEOUT_SEC}
    out.update(_input(body))
    out.update(loadBalancingScheme=scheme, protocol=protocol, sessionAffinity=affinity)
    if backends:
        out["backends"] = backends
    if health_checks:
        out["healthChecks"] = health_checks
    return out


def _backends(refs: References, raw: list[Any]) -> tuple[list[dict[str, Any]], bool]:
    """The stored backends, and whether any is a serverless NEG."""
    backends, serverless_regions = [], {}
    seen: set[str] = set()
    for index, backend in enumerate(raw):
        where = f"resource.backends[{index}]"
        if not backend.get("group"):
            raise required(f"{where}.group")
        group = refs.existing(
            f"{where}.group", backend["group"], ("networkEndpointGroups", "instanceGroups")
        )
        if group in seen:
            # compute_v1 Backend.group (BackendService.yaml in magic-modules): "No two
            # backends in a backend service are allowed to use same Instance Group resource".
            raise invalid_value(
                f"{where}.group", group, "The backend group is used more than once."
            )
        seen.add(group)
        mode = check_enum(
            backend.get("balancingMode"),
            compute_v1.Backend.BalancingMode,
            f"{where}.balancingMode",
            default=SERVERLESS_BALANCING_MODE,
        )
        neg = refs.get(group) or {}
        if neg.get("networkEndpointType") == "SERVERLESS":
            _check_serverless_backend(backend, mode, where)
            region = neg.get("region", "")
            if region in serverless_regions:
                # serverless-neg-concepts, backend service limitations: one serverless NEG
                # per region in a backend service.
                raise invalid_value(
                    f"{where}.group",
                    group,
                    "A backend service can have only one serverless network endpoint group "
                    f"per region; {serverless_regions[region]} is in the same region.",
                )
            serverless_regions[region] = group
        _check_capacity_scaler(backend.get("capacityScaler"), len(raw), where)
        entry = {**backend, "group": group, "balancingMode": mode}
        entry.setdefault("capacityScaler", 1)
        backends.append(entry)
    return backends, bool(serverless_regions)


def _check_capacity_scaler(raw: Any, backend_count: int, where: str) -> None:
    """compute_v1 Backend.capacity_scaler: "The valid ranges are 0.0 and [0.1,1.0]" and "You
    cannot configure a setting of 0 when there is only one backend"."""
    if raw is None:
        return
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise invalid_value(f"{where}.capacityScaler", raw, "Must be a number.")
    if raw != 0 and not 0.1 <= raw <= 1.0:
        raise invalid_value(
            f"{where}.capacityScaler",
            raw,
            "The capacity scaler must be 0.0 or between 0.1 and 1.0, inclusive.",
        )
    if raw == 0 and backend_count == 1:
        raise invalid_value(
            f"{where}.capacityScaler",
            raw,
            "The capacity scaler cannot be 0 when the backend service has only one backend.",
        )


def _check_log_config(raw: Any) -> None:
    """compute_v1 BackendServiceLogConfig: sampleRate in [0, 1]; sampleRate and optionalMode
    "can only be specified if logging is enabled"; optionalFields only with CUSTOM."""
    if not raw:
        return
    enabled = bool(raw.get("enable"))
    rate = raw.get("sampleRate")
    if rate is not None and not 0 <= rate <= 1:
        raise invalid_value(
            "resource.logConfig.sampleRate", rate, "The sample rate must be in [0, 1]."
        )
    for field in ("sampleRate", "optionalMode", "optionalFields"):
        if raw.get(field) not in (None, [], "") and not enabled:
            raise invalid_value(
                f"resource.logConfig.{field}",
                raw[field],
                f"{field} can only be specified if logging is enabled.",
            )
    mode = check_enum(
        raw.get("optionalMode"),
        compute_v1.BackendServiceLogConfig.OptionalMode,
        "resource.logConfig.optionalMode",
    )
    if raw.get("optionalFields") and mode != "CUSTOM":
        raise invalid_value(
            "resource.logConfig.optionalFields",
            raw["optionalFields"],
            "optionalFields can only be specified if optionalMode is CUSTOM.",
        )


def _check_serverless_backend(backend: dict[str, Any], mode: str, where: str) -> None:
    if mode != SERVERLESS_BALANCING_MODE:
        raise invalid_value(
            f"{where}.balancingMode",
            mode,
            "Balancing mode is not supported for Serverless network endpoint groups.",
        )
    for name in CAPACITY_FIELDS:
        if backend.get(name) in (None, 0):
            continue
        if name == "maxUtilization":
            detail = "Max utilization is not supported for Serverless network endpoint groups."
        else:
            detail = "Serverless network endpoint group backends do not support capacity settings."
        raise invalid_value(f"{where}.{name}", backend[name], detail)


def _check_timeout(raw: Any, serverless: bool) -> None:
    """The range of the compute_v1 BackendService.timeoutSec docstring; with serverless NEG
    backends the timeout is fixed at its default (the cloud-run-faq#108 report of the
    serverless-neg-concepts limitation) and any other value is refused in the API's words
    (terraform-google-lb-http PR #358)."""
    if raw is None:
        return
    if not isinstance(raw, int) or not 1 <= raw <= MAX_TIMEOUT_SEC:
        raise invalid_value(
            "resource.timeoutSec", raw, f"Must be between 1 and {MAX_TIMEOUT_SEC}, inclusive."
        )
    if serverless and raw != DEFAULT_TIMEOUT_SEC:
        raise invalid_value(
            "resource.timeoutSec",
            raw,
            "Timeout sec is not supported for a backend service with Serverless network "
            "endpoint groups.",
        )


# ------------------------------------------------------------------ URL maps
def build_url_map(refs: References, body: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    out = {**base, **_input(body)}
    chosen = [
        name
        for name, present in (
            ("defaultService", bool(body.get("defaultService"))),
            ("defaultUrlRedirect", body.get("defaultUrlRedirect") is not None),
            (
                "defaultRouteAction.weightedBackendServices",
                bool((body.get("defaultRouteAction") or {}).get("weightedBackendServices")),
            ),
        )
        if present
    ]
    if len(chosen) > 1:
        # compute_v1 UrlMap.defaultService / defaultUrlRedirect docstrings.
        raise invalid_value(
            f"resource.{chosen[1]}",
            "",
            "Only one of defaultUrlRedirect, defaultService or "
            "defaultRouteAction.weightedBackendService can be set.",
        )
    _check_host_rules(out)
    _rewrite_services(
        out,
        lambda field, value: refs.existing(f"resource.{field}", value, SERVICE_COLLECTIONS),
    )
    for field, redirect in _redirects(out):
        check_enum(
            redirect.get("redirectResponseCode"),
            compute_v1.HttpRedirectAction.RedirectResponseCode,
            f"resource.{field}.redirectResponseCode",
        )
    actions = list(_header_actions(out))
    for field, action in actions:
        check_header_action(action, f"resource.{field}")
    if actions:
        for link in _service_links(out):
            service = refs.get(link) or {}
            if service.get("loadBalancingScheme") == "EXTERNAL":
                # compute_v1 UrlMap.headerAction docstring.
                raise invalid_value(
                    f"resource.{actions[0][0]}",
                    "",
                    "headerAction is not supported for load balancers that have their "
                    "loadBalancingScheme set to EXTERNAL.",
                )
    _run_tests(refs, out)
    return out


MAX_URL_MAP_TESTS = 100  # compute_v1 UrlMap.tests: "a maximum of 100 tests per UrlMap"
# compute_v1 HostRule.hosts: host names with an optional port; "*" only first, followed by
# "-" or "." when anything follows it.
_HOST_PATTERN = re.compile(r"(?:\*|\*[-.][a-z0-9.-]*|[a-z0-9][a-z0-9.-]*)(?::\d{1,5})?\Z")


def _check_host_rules(url_map: dict[str, Any]) -> None:
    """Host rules name path matchers that exist; path matcher names are unique; hosts follow
    the HostRule.hosts pattern and appear in one host rule only."""
    names: set[str] = set()
    for m, matcher in enumerate(url_map.get("pathMatchers") or []):
        name = matcher.get("name")
        if not name:
            raise required(f"resource.pathMatchers[{m}].name")
        if name in names:
            raise invalid_value(
                f"resource.pathMatchers[{m}].name", name, "Duplicate path matcher name."
            )
        names.add(name)
    hosts: set[str] = set()
    for r, rule in enumerate(url_map.get("hostRules") or []):
        wanted = rule.get("pathMatcher")
        if not wanted:
            raise required(f"resource.hostRules[{r}].pathMatcher")
        if wanted not in names:
            raise invalid_value(
                f"resource.hostRules[{r}].pathMatcher",
                wanted,
                f"The path matcher '{wanted}' is not defined in pathMatchers.",
            )
        if not rule.get("hosts"):
            raise required(f"resource.hostRules[{r}].hosts")
        for h, host in enumerate(rule["hosts"]):
            where = f"resource.hostRules[{r}].hosts[{h}]"
            if not isinstance(host, str) or not _HOST_PATTERN.match(host.lower()):
                raise invalid_value(where, host, "Invalid host pattern.")
            if host.lower() in hosts:
                raise invalid_value(where, host, "The host appears in more than one host rule.")
            hosts.add(host.lower())


def _run_tests(refs: References, url_map: dict[str, Any]) -> None:
    """compute_v1 UrlMap.tests: "Request to update the UrlMap succeeds only if all test cases
    pass"; UrlMapTest.service "cannot be set if expectedRedirectResponseCode is set"."""
    tests = url_map.get("tests") or []
    if len(tests) > MAX_URL_MAP_TESTS:
        raise invalid_value(
            "resource.tests",
            len(tests),
            f"A URL map can have at most {MAX_URL_MAP_TESTS} tests.",
        )
    for t, test in enumerate(tests):
        where = f"resource.tests[{t}]"
        if test.get("service") and test.get("expectedRedirectResponseCode"):
            raise invalid_value(
                f"{where}.service",
                test["service"],
                "service cannot be set together with expectedRedirectResponseCode.",
            )
        for field in ("host", "path"):
            if not test.get(field):
                raise required(f"{where}.{field}")
        route = resolve(url_map, test["host"], test["path"], random.Random(0))
        if test.get("service"):
            want = refs.existing(f"{where}.service", test["service"], SERVICE_COLLECTIONS)
            test["service"] = want
            got = route.service if route is not None else None
            if got != want:
                raise invalid_value(
                    where,
                    "",
                    f"Test failed: host '{test['host']}' and path '{test['path']}' map to "
                    f"'{got or 'no service'}', expected '{want}'.",
                )


def has_https_redirect(url_map: dict[str, Any]) -> bool:
    return any(r.get("httpsRedirect") for _, r in _redirects(url_map))


def _service_links(url_map: dict[str, Any]) -> list[str]:
    found: list[str] = []
    _rewrite_services(url_map, lambda _f, v: found.append(v) or v)
    return found


def _rewrite_services(url_map: dict[str, Any], fn: Callable[[str, str], str]) -> None:
    """Apply ``fn(field, reference)`` to every backend service reference, in place."""

    def one(holder: dict[str, Any], key: str, field: str) -> None:
        if holder.get(key):
            holder[key] = fn(f"{field}{key}", holder[key])

    def weighted(holder: dict[str, Any], key: str, field: str) -> None:
        action = holder.get(key) or {}
        for i, wbs in enumerate(action.get("weightedBackendServices") or []):
            one(wbs, "backendService", f"{field}{key}.weightedBackendServices[{i}].")

    one(url_map, "defaultService", "")
    weighted(url_map, "defaultRouteAction", "")
    for m, matcher in enumerate(url_map.get("pathMatchers") or []):
        prefix = f"pathMatchers[{m}]."
        one(matcher, "defaultService", prefix)
        weighted(matcher, "defaultRouteAction", prefix)
        for kind in ("pathRules", "routeRules"):
            for r, rule in enumerate(matcher.get(kind) or []):
                one(rule, "service", f"{prefix}{kind}[{r}].")
                weighted(rule, "routeAction", f"{prefix}{kind}[{r}].")


def _redirects(url_map: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    if url_map.get("defaultUrlRedirect") is not None:
        found.append(("defaultUrlRedirect", url_map["defaultUrlRedirect"]))
    for m, matcher in enumerate(url_map.get("pathMatchers") or []):
        if matcher.get("defaultUrlRedirect") is not None:
            found.append((f"pathMatchers[{m}].defaultUrlRedirect", matcher["defaultUrlRedirect"]))
        for kind in ("pathRules", "routeRules"):
            for r, rule in enumerate(matcher.get(kind) or []):
                if rule.get("urlRedirect") is not None:
                    where = f"pathMatchers[{m}].{kind}[{r}].urlRedirect"
                    found.append((where, rule["urlRedirect"]))
    return found


def _header_actions(url_map: dict[str, Any]) -> list[tuple[str, Any]]:
    found = []
    if url_map.get("headerAction") is not None:
        found.append(("headerAction", url_map["headerAction"]))
    for m, matcher in enumerate(url_map.get("pathMatchers") or []):
        if matcher.get("headerAction") is not None:
            found.append((f"pathMatchers[{m}].headerAction", matcher["headerAction"]))
        for r, rule in enumerate(matcher.get("routeRules") or []):
            if rule.get("headerAction") is not None:
                where = f"pathMatchers[{m}].routeRules[{r}].headerAction"
                found.append((where, rule["headerAction"]))
    return found


# Fields the API fills in itself; a body (often a GET result sent back) may carry them.
OUTPUT_ONLY = frozenset(
    {
        "kind",
        "id",
        "creationTimestamp",
        "selfLink",
        "fingerprint",
        "labelFingerprint",
        "usedBy",
        "users",
        "status",
        "size",
        "region",
        "zone",
        "selfLinkWithId",
    }
)


def _input(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in OUTPUT_ONLY and k != "name"}
