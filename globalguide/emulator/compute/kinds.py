"""The compute resource kinds the emulator holds, and what the API says about each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.cloud import compute_v1


@dataclass(frozen=True)
class Kind:
    """One resource collection.

    ``snake`` is how the API names the kind in resourceInUseByAnotherResource messages
    ("The url_map resource '...' is already being used by '...'"); ``body_field`` is the
    request field holding the resource, as unknown-field errors name it; ``op_kind`` picks
    the operation's duration under the realistic profile.
    """

    collection: str
    kind: str
    snake: str
    message: Any
    body_field: str
    op_kind: str


KINDS: dict[str, Kind] = {
    k.collection: k
    for k in (
        Kind(
            "addresses",
            "compute#address",
            "address",
            compute_v1.Address,
            "address_resource",
            "compute.address",
        ),
        Kind(
            "networkEndpointGroups",
            "compute#networkEndpointGroup",
            "network_endpoint_group",
            compute_v1.NetworkEndpointGroup,
            "network_endpoint_group_resource",
            "compute.networkEndpointGroup",
        ),
        Kind(
            "backendServices",
            "compute#backendService",
            "backend_service",
            compute_v1.BackendService,
            "backend_service_resource",
            "compute.backendService",
        ),
        Kind(
            "urlMaps",
            "compute#urlMap",
            "url_map",
            compute_v1.UrlMap,
            "url_map_resource",
            "compute.urlMap",
        ),
        Kind(
            "targetHttpProxies",
            "compute#targetHttpProxy",
            "target_http_proxy",
            compute_v1.TargetHttpProxy,
            "target_http_proxy_resource",
            "compute.targetProxy",
        ),
        Kind(
            "targetHttpsProxies",
            "compute#targetHttpsProxy",
            "target_https_proxy",
            compute_v1.TargetHttpsProxy,
            "target_https_proxy_resource",
            "compute.targetProxy",
        ),
        Kind(
            "sslCertificates",
            "compute#sslCertificate",
            "ssl_certificate",
            compute_v1.SslCertificate,
            "ssl_certificate_resource",
            "compute.sslCertificate",
        ),
        Kind(
            "forwardingRules",
            "compute#forwardingRule",
            "forwarding_rule",
            compute_v1.ForwardingRule,
            "forwarding_rule_resource",
            "compute.forwardingRule",
        ),
        Kind(
            "instances",
            "compute#instance",
            "instance",
            compute_v1.Instance,
            "instance_resource",
            "compute.instance",
        ),
    )
}

# Collections whose resources carry labels and a labelFingerprint (gcp-facts §1.1).
LABELLED = ("addresses", "forwardingRules", "instances")
