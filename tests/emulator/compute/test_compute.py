"""Compute Engine v1 in the emulator, through the official compute_v1 clients: every method,
the load-balancer chain, delete order, requestId idempotency, the disabled-API answer.

The helpers at the top build the resources the other ``test_compute_*`` modules use.
"""

from __future__ import annotations

import uuid

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from globalguide.emulator.options import DEFAULT_PROJECT
from globalguide.emulator.session import bearer

P = DEFAULT_PROJECT
REGIONS = ("us-central1", "europe-west1", "asia-northeast1")
GEO_HEADER = "X-Client-Geo-Location:{client_city},{client_region_subdivision},{client_region}"
LINK = f"https://www.googleapis.com/compute/v1/projects/{P}"


# ------------------------------------------------------------------ helpers
def reason(exc: gexc.GoogleAPICallError) -> str:
    """The compute error reason (errors[0].reason) of a failed call."""
    return exc.errors[0]["reason"]


def global_link(collection: str, name: str) -> str:
    return f"projects/{P}/global/{collection}/{name}"


def neg_link(region: str, name: str = "neg") -> str:
    return f"projects/{P}/regions/{region}/networkEndpointGroups/{name}"


def serverless_neg(name: str = "neg", service: str = "guide") -> compute_v1.NetworkEndpointGroup:
    return compute_v1.NetworkEndpointGroup(
        name=name,
        network_endpoint_type="SERVERLESS",
        cloud_run=compute_v1.NetworkEndpointGroupCloudRun(service=service),
    )


def make_negs(c, regions=REGIONS, name: str = "neg") -> None:
    ops = [
        c.region_negs.insert(
            project=P, region=r, network_endpoint_group_resource=serverless_neg(name)
        )
        for r in regions
    ]
    for op in ops:
        op.result(timeout=30)


def backend_service(
    name: str = "bs", regions=REGIONS, scheme: str = "EXTERNAL_MANAGED", **fields
) -> compute_v1.BackendService:
    values = {
        "name": name,
        "load_balancing_scheme": scheme,
        "protocol": "HTTPS",
        "backends": [compute_v1.Backend(group=neg_link(r)) for r in regions],
        "custom_request_headers": [GEO_HEADER],
    }
    if scheme == "EXTERNAL_MANAGED":
        values["outlier_detection"] = compute_v1.OutlierDetection(
            consecutive_errors=5,
            interval=compute_v1.Duration(seconds=5),
            base_ejection_time=compute_v1.Duration(seconds=30),
        )
    values.update(fields)
    return compute_v1.BackendService(**values)


def url_map(name: str = "um", service: str = "bs", **fields) -> compute_v1.UrlMap:
    values = {"name": name, "default_service": global_link("backendServices", service)}
    values.update(fields)
    return compute_v1.UrlMap(**values)


def geo_header_action() -> compute_v1.HttpHeaderAction:
    return compute_v1.HttpHeaderAction(
        request_headers_to_remove=["X-Client-Geo-Location"],
        request_headers_to_add=[
            compute_v1.HttpHeaderOption(
                header_name="X-Client-Geo-Location",
                header_value="{client_city},{client_region}",
                replace=True,
            )
        ],
    )


def insert(client, **request):
    """Insert and wait; the operation must succeed."""
    return client.insert(project=P, **request).result(timeout=30)


def build_chain(c, *, scheme: str = "EXTERNAL_MANAGED") -> None:
    """address, 3 serverless NEGs, backend service (geo header, outlier detection), URL map
    with headerAction, HTTP proxy, forwarding rule."""
    insert(c.global_addresses, address_resource=compute_v1.Address(name="ip"))
    make_negs(c)
    insert(c.backend_services, backend_service_resource=backend_service(scheme=scheme))
    extra = {"header_action": geo_header_action()} if scheme == "EXTERNAL_MANAGED" else {}
    insert(c.url_maps, url_map_resource=url_map(**extra))
    insert(
        c.target_http_proxies,
        target_http_proxy_resource=compute_v1.TargetHttpProxy(
            name="px", url_map=global_link("urlMaps", "um")
        ),
    )
    insert(
        c.global_forwarding_rules,
        forwarding_rule_resource=compute_v1.ForwardingRule(
            name="fr",
            I_p_address=global_link("addresses", "ip"),
            I_p_protocol="TCP",
            port_range="80",
            target=global_link("targetHttpProxies", "px"),
            load_balancing_scheme=scheme,
        ),
    )


