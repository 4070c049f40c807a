"""Addresses, SSL certificates, target proxies and forwarding rules: the load balancer's front.

The emulator's load balancer listens on loopback, so every global address is ``127.0.0.1``
(``::1`` for IPv6); the data plane maps each forwarding rule to a loopback port of its own.
A Google-managed certificate stays PROVISIONING: there is no DNS to validate its domains.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from google.cloud import compute_v1

from globalguide.emulator.compute.backend import OUTPUT_ONLY, has_https_redirect
from globalguide.emulator.compute.errors import invalid_value, missing, required
from globalguide.emulator.compute.state import ComputeState, url_map_services
from globalguide.emulator.compute.validate import References, check_enum, check_labels

LOOPBACK = {"IPV4": "127.0.0.1", "IPV6": "::1"}
PROXIES = ("targetHttpProxies", "targetHttpsProxies")
MAX_CERTIFICATES = 15  # per target HTTPS proxy (load-balancing/docs/quotas)
MAX_MANAGED_DOMAINS = 100  # per Google-managed certificate (load-balancing/docs/quotas)
# Ports of the classic Application Load Balancer (forwarding-rule-concepts#port_specifications).
CLASSIC_PORTS = {"targetHttpProxies": (80, 8080), "targetHttpsProxies": (443,)}
DEFAULT_PORT = {"targetHttpProxies": 80, "targetHttpsProxies": 443}
_PORT_RANGE = re.compile(r"(\d+)(?:-(\d+))?\Z")
_CERTIFICATE_MAP = re.compile(
    r"//certificatemanager\.googleapis\.com/projects/[^/]+/locations/[^/]+/certificateMaps/[^/]+\Z"
)
_DOMAIN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")


def _input(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in OUTPUT_ONLY and k != "name"}


def _drop_labels(resource: dict[str, Any], body: dict[str, Any]) -> None:
    """Labels sent with insert are checked and not kept: the compute_v1 Address.labels and
    ForwardingRule.labels docstrings say they "can only be added or modified by the
    setLabels method", and terraform-provider-google calls setLabels after insert for both."""
    check_labels(body.get("labels"))
    resource.pop("labels", None)


# ------------------------------------------------------------------ addresses
def build_address(refs: References, body: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    a = compute_v1.Address
    version = check_enum(body.get("ipVersion"), a.IpVersion, "resource.ipVersion", "IPV4")
    if version == "UNSPECIFIED_VERSION":
        version = "IPV4"
    address_type = check_enum(
        body.get("addressType"), a.AddressType, "resource.addressType", "EXTERNAL"
    )
    tier = check_enum(body.get("networkTier"), a.NetworkTier, "resource.networkTier", "PREMIUM")
    if tier != "PREMIUM":
        # Global addresses are Premium Tier only (https://cloud.google.com/network-tiers/docs/overview).
        raise invalid_value(
            "resource.networkTier", tier, "Global addresses must use the PREMIUM network tier."
        )
    out = {**base, **_input(body)}
    out.update(address=LOOPBACK[version], ipVersion=version, addressType=address_type)
    out.update(networkTier=tier)
    _drop_labels(out, body)
    return out


# ------------------------------------------------------------------ SSL certificates
def build_certificate(
    refs: References, body: dict[str, Any], base: dict[str, Any]
) -> dict[str, Any]:
    cert_type = check_enum(
        body.get("type"), compute_v1.SslCertificate.Type, "resource.type", "SELF_MANAGED"
    )
    out = {**base, **{k: v for k, v in _input(body).items() if k != "privateKey"}}
    out["type"] = cert_type
    if cert_type == "MANAGED":
        domains = list((body.get("managed") or {}).get("domains") or [])
        if not domains:
            raise required("resource.managed.domains")
        if len(domains) > MAX_MANAGED_DOMAINS:
            raise invalid_value(
                "resource.managed.domains",
                len(domains),
                f"A Google-managed certificate supports at most {MAX_MANAGED_DOMAINS} domains.",
            )
        for index, domain in enumerate(domains):
            problem = _domain_problem(domain)
            if problem:
                raise invalid_value(f"resource.managed.domains[{index}]", domain, problem)
        out["managed"] = {
            "domains": domains,
            "status": "PROVISIONING",
            "domainStatus": {d: "PROVISIONING" for d in domains},
        }
        out.pop("certificate", None)
        return out
    for field in ("certificate", "privateKey"):
        if not body.get(field):
            raise required(f"resource.{field}")
    if "-----BEGIN CERTIFICATE-----" not in body["certificate"]:
        raise invalid_value("resource.certificate", "", "The SSL certificate could not be parsed.")
    if "PRIVATE KEY-----" not in body["privateKey"]:
        raise invalid_value("resource.privateKey", "", "The SSL key could not be parsed.")
    out.update(_certificate_details(body["certificate"]))
    return out


def _domain_problem(domain: Any) -> str | None:
    """Google-managed certificates: fully qualified names, no wildcards
    (https://cloud.google.com/load-balancing/docs/ssl-certificates/google-managed-certs)."""
    if not isinstance(domain, str) or not domain:
        return "The domain name is empty."
    if "*" in domain:
        return "Google-managed certificates do not support wildcard domains."
    name = domain.rstrip(".").lower()
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_DOMAIN_LABEL.match(x) for x in labels):
        return "The domain name is not a valid fully qualified domain name."
    return None


