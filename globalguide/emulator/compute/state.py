"""What the compute twin holds: resources by collection and link, and who references whom.

Resources are stored as the REST JSON the API returns. Fields derived from other resources
(an address's ``status`` and ``users``, a backend service's ``usedBy``) are computed when a
resource is read, so they can never go stale.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from globalguide.emulator.compute.kinds import KINDS

# Fields the fingerprint of a resource does not cover: identity and output-only fields.
_NOT_CONTENT = frozenset(
    {
        "fingerprint",
        "labelFingerprint",
        "id",
        "creationTimestamp",
        "selfLink",
        "kind",
        "usedBy",
        "users",
        "status",
        "lastStartTimestamp",
    }
)
# The labelFingerprint real Compute Engine resources have before any label is set.
EMPTY_LABELS_FINGERPRINT = "42WmSpB8rSM="


def new_id() -> str:
    """A numeric string id, as compute ids are (uint64)."""
    return str(uuid.uuid4().int >> 65)


def _digest(value: Any) -> str:
    raw = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return base64.b64encode(hashlib.sha256(raw).digest()[:8]).decode()


def fingerprint(resource: dict[str, Any]) -> str:
    """A hash of the resource's content (compute_v1 BackendService.fingerprint docstring)."""
    return _digest({k: v for k, v in resource.items() if k not in _NOT_CONTENT})


def label_fingerprint(labels: dict[str, str] | None) -> str:
    return _digest(labels) if labels else EMPTY_LABELS_FINGERPRINT


@dataclass
class Pending:
    """An insert accepted but not completed: its name is taken, it is not readable yet."""

    collection: str
    resource: dict[str, Any]
    operation: str | None = None


class ComputeState:
    """Every collection's resources by full link, plus what is in flight. Not locked: the
    API holds the emulator's lock around every use.

    ``generation`` counts changes: whoever changes what is stored (a resource, what is in
    flight, which address a rule holds) calls :meth:`changed`, so a reader that keeps what
    it read can tell when to read again. An instance's transitional status is derived from
    its operation's progress when read and is not counted.
    """

    def __init__(self) -> None:
        self.generation = 0
        self.items: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in KINDS}
        self.pending: dict[str, Pending] = {}
        self.deleting: dict[str, str] = {}  # link -> operation deleting it
        self.request_ops: dict[str, str] = {}  # "project|requestId" -> operation
        self.rule_address: dict[str, str] = {}  # forwarding rule -> address it reserves
        self.rule_ip: dict[str, str] = {}  # forwarding rule -> the IP it serves, as an identity

    def changed(self) -> None:
        self.generation += 1

    def clear(self) -> None:
        self.changed()
        for items in self.items.values():
            items.clear()
        for table in (self.pending, self.deleting, self.request_ops):
            table.clear()
        self.rule_address.clear()
        self.rule_ip.clear()

    # ------------------------------------------------------------ reading
    def find(self, link: str) -> tuple[str, dict[str, Any]] | None:
        for collection, items in self.items.items():
            if link in items:
                return collection, items[link]
        return None

    def get(self, collection: str, link: str) -> dict[str, Any] | None:
        return self.items[collection].get(link)

    def count(self) -> int:
        return sum(len(items) for items in self.items.values())

    def references(self, collection: str, resource: dict[str, Any]) -> list[str]:
        """Every resource link ``resource`` points at."""
        if collection == "backendServices":
            return [b["group"] for b in resource.get("backends", []) if b.get("group")]
        if collection == "urlMaps":
            return url_map_services(resource)
        if collection == "targetHttpProxies":
            return [resource["urlMap"]] if resource.get("urlMap") else []
        if collection == "targetHttpsProxies":
            out = [resource["urlMap"]] if resource.get("urlMap") else []
            return out + list(resource.get("sslCertificates", []))
        if collection == "forwardingRules":
            out = [resource["target"]] if resource.get("target") else []
            address = self.rule_address.get(resource.get("selfLink", ""))
            return out + ([address] if address else [])
        return []

    def users(self, link: str) -> list[str]:
        """Links of the resources (existing or being inserted) that reference ``link``."""
        found = []
        for collection, items in self.items.items():
            for user_link, resource in items.items():
                if link in self.references(collection, resource):
                    found.append(user_link)
        for user_link, pending in self.pending.items():
            if link in self.references(pending.collection, pending.resource):
                found.append(user_link)
        return found

    def render(self, collection: str, resource: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``resource`` with the fields derived from other resources filled in."""
        out = copy.deepcopy(resource)
        link = resource.get("selfLink", "")
        if collection == "addresses":
            users = sorted(
                rule
                for rule, address in self.rule_address.items()
                if address == link and rule in self.items["forwardingRules"]
            )
            out["status"] = "IN_USE" if users else "RESERVED"
            if users:
                out["users"] = users
        elif collection == "backendServices":
            used_by = sorted(
                u
                for u, url_map in self.items["urlMaps"].items()
                if link in url_map_services(url_map)
            )
            if used_by:
                out["usedBy"] = [{"reference": u} for u in used_by]
        return out


def url_map_services(url_map: dict[str, Any]) -> list[str]:
    """Every backend service a URL map can send a request to."""
    found: list[str] = []

    def weighted(action: dict[str, Any] | None) -> None:
        for wbs in (action or {}).get("weightedBackendServices", []) or []:
            if wbs.get("backendService"):
                found.append(wbs["backendService"])

    if url_map.get("defaultService"):
        found.append(url_map["defaultService"])
    weighted(url_map.get("defaultRouteAction"))
    for matcher in url_map.get("pathMatchers", []) or []:
        if matcher.get("defaultService"):
            found.append(matcher["defaultService"])
        weighted(matcher.get("defaultRouteAction"))
        for rule in matcher.get("pathRules", []) or []:
            if rule.get("service"):
                found.append(rule["service"])
            weighted(rule.get("routeAction"))
        for rule in matcher.get("routeRules", []) or []:
            if rule.get("service"):
                found.append(rule["service"])
            weighted(rule.get("routeAction"))
    return list(dict.fromkeys(found))