def patch_backend_description(c, description: str, fingerprint: str) -> None:
    """A merge patch of backend service "bs" naming its description alone."""
    c.backend_services.patch(
        project=P,
        backend_service="bs",
        backend_service_resource=compute_v1.BackendService(
            description=description, fingerprint=fingerprint
        ),
    ).result(timeout=30)


def insert_with_id(c, name: str, request_id: str):
    return c.global_addresses.insert(
        request={
            "project": P,
            "address_resource": compute_v1.Address(name=name),
            "request_id": request_id,
        }
    )


def delete(client, **request) -> None:
    client.delete(project=P, **request).result(timeout=30)


# ------------------------------------------------------------------ the chain
def test_full_chain_reads_back_as_the_real_api_shows_it(enabled, emu):
    c = enabled
    build_chain(c)

    address = c.global_addresses.get(project=P, address="ip")
    assert address.address == "127.0.0.1"
    assert address.status == "IN_USE"
    assert list(address.users) == [f"{LINK}/global/forwardingRules/fr"]
    assert (address.address_type, address.ip_version, address.network_tier) == (
        "EXTERNAL",
        "IPV4",
        "PREMIUM",
    )

    neg = c.region_negs.get(project=P, region="europe-west1", network_endpoint_group="neg")
    assert neg.self_link == f"{LINK}/regions/europe-west1/networkEndpointGroups/neg"
    assert neg.region == f"{LINK}/regions/europe-west1"
    assert neg.size == 0 and neg.cloud_run.service == "guide"
    assert neg.kind == "compute#networkEndpointGroup" and neg.id > 0

    bs = c.backend_services.get(project=P, backend_service="bs")
    assert [b.group for b in bs.backends] == [
        f"{LINK}/{neg_link(r)[len(f'projects/{P}/') :]}" for r in REGIONS
    ]
    assert bs.backends[0].balancing_mode == "UTILIZATION"
    assert list(bs.custom_request_headers) == [GEO_HEADER]
    assert bs.outlier_detection.consecutive_errors == 5
    assert bs.fingerprint
    assert [u.reference for u in bs.used_by] == [f"{LINK}/global/urlMaps/um"]

    um = c.url_maps.get(project=P, url_map="um")
    assert um.default_service == f"{LINK}/global/backendServices/bs"
    assert um.header_action.request_headers_to_add[0].replace is True

    proxy = c.target_http_proxies.get(project=P, target_http_proxy="px")
    assert proxy.url_map == f"{LINK}/global/urlMaps/um"
    assert proxy.kind == "compute#targetHttpProxy"

    rule = c.global_forwarding_rules.get(project=P, forwarding_rule="fr")
    assert rule.I_p_address == "127.0.0.1"
    assert rule.port_range == "80-80"
    assert rule.target == f"{LINK}/global/targetHttpProxies/px"
    assert rule.load_balancing_scheme == "EXTERNAL_MANAGED"
    assert rule.creation_timestamp and rule.label_fingerprint

    assert emu.compute.get("forwardingRules", "global/forwardingRules/fr")["name"] == "fr"
    address = c.global_addresses.get(project=P, address="ip")
    assert address.status == "IN_USE" and list(address.users) == [rule.self_link]