def _certificate_details(pem: str) -> dict[str, Any]:
    """subjectAlternativeNames and expireTime of a PEM certificate, when it can be read."""
    try:
        from cryptography import x509
    except ImportError:
        return {}
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise invalid_value(
            "resource.certificate", "", "The SSL certificate could not be parsed."
        ) from None
    out: dict[str, Any] = {"expireTime": cert.not_valid_after_utc.isoformat()}
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        out["subjectAlternativeNames"] = sans.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        pass
    return out


# ------------------------------------------------------------------ target proxies
def build_proxy(
    refs: References, body: dict[str, Any], base: dict[str, Any], collection: str
) -> dict[str, Any]:
    out = {**base, **_input(body)}
    if not body.get("urlMap"):
        raise required("resource.urlMap")
    out["urlMap"] = refs.existing("resource.urlMap", body["urlMap"], ("urlMaps",))
    if collection == "targetHttpsProxies":
        check_https_url_map(refs, out["urlMap"], "resource.urlMap")
        out["quicOverride"] = check_enum(
            body.get("quicOverride"),
            compute_v1.TargetHttpsProxy.QuicOverride,
            "resource.quicOverride",
            default="NONE",
        )
        certificate_map = body.get("certificateMap")
        if certificate_map and not _CERTIFICATE_MAP.match(str(certificate_map)):
            # compute_v1 TargetHttpsProxy.certificate_map: "Accepted format is
            # //certificatemanager.googleapis.com/projects/{project}/locations/{location}/
            # certificateMaps/{resourceName}".
            raise invalid_value(
                "resource.certificateMap", certificate_map, "The certificate map URL is malformed."
            )
        certificates = body.get("sslCertificates") or []
        if certificates or not certificate_map:
            out["sslCertificates"] = check_certificates(refs, certificates, "resource")
    return out


def check_certificates(refs: References, certificates: list[Any], field: str) -> list[str]:
    """compute_v1 TargetHttpsProxy.sslCertificates: at least one (terraform-provider-google
    #17802 quotes the API), at most 15, each existing."""
    if not certificates:
        raise invalid_value(
            f"{field}.sslCertificates",
            "",
            "At least 1 SSL certificate must be specified for setting SSL certificates in "
            "TargetHttpsProxy.",
        )
    if len(certificates) > MAX_CERTIFICATES:
        raise invalid_value(
            f"{field}.sslCertificates",
            len(certificates),
            f"At most {MAX_CERTIFICATES} SSL certificates can be specified.",
        )
    return [
        refs.existing(f"{field}.sslCertificates[{i}]", c, ("sslCertificates",))
        for i, c in enumerate(certificates)
    ]


def check_https_url_map(refs: References, url_map_link: str, field: str) -> None:
    """compute_v1 HttpRedirectAction.httpsRedirect: not permitted for a TargetHttpsProxy."""
    if has_https_redirect(refs.get(url_map_link) or {}):
        raise invalid_value(
            field,
            url_map_link,
            "httpsRedirect must only be set for URL maps used in TargetHttpProxies.",
        )


# ------------------------------------------------------------------ forwarding rules
def backend_scheme(state: ComputeState, target_link: str) -> str | None:
    """The scheme of the backend service reached through proxy -> URL map -> defaultService."""
    found = state.find(target_link)
    if found is None:
        return None
    url_map = state.get("urlMaps", found[1].get("urlMap", ""))
    if url_map is None:
        return None
    for link in url_map_services(url_map):
        service = state.get("backendServices", link)
        if service is not None:
            return service.get("loadBalancingScheme")
    return None


