"""Every rule the compute twin enforces, one test each, through the official clients (raw
``requests`` where the client library cannot even express the refused request)."""

from __future__ import annotations

import datetime

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from globalguide.emulator.session import bearer
from tests.emulator.compute.test_compute import (
    GEO_HEADER,
    REGIONS,
    P,
    backend_service,
    build_chain,
    geo_header_action,
    global_link,
    insert,
    make_negs,
    neg_link,
    reason,
    serverless_neg,
    url_map,
)

API = f"/compute/v1/projects/{P}"


def bad(call, *args, **kwargs) -> gexc.BadRequest:
    with pytest.raises(gexc.BadRequest) as info:
        call(*args, **kwargs)
    return info.value


def insert_neg(c, neg, region="us-central1"):
    return c.region_negs.insert(project=P, region=region, network_endpoint_group_resource=neg)


def insert_bs(c, **fields):
    return c.backend_services.insert(project=P, backend_service_resource=backend_service(**fields))


def insert_rule(c, **fields):
    values = {
        "name": "fr2",
        "I_p_address": global_link("addresses", "ip"),
        "port_range": "8080",
        "target": global_link("targetHttpProxies", "px"),
        "load_balancing_scheme": "EXTERNAL_MANAGED",
    }
    values.update(fields)
    return c.global_forwarding_rules.insert(
        project=P, forwarding_rule_resource=compute_v1.ForwardingRule(**values)
    )


@pytest.fixture
def negs(enabled):
    make_negs(enabled)
    return enabled


@pytest.fixture
def chain(enabled):
    build_chain(enabled)
    return enabled


# ------------------------------------------------------------------ every resource
@pytest.mark.parametrize(
    "name", ["Upper", "1starts-with-digit", "ends-with-dash-", "a" * 64, "a_b"]
)
def test_names_follow_rfc1035(enabled, name):
    err = bad(
        enabled.global_addresses.insert, project=P, address_resource=compute_v1.Address(name=name)
    )
    assert err.message.endswith(
        f"Invalid value for field 'resource.name': '{name}'. "
        "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'"
    )


def test_name_is_required(enabled):
    err = bad(enabled.global_addresses.insert, project=P, address_resource=compute_v1.Address())
    assert err.message.endswith("Required field 'resource.name' not specified")
    assert reason(err) == "required"


def test_duplicate_name_is_409_already_exists(enabled):
    insert(enabled.global_addresses, address_resource=compute_v1.Address(name="ip"))
    with pytest.raises(gexc.Conflict) as info:
        enabled.global_addresses.insert(project=P, address_resource=compute_v1.Address(name="ip"))
    assert reason(info.value) == "alreadyExists"
    assert info.value.message.endswith(
        f"The resource 'projects/{P}/global/addresses/ip' already exists"
    )


def test_unknown_field_is_400(enabled, endpoint):
    """Labels on a backend service: the schema has no such field (gcp-facts §1.1)."""
    resp = requests.post(
        f"{endpoint}{API}/global/backendServices",
        headers=bearer(endpoint),
        json={"name": "bs", "labels": {"a": "b"}},
        timeout=5,
    )
    assert resp.status_code == 400
    assert 'Unknown name "labels"' in resp.json()["error"]["message"]


def test_labels_follow_the_label_rules(enabled):
    err = bad(
        enabled.global_addresses.insert,
        project=P,
        address_resource=compute_v1.Address(name="ip", labels={"Bad": "x"}),
    )
    assert "Label key 'Bad' violates format constraints" in err.message


def test_set_labels_needs_the_current_label_fingerprint(enabled):
    insert(enabled.global_addresses, address_resource=compute_v1.Address(name="ip"))
    with pytest.raises(gexc.PreconditionFailed) as info:
        enabled.global_addresses.set_labels(
            project=P,
            resource="ip",
            global_set_labels_request_resource=compute_v1.GlobalSetLabelsRequest(
                labels={"a": "b"}, label_fingerprint="stale"
            ),
        )
    assert reason(info.value) == "conditionNotMet"
    assert "Labels fingerprint either invalid or resource labels have changed" in info.value.message


def test_reference_to_a_missing_resource_is_404(enabled):
    with pytest.raises(gexc.NotFound) as info:
        enabled.target_http_proxies.insert(
            project=P,
            target_http_proxy_resource=compute_v1.TargetHttpProxy(
                name="px", url_map=global_link("urlMaps", "nope")
            ),
        )
    assert info.value.message.endswith(
        f"The resource 'projects/{P}/global/urlMaps/nope' was not found"
    )


