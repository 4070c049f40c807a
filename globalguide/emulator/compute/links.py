"""Compute resource references: every accepted spelling, and the one full URL they are stored as.

The API accepts a reference as a full URL (any ``compute/v1|beta|alpha`` host), as a path
``projects/P/global/C/N`` or ``projects/P/regions/R/C/N``, as ``global/C/N``,
``regions/R/C/N`` or ``zones/Z/C/N``, and for some fields as a bare name
(compute_v1 ForwardingRule.IPAddress docstring). It answers with full URLs under
``https://www.googleapis.com/compute/v1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BASE = "https://www.googleapis.com/compute/v1"

_URL_PREFIX = re.compile(r"^https?://[^/]+/compute/(?:v1|beta|alpha)/")
_SCOPES = ("regions", "zones")


@dataclass(frozen=True)
class Ref:
    """A parsed reference; ``scope`` is None (global) or ("regions"|"zones", name)."""

    project: str
    scope: tuple[str, str] | None
    collection: str
    name: str

    @property
    def path(self) -> str:
        where = "global" if self.scope is None else f"{self.scope[0]}/{self.scope[1]}"
        return f"projects/{self.project}/{where}/{self.collection}/{self.name}"

    @property
    def link(self) -> str:
        return f"{BASE}/{self.path}"


def parse(
    ref: object,
    *,
    project: str,
    collection: str | None = None,
    scope: tuple[str, str] | None = None,
) -> Ref | None:
    """``ref`` as a :class:`Ref`, or None when it is not a compute reference.

    ``collection`` (and ``scope``) let a bare name through, and reject a reference to
    another collection.
    """
    if not isinstance(ref, str) or not ref.strip():
        return None
    text = _URL_PREFIX.sub("", ref.strip())
    parts = text.split("/")
    if "" in parts:
        return None
    if len(parts) == 1:
        if collection is None:
            return None
        parsed = Ref(project, scope, collection, parts[0])
    else:
        if parts[0] == "projects":
            if len(parts) < 3:
                return None
            owner, parts = parts[1], parts[2:]
        else:
            owner = project
        if len(parts) == 3 and parts[0] == "global":
            parsed = Ref(owner, None, parts[1], parts[2])
        elif len(parts) == 4 and parts[0] in _SCOPES:
            parsed = Ref(owner, (parts[0], parts[1]), parts[2], parts[3])
        else:
            return None
    if collection is not None and parsed.collection != collection:
        return None
    return parsed


def path_of(link: str) -> str:
    """``projects/...`` form of a full link (or of a path, unchanged)."""
    return _URL_PREFIX.sub("", link)


def scope_link(project: str, scope: tuple[str, str]) -> str:
    return f"{BASE}/projects/{project}/{scope[0]}/{scope[1]}"
