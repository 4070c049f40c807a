"""Per-region truth: is each region's service Ready, is its NEG behind the backend service,
and does the load balancer answer a client near the region *from that region*.

A 200 through the load balancer proves little on its own: when a region is down, failover
to another region also answers 200. So each check asks which region served a client placed
in the region's own city. In the emulator that client is the edge's location header; on
Google Cloud one machine cannot stand near every region, so a probe VM in a zone near each
region asks (``--verify-regions``), or the region is reported as checked for Ready only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc

from globalguide import geo
from globalguide.cloud.clients import CloudClients
from globalguide.cloud.names import Names
from globalguide.cloud.resources import RunService, ServiceSettings
from globalguide.errors import CloudError
from globalguide.spec import DeploySpec
from globalguide.wire import guide_request

VERIFIED_LB = "load-balancer"  # a client in the region's city was served by the region
VERIFIED_VM = "vm-probe"  # a probe VM near the region was served by the region
READY_ONLY = "ready-only"  # Ready and behind the backend service; not asked from nearby


# --------------------------------------------------------------------------- asking


def near_city(region: str) -> geo.City | None:
    place = geo.REGIONS[region]
    return geo.city_at(place.lat, place.lon)


def served_from(url: str, region: str) -> tuple[int, str | None]:
    """(status, region that answered, from its X-Served-Region header) for a client in the
    region's city, via the edge."""
    place = geo.REGIONS[region]
    answer = guide_request.ask(url, latlng=f"{place.lat},{place.lon}", timeout=10.0)
    return answer.status, answer.served_region if answer.status == 200 else None


def backend_regions(spec: DeploySpec, clients: CloudClients) -> set[str] | None:
    """Regions whose NEG the backend service holds; None if it cannot be read."""
    names = Names(spec.name, spec.project)
    try:
        backend = clients.backend_services.get(
            project=spec.project, backend_service=names.backend_service
        )
    except gexc.GoogleAPICallError:
        return None
    regions = set()
    for b in backend.backends:
        _, found, rest = b.group.partition("/regions/")
        region, _, tail = rest.partition("/")
        if found and tail == f"networkEndpointGroups/{names.neg}":
            regions.add(region)
    return regions


def service_problem(spec: DeploySpec, clients: CloudClients, region: str) -> str | None:
    """Why the region's Cloud Run service is not Ready, or None."""
    names = Names(spec.name, spec.project)
    resource = RunService(names, region, ServiceSettings("", "", "", 0, 0, 0))
    current = resource.read(clients)
    if current is None:
        return "its Cloud Run service does not exist"
    if current.reconciling:
        return "its Cloud Run service is still reconciling"
    return resource.problem(current)


@dataclass
class RegionCheck:
    region: str
    ready: bool = False
    in_backend: bool = False
    served_from_region: str | None = None
    verified: str | None = None  # VERIFIED_LB, VERIFIED_VM or READY_ONLY
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "ready": self.ready,
            "in_backend_service": self.in_backend,
            "served_from_region": self.served_from_region,
            "verified": self.verified,
            "reason": self.reason,
        }


def check_regions(
    spec: DeploySpec, clients: CloudClients, url: str | None, *, ask_nearby: bool
) -> list[RegionCheck]:
    """One pass: Ready, in the backend service, and (emulator) served from the region."""
    behind = backend_regions(spec, clients)
    checks = []
    for region in spec.regions:
        check = RegionCheck(region)
        problem = service_problem(spec, clients, region)
        check.ready = problem is None
        check.in_backend = behind is not None and region in behind
        if problem:
            check.reason = problem
        elif not check.in_backend:
            check.reason = "its NEG is not in the backend service"
        elif ask_nearby and url:
            status, served = served_from(url, region)
            check.served_from_region = served
            if served == region:
                check.verified = VERIFIED_LB
            elif served:
                check.reason = f"a client near it was served from {served}"
            elif status == 200:
                # A service that does not name its region (no X-Served-Region): it answers,
                # but which region did cannot be told.
                check.verified = READY_ONLY
            else:
                check.reason = f"a client near it got HTTP {status or 'no answer'}"
        elif ask_nearby:
            check.reason = "the load balancer has no URL yet"
        else:
            check.verified = READY_ONLY
        checks.append(check)
    return checks