def test_malformed_reference_is_400(enabled):
    err = bad(
        enabled.target_http_proxies.insert,
        project=P,
        target_http_proxy_resource=compute_v1.TargetHttpProxy(name="px", url_map="a/b"),
    )
    assert "The URL is malformed." in err.message


# ------------------------------------------------------------------ addresses
def test_global_address_is_premium_tier_only(enabled):
    err = bad(
        enabled.global_addresses.insert,
        project=P,
        address_resource=compute_v1.Address(name="ip", network_tier="STANDARD"),
    )
    assert "PREMIUM" in err.message


def test_address_enum_values_are_checked(enabled):
    err = bad(
        enabled.global_addresses.insert,
        project=P,
        address_resource=compute_v1.Address(name="ip", address_type="PUBLIC"),
    )
    assert "Invalid value for field 'resource.addressType': 'PUBLIC'" in err.message


# ------------------------------------------------------------------ serverless NEGs
def test_serverless_neg_needs_a_target(enabled):
    err = bad(
        insert_neg,
        enabled,
        compute_v1.NetworkEndpointGroup(name="neg", network_endpoint_type="SERVERLESS"),
    )
    assert (
        "exactly one of cloudRun, appEngine, cloudFunction or serverlessDeployment" in err.message
    )


def test_serverless_neg_takes_only_one_target(enabled):
    neg = serverless_neg()
    neg.app_engine = compute_v1.NetworkEndpointGroupAppEngine(service="default")
    err = bad(insert_neg, enabled, neg)
    assert "exactly one of" in err.message


def test_cloud_run_target_needs_service_or_url_mask(enabled):
    neg = compute_v1.NetworkEndpointGroup(
        name="neg",
        network_endpoint_type="SERVERLESS",
        cloud_run=compute_v1.NetworkEndpointGroupCloudRun(tag="blue"),
    )
    err = bad(insert_neg, enabled, neg)
    assert "service or urlMask must be specified" in err.message


def test_cloud_run_url_mask_and_empty_app_engine_are_accepted(enabled):
    mask = compute_v1.NetworkEndpointGroup(
        name="masked",
        network_endpoint_type="SERVERLESS",
        cloud_run=compute_v1.NetworkEndpointGroupCloudRun(url_mask="<service>.example.com"),
    )
    insert_neg(enabled, mask).result(timeout=30)
    app = compute_v1.NetworkEndpointGroup(
        name="app",
        network_endpoint_type="SERVERLESS",
        app_engine=compute_v1.NetworkEndpointGroupAppEngine(),
    )
    insert_neg(enabled, app).result(timeout=30)


def test_zonal_neg_types_are_refused_in_a_region(enabled):
    neg = compute_v1.NetworkEndpointGroup(name="neg", network_endpoint_type="GCE_VM_IP_PORT")
    err = bad(insert_neg, enabled, neg)
    assert "Network endpoint of type GCE_VM_IP_PORT is only allowed in zonal scope." in err.message


def test_neg_region_must_exist(enabled):
    err = bad(insert_neg, enabled, serverless_neg(), region="moon-base1")
    assert err.message.endswith("Invalid value for field 'region': 'moon-base1'. Unknown region.")


def test_neg_has_no_labels(enabled, endpoint):
    resp = requests.post(
        f"{endpoint}{API}/regions/us-central1/networkEndpointGroups",
        headers=bearer(endpoint),
        json={"name": "neg", "networkEndpointType": "SERVERLESS", "labels": {"a": "b"}},
        timeout=5,
    )
    assert resp.status_code == 400
    assert 'Unknown name "labels"' in resp.json()["error"]["message"]


def test_neg_may_exist_before_its_cloud_run_service(enabled):
    insert_neg(enabled, serverless_neg(service="not-deployed-yet")).result(timeout=30)


# ------------------------------------------------------------------ backend services
def test_backend_scheme_and_protocol_enums(negs):
    err = bad(insert_bs, negs, scheme="GLOBAL")
    assert "Invalid value for field 'resource.loadBalancingScheme': 'GLOBAL'" in err.message
    err = bad(insert_bs, negs, protocol="QUIC")
    assert "Invalid value for field 'resource.protocol': 'QUIC'" in err.message


