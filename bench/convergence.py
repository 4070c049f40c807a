"""Dropped requests while a deployment changes, and a measured failover.

Against one in-process emulator on the realistic profile scaled down (operations and load
balancer propagation at --time-scale of their realistic durations), a client in each
region's city probes the load balancer continuously (bounded in requests and time,
loopback only) while the bench (a) rolls out a new service version, (b) adds a region,
(c) removes a region and (d) drills a regional failure. Prints the requests and failures
of each phase, which regions answered, and the drill's failover and recovery times.

    PYTHONPATH=$PWD python bench/convergence.py [--time-scale 0.05]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from globalguide.cloud import deployment, drill
from globalguide.cloud.clients import CloudClients
from globalguide.emulator.server import Emulator, EmulatorConfig, EmulatorServer
from globalguide.spec import DeploySpec
from tests.reliability.probing import Prober

BEFORE = ("us-central1", "europe-west1")
ADDED = "asia-northeast1"
REMOVED = "europe-west1"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=0.05)
    parser.add_argument("--max-s", type=float, default=900.0, help="bound on the whole run")
    args = parser.parse_args()
    config = EmulatorConfig(
        state_dir=Path(tempfile.mkdtemp(prefix="globalguide-converge-")),
        profile="realistic",
        time_scale=args.time_scale,
    )
    server = EmulatorServer(Emulator(config)).start()
    clients = CloudClients(config.project, endpoint=server.endpoint)
    base = DeploySpec(project=config.project, local=True, regions=BEFORE).validated()
    steps = [
        ("(a) rollout", replace(base, concurrency=base.concurrency + 1)),
        (
            "(b) add " + ADDED,
            replace(base, regions=(*BEFORE, ADDED), concurrency=base.concurrency + 1),
        ),
        (
            "(c) remove " + REMOVED,
            replace(base, regions=("us-central1", ADDED), concurrency=base.concurrency + 1),
        ),
    ]
    ok = True
    try:
        t0 = time.monotonic()
        first = deployment.apply_deploy(deployment.make_plan(base, clients), clients)
        print(f"time scale {args.time_scale}; first deploy {time.monotonic() - t0:.1f} s")
        print(f"{'phase':<28}{'seconds':>8}{'requests':>10}{'failed':>8}  served by")
        with Prober(first["url"], [*BEFORE, ADDED], max_s=args.max_s) as prober:
            prober.phase()
            for label, spec in steps:
                t0 = time.monotonic()
                deployment.apply_deploy(deployment.make_plan(spec, clients), clients)
                tally = prober.phase()
                ok = ok and tally.failed == 0
                served = ", ".join(f"{r} {n}" for r, n in sorted(tally.by_region.items()))
                print(f"{label:<28}{time.monotonic() - t0:>8.1f}{tally.requests:>10}"
                      f"{tally.failed:>8}  {served}")  # fmt: skip
                for failure in tally.failures[:3]:
                    print(f"    {failure}")
        report = drill.run_drill(steps[-1][1], clients, ADDED)
        fo, rec = report["failover"], report["recovery"]
        print(f"(d) drill {ADDED}: failover {fo['seconds']} s, {fo['failed_requests']} of "
              f"{fo['requests']} requests failed; recovery {rec['seconds']} s "
              f"({rec['failed_requests']} failed); served meanwhile by "
              f"{sorted(set(fo['served_by'].values()))}")  # fmt: skip
        print(f"    outlier detection: {report['outlier_detection']}")
    finally:
        server.stop()
    print("goal met: 0 failed requests in (a)-(c)" if ok else "goal NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