def test_wrong_delete_order_fails_and_right_order_succeeds(enabled, emu):
    c = enabled
    build_chain(c)
    wrong = [
        (c.global_addresses, {"address": "ip"}, "address", "forwardingRules/fr"),
        (c.target_http_proxies, {"target_http_proxy": "px"}, "target_http_proxy",
         "forwardingRules/fr"),
        (c.url_maps, {"url_map": "um"}, "url_map", "targetHttpProxies/px"),
        (c.backend_services, {"backend_service": "bs"}, "backend_service", "urlMaps/um"),
    ]  # fmt: skip
    paths = {
        "address": "global/addresses/ip",
        "target_http_proxy": "global/targetHttpProxies/px",
        "url_map": "global/urlMaps/um",
        "backend_service": "global/backendServices/bs",
    }
    for client, request, snake, user in wrong:
        path = paths[snake]
        with pytest.raises(gexc.BadRequest) as info:
            client.delete(project=P, **request)
        assert reason(info.value) == "resourceInUseByAnotherResource"
        assert info.value.message.endswith(
            f"The {snake} resource 'projects/{P}/{path}' is already being used by "
            f"'projects/{P}/global/{user}'"
        )
    with pytest.raises(gexc.BadRequest) as info:
        c.region_negs.delete(project=P, region="us-central1", network_endpoint_group="neg")
    assert "The network_endpoint_group resource" in info.value.message
    assert f"'projects/{P}/global/backendServices/bs'" in info.value.message

    delete(c.global_forwarding_rules, forwarding_rule="fr")
    delete(c.target_http_proxies, target_http_proxy="px")
    delete(c.url_maps, url_map="um")
    delete(c.backend_services, backend_service="bs")
    for r in REGIONS:
        c.region_negs.delete(project=P, region=r, network_endpoint_group="neg").result(timeout=30)
    delete(c.global_addresses, address="ip")
    assert emu.compute.resource_count() == 0


def test_compute_disabled_answers_403(clients):
    with pytest.raises(gexc.Forbidden) as info:
        clients.global_addresses.get(project=P, address="ip")
    assert "Compute Engine API has not been used in project" in info.value.message
    assert reason(info.value) == "accessNotConfigured"


def test_other_project_is_not_found(enabled):
    with pytest.raises(gexc.NotFound) as info:
        enabled.global_addresses.list(project="someone-else")
    assert "projects/someone-else" in info.value.message


def test_request_id_makes_an_insert_idempotent(enabled, emu):
    c = enabled
    request_id = str(uuid.uuid4())
    first = insert_with_id(c, "ip", request_id)
    first.result(timeout=30)
    again = insert_with_id(c, "ip", request_id)
    again.result(timeout=30)  # no 409: the second call is the first one's replay
    assert again.name == first.name
    assert again.client_operation_id == request_id
    assert len(c.global_addresses.list(project=P).items) == 1
    with pytest.raises(gexc.Conflict):
        insert_with_id(c, "ip", str(uuid.uuid4()))


def test_request_id_makes_a_delete_idempotent(enabled):
    c = enabled
    insert(c.global_addresses, address_resource=compute_v1.Address(name="ip"))
    request_id = str(uuid.uuid4())
    request = {"project": P, "address": "ip", "request_id": request_id}
    first = c.global_addresses.delete(request=request)
    first.result(timeout=30)
    again = c.global_addresses.delete(request=request)
    assert again.name == first.name  # not a 404: the same operation


def test_request_id_must_be_a_uuid(enabled):
    with pytest.raises(gexc.BadRequest) as info:
        insert_with_id(enabled, "ip", "not-a-uuid")
    assert "must be a valid UUID" in info.value.message


# ------------------------------------------------------------------ every method
def test_addresses_insert_get_list_set_labels_delete(enabled):
    c = enabled.global_addresses
    insert(c, address_resource=compute_v1.Address(name="ip"))
    insert(c, address_resource=compute_v1.Address(name="ip6", ip_version="IPV6"))
    got = c.get(project=P, address="ip")
    assert (got.status, dict(got.labels)) == ("RESERVED", {})
    assert c.get(project=P, address="ip6").address == "::1"
    assert sorted(a.name for a in c.list(project=P)) == ["ip", "ip6"]
    c.set_labels(
        project=P,
        resource="ip",
        global_set_labels_request_resource=compute_v1.GlobalSetLabelsRequest(
            labels={"globalguide": "y"}, label_fingerprint=got.label_fingerprint
        ),
    ).result(timeout=30)
    relabelled = c.get(project=P, address="ip")
    assert relabelled.labels["globalguide"] == "y"
    assert relabelled.label_fingerprint != got.label_fingerprint
    delete(c, address="ip")
    with pytest.raises(gexc.NotFound) as info:
        c.get(project=P, address="ip")
    assert info.value.message.endswith(
        f"The resource 'projects/{P}/global/addresses/ip' was not found"
    )