def verify_serving(
    spec: DeploySpec,
    clients: CloudClients,
    url_of: Callable[[], str | None],
    *,
    vm_probe: bool = False,
    timeout: float | None = None,
    on_attempt: Callable[[int, float], None] | None = None,
) -> list[RegionCheck]:
    """Bounded retries until every region passes; CloudError naming the first that does not."""
    target = clients.target
    budget = timeout if timeout is not None else target.verify_s
    deadline = time.monotonic() + budget
    attempt, delay = 0, 0.2
    while True:
        attempt += 1
        checks = check_regions(spec, clients, url_of(), ask_nearby=target.places_clients)
        if all(c.ok for c in checks) or time.monotonic() >= deadline:
            break
        if on_attempt:
            on_attempt(attempt, deadline - time.monotonic())
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, target.verify_poll_max_s)
    if all(c.ok for c in checks) and vm_probe and not target.places_clients:
        checks = _vm_verify(spec, clients, url_of(), checks)
    bad = [c for c in checks if not c.ok]
    if bad:
        first = bad[0]
        others = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise RegionsNotServing(
            f"Region {first.region} is not serving: {first.reason}{others}.",
            checks,
            hint="Run `globalguide status` to see each region; run the deploy again to repair it.",
        )
    return checks


class RegionsNotServing(CloudError):
    def __init__(self, message: str, checks: list[RegionCheck], hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.checks = checks


def _vm_verify(
    spec: DeploySpec, clients: CloudClients, url: str | None, checks: list[RegionCheck]
) -> list[RegionCheck]:
    """A probe VM in a zone near each region asks the load balancer (creates VMs)."""
    from globalguide import probe

    if not url:
        return checks
    cities = [near_city(c.region) for c in checks]
    request = probe.ProbeRequest(
        cities=[c for c in cities if c is not None], via=probe.VIA_VM, count=3, stream=False
    )
    document = probe.run(
        request, url=url, deployed=spec.regions, clients=clients, deployment=spec.name
    )
    by_city = {(p["city"] or {}).get("name"): p for p in document["probes"]}
    for check, city in zip(checks, cities, strict=True):
        found = by_city.get(city.name) if city is not None else None
        served = (found or {}).get("served_from_region")
        check.served_from_region = served
        if served == check.region and found and found["status"] == "ok":
            check.verified = VERIFIED_VM
        else:
            check.verified = None
            where = city.name if city is not None else "nearby"
            check.reason = (
                f"a probe VM near {where} was served from {served}"
                if served
                else f"a probe VM near {where} got no answer ({(found or {}).get('error')})"
            )
    return checks


# --------------------------------------------------------------------------- draining


def wait_drained(
    spec: DeploySpec,
    clients: CloudClients,
    regions: set[str],
    *,
    on_wait: Callable[[float], None] | None = None,
) -> float:
    """After the backend service lost ``regions``' NEGs: wait until the load balancer no
    longer routes to them, so deleting their services drops no request. Returns seconds."""
    started = time.monotonic()
    if not regions:
        return 0.0
    target = clients.target
    deadline = started + target.drain_s
    routed = None
    while time.monotonic() < deadline:
        routed = target.routed_regions(spec)
        if routed is not None and not regions & routed:
            return time.monotonic() - started
        if on_wait:
            on_wait(deadline - time.monotonic())
        time.sleep(min(target.drain_poll_s, max(0.0, deadline - time.monotonic())))
    if routed is None:  # the routing cannot be seen: the bounded wait is all there is
        return time.monotonic() - started
    raise CloudError(
        f"The load balancer still routes to {', '.join(sorted(regions))} after "
        f"{target.drain_s:.0f} s; their services were not deleted.",
        hint="Run the deploy again to finish removing them.",
    )