def test_backend_defaults(negs):
    negs.backend_services.insert(
        project=P,
        backend_service_resource=compute_v1.BackendService(
            name="plain", backends=[compute_v1.Backend(group=neg_link("us-central1"))]
        ),
    ).result(timeout=30)
    got = negs.backend_services.get(project=P, backend_service="plain")
    assert (got.load_balancing_scheme, got.protocol, got.timeout_sec) == ("EXTERNAL", "HTTP", 30)
    assert got.backends[0].capacity_scaler == 1


def test_backend_group_must_exist(enabled):
    with pytest.raises(gexc.NotFound) as info:
        insert_bs(enabled, regions=("us-central1",))
    assert f"'projects/{P}/regions/us-central1/networkEndpointGroups/neg' was not found" in (
        info.value.message
    )


def test_no_health_checks_with_serverless_negs(negs):
    err = bad(insert_bs, negs, health_checks=[global_link("healthChecks", "hc")])
    assert err.message.endswith(
        "Invalid value for field 'resource.healthChecks': ''. A backend service cannot have a "
        "healthcheck with Serverless network endpoint group backends."
    )


def test_outlier_detection_only_on_envoy_based_schemes(negs):
    err = bad(
        insert_bs,
        negs,
        scheme="EXTERNAL",
        outlier_detection=compute_v1.OutlierDetection(consecutive_errors=5),
    )
    assert "Invalid value for field 'resource.outlierDetection'" in err.message
    assert err.message.endswith("Outlier detection is not supported.")


def test_serverless_backends_take_no_capacity_settings(negs):
    backends = [compute_v1.Backend(group=neg_link("us-central1"), max_rate_per_endpoint=100)]
    err = bad(insert_bs, negs, backends=backends)
    assert "resource.backends[0].maxRatePerEndpoint" in err.message


def test_serverless_backends_accept_balancing_mode_and_capacity_scaler(negs):
    backends = [
        compute_v1.Backend(
            group=neg_link("us-central1"), balancing_mode="UTILIZATION", capacity_scaler=0.5
        )
    ]
    insert_bs(negs, backends=backends).result(timeout=30)


@pytest.mark.parametrize(
    "header",
    [
        "Bad Name:x",
        "X-User-IP:1",
        "CDN-Loop:x",
        "Connection:close",
        "Keep-Alive:1",
        "Transfer-Encoding:chunked",
        "TE:trailers",
        "Trailer:x",
        "Upgrade:h2c",
        "Proxy-Authorization:x",
        "Proxy-Authenticate:x",
        "X-Google-Thing:x",
        "X-Goog-Thing:x",
        "X-GFE-Thing:x",
        "X-Amz-Date:x",
        "Host:example.com",
        "no-colon-here",
    ],
)
def test_custom_request_header_names(negs, header):
    err = bad(insert_bs, negs, custom_request_headers=[header])
    assert "Invalid value for field 'resource.customRequestHeaders[0]'" in err.message


def test_host_header_is_allowed_on_the_classic_load_balancer(negs):
    insert_bs(negs, scheme="EXTERNAL", custom_request_headers=["Host:example.com"]).result(
        timeout=30
    )


def test_custom_header_name_only_once(negs):
    err = bad(insert_bs, negs, custom_request_headers=["X-A:1", "x-a:2"])
    assert "appears more than once" in err.message


def test_custom_header_unknown_variable(negs):
    err = bad(insert_bs, negs, custom_request_headers=["X-Client-Geo-Location:{client_country}"])
    assert "unknown variable 'client_country'" in err.message


def test_custom_header_unmatched_brace(negs):
    err = bad(insert_bs, negs, custom_request_headers=["X-A:{client_city"])
    assert "unmatched brace" in err.message


def test_custom_header_escaped_braces_and_every_geo_variable(negs):
    headers = [
        GEO_HEADER,
        "X-Literal:{{not-a-variable}}",
        "X-Where:{client_city_lat_long};{client_rtt_msec}",
        "X-Empty:",
    ]
    insert_bs(negs, custom_request_headers=headers).result(timeout=30)


def test_custom_response_headers_follow_the_same_rules(negs):
    err = bad(insert_bs, negs, custom_response_headers=["X-Goog-Thing:x"])
    assert "resource.customResponseHeaders[0]" in err.message


def test_update_needs_a_fingerprint(negs):
    insert_bs(negs).result(timeout=30)
    err = bad(
        negs.backend_services.update,
        project=P,
        backend_service="bs",
        backend_service_resource=backend_service(),
    )
    assert err.message.endswith("Required field 'resource.fingerprint' not specified")