def test_negs_insert_get_list_aggregated_delete(enabled):
    c = enabled
    make_negs(c, regions=("us-central1", "europe-west1"))
    assert [n.name for n in c.region_negs.list(project=P, region="us-central1")] == ["neg"]
    scopes = {
        scope: [n.name for n in listing.network_endpoint_groups]
        for scope, listing in c.network_endpoint_groups.aggregated_list(
            request={"project": P, "filter": 'name = "neg"'}
        )
    }
    assert scopes == {"regions/europe-west1": ["neg"], "regions/us-central1": ["neg"]}
    c.region_negs.delete(project=P, region="us-central1", network_endpoint_group="neg").result(
        timeout=30
    )
    assert list(c.region_negs.list(project=P, region="us-central1")) == []


def test_backend_service_patch_update_and_fingerprint(enabled):
    c = enabled
    make_negs(c)
    insert(c.backend_services, backend_service_resource=backend_service())
    current = c.backend_services.get(project=P, backend_service="bs")
    patch_backend_description(c, "patched", current.fingerprint)
    patched = c.backend_services.get(project=P, backend_service="bs")
    assert patched.description == "patched"
    assert len(patched.backends) == 3  # a merge patch keeps what it does not name
    assert patched.fingerprint != current.fingerprint
    replacement = backend_service(regions=REGIONS[:1])
    replacement.fingerprint = patched.fingerprint
    c.backend_services.update(
        project=P, backend_service="bs", backend_service_resource=replacement
    ).result(timeout=30)
    updated = c.backend_services.get(project=P, backend_service="bs")
    assert len(updated.backends) == 1 and updated.timeout_sec == 30
    assert [b.name for b in c.backend_services.list(project=P)] == ["bs"]


def test_url_map_patch_update_list(enabled):
    c = enabled
    make_negs(c)
    insert(c.backend_services, backend_service_resource=backend_service())
    insert(c.backend_services, backend_service_resource=backend_service(name="bs2"))
    insert(c.url_maps, url_map_resource=url_map())
    current = c.url_maps.get(project=P, url_map="um")
    c.url_maps.patch(
        project=P,
        url_map="um",
        url_map_resource=compute_v1.UrlMap(
            header_action=geo_header_action(), fingerprint=current.fingerprint
        ),
    ).result(timeout=30)
    patched = c.url_maps.get(project=P, url_map="um")
    assert patched.header_action.request_headers_to_remove == ["X-Client-Geo-Location"]
    replacement = url_map(service="bs2")
    replacement.fingerprint = patched.fingerprint
    c.url_maps.update(project=P, url_map="um", url_map_resource=replacement).result(timeout=30)
    assert c.url_maps.get(project=P, url_map="um").default_service.endswith("/bs2")
    assert [u.name for u in c.url_maps.list(project=P)] == ["um"]
    # bs is no longer used: it can go; bs2 cannot.
    delete(c.backend_services, backend_service="bs")
    with pytest.raises(gexc.BadRequest):
        c.backend_services.delete(project=P, backend_service="bs2")


def test_http_proxy_set_url_map_tells_the_data_plane(enabled, emu, monkeypatch):
    c = enabled
    build_chain(c)
    insert(c.url_maps, url_map_resource=url_map(name="um2"))
    calls = []
    monkeypatch.setattr(emu.dataplane, "sync_edges", lambda: calls.append(1))
    c.target_http_proxies.set_url_map(
        project=P,
        target_http_proxy="px",
        url_map_reference_resource=compute_v1.UrlMapReference(
            url_map=global_link("urlMaps", "um2")
        ),
    ).result(timeout=30)
    assert c.target_http_proxies.get(project=P, target_http_proxy="px").url_map.endswith("/um2")
    assert calls, "sync_edges after a proxy's URL map changed"
    assert [p.name for p in c.target_http_proxies.list(project=P)] == ["px"]
    delete(c.url_maps, url_map="um")  # no longer used


