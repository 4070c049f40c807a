"""Shared by the reliability tests: an emulator to drive the library against, and checks."""

from __future__ import annotations

import requests

from globalguide.cloud import deployment
from globalguide.cloud.clients import CloudClients
from globalguide.emulator.session import bearer
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


def serves(url: str) -> bool:
    """One request through the load balancer answers 200 with the guide's document."""
    response = requests.get(url, headers={"Accept": "application/json"}, timeout=30)
    return response.status_code == 200 and "served_from_region" in response.json()["meta"]


def deploy_then_teardown(endpoint: str, project: str, seed: int, rate: float) -> dict:
    """Reset the emulator, inject faults at ``rate`` from ``seed``, deploy, check it serves,
    tear down; returns what happened. Raises if a deploy or teardown call fails."""
    control(endpoint, "reset", {})
    control(endpoint, "faults", {"rate": rate, "seed": seed})
    clients = CloudClients(project, endpoint=endpoint)
    spec = DeploySpec(project=project, local=True).validated()
    document = deployment.apply_deploy(deployment.make_plan(spec, clients), clients)
    served = serves(document["url"])
    plan = deployment.make_teardown_plan(spec, clients, keep_images=False)
    deployment.apply_teardown(plan, clients, keep_images=False)
    faults = control(endpoint, "faults")["injected"]
    control(endpoint, "faults", {"rate": 0.0, "seed": seed})
    return {"served": served, "left": resources_left(endpoint), "faults": len(faults)}