def test_stale_fingerprint_is_412_condition_not_met(negs):
    insert_bs(negs).result(timeout=30)
    with pytest.raises(gexc.PreconditionFailed) as info:
        negs.backend_services.patch(
            project=P,
            backend_service="bs",
            backend_service_resource=compute_v1.BackendService(
                timeout_sec=5, fingerprint="c3RhbGUhIQ=="
            ),
        )
    assert reason(info.value) == "conditionNotMet"


# ------------------------------------------------------------------ URL maps
@pytest.fixture
def service(negs):
    insert_bs(negs).result(timeout=30)
    return negs


def test_url_map_default_service_must_exist(enabled):
    with pytest.raises(gexc.NotFound):
        enabled.url_maps.insert(project=P, url_map_resource=url_map(service="nope"))


def test_url_map_default_service_and_redirect_are_exclusive(service):
    redirect = compute_v1.HttpRedirectAction(https_redirect=True)
    err = bad(
        service.url_maps.insert, project=P, url_map_resource=url_map(default_url_redirect=redirect)
    )
    assert "Only one of defaultUrlRedirect, defaultService" in err.message


def test_redirect_response_code_enum(enabled):
    redirect = compute_v1.HttpRedirectAction(https_redirect=True, redirect_response_code="MOVED")
    err = bad(
        enabled.url_maps.insert,
        project=P,
        url_map_resource=compute_v1.UrlMap(name="redirect", default_url_redirect=redirect),
    )
    assert "redirectResponseCode" in err.message


def test_header_action_entries_need_a_name(service):
    action = compute_v1.HttpHeaderAction(
        request_headers_to_add=[compute_v1.HttpHeaderOption(header_value="x")]
    )
    err = bad(service.url_maps.insert, project=P, url_map_resource=url_map(header_action=action))
    assert "resource.headerAction.requestHeadersToAdd[0].headerName" in err.message


@pytest.mark.parametrize("name", ["X-Goog-Geo", "Host", "Connection", "bad name"])
def test_header_action_header_names(service, name):
    action = compute_v1.HttpHeaderAction(
        request_headers_to_add=[compute_v1.HttpHeaderOption(header_name=name, header_value="x")]
    )
    err = bad(service.url_maps.insert, project=P, url_map_resource=url_map(header_action=action))
    assert "resource.headerAction.requestHeadersToAdd[0]" in err.message


def test_header_action_variables(service):
    action = compute_v1.HttpHeaderAction(
        request_headers_to_add=[
            compute_v1.HttpHeaderOption(header_name="X-Geo", header_value="{client_planet}")
        ]
    )
    err = bad(service.url_maps.insert, project=P, url_map_resource=url_map(header_action=action))
    assert "unknown variable 'client_planet'" in err.message


def test_header_action_not_on_the_classic_scheme(negs):
    insert_bs(negs, scheme="EXTERNAL").result(timeout=30)
    err = bad(
        negs.url_maps.insert, project=P, url_map_resource=url_map(header_action=geo_header_action())
    )
    assert "headerAction is not supported" in err.message


def test_redirect_only_url_map_for_http_to_https(enabled):
    redirect = compute_v1.HttpRedirectAction(
        https_redirect=True, redirect_response_code="MOVED_PERMANENTLY_DEFAULT"
    )
    insert(
        enabled.url_maps,
        url_map_resource=compute_v1.UrlMap(name="redirect", default_url_redirect=redirect),
    )
    insert(
        enabled.target_http_proxies,
        target_http_proxy_resource=compute_v1.TargetHttpProxy(
            name="px", url_map=global_link("urlMaps", "redirect")
        ),
    )


# ------------------------------------------------------------------ target proxies
def test_proxy_needs_a_url_map(enabled):
    err = bad(
        enabled.target_http_proxies.insert,
        project=P,
        target_http_proxy_resource=compute_v1.TargetHttpProxy(name="px"),
    )
    assert err.message.endswith("Required field 'resource.urlMap' not specified")


def test_https_proxy_needs_a_certificate(chain):
    err = bad(
        chain.target_https_proxies.insert,
        project=P,
        target_https_proxy_resource=compute_v1.TargetHttpsProxy(
            name="spx", url_map=global_link("urlMaps", "um")
        ),
    )
    assert "At least 1 SSL certificate must be specified" in err.message


