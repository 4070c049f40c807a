"""deploy, status and teardown: plan, confirm, apply, verify. Rendering stays in the CLI.

The functions here take a DeploySpec and CloudClients and return plain dictionaries (the
documents ``--json`` prints); progress is reported through a listener.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from google.api_core import exceptions as gexc

from globalguide.cloud.apply import Executor, Listener, raise_for_failures
from globalguide.cloud.clients import CloudClients
from globalguide.cloud.names import Names
from globalguide.cloud.plan import (
    ABSENT,
    DELETE,
    Plan,
    plan_deploy,
    plan_status,
    plan_teardown,
)
from globalguide.cloud.propagation import Propagation
from globalguide.cloud.source import context_for, service_context
from globalguide.errors import CloudError, UsageError
from globalguide.spec import DeploySpec
from globalguide.wire import guide_request

TEARDOWN_SWEEPS = 3


def document_header(spec: DeploySpec, clients: CloudClients) -> dict[str, Any]:
    """The fields every command's JSON document starts with."""
    return {
        "name": spec.name,
        "target": clients.target.kind,
        "project": spec.project,
    }


# --------------------------------------------------------------------------- model check


def check_model(plan: Plan, clients: CloudClients, propagation: Propagation | None = None) -> None:
    """Ask the model once in each distinct Vertex location; stop before creating anything
    if it does not answer there. A 403 SERVICE_DISABLED for Vertex AI that this run has
    just enabled is waited out (cloud/propagation.py), polling every second."""
    from google.genai import errors as genai_errors

    model = plan.spec.model
    for location in sorted(set(plan.vertex_locations.values())):
        client = clients.gemini(location)
        try:
            while True:
                try:
                    client.models.generate_content(
                        model=model,
                        contents="Reply with OK.",
                        config={"max_output_tokens": 8},
                    )
                    break
                except genai_errors.ClientError as exc:
                    waiting = propagation.wait_for_text(str(exc)) if propagation else None
                    if exc.code != 403 or waiting is None:
                        raise
                    left = waiting.deadline - propagation.clock()
                    if left <= 0:
                        raise
                    time.sleep(min(1.0, left))
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


# --------------------------------------------------------------------------- the LB


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


