"""`globalguide drill --fail-region R`: make one region fail, measure the failover.

1. The region is made to fail (the target's way, :mod:`targets`): in the emulator its
   revisions answer 503 (a test control); on Google Cloud a new revision tagged ``drill``
   that answers 503 (``FAILURE_DRILL=1``) takes 100% of the region's traffic.
2. Clients in cities near the region ask the load balancer, round after round, until every
   one of them is served from another region: outlier detection has ejected the region.
3. The region is restored (always: also on error and Ctrl-C): the emulator control is
   cleared; on Google Cloud traffic goes back to the latest ready revision before the drill.
4. The same cities ask until they are served from the region again (the ejection expired).

Measured: time to failover, requests failed until then, time to recover; reported with the
backend service's outlier-detection settings, which produce those numbers. Every loop is
bounded in requests and time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.cloud import run_v2

from globalguide import geo
from globalguide.cloud import serving
from globalguide.cloud.clients import CloudClients
from globalguide.cloud.deployment import document_header
from globalguide.cloud.names import Names
from globalguide.cloud.resources import wait_operation
from globalguide.cloud.resources.run import DRILL_TAG
from globalguide.errors import CloudError, UsageError
from globalguide.spec import DeploySpec
from globalguide.wire import guide_request

CITIES_NEAR = 3
MAX_REQUESTS = 2000
REQUEST_TIMEOUT_S = 10.0
ROUND_PAUSE_S = 0.05
FAILURE_ENV = "FAILURE_DRILL"


@dataclass
class Phase:
    """One measured phase: requests sent, how many failed, when it ended."""

    requests: int = 0
    failed: int = 0
    seconds: float | None = None  # None: it did not end within the bound
    served_by: dict[str, str | None] = field(default_factory=dict)


def cities_near(region: str, deployed: list[str], count: int = CITIES_NEAR) -> list[geo.City]:
    """Large cities whose nearest deployed region is ``region``; its own city first."""
    out: list[geo.City] = []
    own = serving.near_city(region)
    if own is not None:
        out.append(own)
    for city in geo.largest_cities(300):
        if len(out) >= count:
            break
        nearest, _ = geo.nearest_region(city.lat, city.lon, deployed)
        if nearest == region and all(c.geonameid != city.geonameid for c in out):
            out.append(city)
    return out


def _ask(url: str, city: geo.City) -> tuple[int, str | None]:
    answer = guide_request.ask(url, latlng=f"{city.lat},{city.lon}", timeout=REQUEST_TIMEOUT_S)
    return answer.status, answer.served_region if answer.status == 200 else None


def probe_until(
    url: str,
    cities: list[geo.City],
    done: Callable[[dict[str, tuple[int, str | None]]], bool],
    *,
    budget_s: float,
    budget_requests: int,
) -> Phase:
    """Rounds over ``cities`` until ``done(last answers)`` or a bound is reached."""
    phase = Phase()
    started = time.monotonic()
    while time.monotonic() - started < budget_s and phase.requests < budget_requests:
        answers = {}
        for city in cities:
            status, served = _ask(url, city)
            phase.requests += 1
            phase.failed += status != 200
            answers[city.name] = (status, served)
        phase.served_by = {name: served for name, (_, served) in answers.items()}
        if done(answers):
            phase.seconds = time.monotonic() - started
            return phase
        time.sleep(ROUND_PAUSE_S)
    return phase


# ------------------------------------------------------------------ making a region fail


class CloudRunFailure:
    """A tagged revision that answers 503 takes all of the region's traffic; restoring
    sends traffic back to the latest ready revision and drops the tag."""

    def __init__(self, clients: CloudClients, spec: DeploySpec, region: str) -> None:
        names = Names(spec.name, spec.project)
        self.clients = clients
        self.path = f"projects/{spec.project}/locations/{region}/services/{names.service}"

    def fail(self) -> None:
        service = self.clients.run_services.get_service(name=self.path)
        template = service.template
        container = template.containers[0]
        env = [e for e in container.env if e.name != FAILURE_ENV]
        env.append(run_v2.EnvVar(name=FAILURE_ENV, value="1"))
        container.env = env
        template.revision = f"{self.path.rsplit('/', 1)[-1]}-drill-{int(time.time())}"
        service.traffic = [
            run_v2.TrafficTarget(
                type_=run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
                revision=template.revision,
                percent=100,
                tag=DRILL_TAG,
            )
        ]
        wait_operation(self.clients.run_services.update_service(service=service))

    def restore(self) -> None:
        service = self.clients.run_services.get_service(name=self.path)
        container = service.template.containers[0]
        container.env = [e for e in container.env if e.name != FAILURE_ENV]
        service.template.revision = ""
        service.traffic = [
            run_v2.TrafficTarget(
                type_=run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST,
                percent=100,
            )
        ]
        wait_operation(self.clients.run_services.update_service(service=service))


# ------------------------------------------------------------------ the drill


def outlier_settings(spec: DeploySpec, clients: CloudClients) -> dict[str, Any]:
    names = Names(spec.name, spec.project)
    backend = clients.backend_services.get(
        project=spec.project, backend_service=names.backend_service
    )
    od = backend.outlier_detection
    return {
        "consecutive_gateway_failure": od.consecutive_gateway_failure,
        "enforcing_consecutive_gateway_failure": od.enforcing_consecutive_gateway_failure,
        "consecutive_errors": od.consecutive_errors,
        "enforcing_consecutive_errors": od.enforcing_consecutive_errors,
        "interval_s": od.interval.seconds + od.interval.nanos / 1e9,
        "base_ejection_time_s": od.base_ejection_time.seconds + od.base_ejection_time.nanos / 1e9,
        "max_ejection_percent": od.max_ejection_percent,
    }


def run_drill(
    spec: DeploySpec,
    clients: CloudClients,
    region: str,
    *,
    on_phase: Callable[[str], None] | None = None,
    phase_s: float | None = None,
) -> dict[str, Any]:
    deployed = sorted(serving.backend_regions(spec, clients) or set())
    if region not in deployed:
        raise UsageError(
            f"{region} is not behind the load balancer of {spec.name} "
            f"(deployed: {', '.join(deployed) or 'none'})."
        )
    if len(deployed) < 2:
        raise UsageError("A drill needs at least two regions: there is nowhere to fail over.")
    target = clients.target
    url = target.load_balancer_url(spec)
    if not url:
        raise CloudError("The load balancer has no URL yet.", hint="Run `globalguide deploy`.")
    budget = phase_s or target.drill_phase_s
    cities = cities_near(region, deployed)
    others = [r for r in deployed if r != region]
    place = geo.REGIONS[region]
    fallback, _ = geo.nearest_region(place.lat, place.lon, others)
    settings = outlier_settings(spec, clients)

    def from_region(answers: dict[str, tuple[int, str | None]]) -> bool:
        return all(status == 200 and served == region for status, served in answers.values())

    def elsewhere(answers: dict[str, tuple[int, str | None]]) -> bool:
        return all(status == 200 and served != region for status, served in answers.values())

    baseline = probe_until(url, cities, from_region, budget_s=budget, budget_requests=300)
    if baseline.seconds is None:
        raise CloudError(
            f"Before the drill, cities near {region} are not served from it "
            f"({baseline.served_by}); nothing was changed.",
            hint="Run `globalguide status` and `globalguide deploy` first.",
        )
    failure = target.region_failure(spec, region)
    try:
        if on_phase:
            on_phase(f"failing {region}")
        failure.fail()
        failover = probe_until(
            url, cities, elsewhere, budget_s=budget, budget_requests=MAX_REQUESTS
        )
    finally:
        if on_phase:
            on_phase(f"restoring {region}")
        failure.restore()
    if on_phase:
        on_phase(f"waiting for {region} to serve again")
    recovery = probe_until(url, cities, from_region, budget_s=budget, budget_requests=MAX_REQUESTS)
    document = {
        **document_header(spec, clients),
        "region": region,
        "expected_fallback": fallback,
        "cities": [c.name for c in cities],
        "outlier_detection": settings,
        "failover": {
            "seconds": _round(failover.seconds),
            "requests": failover.requests,
            "failed_requests": failover.failed,
            "served_by": failover.served_by,
        },
        "recovery": {
            "seconds": _round(recovery.seconds),
            "requests": recovery.requests,
            "failed_requests": recovery.failed,
            "served_by": recovery.served_by,
        },
        "restored": True,
    }
    if failover.seconds is None:
        raise DrillFailed(
            f"{region} was not failed over within {budget:.0f} s: cities near it still "
            f"reached it ({failover.served_by}). The region has been restored.",
            document,
        )
    if recovery.seconds is None:
        raise DrillFailed(
            f"{region} was restored but did not serve its cities again within {budget:.0f} s.",
            document,
        )
    return document


class DrillFailed(CloudError):
    def __init__(self, message: str, document: dict[str, Any]) -> None:
        super().__init__(message, hint="Run `globalguide status` to see each region.")
        self.document = document


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