CERT_MAP = (
    f"//certificatemanager.googleapis.com/projects/{P}/locations/global/certificateMaps/guide"
)


def test_https_proxy_with_a_certificate_map_only(chain):
    insert(
        chain.target_https_proxies,
        target_https_proxy_resource=compute_v1.TargetHttpsProxy(
            name="spx",
            url_map=global_link("urlMaps", "um"),
            certificate_map=CERT_MAP,
        ),
    )


def test_https_proxy_refuses_an_https_redirect_url_map(enabled):
    redirect = compute_v1.HttpRedirectAction(https_redirect=True)
    insert(
        enabled.url_maps,
        url_map_resource=compute_v1.UrlMap(name="redirect", default_url_redirect=redirect),
    )
    insert(
        enabled.ssl_certificates,
        ssl_certificate_resource=compute_v1.SslCertificate(
            name="cert",
            type_="MANAGED",
            managed=compute_v1.SslCertificateManagedSslCertificate(domains=["a.example.com"]),
        ),
    )
    err = bad(
        enabled.target_https_proxies.insert,
        project=P,
        target_https_proxy_resource=compute_v1.TargetHttpsProxy(
            name="spx",
            url_map=global_link("urlMaps", "redirect"),
            ssl_certificates=[global_link("sslCertificates", "cert")],
        ),
    )
    assert "httpsRedirect" in err.message


def test_set_ssl_certificates_needs_one(chain):
    insert(
        chain.target_https_proxies,
        target_https_proxy_resource=compute_v1.TargetHttpsProxy(
            name="spx", url_map=global_link("urlMaps", "um"), certificate_map=CERT_MAP
        ),
    )
    err = bad(
        chain.target_https_proxies.set_ssl_certificates,
        project=P,
        target_https_proxy="spx",
        target_https_proxies_set_ssl_certificates_request_resource=(
            compute_v1.TargetHttpsProxiesSetSslCertificatesRequest()
        ),
    )
    assert "At least 1 SSL certificate" in err.message


# ------------------------------------------------------------------ SSL certificates
def managed(*domains: str) -> compute_v1.SslCertificate:
    return compute_v1.SslCertificate(
        name="cert",
        type_="MANAGED",
        managed=compute_v1.SslCertificateManagedSslCertificate(domains=list(domains)),
    )


@pytest.mark.parametrize(
    ("domains", "words"),
    [
        ((), "resource.managed.domains"),
        (("*.example.com",), "wildcard"),
        (("localhost",), "fully qualified"),
        (("bad_domain.example.com",), "fully qualified"),
        (tuple(f"d{i}.example.com" for i in range(101)), "at most 100"),
    ],
)
def test_managed_certificate_domains(enabled, domains, words):
    err = bad(
        enabled.ssl_certificates.insert, project=P, ssl_certificate_resource=managed(*domains)
    )
    assert words in err.message


def test_self_managed_certificate_needs_certificate_and_key(enabled):
    err = bad(
        enabled.ssl_certificates.insert,
        project=P,
        ssl_certificate_resource=compute_v1.SslCertificate(name="cert", certificate="x"),
    )
    assert "resource.privateKey" in err.message


def test_self_managed_certificate_is_parsed_and_its_key_never_returned(enabled):
    cert_pem, key_pem = _self_signed("guide.example.com")
    insert(
        enabled.ssl_certificates,
        ssl_certificate_resource=compute_v1.SslCertificate(
            name="cert", certificate=cert_pem, private_key=key_pem
        ),
    )
    got = enabled.ssl_certificates.get(project=P, ssl_certificate="cert")
    assert got.type_ == "SELF_MANAGED"
    assert list(got.subject_alternative_names) == ["guide.example.com"]
    assert got.private_key == "" and got.expire_time
    err = bad(
        enabled.ssl_certificates.insert,
        project=P,
        ssl_certificate_resource=compute_v1.SslCertificate(
            name="broken",
            certificate="-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n",
            private_key=key_pem,
        ),
    )
    assert "could not be parsed" in err.message


def _self_signed(domain: str) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


# ------------------------------------------------------------------ forwarding rules
def test_rule_scheme_must_match_the_backend_scheme(chain):
    err = bad(insert_rule, chain, load_balancing_scheme="EXTERNAL")
    assert err.message.endswith(
        "Invalid value for field 'resource.backendService': ''. Load balancing scheme EXTERNAL "
        "does not match the backend service load balancing scheme EXTERNAL_MANAGED."
    )