def build_forwarding_rule(
    refs: References, body: dict[str, Any], base: dict[str, Any]
) -> tuple[dict[str, Any], str | None, str]:
    """The rule, the address resource it reserves (or None), and its IP identity."""
    fr = compute_v1.ForwardingRule
    scheme = check_enum(
        body.get("loadBalancingScheme"),
        fr.LoadBalancingScheme,
        "resource.loadBalancingScheme",
        default="EXTERNAL",
    )
    if scheme not in ("EXTERNAL", "EXTERNAL_MANAGED", "INTERNAL_SELF_MANAGED"):
        raise invalid_value(
            "resource.loadBalancingScheme",
            scheme,
            "Global forwarding rules with a target proxy support EXTERNAL, EXTERNAL_MANAGED "
            "and INTERNAL_SELF_MANAGED.",
        )
    protocol = check_enum(body.get("IPProtocol"), fr.IPProtocolEnum, "resource.IPProtocol", "TCP")
    tier = check_enum(body.get("networkTier"), fr.NetworkTier, "resource.networkTier", "PREMIUM")
    if tier != "PREMIUM":
        raise invalid_value(
            "resource.networkTier", tier, "Global forwarding rules must use the PREMIUM tier."
        )
    if not body.get("target"):
        raise required("resource.target")
    target_ref = refs.parse("resource.target", body["target"], PROXIES)
    target = refs.existing("resource.target", body["target"], PROXIES)
    if protocol != "TCP":
        raise invalid_value(
            "resource.IPProtocol", protocol, "A target proxy forwarding rule must use TCP."
        )
    for field in ("ports", "allPorts"):
        if body.get(field):
            # compute_v1 ForwardingRule.ports / .all_ports: exclusive with portRange and
            # applicable only to passthrough Network Load Balancers and protocol forwarding.
            raise invalid_value(
                f"resource.{field}",
                body[field],
                f"{field} cannot be set for a forwarding rule whose target is a target proxy; "
                "use portRange.",
            )
    port = _port(body.get("portRange"), target_ref.collection, scheme)
    want = backend_scheme(refs.state, target)
    if want is not None and want != scheme:
        # cloud-foundation-fabric#1065: the API's words.
        raise invalid_value(
            "resource.backendService",
            "",
            f"Load balancing scheme {scheme} does not match the backend service load "
            f"balancing scheme {want}.",
        )
    address_link, literal = _ip_address(refs, body)
    identity = address_link or literal or f"ephemeral:{base['selfLink']}"
    out = {**base, **_input(body)}
    out.update(
        IPAddress=literal or LOOPBACK["IPV4"],
        IPProtocol=protocol,
        portRange=f"{port}-{port}",
        target=target,
        loadBalancingScheme=scheme,
        networkTier=tier,
    )
    _drop_labels(out, body)
    if address_link is not None:
        out["IPAddress"] = (refs.get(address_link) or {}).get("address", LOOPBACK["IPV4"])
    return out, address_link, identity


def _port(raw: Any, proxy_collection: str, scheme: str) -> int:
    if raw in (None, ""):
        return DEFAULT_PORT[proxy_collection]
    match = _PORT_RANGE.match(str(raw))
    if match is None:
        raise invalid_value("resource.portRange", raw, "Must be a match of regex '\\d+(?:-\\d+)?'")
    low, high = int(match.group(1)), int(match.group(2) or match.group(1))
    if not 1 <= low <= high <= 65535:
        raise invalid_value("resource.portRange", raw, "Ports must be between 1 and 65535.")
    if low != high:
        raise invalid_value(
            "resource.portRange", raw, "A forwarding rule to a target proxy takes a single port."
        )
    if scheme == "EXTERNAL" and low not in CLASSIC_PORTS[proxy_collection]:
        allowed = " or ".join(str(p) for p in CLASSIC_PORTS[proxy_collection])
        raise invalid_value(
            "resource.portRange",
            raw,
            f"Port {low} is not supported by this load balancer; use {allowed}.",
        )
    return low


def _ip_address(refs: References, body: dict[str, Any]) -> tuple[str | None, str | None]:
    """(address resource link, literal IP): at most one is set."""
    raw = body.get("IPAddress")
    if raw in (None, ""):
        return None, None
    try:
        literal = str(ipaddress.ip_address(str(raw).split("/")[0]))
    except ValueError:
        literal = None
    if literal is not None:
        if body.get("ipVersion"):
            # terraform-provider-google PR #616 quotes the API.
            raise invalid_value(
                "resource.ipVersion",
                body["ipVersion"],
                "Both IP Version and IP Address cannot be specified.",
            )
        return None, literal
    ref = refs.parse("resource.IPAddress", raw, ("addresses",))
    if ref.scope is not None:
        raise invalid_value(
            "resource.IPAddress", raw, "A global forwarding rule needs a global address."
        )
    address = refs.state.get("addresses", ref.link)
    if address is None:
        raise missing(ref.path)
    version = body.get("ipVersion")
    if version and version != address.get("ipVersion", "IPV4"):
        # compute_v1 ForwardingRule.ip_version names the version the rule uses; an address
        # of the other version cannot serve it.
        raise invalid_value(
            "resource.IPAddress",
            raw,
            f"The address is {address.get('ipVersion', 'IPV4')} but the forwarding rule "
            f"asks for {version}.",
        )
    return ref.link, None


def port_of(rule: dict[str, Any]) -> int:
    return int(str(rule.get("portRange", "0")).split("-")[0])


def conflict(state: ComputeState, identity: str, port: int, protocol: str, skip: str) -> bool:
    """Whether another rule serves the same IP, protocol and port (compute_v1
    ForwardingRule.portRange docstring)."""
    rules = dict(state.items["forwardingRules"])
    rules.update(
        (link, p.resource) for link, p in state.pending.items() if p.collection == "forwardingRules"
    )
    for link, rule in rules.items():
        if link == skip or state.rule_ip.get(link) != identity:
            continue
        if port_of(rule) == port and rule.get("IPProtocol") == protocol:
            return True
    return False
