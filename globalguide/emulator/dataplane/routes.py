"""An edge's way through the load balancer's configuration, kept until that changes.

A request at an edge follows forwarding rule -> target proxy -> URL map -> backend service
-> serverless NEGs, and every one of those reads copies a resource under the emulator's
lock. :class:`Routes` keeps what it read for as long as the configuration's generation
(:meth:`~globalguide.emulator.dataplane.propagation.PropagatedConfig.generation`) stays the
same, so the requests between two changes share one resolution. A configuration without a
generation is read afresh for every request.

What is kept is shared by concurrent requests and only ever read. What each request
decides for itself is not kept here: the URL map's match of its host and path, its
client's location, the nearest region, outlier detection and failure drills.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol


class Config(Protocol):
    def get(self, kind: str, link: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Candidate:
    """One serverless NEG backend: where it is and which Cloud Run service it names."""

    key: str  # the NEG's link, as the backend lists it
    region: str
    service: str  # projects/P/locations/R/services/S


@dataclass(frozen=True)
class Backend:
    """A backend service as it reached the edge, with its NEGs that name a service."""

    resource: dict[str, Any]
    candidates: tuple[Candidate, ...]
    keys: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(c.key for c in self.candidates))


class Chain:
    """Where one forwarding rule leads under one generation of the configuration."""

    def __init__(self, config: Config, rule_link: str, generation: Hashable | None) -> None:
        self.config = config
        self.generation = generation
        self.rule = config.get("forwardingRules", rule_link)
        target = str((self.rule or {}).get("target", ""))
        self.https = "/targetHttpsProxies/" in target
        kind = "targetHttpsProxies" if self.https else "targetHttpProxies"
        proxy = config.get(kind, target) if target else None
        url_map_link = (proxy or {}).get("urlMap")
        self.url_map = config.get("urlMaps", url_map_link) if url_map_link else None
        self._backends: dict[str, Backend | None] = {}

    def backend(self, link: str | None) -> Backend | None:
        """The backend service ``link`` names, None when it does not exist."""
        link = link or ""
        if link in self._backends:
            return self._backends[link]
        resource = self.config.get("backendServices", link) if link else None
        found = None if resource is None else Backend(resource, candidates(self.config, resource))
        if self.generation is not None:
            self._backends[link] = found
        return found


class Routes:
    """The :class:`Chain` of one forwarding rule, resolved again when the configuration
    changes."""

    def __init__(self, rule_link: str) -> None:
        self._rule_link = rule_link
        self._kept: Chain | None = None

    def current(self, config: Config) -> Chain:
        generation_of = getattr(config, "generation", None)
        generation = generation_of() if callable(generation_of) else None
        kept = self._kept
        if (
            generation is not None
            and kept is not None
            and kept.config is config
            and kept.generation == generation
        ):
            return kept
        # Read after the generation: a change during the reads shows as a new generation.
        chain = Chain(config, self._rule_link, generation)
        self._kept = chain
        return chain


def candidates(config: Config, backend: dict[str, Any]) -> tuple[Candidate, ...]:
    out = []
    for entry in backend.get("backends") or []:
        link = entry.get("group", "")
        neg = config.get("networkEndpointGroups", link)
        cloud_run = (neg or {}).get("cloudRun") or {}
        service = cloud_run.get("service")
        if not neg or not service:
            continue
        region = str(neg.get("region", "")).rsplit("/", 1)[-1]
        project = _project_of(str(neg.get("selfLink") or link))
        out.append(
            Candidate(link, region, f"projects/{project}/locations/{region}/services/{service}")
        )
    return tuple(out)


def _project_of(link: str) -> str:
    parts = link.split("/")
    return parts[parts.index("projects") + 1] if "projects" in parts else ""
