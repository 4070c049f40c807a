"""The long fault-injection run: deploy then teardown for many seeds at a fault rate.

Each seed resets one in-process emulator, injects faults into mutating calls (429, 503,
operations that end in error) deterministically from the seed, deploys, asks through the
load balancer as a client in each region's city which region served it, tears down and
counts what is left. A deploy is truthful when it exited 0 with every region serving its
own area, or failed naming the cause; never 0 with a region down. Prints one line per
failure and a summary.

    python bench/reliability.py [--seeds 100] [--first-seed 1000] [--rate 0.2]
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

from globalguide.cloud import deployment, serving
from globalguide.cloud.clients import CloudClients
from globalguide.emulator.server import Emulator, EmulatorConfig, EmulatorServer
from globalguide.emulator.session import control_request
from globalguide.spec import DeploySpec


def control(endpoint: str, name: str, body: dict | None = None) -> dict:
    request = control_request(endpoint, name, body=body)
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 (loopback)
        return json.loads(resp.read() or b"{}")


def one_seed(endpoint: str, project: str, seed: int, rate: float) -> dict:
    control(endpoint, "reset", {})
    control(endpoint, "faults", {"rate": rate, "seed": seed})
    clients = CloudClients(project, endpoint=endpoint)
    spec = DeploySpec(project=project, local=True).validated()
    out = {"seed": seed, "deploy_ok": False, "served": False, "teardown_ok": False, "left": -1}
    t0 = time.monotonic()
    document = None
    try:
        document = deployment.apply_deploy(deployment.make_plan(spec, clients), clients)
        out["deploy_ok"] = True
    except Exception as exc:  # noqa: BLE001 (reported, not raised: the run goes on)
        out["error"] = f"deploy: {type(exc).__name__}: {exc}"[:300]
        out["named"] = any(r in str(exc) for r in spec.regions) or " at " in str(exc)
    out["deploy_s"] = time.monotonic() - t0
    # Requests through the edge are never faulted (faults hit API calls only).
    if document is not None:
        by_region = {r: serving.served_from(document["url"], r)[1] for r in spec.regions}
        out["served"] = all(by_region[r] == r for r in spec.regions)
        out["served_by"] = by_region
    # Truthful: exit 0 with every region serving its own area, or a failure naming it.
    out["truthful"] = out["served"] if out["deploy_ok"] else out.get("named", False)
    t0 = time.monotonic()
    try:
        plan = deployment.make_teardown_plan(spec, clients, keep_images=False)
        deployment.apply_teardown(plan, clients, keep_images=False)
        out["teardown_ok"] = True
    except Exception as exc:  # noqa: BLE001
        out.setdefault("error", f"teardown: {type(exc).__name__}: {exc}"[:300])
    out["teardown_s"] = time.monotonic() - t0
    out["faults"] = len(control(endpoint, "faults")["injected"])
    control(endpoint, "faults", {"rate": 0.0, "seed": seed})
    out["left"] = control(endpoint, "resources")["count"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.2)
    args = parser.parse_args()

    config = EmulatorConfig(state_dir=Path(tempfile.mkdtemp(prefix="globalguide-rel-")))
    server = EmulatorServer(Emulator(config)).start()
    results = []
    started = time.monotonic()
    try:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            result = one_seed(server.endpoint, config.project, seed, args.rate)
            results.append(result)
            good = result["truthful"] and result["teardown_ok"] and result["left"] == 0
            if not good or not result["deploy_ok"]:
                verdict = "FAILED" if not good else "exit 1, named"
                print(f"seed {seed}: {verdict} {result.get('error', '')} "
                      f"served_by={result.get('served_by')} left={result['left']}")  # fmt: skip
    finally:
        server.stop()
    elapsed = time.monotonic() - started

    def count(key: str) -> int:
        return sum(1 for r in results if r[key])

    clean = sum(1 for r in results if r["left"] == 0)
    print(f"fault rate {args.rate}, seeds {args.first_seed}..{args.first_seed + args.seeds - 1}")
    print(f"faults injected            {sum(r['faults'] for r in results)} "
          f"(median {statistics.median(r['faults'] for r in results):.0f} per seed)")  # fmt: skip
    print(f"deploys converged          {count('deploy_ok')}/{len(results)}")
    print(f"every region served itself {count('served')}/{len(results)}")
    print(f"truthful outcome           {count('truthful')}/{len(results)}")
    print(f"teardowns succeeded        {count('teardown_ok')}/{len(results)}")
    print(f"left 0 resources           {clean}/{len(results)}")
    print(f"deploy median / max        {statistics.median(r['deploy_s'] for r in results):.2f} / "
          f"{max(r['deploy_s'] for r in results):.2f} s")  # fmt: skip
    print(f"teardown median / max      {statistics.median(r['teardown_s'] for r in results):.2f} / "
          f"{max(r['teardown_s'] for r in results):.2f} s")  # fmt: skip
    print(f"wall time                  {elapsed:.1f} s")
    ok = all(r["truthful"] and r["teardown_ok"] and r["left"] == 0 for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
