"""The Compute rules of the docs/emulator.md register that the sweep added, through the
official compute_v1 clients, and the deploy code's resources against them."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from globalguide.cloud.names import LABEL_KEY, Names
from globalguide.cloud.resources.base import Context
from globalguide.cloud.resources.loadbalancer import (
    BackendService,
    ForwardingRule,
    GlobalAddress,
    ServerlessNeg,
    TargetHttpProxy,
    UrlMap,
)
from globalguide.emulator.compute.state import EMPTY_LABELS_FINGERPRINT
from tests.emulator.compute.test_compute import (
    REGIONS,
    P,
    backend_service,
    build_chain,
    global_link,
    insert,
    make_negs,
    neg_link,
    serverless_neg,
)
from tests.emulator.conftest import requests_log

TIMEOUT_REFUSED = (
    "Invalid value for field 'resource.timeoutSec': '60'. Timeout sec is not supported for a "
    "backend service with Serverless network endpoint groups."
)


def bad(call, *args, **kwargs) -> gexc.BadRequest:
    with pytest.raises(gexc.BadRequest) as info:
        call(*args, **kwargs)
    return info.value


@pytest.fixture
def negs(enabled):
    make_negs(enabled)
    return enabled


def set_labels(client, name: str, labels: dict[str, str], fingerprint: str | None):
    request = compute_v1.GlobalSetLabelsRequest(labels=labels)
    if fingerprint is not None:
        request.label_fingerprint = fingerprint
    return client.set_labels(project=P, resource=name, global_set_labels_request_resource=request)


# ------------------------------------------------------------------ backend services
def test_timeout_sec_is_refused_with_serverless_negs_but_its_default_is_not(negs):
    err = bad(
        negs.backend_services.insert,
        project=P,
        backend_service_resource=backend_service(timeout_sec=60),
    )
    assert err.message.endswith(TIMEOUT_REFUSED)
    insert(negs.backend_services, backend_service_resource=backend_service(timeout_sec=30))
    assert negs.backend_services.get(project=P, backend_service="bs").timeout_sec == 30


def test_timeout_sec_is_refused_on_patch_and_update(negs):
    c = negs.backend_services
    insert(c, backend_service_resource=backend_service())
    current = c.get(project=P, backend_service="bs")
    patch = compute_v1.BackendService(timeout_sec=60, fingerprint=current.fingerprint)
    err = bad(c.patch, project=P, backend_service="bs", backend_service_resource=patch)
    assert err.message.endswith(TIMEOUT_REFUSED)
    replacement = backend_service(timeout_sec=60, fingerprint=current.fingerprint)
    err = bad(c.update, project=P, backend_service="bs", backend_service_resource=replacement)
    assert err.message.endswith(TIMEOUT_REFUSED)


def test_adding_a_serverless_neg_to_a_service_with_a_timeout_is_refused(negs):
    c = negs.backend_services
    insert(c, backend_service_resource=backend_service(regions=(), timeout_sec=60))
    current = c.get(project=P, backend_service="bs")
    patch = compute_v1.BackendService(
        backends=[compute_v1.Backend(group=neg_link("us-central1"))],
        fingerprint=current.fingerprint,
    )
    err = bad(c.patch, project=P, backend_service="bs", backend_service_resource=patch)
    assert err.message.endswith(TIMEOUT_REFUSED)


@pytest.mark.parametrize("seconds", [0, -1])
def test_timeout_sec_range(enabled, seconds):
    err = bad(
        enabled.backend_services.insert,
        project=P,
        backend_service_resource=backend_service(regions=(), timeout_sec=seconds),
    )
    assert "Must be between 1 and 2147483647" in err.message


@pytest.mark.parametrize("mode", ["RATE", "CONNECTION", "IN_FLIGHT"])
def test_serverless_backends_take_only_the_utilization_mode(negs, mode):
    backend = compute_v1.Backend(group=neg_link("us-central1"), balancing_mode=mode)
    err = bad(
        negs.backend_services.insert,
        project=P,
        backend_service_resource=backend_service(backends=[backend]),
    )
    assert err.message.endswith(
        f"Invalid value for field 'resource.backends[0].balancingMode': '{mode}'. "
        "Balancing mode is not supported for Serverless network endpoint groups."
    )


def test_serverless_backends_refuse_max_utilization_in_the_api_words(negs):
    backend = compute_v1.Backend(group=neg_link("us-central1"), max_utilization=0.8)
    err = bad(
        negs.backend_services.insert,
        project=P,
        backend_service_resource=backend_service(backends=[backend]),
    )
    assert err.message.endswith(
        "Invalid value for field 'resource.backends[0].maxUtilization': '0.8'. "
        "Max utilization is not supported for Serverless network endpoint groups."
    )


def test_one_serverless_neg_per_region(negs):
    insert(
        negs.region_negs,
        region="us-central1",
        network_endpoint_group_resource=serverless_neg("other", service="other"),
    )
    backends = [
        compute_v1.Backend(group=neg_link("us-central1")),
        compute_v1.Backend(group=neg_link("us-central1", "other")),
    ]
    err = bad(
        negs.backend_services.insert,
        project=P,
        backend_service_resource=backend_service(backends=backends),
    )
    assert "only one serverless network endpoint group per region" in err.message


def test_the_same_group_twice_is_refused(negs):
    backends = [compute_v1.Backend(group=neg_link("us-central1"))] * 2
    err = bad(
        negs.backend_services.insert,
        project=P,
        backend_service_resource=backend_service(backends=backends),
    )
    assert "resource.backends[1].group" in err.message


# ------------------------------------------------------------------ labels
def test_address_labels_sent_with_insert_are_not_kept(enabled):
    c = enabled.global_addresses
    insert(c, address_resource=compute_v1.Address(name="ip", labels={"globalguide": "x"}))
    got = c.get(project=P, address="ip")
    assert (dict(got.labels), got.label_fingerprint) == ({}, EMPTY_LABELS_FINGERPRINT)


def test_forwarding_rule_labels_sent_with_insert_are_not_kept(enabled):
    build_chain(enabled)
    c = enabled.global_forwarding_rules
    rule = compute_v1.ForwardingRule(
        name="fr2",
        I_p_address=global_link("addresses", "ip"),
        port_range="8080",
        target=global_link("targetHttpProxies", "px"),
        load_balancing_scheme="EXTERNAL_MANAGED",
        labels={"globalguide": "x"},
    )
    insert(c, forwarding_rule_resource=rule)
    got = c.get(project=P, forwarding_rule="fr2")
    assert (dict(got.labels), got.label_fingerprint) == ({}, EMPTY_LABELS_FINGERPRINT)


def test_set_labels_fingerprint_cycle(enabled):
    """setLabels needs the current fingerprint (missing or stale: 412 conditionNotMet,
    google-cloud-go#7802), and a label change gives a new one."""
    c = enabled.global_addresses
    insert(c, address_resource=compute_v1.Address(name="ip", labels={"a": "b"}))
    first = c.get(project=P, address="ip").label_fingerprint
    for fingerprint in (None, "c3RhbGU="):
        with pytest.raises(gexc.PreconditionFailed) as info:
            set_labels(c, "ip", {"a": "b"}, fingerprint)
        assert info.value.errors[0]["reason"] == "conditionNotMet"
    set_labels(c, "ip", {"a": "b"}, first).result(timeout=30)
    labelled = c.get(project=P, address="ip")
    assert dict(labelled.labels) == {"a": "b"}
    assert labelled.label_fingerprint != first
    with pytest.raises(gexc.PreconditionFailed):
        set_labels(c, "ip", {}, first)


# ------------------------------------------------------------------ the deploy code
NAMES = Names("lg", P)


@pytest.fixture
def deployed_chain(enabled):
    """The deploy code's own load-balancer resources, created through the twin."""
    ctx = Context(enabled)
    resources = [GlobalAddress(NAMES, NAMES.address)]
    resources += [ServerlessNeg(NAMES, NAMES.neg, r) for r in REGIONS]
    resources += [
        BackendService(NAMES, REGIONS),
        UrlMap(NAMES, NAMES.url_map),
        TargetHttpProxy(NAMES, NAMES.url_map),
        ForwardingRule(
            NAMES, NAMES.http_rule, "80", NAMES.global_link("targetHttpProxies", NAMES.http_proxy)
        ),
    ]
    for resource in resources:
        resource.create(ctx)
    return enabled, resources


def test_deploy_resources_are_accepted_and_read_back_unchanged(deployed_chain):
    c, resources = deployed_chain
    for resource in resources:
        assert resource.same(resource.read(c)), resource.key
    for client, field, name in (
        (c.global_addresses, "address", NAMES.address),
        (c.global_forwarding_rules, "forwarding_rule", NAMES.http_rule),
    ):
        assert client.get(project=P, **{field: name}).labels[LABEL_KEY] == NAMES.name


def test_a_rule_left_without_its_label_is_updated_by_set_labels_alone(enabled, endpoint):
    """A crash between insert and setLabels leaves a label-less rule: the next deploy's
    update is one setLabels, never a refused update."""
    build_chain(enabled)
    insert(enabled.global_addresses, address_resource=compute_v1.Address(name=NAMES.address))
    target = global_link("targetHttpProxies", "px")
    rule = ForwardingRule(NAMES, "lg-bare", "8080", target)
    body = rule.insert_body()
    body.name = rule.name
    insert(enabled.global_forwarding_rules, forwarding_rule_resource=body)
    current = rule.read(enabled)
    assert not rule.same(current)
    before = len(requests_log(endpoint))
    rule.update(Context(enabled), current)
    mutating = [r for r in requests_log(endpoint)[before:] if r["mutating"]]
    assert [r["path"].rsplit("/", 1)[-1] for r in mutating] == ["setLabels"]
    assert rule.same(rule.read(enabled))


# ------------------------------------------------------------------ serverless NEG fields
def neg_insert(c, **fields):
    neg = serverless_neg("n2")
    for key, value in fields.items():
        setattr(neg, key, value)
    return c.region_negs.insert(project=P, region=REGIONS[0], network_endpoint_group_resource=neg)


@pytest.mark.parametrize(
    ("field", "value"),
    [("default_port", 8080), ("network", "global/networks/default")],
)
def test_serverless_neg_refuses_default_port_and_network(enabled, field, value):
    err = bad(neg_insert, enabled, **{field: value})
    assert "cannot be set for a network endpoint group of type SERVERLESS" in err.message


@pytest.mark.parametrize(
    "run", [{"service": "Guide"}, {"service": "g" * 64}, {"service": "guide", "tag": "-x"}]
)
def test_cloud_run_service_and_tag_are_rfc1035_names(enabled, run):
    err = bad(neg_insert, enabled, cloud_run=compute_v1.NetworkEndpointGroupCloudRun(**run))
    field = "tag" if "tag" in run else "service"
    assert f"'resource.cloudRun.{field}'" in err.message


def test_cloud_run_tag_that_is_a_name_is_accepted(enabled):
    run = compute_v1.NetworkEndpointGroupCloudRun(service="guide", tag="revision-0010")
    neg_insert(enabled, cloud_run=run).result(timeout=30)


# ------------------------------------------------------------------ backend service fields
@pytest.mark.parametrize("scaler", [0.05, 1.5, -0.1])
def test_capacity_scaler_is_zero_or_a_tenth_to_one(negs, scaler):
    backends = [compute_v1.Backend(group=neg_link(r), capacity_scaler=scaler) for r in REGIONS]
    err = bad(
        negs.backend_services.insert,
        project=P,
        backend_service_resource=backend_service(backends=backends),
    )
    assert "capacityScaler" in err.message


def test_capacity_scaler_zero_needs_another_backend(negs):
    one = [compute_v1.Backend(group=neg_link(REGIONS[0]), capacity_scaler=0)]
    err = bad(
        negs.backend_services.insert,
        project=P,
        backend_service_resource=backend_service(backends=one),
    )
    assert "only one backend" in err.message
    two = one + [compute_v1.Backend(group=neg_link(REGIONS[1]))]
    insert(negs.backend_services, backend_service_resource=backend_service(backends=two))


@pytest.mark.parametrize(
    ("log", "words"),
    [
        (compute_v1.BackendServiceLogConfig(enable=True, sample_rate=1.5), "[0, 1]"),
        (compute_v1.BackendServiceLogConfig(enable=False, sample_rate=0.5), "logging is enabled"),
        (
            compute_v1.BackendServiceLogConfig(
                enable=True, optional_mode="INCLUDE_ALL_OPTIONAL", optional_fields=["a"]
            ),
            "optionalMode is CUSTOM",
        ),
    ],
)
def test_log_config_rules(negs, log, words):
    err = bad(
        negs.backend_services.insert,
        project=P,
        backend_service_resource=backend_service(log_config=log),
    )
    assert words in err.message


def test_at_most_one_health_check(negs):
    checks = [global_link("healthChecks", "a"), global_link("healthChecks", "b")]
    err = bad(
        negs.backend_services.insert,
        project=P,
        backend_service_resource=backend_service(regions=(), health_checks=checks),
    )
    assert "At most one health check" in err.message


def test_deploy_sends_backend_groups_as_full_urls():
    """compute_v1 Backend.group: "You must use the fully-qualified URL (starting with
    https://www.googleapis.com/) ... Partial URLs are not supported"."""
    groups = [b.group for b in BackendService(NAMES, REGIONS).desired().backends]
    assert groups and all(
        g.startswith("https://www.googleapis.com/compute/v1/projects/") for g in groups
    )


# ------------------------------------------------------------------ URL maps
def service_url_map(**fields):
    return url_map_resource(default_service=global_link("backendServices", "bs"), **fields)


def url_map_resource(**fields) -> compute_v1.UrlMap:
    return compute_v1.UrlMap(name="um", **fields)


@pytest.fixture
def service(negs):
    insert(negs.backend_services, backend_service_resource=backend_service())
    return negs


def matcher(name: str = "m") -> compute_v1.PathMatcher:
    return compute_v1.PathMatcher(name=name, default_service=global_link("backendServices", "bs"))


@pytest.mark.parametrize(
    ("host_rules", "matchers", "words"),
    [
        ([compute_v1.HostRule(hosts=["a.example.com"], path_matcher="x")], [matcher()], "'x'"),
        ([], [matcher(), matcher()], "Duplicate path matcher"),
        ([compute_v1.HostRule(hosts=["a*b.example.com"], path_matcher="m")], [matcher()], "host"),
        (
            [
                compute_v1.HostRule(hosts=["a.example.com"], path_matcher="m"),
                compute_v1.HostRule(hosts=["a.example.com"], path_matcher="m"),
            ],
            [matcher()],
            "more than one host rule",
        ),
    ],
)
def test_host_rules_and_path_matchers_agree(service, host_rules, matchers, words):
    err = bad(
        service.url_maps.insert,
        project=P,
        url_map_resource=service_url_map(host_rules=host_rules, path_matchers=matchers),
    )
    assert words in err.message


def test_host_rule_wildcards_are_accepted(service):
    rules = [compute_v1.HostRule(hosts=["*.example.com", "*", "b.example.com:8080"])]
    rules[0].path_matcher = "m"
    insert(
        service.url_maps,
        url_map_resource=service_url_map(host_rules=rules, path_matchers=[matcher()]),
    )


def test_url_map_tests_must_pass(service):
    insert(
        service.backend_services,
        backend_service_resource=backend_service("other", regions=()),
    )
    rules = [compute_v1.HostRule(hosts=["api.example.com"], path_matcher="m")]
    paths = [
        compute_v1.PathMatcher(
            name="m",
            default_service=global_link("backendServices", "bs"),
            path_rules=[
                compute_v1.PathRule(
                    paths=["/v2/*"], service=global_link("backendServices", "other")
                )
            ],
        )
    ]
    passing = compute_v1.UrlMapTest(
        host="api.example.com", path="/v2/x", service=global_link("backendServices", "other")
    )
    failing = compute_v1.UrlMapTest(
        host="api.example.com", path="/v1/x", service=global_link("backendServices", "other")
    )
    err = bad(
        service.url_maps.insert,
        project=P,
        url_map_resource=service_url_map(
            host_rules=rules, path_matchers=paths, tests=[passing, failing]
        ),
    )
    assert "Test failed" in err.message
    insert(
        service.url_maps,
        url_map_resource=service_url_map(host_rules=rules, path_matchers=paths, tests=[passing]),
    )


def test_url_map_tests_limit_and_service_with_redirect_code(service):
    test = compute_v1.UrlMapTest(
        host="a.example.com", path="/", service=global_link("backendServices", "bs")
    )
    err = bad(
        service.url_maps.insert, project=P, url_map_resource=service_url_map(tests=[test] * 101)
    )
    assert "at most 100 tests" in err.message
    test.expected_redirect_response_code = 301
    err = bad(service.url_maps.insert, project=P, url_map_resource=service_url_map(tests=[test]))
    assert "expectedRedirectResponseCode" in err.message


# ------------------------------------------------------------------ front end
def test_certificate_map_must_be_a_certificate_manager_url(enabled):
    insert(
        enabled.url_maps,
        url_map_resource=compute_v1.UrlMap(
            name="redirect",
            default_url_redirect=compute_v1.HttpRedirectAction(host_redirect="x.io"),
        ),
    )
    err = bad(
        enabled.target_https_proxies.insert,
        project=P,
        target_https_proxy_resource=compute_v1.TargetHttpsProxy(
            name="spx", url_map=global_link("urlMaps", "redirect"), certificate_map="maps/guide"
        ),
    )
    assert "'resource.certificateMap'" in err.message


@pytest.fixture
def chain(enabled):
    build_chain(enabled)
    return enabled


def proxy_rule(**fields) -> compute_v1.ForwardingRule:
    values = {
        "name": "fr2",
        "I_p_protocol": "TCP",
        "target": global_link("targetHttpProxies", "px"),
        "load_balancing_scheme": "EXTERNAL_MANAGED",
    }
    values.update(fields)
    return compute_v1.ForwardingRule(**values)


@pytest.mark.parametrize("fields", [{"ports": ["8081"]}, {"all_ports": True}])
def test_proxy_rules_take_port_range_not_ports(chain, fields):
    err = bad(
        chain.global_forwarding_rules.insert,
        project=P,
        forwarding_rule_resource=proxy_rule(port_range="8081", **fields),
    )
    assert "use portRange" in err.message


def test_rule_address_must_have_the_rules_ip_version(chain):
    err = bad(
        chain.global_forwarding_rules.insert,
        project=P,
        forwarding_rule_resource=proxy_rule(
            port_range="8081", I_p_address=global_link("addresses", "ip"), ip_version="IPV6"
        ),
    )
    assert "IPV4" in err.message and "IPV6" in err.message


# ------------------------------------------------------------------ probe VM metadata
def test_metadata_value_and_total_size_limits(enabled):
    from tests.emulator.compute.test_compute_instances import create

    big = compute_v1.Metadata(items=[compute_v1.Items(key="startup-script", value="x" * 262_145)])
    err = bad(create, enabled, metadata=big)
    assert "262144 bytes" in err.message
    near = "x" * 262_144
    two = compute_v1.Metadata(
        items=[compute_v1.Items(key="a", value=near), compute_v1.Items(key="b", value=near)]
    )
    err = bad(create, enabled, metadata=two)
    assert "total size" in err.message
    long_key = compute_v1.Metadata(items=[compute_v1.Items(key="k" * 128, value="v")])
    assert "128 bytes" in bad(create, enabled, metadata=long_key).message
    create(enabled, metadata=compute_v1.Metadata(items=[compute_v1.Items(key="k", value=near)]))
