"""How close a deploy comes to its critical path, and how much the parallel graph saves.

Against the emulator's realistic profile (scaled down by --time-scale), in one run:
  (a) deploy wall time / the critical-path lower bound computed from the same profile
  (b) deploy wall time / the same steps run one after another (the tutorial's way)
  (c) a no-op redeploy's wall time and its count of mutating calls

    python bench/deploy.py [--time-scale 0.1] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from globalguide.cloud import deployment
from globalguide.cloud.clients import CloudClients
from globalguide.cloud.plan import Plan
from globalguide.emulator import daemon
from globalguide.emulator.core.operations import REALISTIC_SECONDS
from globalguide.emulator.dataplane.edge import PROPAGATION_S
from globalguide.emulator.session import control_request
from globalguide.spec import DeploySpec

# The operation each kind of step waits for in the emulator's realistic profile.
STEP_OPERATION = {
    "apis": "serviceusage.enable",
    "repository": "artifactregistry.createRepository",
    "bucket": None,  # plain requests, no operation
    "service-account": None,
    "iam-binding": None,
    "image": "cloudbuild.build",
    "run-service": "run.create",
    "address": "compute.address",
    "neg": "compute.networkEndpointGroup",
    "backend-service": "compute.backendService",
    "url-map": "compute.urlMap",
    "http-proxy": "compute.targetProxy",
    "forwarding-rule": "compute.forwardingRule",
}


def step_seconds(kind: str, scale: float) -> float:
    operation = STEP_OPERATION[kind]
    return 0.0 if operation is None else REALISTIC_SECONDS[operation] * scale


def critical_path_s(plan: Plan, scale: float) -> float:
    """Longest path through the create graph, plus the modelled load-balancer propagation
    after the forwarding rule (deploy waits until the load balancer answers)."""
    steps = {s.key: s for s in plan.steps if s.changes}
    finish: dict[str, float] = {}

    def done_at(key: str) -> float:
        if key not in finish:
            step = steps[key]
            start = max((done_at(k) for k in step.resource.depends_on if k in steps), default=0.0)
            own = step_seconds(step.resource.kind, scale)
            if step.resource.kind == "forwarding-rule":
                own += PROPAGATION_S * scale
            finish[key] = start + own
        return finish[key]

    return max(done_at(k) for k in steps)


def emulator_calls(clients: CloudClients, method: str = "GET") -> list[dict]:
    request = control_request(clients.endpoint, "requests", token=clients.token, method=method)
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 (loopback)
        return json.loads(resp.read() or b"[]")


def one_round(clients: CloudClients, spec: DeploySpec, scale: float) -> dict[str, float]:
    # (a) parallel deploy, from the first read to the first 200 through the load balancer
    t0 = time.monotonic()
    plan = deployment.make_plan(spec, clients)
    bound = critical_path_s(plan, scale)
    deployment.apply_deploy(plan, clients)
    parallel = time.monotonic() - t0

    # (c) no-op redeploy
    emulator_calls(clients, "DELETE")
    t0 = time.monotonic()
    again = deployment.make_plan(spec, clients)
    deployment.apply_deploy(again, clients)
    noop = time.monotonic() - t0
    mutating = sum(1 for call in emulator_calls(clients) if call["mutating"])

    teardown = deployment.make_teardown_plan(spec, clients, keep_images=False)
    deployment.apply_teardown(teardown, clients, keep_images=False)

    # (b) the same steps one after another
    t0 = time.monotonic()
    plan = deployment.make_plan(spec, clients)
    deployment.apply_deploy(plan, clients, workers=1)
    serial = time.monotonic() - t0

    teardown = deployment.make_teardown_plan(spec, clients, keep_images=False)
    deployment.apply_teardown(teardown, clients, keep_images=False)
    return {"parallel": parallel, "bound": bound, "serial": serial, "noop": noop,
            "mutating": mutating}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="globalguide-bench-"))
    running = daemon.start_background(
        ["--profile", "realistic", "--time-scale", repr(args.time_scale)], directory=state
    )
    try:
        clients = CloudClients(running.project, endpoint=running.endpoint, token=running.token)
        spec = DeploySpec(project=running.project, local=True).validated()
        rounds = [one_round(clients, spec, args.time_scale) for _ in range(args.repeat)]
    finally:
        daemon.stop(state)

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    parallel, bound, serial = median("parallel"), median("bound"), median("serial")
    print(f"profile realistic x {args.time_scale}, {args.repeat} round(s), medians")
    print(f"critical-path lower bound (modelled)     {bound:7.2f} s")
    print(f"deploy, parallel graph                   {parallel:7.2f} s")
    print(f"deploy, one step after another           {serial:7.2f} s")
    print(f"(a) parallel / critical path             {parallel / bound:7.3f}   (goal <= 1.15)")
    print(f"(b) parallel / one after another         {parallel / serial:7.3f}   (goal <= 0.6)")
    print(f"(c) no-op redeploy                       {median('noop'):7.2f} s, "
          f"{int(max(r['mutating'] for r in rounds))} mutating calls")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
