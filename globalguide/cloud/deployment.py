"""deploy, status and teardown: plan, confirm, apply, verify. Rendering stays in the CLI.

The functions here take a DeploySpec and CloudClients and return plain dictionaries (the
documents ``--json`` prints); progress is reported through a listener.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from google.api_core import exceptions as gexc

from globalguide.cloud.apply import Executor, Listener, raise_for_failures
from globalguide.cloud.clients import CloudClients
from globalguide.cloud.names import Names
from globalguide.cloud.plan import (
    ABSENT,
    Plan,
    plan_deploy,
    plan_status,
    plan_teardown,
)
from globalguide.cloud.source import service_context
from globalguide.errors import CloudError, UsageError
from globalguide.spec import DeploySpec

LB_WAIT_CLOUD_S = 900.0
TEARDOWN_SWEEPS = 3
LB_WAIT_EMULATOR_S = 120.0
PROBE_TIMEOUT_S = 30.0


def document_header(spec: DeploySpec, clients: CloudClients) -> dict[str, Any]:
    """The fields every command's JSON document starts with."""
    return {
        "name": spec.name,
        "target": "emulator" if clients.is_emulator else "google-cloud",
        "project": spec.project,
    }


# --------------------------------------------------------------------------- model check


def check_model(plan: Plan, clients: CloudClients) -> None:
    """Ask the model once in each distinct Vertex location; stop before creating anything
    if it does not answer there."""
    from google.genai import errors as genai_errors

    model = plan.spec.model
    for location in sorted(set(plan.vertex_locations.values())):
        client = gemini_client(clients, location)
        try:
            client.models.generate_content(
                model=model,
                contents="Reply with OK.",
                config={"max_output_tokens": 8},
            )
        except genai_errors.ClientError as exc:
            if exc.code in (400, 403, 404):
                raise UsageError(
                    f"The model {model} does not answer in Vertex AI location {location} "
                    f"({exc.code}).",
                    hint="Pick another model with --model, or other regions with --regions.",
                ) from None
            raise CloudError(
                f"Checking {model} in {location} failed ({exc.code}).",
                hint="Retry in a minute; check the Vertex AI quota of the project.",
            ) from None
        except genai_errors.APIError as exc:
            raise CloudError(
                f"Checking {model} in {location} failed ({exc.code}).",
                hint="Retry in a minute.",
            ) from None


def _import_genai() -> None:
    import google.genai  # noqa: F401


def gemini_client(clients: CloudClients, location: str) -> Any:
    from google import genai
    from google.genai import types

    if clients.is_emulator:
        return genai.Client(
            vertexai=True,
            project=clients.project,
            location=location,
            credentials=clients.credentials,
            http_options=types.HttpOptions(base_url=f"{clients.endpoint}/", timeout=30_000),
        )
    return genai.Client(
        vertexai=True,
        project=clients.project,
        location=location,
        credentials=clients.credentials,
        http_options=types.HttpOptions(timeout=30_000),
    )


# --------------------------------------------------------------------------- the LB URL


def load_balancer_url(spec: DeploySpec, clients: CloudClients) -> str | None:
    names = Names(spec.name, spec.project)
    if clients.is_emulator:
        try:
            from globalguide.emulator.session import control_request

            request = control_request(clients.endpoint, "edges", token=clients.token)
            with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
                edges = json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None
        for edge in edges:
            if str(edge.get("forwardingRule", "")).endswith(f"/forwardingRules/{names.http_rule}"):
                return str(edge["url"])
        return None
    try:
        address = clients.global_addresses.get(project=spec.project, address=names.address)
    except gexc.NotFound:
        return None
    if spec.domain:
        return f"https://{spec.domain}"
    return f"http://{address.address}"


