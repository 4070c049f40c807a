"""Custom request and response header rules of the Application Load Balancers.

Sources: https://cloud.google.com/load-balancing/docs/https/custom-headers-global (backend
services of the global external ALB), https://cloud.google.com/load-balancing/docs/custom-headers
(classic) and https://cloud.google.com/load-balancing/docs/https/custom-headers-regional (URL
maps). A header name is an RFC 7230 token; ``X-User-IP``, ``CDN-Loop`` and the hop-by-hop
headers are refused, so are names starting ``X-Google``, ``X-Goog-``, ``X-GFE`` or ``X-Amz-``,
and ``Host``/``authority`` on the Envoy-based load balancers; a name may appear once per list.
A value is an RFC 7230 field value in which ``{variable}`` names a value the load balancer
fills in and ``{{``/``}}`` stand for literal braces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from globalguide.emulator.compute.errors import invalid_value

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# RFC 7230 field-value without obs-fold/obs-text: visible ASCII, space and tab.
_FIELD_VALUE = re.compile(r"[\x21-\x7e \t]*\Z")

FORBIDDEN_NAMES = frozenset(
    {
        "x-user-ip",
        "cdn-loop",
        "keep-alive",
        "transfer-encoding",
        "te",
        "connection",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-authenticate",
    }
)
FORBIDDEN_PREFIXES = ("x-google", "x-goog-", "x-gfe", "x-amz-")
ENVOY_RESERVED = frozenset({"host", "authority", ":authority"})

# Variables a header value may use (custom-headers-global, "Variables that can appear in the
# header value"; gcp-facts §2).
VARIABLES = frozenset(
    {
        "client_region",
        "client_region_subdivision",
        "client_city",
        "client_city_lat_long",
        "client_rtt_msec",
        "client_ip_address",
        "client_port",
        "client_encrypted",
        "client_protocol",
        "origin_request_header",
        "device_request_type",
        "user_agent_family",
        "cdn_cache_id",
        "cdn_cache_status",
        "tls_sni_hostname",
        "tls_version",
        "tls_cipher_suite",
        "tls_ja3_fingerprint",
        "tls_ja4_fingerprint",
        "client_cert_present",
        "client_cert_chain_verified",
        "client_cert_error",
        "client_cert_sha256_fingerprint",
        "client_cert_serial_number",
        "client_cert_spiffe_id",
        "client_cert_uri_sans",
        "client_cert_dnsname_sans",
        "client_cert_valid_not_before",
        "client_cert_valid_not_after",
        "client_cert_issuer_dn",
        "client_cert_subject_dn",
        "client_cert_leaf",
        "client_cert_chain",
    }
)

_BRACES = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def name_problem(name: str, *, envoy: bool) -> str | None:
    """Why ``name`` may not be set by the load balancer, or None when it may."""
    if not name or not _TOKEN.match(name):
        return f"The header name '{name}' is not a valid HTTP header field name."
    lowered = name.lower()
    if lowered in FORBIDDEN_NAMES:
        return f"The header name '{name}' is not allowed."
    if lowered.startswith(FORBIDDEN_PREFIXES):
        return f"The header name '{name}' uses a reserved prefix."
    if envoy and lowered in ENVOY_RESERVED:
        return f"The header name '{name}' is reserved."
    return None


def value_problem(value: str) -> str | None:
    """Why ``value`` is not a valid header value template, or None."""
    if not _FIELD_VALUE.match(value):
        return "The header value contains characters that are not allowed."
    for match in _BRACES.finditer(value):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        variable = match.group(1)
        if variable is None:
            return "The header value has an unmatched brace; use {{ and }} for literal braces."
        if variable not in VARIABLES:
            return f"The header value uses an unknown variable '{variable}'."
    return None


def check_custom_headers(entries: Iterable[object], field: str, *, envoy: bool) -> None:
    """Backend service ``customRequestHeaders``/``customResponseHeaders``: "Name:value"."""
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"{field}[{index}]"
        if not isinstance(entry, str) or ":" not in entry:
            raise invalid_value(where, entry, "A custom header must have the form 'name:value'.")
        name, _, value = entry.partition(":")
        name, value = name.strip(), value.strip()
        problem = name_problem(name, envoy=envoy) or value_problem(value)
        if problem is None and name.lower() in seen:
            problem = f"The header name '{name}' appears more than once."
        if problem:
            raise invalid_value(where, entry, problem)
        seen.add(name.lower())


def check_header_action(action: object, field: str) -> None:
    """A URL map (or path matcher, or route rule) ``headerAction``."""
    if action is None:
        return
    if not isinstance(action, dict):
        raise invalid_value(field, action, "Expected an object.")
    for key in ("requestHeadersToAdd", "responseHeadersToAdd"):
        seen: set[str] = set()
        for index, option in enumerate(action.get(key) or []):
            where = f"{field}.{key}[{index}]"
            name = option.get("headerName")
            if not name:
                raise invalid_value(f"{where}.headerName", "", "A header name is required.")
            value = option.get("headerValue", "")
            problem = name_problem(name, envoy=True) or value_problem(value)
            if problem is None and name.lower() in seen:
                problem = f"The header name '{name}' appears more than once."
            if problem:
                raise invalid_value(where, f"{name}:{value}", problem)
            seen.add(name.lower())
    for key in ("requestHeadersToRemove", "responseHeadersToRemove"):
        for index, name in enumerate(action.get(key) or []):
            if not isinstance(name, str) or not _TOKEN.match(name):
                raise invalid_value(
                    f"{field}.{key}[{index}]", name, "Not a valid HTTP header field name."
                )
