"""Shared by the reliability tests: an emulator to drive the library against, and checks."""

from __future__ import annotations

import requests

from globalguide import geo
from globalguide.cloud import deployment
from globalguide.cloud.clients import CloudClients
from globalguide.emulator.session import bearer
from globalguide.errors import CloudError
from globalguide.spec import DeploySpec


def control(endpoint: str, name: str, body: dict | None = None) -> dict:
    if body is None:
        response = requests.get(
            f"{endpoint}/_emulator/{name}", headers=bearer(endpoint), timeout=10
        )
    else:
        response = requests.post(
            f"{endpoint}/_emulator/{name}", headers=bearer(endpoint), json=body, timeout=10
        )
    response.raise_for_status()
    return response.json()


def resources_left(endpoint: str) -> int:
    return control(endpoint, "resources")["count"]


def served_from(url: str, region: str) -> str | None:
    """Which region answered a client standing where ``region`` is (None: no 200).
    A 200 alone proves nothing: failover to another region answers 200 too."""
    place = geo.REGIONS[region]
    response = requests.get(
        url,
        headers={
            "Accept": "application/json",
            "X-Emulator-Client-LatLng": f"{place.lat},{place.lon}",
        },
        timeout=30,
    )
    if response.status_code != 200:
        return None
    return response.json()["meta"].get("served_from_region")


def serves_every_region(url: str, regions) -> bool:
    """Whether a client near each region is answered by that very region."""
    return all(served_from(url, region) == region for region in regions)


def deploy_then_teardown(endpoint: str, project: str, seed: int, rate: float) -> dict:
    """Reset the emulator, inject faults at ``rate`` from ``seed``, deploy, ask each region's
    area which region served it, tear down (still under faults); returns what happened.
    A deploy that fails must say which region or step."""
    control(endpoint, "reset", {})
    control(endpoint, "faults", {"rate": rate, "seed": seed})
    clients = CloudClients(project, endpoint=endpoint)
    spec = DeploySpec(project=project, local=True).validated()
    error, document = None, None
    try:
        document = deployment.apply_deploy(deployment.make_plan(spec, clients), clients)
    except CloudError as exc:
        error = exc.message
    served = {}
    if document is not None:  # requests through the edge are never faulted
        served = {r: served_from(document["url"], r) for r in spec.regions}
    plan = deployment.make_teardown_plan(spec, clients, keep_images=False)
    deployment.apply_teardown(plan, clients, keep_images=False)
    faults = control(endpoint, "faults")["injected"]
    control(endpoint, "faults", {"rate": 0.0, "seed": seed})
    return {
        "exit": 1 if error else 0,
        "error": error,
        "regions": list(spec.regions),
        "served": served,
        "statuses": [r["status"] for r in (document or {}).get("regions", [])],
        "left": resources_left(endpoint),
        "faults": len(faults),
    }


def assert_truthful(outcome: dict) -> None:
    """Exit 0 only with every region serving its own area; exit 1 only naming a cause."""
    if outcome["exit"] == 0:
        assert outcome["served"] == {r: r for r in outcome["regions"]}, outcome
        assert outcome["statuses"] == ["serving"] * len(outcome["regions"]), outcome
    else:
        assert outcome["error"] and (
            any(r in outcome["error"] for r in outcome["regions"]) or " at " in outcome["error"]
        ), outcome