def wait_until_serving(
    url_of: Callable[[], str | None],
    *,
    timeout: float,
    max_delay: float = 1.0,
    on_attempt: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Poll until the load balancer answers 200 (bounded); which region served it, when the
    service says (its X-Served-Region header)."""
    deadline = time.monotonic() + timeout
    attempt, delay = 0, 0.2
    last_status = 0
    while time.monotonic() < deadline:
        attempt += 1
        url = url_of()
        if url:
            answer = guide_request.ask(url, timeout=min(guide_request.TIMEOUT_S, timeout))
            last_status = answer.status
            if answer.status == 200:
                return {"url": url, "served_from_region": answer.served_region}
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
    return plan_deploy(spec, clients, context_for(spec))


def apply_deploy(
    plan: Plan,
    clients: CloudClients,
    *,
    listener: Listener | None = None,
    wait: bool = True,
    on_wait: Callable[[int, float], None] | None = None,
    workers: int | None = None,
    verify_regions: bool = False,
    on_drain: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Apply a deploy plan: APIs first, then the model check, then everything but deletes;
    regions being removed are first drained from the load balancer, then deleted. Done only
    when every region serves (:mod:`serving`). ``workers=1`` runs the steps one after
    another (only benchmarks want that); ``verify_regions`` runs the VM probe near each
    region on Google Cloud."""
    from globalguide.cloud import serving

    started = time.monotonic()
    executor = Executor(clients, listener=listener, **({"workers": workers} if workers else {}))
    # The model check needs google.genai, whose import takes most of a second: do it while
    # the APIs are being enabled.
    warm = threading.Thread(target=_import_genai, daemon=True)
    warm.start()
    changes = plan.changes
    first = [s for s in changes if s.resource.kind == "apis"]
    upserts = [s for s in changes if s.resource.kind != "apis" and s.action != DELETE]
    deletes = [s for s in changes if s.action == DELETE]
    if first:
        raise_for_failures(executor.apply(plan, first), "Enabling the APIs")
    warm.join()
    check_model(plan, clients, executor.propagation)
    if upserts:
        raise_for_failures(executor.apply(plan, upserts), "Deploy")
    spec = plan.spec
    drained_s = None
    if deletes:
        leaving = {
            s.resource.region
            for s in deletes
            if s.resource.kind in ("run-service", "neg") and s.resource.region
        } - set(spec.regions)
        drained_s = serving.wait_drained(spec, clients, leaving, on_wait=on_drain)
        raise_for_failures(executor.apply(plan, deletes), "Removing regions")
    target = clients.target
    url = target.load_balancer_url(spec)
    served_by = None
    checks: list[serving.RegionCheck] = []
    # With --domain the answer depends on DNS and a managed certificate that can take an
    # hour to become active; `status` shows its progress instead.
    if wait and not spec.domain:
        outcome = wait_until_serving(
            lambda: target.load_balancer_url(spec),
            timeout=target.lb_wait_s,
            max_delay=target.lb_poll_max_s,
            on_attempt=on_wait,
        )
        url, served_by = outcome["url"], outcome["served_from_region"]
        checks = serving.verify_serving(
            spec,
            clients,
            lambda: target.load_balancer_url(spec),
            vm_probe=verify_regions,
            on_attempt=on_wait,
        )
    document = deploy_document(plan, clients, url, time.monotonic() - started, served_by, checks)
    if drained_s is not None:
        document["drained_s"] = round(drained_s, 3)
    return document


def deploy_document(
    plan: Plan,
    clients: CloudClients,
    url: str | None,
    elapsed: float,
    served_by: str | None = None,
    checks: list[Any] | None = None,
) -> dict[str, Any]:
    """``regions[].status``: "serving" (a client near it was served from it), "ready" (Ready
    and behind the backend service, not asked from nearby), or "not checked" (--no-wait)."""
    spec = plan.spec
    by_region = {c.region: c for c in checks or []}
    regions = []
    for region in spec.regions:
        check = by_region.get(region)
        row = {
            "region": region,
            "service": spec.name,
            "vertex_location": plan.vertex_locations.get(region),
            "status": "not checked",
        }
        if check is not None:
            row.update(check.to_dict())
            row["status"] = "ready" if check.verified == "ready-only" else "serving"
        regions.append(row)
    only_ready = [r["region"] for r in regions if r["status"] == "ready"]
    return {
        **document_header(spec, clients),
        "url": url,
        "served_from_region": served_by,
        "regions": regions,
        "checked_only_as_ready": only_ready,
        "resources": plan.rows(done=True),
        "elapsed_s": round(elapsed, 3),
    }


# ------------------------------------------------------------------------------ status


def status(spec: DeploySpec, clients: CloudClients) -> dict[str, Any]:
    from globalguide import geo
    from globalguide.cloud import serving
    from globalguide.cloud.completeness import missing_resources
    from globalguide.cloud.plan_view import plan_estimate

    context = service_context()
    plan = plan_status(spec, clients, context)
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
                "reason": row.get("reason"),
            }
            if row.get("drill"):
                regions[r.region]["failing"] = f"drill revision {row['drill']}"
    target = clients.target
    url = target.load_balancer_url(spec)
    behind = serving.backend_regions(spec, clients) or set()
    edge = target.edge(spec)
    drilled = target.drilled_regions()
    for region, info in sorted(regions.items()):
        info["in_backend_service"] = region in behind
        info["answers"] = None
        if edge is not None:
            info["ejected"] = region in (edge.get("ejectedRegions") or [])
        if region in drilled:
            info["failing"] = "drill (503 from every revision)"
        if url and target.places_clients and region in geo.REGIONS:
            code, served = serving.served_from(url, region)
            info["answers"] = code == 200 and served == region
            info["served_from_region"] = served
    from_here = None
    if url and not target.places_clients:
        answer = guide_request.ask(url)
        from_here = answer.served_region if answer.status == 200 else None
    return {
        **document_header(spec, clients),
        "url": url,
        "served_from_here": from_here,
        "regions": [regions[k] for k in sorted(regions)],
        "resources": rows,
        "deployed": any(row["kind"] != "apis" for row in rows),
        "missing": missing_resources(plan, context),
        "cost": plan_estimate(plan, from_current=True),
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