def test_forwarding_rule_insert_and_delete_tell_the_data_plane(enabled, emu, monkeypatch):
    calls = []
    monkeypatch.setattr(emu.dataplane, "sync_edges", lambda: calls.append(1))
    build_chain(enabled)
    assert len(calls) == 1
    delete(enabled.global_forwarding_rules, forwarding_rule="fr")
    assert len(calls) == 2


def test_https_proxy_with_certificate_and_set_certificates(enabled):
    c = enabled
    build_chain(c)
    for name, domain in (("cert", "guide.example.com"), ("cert2", "www.example.com")):
        insert(
            c.ssl_certificates,
            ssl_certificate_resource=compute_v1.SslCertificate(
                name=name,
                type_="MANAGED",
                managed=compute_v1.SslCertificateManagedSslCertificate(domains=[domain]),
            ),
        )
    insert(
        c.target_https_proxies,
        target_https_proxy_resource=compute_v1.TargetHttpsProxy(
            name="spx",
            url_map=global_link("urlMaps", "um"),
            ssl_certificates=[global_link("sslCertificates", "cert")],
        ),
    )
    proxy = c.target_https_proxies.get(project=P, target_https_proxy="spx")
    assert list(proxy.ssl_certificates) == [f"{LINK}/global/sslCertificates/cert"]
    assert proxy.quic_override == "NONE"
    c.target_https_proxies.set_ssl_certificates(
        project=P,
        target_https_proxy="spx",
        target_https_proxies_set_ssl_certificates_request_resource=(
            compute_v1.TargetHttpsProxiesSetSslCertificatesRequest(
                ssl_certificates=[global_link("sslCertificates", "cert2")]
            )
        ),
    ).result(timeout=30)
    proxy = c.target_https_proxies.get(project=P, target_https_proxy="spx")
    assert list(proxy.ssl_certificates) == [f"{LINK}/global/sslCertificates/cert2"]
    delete(c.ssl_certificates, ssl_certificate="cert")  # no longer used
    with pytest.raises(gexc.BadRequest) as info:
        c.ssl_certificates.delete(project=P, ssl_certificate="cert2")
    assert "The ssl_certificate resource" in info.value.message
    assert [p.name for p in c.target_https_proxies.list(project=P)] == ["spx"]
    delete(c.target_https_proxies, target_https_proxy="spx")
    delete(c.ssl_certificates, ssl_certificate="cert2")


def test_ssl_certificates_get_list(enabled):
    c = enabled.ssl_certificates
    insert(
        c,
        ssl_certificate_resource=compute_v1.SslCertificate(
            name="cert",
            type_="MANAGED",
            managed=compute_v1.SslCertificateManagedSslCertificate(domains=["a.example.com"]),
        ),
    )
    cert = c.get(project=P, ssl_certificate="cert")
    assert cert.managed.status == "PROVISIONING"
    assert dict(cert.managed.domain_status) == {"a.example.com": "PROVISIONING"}
    assert [x.name for x in c.list(project=P)] == ["cert"]


def test_forwarding_rule_set_labels_set_target_list(enabled):
    c = enabled
    build_chain(c)
    insert(
        c.target_http_proxies,
        target_http_proxy_resource=compute_v1.TargetHttpProxy(
            name="px2", url_map=global_link("urlMaps", "um")
        ),
    )
    rule = c.global_forwarding_rules.get(project=P, forwarding_rule="fr")
    c.global_forwarding_rules.set_labels(
        project=P,
        resource="fr",
        global_set_labels_request_resource=compute_v1.GlobalSetLabelsRequest(
            labels={"globalguide": "local-guide"}, label_fingerprint=rule.label_fingerprint
        ),
    ).result(timeout=30)
    c.global_forwarding_rules.set_target(
        project=P,
        forwarding_rule="fr",
        target_reference_resource=compute_v1.TargetReference(
            target=global_link("targetHttpProxies", "px2")
        ),
    ).result(timeout=30)
    rule = c.global_forwarding_rules.get(project=P, forwarding_rule="fr")
    assert rule.labels["globalguide"] == "local-guide"
    assert rule.target.endswith("/targetHttpProxies/px2")
    assert [r.name for r in c.global_forwarding_rules.list(project=P)] == ["fr"]
    delete(c.target_http_proxies, target_http_proxy="px")  # no longer the target