def deployed_regions(spec: DeploySpec, clients: CloudClients) -> list[str]:
    """The regions behind the deployment's backend service (its NEGs), sorted; the spec's
    regions when the backend service cannot be read."""
    names = Names(spec.name, spec.project)
    try:
        backend = clients.backend_services.get(
            project=spec.project, backend_service=names.backend_service
        )
    except gexc.GoogleAPICallError:
        return sorted(spec.regions)
    regions = set()
    for b in backend.backends:
        _, found, rest = b.group.partition("/regions/")
        if found:
            regions.add(rest.split("/", 1)[0])
    return sorted(regions) or sorted(spec.regions)


def fetch_guide(
    url: str,
    *,
    city: str | None = None,
    latlng: str | None = None,
    timeout: float = PROBE_TIMEOUT_S,
) -> tuple[int, dict[str, Any] | None]:
    """GET the guide's JSON; (status, document or None). Emulator location headers when given."""
    headers = {"Accept": "application/json", "User-Agent": "globalguide"}
    if city:
        headers["X-Emulator-Client-City"] = city
    if latlng:
        headers["X-Emulator-Client-LatLng"] = latlng
    request = urllib.request.Request(url.rstrip("/") + "/", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            body = resp.read(1_000_000)
            status = resp.status
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None
    try:
        document = json.loads(body)
    except ValueError:
        return status, None
    return status, document if isinstance(document, dict) else None


def wait_until_serving(
    url_of: Callable[[], str | None],
    *,
    timeout: float,
    max_delay: float = 1.0,
    on_attempt: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Poll until the load balancer answers 200 from a region (bounded)."""
    deadline = time.monotonic() + timeout
    attempt, delay = 0, 0.2
    last_status = 0
    while time.monotonic() < deadline:
        attempt += 1
        url = url_of()
        if url:
            status, doc = fetch_guide(url, timeout=min(PROBE_TIMEOUT_S, timeout))
            last_status = status
            if status == 200 and doc and isinstance(doc.get("meta"), dict):
                return {"url": url, "served_from_region": doc["meta"].get("served_from_region")}
        if on_attempt:
            on_attempt(attempt, deadline - time.monotonic())
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, max_delay)
    raise CloudError(
        f"The load balancer did not answer 200 within {timeout:.0f} s (last status "
        f"{last_status or 'no answer'}).",
        hint="A new load balancer can take several minutes to propagate; check again with "
        "`globalguide status`.",
    )


# ------------------------------------------------------------------------------ deploy


def make_plan(spec: DeploySpec, clients: CloudClients) -> Plan:
    return plan_deploy(spec, clients, service_context())


def apply_deploy(
    plan: Plan,
    clients: CloudClients,
    *,
    listener: Listener | None = None,
    wait: bool = True,
    on_wait: Callable[[int, float], None] | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Apply a deploy plan: APIs first, then the model check, then everything else.
    ``workers=1`` runs the steps one after another (only benchmarks want that)."""
    started = time.monotonic()
    executor = Executor(clients, listener=listener, **({"workers": workers} if workers else {}))
    # The model check needs google.genai, whose import takes most of a second: do it while
    # the APIs are being enabled.
    warm = threading.Thread(target=_import_genai, daemon=True)
    warm.start()
    changes = plan.changes
    first = [s for s in changes if s.resource.kind == "apis"]
    rest = [s for s in changes if s.resource.kind != "apis"]
    if first:
        raise_for_failures(executor.apply(plan, first), "Enabling the APIs")
    warm.join()
    check_model(plan, clients)
    if rest:
        raise_for_failures(executor.apply(plan, rest), "Deploy")
    spec = plan.spec
    url = load_balancer_url(spec, clients)
    served_by = None
    # With --domain the answer depends on DNS and a managed certificate that can take an
    # hour to become active; `status` shows its progress instead.
    if wait and not spec.domain:
        timeout = LB_WAIT_EMULATOR_S if clients.is_emulator else LB_WAIT_CLOUD_S
        outcome = wait_until_serving(
            lambda: load_balancer_url(spec, clients),
            timeout=timeout,
            max_delay=0.5 if clients.is_emulator else 5.0,
            on_attempt=on_wait,
        )
        url, served_by = outcome["url"], outcome["served_from_region"]
    return deploy_document(plan, clients, url, time.monotonic() - started, served_by)


def deploy_document(
    plan: Plan, clients: CloudClients, url: str | None, elapsed: float, served_by: str | None = None
) -> dict[str, Any]:
    spec = plan.spec
    regions = []
    for region in spec.regions:
        regions.append(
            {
                "region": region,
                "service": spec.name,
                "vertex_location": plan.vertex_locations.get(region),
                "status": "deployed",
            }
        )
    return {
        **document_header(spec, clients),
        "url": url,
        "served_from_region": served_by,
        "regions": regions,
        "resources": plan.rows(done=True),
        "elapsed_s": round(elapsed, 3),
    }


# ------------------------------------------------------------------------------ status


def status(spec: DeploySpec, clients: CloudClients) -> dict[str, Any]:
    from globalguide import geo

    plan = plan_status(spec, clients, service_context())
    rows = []
    regions: dict[str, dict[str, Any]] = {}
    for step in plan.steps:
        r = step.resource
        if step.action == ABSENT:
            continue
        row = r.row("present")
        try:
            row.update(r.summary(step.current))
        except (AttributeError, TypeError, ValueError):
            pass
        rows.append(row)
        if r.kind == "run-service":
            regions[r.region] = {
                "region": r.region,
                "service": r.name,
                "uri": row.get("uri"),
                "ready": row.get("ready"),
            }
    url = load_balancer_url(spec, clients)
    for region, info in sorted(regions.items()):
        info["answers"] = None
        if url and clients.is_emulator:
            place = geo.REGIONS.get(region)
            if place is not None:
                code, doc = fetch_guide(url, latlng=f"{place.lat},{place.lon}")
                served = (doc or {}).get("meta", {}).get("served_from_region")
                info["answers"] = code == 200 and served == region
                info["served_from_region"] = served
    from_here = None
    if url and not clients.is_emulator:
        code, doc = fetch_guide(url)
        from_here = (doc or {}).get("meta", {}).get("served_from_region") if code == 200 else None
    return {
        **document_header(spec, clients),
        "url": url,
        "served_from_here": from_here,
        "regions": [regions[k] for k in sorted(regions)],
        "resources": rows,
        "deployed": any(row["kind"] != "apis" for row in rows),
    }


# ---------------------------------------------------------------------------- teardown


def make_teardown_plan(spec: DeploySpec, clients: CloudClients, *, keep_images: bool) -> Plan:
    return plan_teardown(spec, clients, service_context(), keep_images=keep_images)


def apply_teardown(
    plan: Plan, clients: CloudClients, *, keep_images: bool, listener: Listener | None = None
) -> dict[str, Any]:
    started = time.monotonic()
    executor = Executor(clients, listener=listener)
    rows = []
    for sweep in range(TEARDOWN_SWEEPS):
        raise_for_failures(executor.apply(plan), "Teardown")
        rows += plan.rows(done=True)
        # Verify from the cloud itself that nothing named for the deployment is left. An
        # operation a killed deploy started can still create a resource after the first
        # read; the next sweep removes it.
        plan = make_teardown_plan(plan.spec, clients, keep_images=keep_images)
        if not plan.changes:
            break
        if sweep < TEARDOWN_SWEEPS - 1:
            time.sleep(2.0 * (sweep + 1))
    else:
        left = [s.resource.key for s in plan.changes]
        raise CloudError(
            f"Teardown finished but {len(left)} resources remain: {', '.join(left[:5])}.",
            hint="Run `globalguide teardown` again.",
        )
    return {
        **document_header(plan.spec, clients),
        "resources": rows,
        "left": 0,
        "elapsed_s": round(time.monotonic() - started, 3),
    }
