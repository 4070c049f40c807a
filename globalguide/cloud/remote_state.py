"""What exists of a deployment, as the planner asks for it: reads only.

The planner depends on the ``RemoteState`` protocol, not on the cloud: ``CloudState`` answers
from Google Cloud (or the emulator) through the client libraries; the planner's tests answer
from a dictionary.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from google.api_core import exceptions as gexc

from globalguide.cloud.clients import CloudClients
from globalguide.cloud.names import LABEL_KEY, Names
from globalguide.cloud.resources import Resource, api_disabled
from globalguide.spec import DeploySpec

READ_WORKERS = 8


@dataclass(frozen=True)
class Found:
    """Where the deployment has regional resources, as the cloud itself says."""

    regions: frozenset[str]  # a Cloud Run service or serverless NEG of the deployment
    repositories: frozenset[str]  # an image repository of the deployment


class RemoteState(Protocol):
    def find(self, spec: DeploySpec) -> Found:
        """The regions where the deployment has resources, wherever they are."""
        ...

    def read(self, resources: list[Resource]) -> dict[str, Any]:
        """Each resource's key -> its current state, or None when it does not exist."""
        ...


class CloudState:
    """The remote state as the cloud's APIs tell it."""

    def __init__(self, clients: CloudClients) -> None:
        self.clients = clients

    def find(self, spec: DeploySpec) -> Found:
        return discover(spec, self.clients)

    def read(self, resources: list[Resource]) -> dict[str, Any]:
        return read_all(resources, self.clients)


def read_all(resources: list[Resource], clients: CloudClients) -> dict[str, Any]:
    """Current state of each resource, read in parallel."""
    with ThreadPoolExecutor(max_workers=READ_WORKERS, thread_name_prefix="read") as pool:
        results = pool.map(lambda r: (r.key, r.read(clients)), resources)
        return dict(results)


def discover(spec: DeploySpec, clients: CloudClients) -> Found:
    """Every Cloud Run region is asked, in parallel, for the deployment's service and
    image repository (Cloud Run v2 refuses the "-" all-locations wildcard); serverless
    NEGs come from one aggregated list."""
    from globalguide import geo

    names = Names(spec.name, spec.project)

    def ignore_missing(call: Any) -> Any:
        try:
            return call()
        except gexc.GoogleAPICallError as exc:
            if isinstance(exc, gexc.NotFound) or api_disabled(exc):
                return None
            raise

    def service_in(region: str) -> bool:
        service = ignore_missing(
            lambda: clients.run_services.get_service(
                name=f"projects/{spec.project}/locations/{region}/services/{names.service}"
            )
        )
        return service is not None and service.labels.get(LABEL_KEY) == spec.name

    def repository_in(region: str) -> bool:
        repo = ignore_missing(
            lambda: clients.artifact_registry.get_repository(
                name=f"projects/{spec.project}/locations/{region}/repositories/{names.repository}"
            )
        )
        return repo is not None and repo.labels.get(LABEL_KEY) == spec.name

    regions = sorted(geo.REGIONS)
    with ThreadPoolExecutor(max_workers=READ_WORKERS * 2, thread_name_prefix="discover") as pool:
        with_service = pool.map(service_in, regions)
        with_repo = pool.map(repository_in, regions)
        found = {r for r, yes in zip(regions, with_service, strict=True) if yes}
        repos = {r for r, yes in zip(regions, with_repo, strict=True) if yes}

    def negs() -> None:
        for scope, listing in clients.network_endpoint_groups.aggregated_list(
            request={"project": spec.project, "filter": f'name = "{names.neg}"'}
        ):
            for neg in listing.network_endpoint_groups:
                if neg.name == names.neg and scope.startswith("regions/"):
                    found.add(scope.split("/", 1)[1])

    ignore_missing(negs)
    return Found(frozenset(found), frozenset(repos))