def test_list_pages_and_filters(enabled):
    c = enabled.global_addresses
    for name in ("a1", "a2", "b1"):
        insert(c, address_resource=compute_v1.Address(name=name))
        fingerprint = c.get(project=P, address=name).label_fingerprint
        c.set_labels(
            project=P,
            resource=name,
            global_set_labels_request_resource=compute_v1.GlobalSetLabelsRequest(
                labels={"team": name[0]}, label_fingerprint=fingerprint
            ),
        ).result(timeout=30)
    pager = c.list(request={"project": P, "max_results": 2})
    assert [a.name for a in pager] == ["a1", "a2", "b1"]  # the pager follows nextPageToken
    first = c.list(request={"project": P, "max_results": 2})._response
    assert first.next_page_token
    assert [a.name for a in c.list(request={"project": P, "filter": "name = a*"})] == ["a1", "a2"]
    assert [a.name for a in c.list(request={"project": P, "filter": "labels.team = b"})] == ["b1"]
    assert [a.name for a in c.list(request={"project": P, "filter": "name ne a.*"})] == ["b1"]
    with pytest.raises(gexc.BadRequest) as info:
        list(c.list(request={"project": P, "filter": "name ~~ x"}))
    assert "Invalid list filter expression" in info.value.message


# ------------------------------------------------------------------ operations
def test_global_operations_get_wait_list_delete(enabled):
    c = enabled
    op = c.global_addresses.insert_unary(project=P, address_resource=compute_v1.Address(name="ip"))
    assert op.status == compute_v1.Operation.Status.DONE
    assert op.self_link == f"{LINK}/global/operations/{op.name}"
    assert op.target_link == f"{LINK}/global/addresses/ip"
    assert op.operation_type == "insert" and op.kind == "compute#operation"
    got = c.global_operations.get(project=P, operation=op.name)
    assert got.status == compute_v1.Operation.Status.DONE and got.target_id == op.target_id
    waited = c.global_operations.wait(project=P, operation=op.name)
    assert waited.status == compute_v1.Operation.Status.DONE
    assert op.name in [o.name for o in c.global_operations.list(project=P)]
    c.global_operations.delete(project=P, operation=op.name)
    with pytest.raises(gexc.NotFound):
        c.global_operations.get(project=P, operation=op.name)


def test_regional_operations_get_and_wait(enabled):
    c = enabled
    op = c.region_negs.insert_unary(
        project=P, region="us-central1", network_endpoint_group_resource=serverless_neg()
    )
    assert op.region == f"{LINK}/regions/us-central1"
    assert op.self_link == f"{LINK}/regions/us-central1/operations/{op.name}"
    assert (
        c.region_operations.get(project=P, region="us-central1", operation=op.name).name == op.name
    )
    waited = c.region_operations.wait(project=P, region="us-central1", operation=op.name)
    assert waited.status == compute_v1.Operation.Status.DONE
    with pytest.raises(gexc.NotFound):
        c.region_operations.get(project=P, region="europe-west1", operation=op.name)


def test_operation_wire_shape(enabled, endpoint):
    """The raw JSON of a compute operation (what extended_operation reads)."""
    body = requests.post(
        f"{endpoint}/compute/v1/projects/{P}/global/addresses",
        headers=bearer(endpoint),
        json={"name": "ip"},
        timeout=5,
    ).json()
    assert body["kind"] == "compute#operation"
    assert body["status"] == "DONE" and body["progress"] == 100
    assert body["targetLink"] == f"{LINK}/global/addresses/ip"
    assert body["id"].isdigit() and body["targetId"].isdigit()


def test_unknown_operation_is_not_found(enabled):
    with pytest.raises(gexc.NotFound) as info:
        enabled.global_operations.get(project=P, operation="operation-nope")
    assert f"projects/{P}/global/operations/operation-nope" in info.value.message