def test_rule_target_must_exist(chain):
    with pytest.raises(gexc.NotFound):
        insert_rule(chain, target=global_link("targetHttpProxies", "nope"))


def test_rule_target_must_be_a_target_proxy(chain):
    err = bad(insert_rule, chain, target=global_link("urlMaps", "um"))
    assert "The URL is malformed." in err.message


def test_rule_address_must_exist(chain):
    with pytest.raises(gexc.NotFound):
        insert_rule(chain, I_p_address=global_link("addresses", "nope"))


def test_rule_address_by_name_path_or_url_reads_back_as_the_ip(chain):
    for i, ref in enumerate(["ip", global_link("addresses", "ip")]):
        insert_rule(chain, name=f"r{i}", I_p_address=ref, port_range=str(8000 + i)).result(
            timeout=30
        )
        assert chain.global_forwarding_rules.get(
            project=P, forwarding_rule=f"r{i}"
        ).I_p_address == ("127.0.0.1")


def test_same_ip_and_port_twice_is_a_conflict(chain):
    err = bad(insert_rule, chain, port_range="80")
    assert "Specified IP address is in-use and would result in a conflict." in err.message
    insert_rule(chain, port_range="8080").result(timeout=30)


@pytest.mark.parametrize(
    ("port_range", "words"),
    [("http", "Must be a match of regex"), ("80-81", "single port"), ("0", "between 1 and 65535")],
)
def test_rule_port_range(chain, port_range, words):
    err = bad(insert_rule, chain, port_range=port_range)
    assert words in err.message


def test_classic_rule_ports(negs):
    insert_bs(negs, scheme="EXTERNAL").result(timeout=30)
    insert(negs.url_maps, url_map_resource=url_map())
    insert(
        negs.target_http_proxies,
        target_http_proxy_resource=compute_v1.TargetHttpProxy(
            name="px", url_map=global_link("urlMaps", "um")
        ),
    )
    err = bad(
        insert_rule, negs, load_balancing_scheme="EXTERNAL", I_p_address=None, port_range="81"
    )
    assert "use 80 or 8080" in err.message
    insert_rule(negs, load_balancing_scheme="EXTERNAL", I_p_address=None, port_range="8080").result(
        timeout=30
    )


def test_rule_port_defaults_by_proxy_type(chain):
    insert_rule(chain, I_p_address=None, port_range=None).result(timeout=30)
    assert chain.global_forwarding_rules.get(project=P, forwarding_rule="fr2").port_range == "80-80"


def test_rule_ip_literal_and_ip_version_together(chain):
    err = bad(insert_rule, chain, I_p_address="127.0.0.1", ip_version="IPV4")
    assert "Both IP Version and IP Address cannot be specified." in err.message


def test_rule_protocol_is_tcp_for_proxies(chain):
    err = bad(insert_rule, chain, I_p_protocol="UDP")
    assert "resource.IPProtocol" in err.message


def test_rule_is_premium_tier(chain):
    err = bad(insert_rule, chain, network_tier="STANDARD")
    assert "PREMIUM" in err.message


def test_set_target_checks_the_scheme(chain):
    insert_bs(chain, name="classic", scheme="EXTERNAL").result(timeout=30)
    insert(chain.url_maps, url_map_resource=url_map(name="classic", service="classic"))
    insert(
        chain.target_http_proxies,
        target_http_proxy_resource=compute_v1.TargetHttpProxy(
            name="classic", url_map=global_link("urlMaps", "classic")
        ),
    )
    err = bad(
        chain.global_forwarding_rules.set_target,
        project=P,
        forwarding_rule="fr",
        target_reference_resource=compute_v1.TargetReference(
            target=global_link("targetHttpProxies", "classic")
        ),
    )
    assert "does not match the backend service load balancing scheme EXTERNAL" in err.message


def test_delete_while_being_deleted_is_not_ready(chain, emu):
    emu.timing.profile = "realistic"
    emu.timing.time_scale = 10.0
    try:
        chain.global_forwarding_rules.delete_unary(project=P, forwarding_rule="fr")
        err = bad(chain.global_forwarding_rules.delete, project=P, forwarding_rule="fr")
        assert reason(err) == "resourceNotReady"
    finally:
        emu.timing.profile = "instant"
        emu.timing.time_scale = 1.0


def test_regions_used_by_the_chain_exist():
    from globalguide.emulator.compute.instances import known_regions

    assert set(REGIONS) <= known_regions()
