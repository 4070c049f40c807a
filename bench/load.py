"""A bounded load test of the local stack, on loopback only.

Deploys to a background emulator (instant profile, no modelled latency, so the fake
Gemini answers at once), then in one run:
  (1) through the edge: N concurrent keep-alive connections to the load balancer's URL;
  (2) direct: the same load straight at the serving revision's own Unix socket (a path
      only this user has: in the cloud, ingress allows only the load balancer);
each for a fixed request count, capped in time. Any error fails the run. Prints p50, p99
and requests per second of each, and the edge's overhead as the ratio of throughput
through the edge to throughput direct to the service.

    python bench/load.py [--connections 32] [--requests 4000] [--max-seconds 120]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from globalguide.cloud import deployment
from globalguide.cloud.clients import CloudClients
from globalguide.emulator import daemon
from globalguide.emulator.dataplane.proxy import UnixHTTPConnection
from globalguide.emulator.session import control_request
from globalguide.spec import DeploySpec

CITY_HEADER = {"X-Client-Geo-Location": "Chicago,IL,US"}


def run_load(
    url: str,
    headers: dict[str, str],
    connections: int,
    total: int,
    max_seconds: float,
    socket_path: str | None = None,
) -> dict:
    """``total`` GETs of ``url`` (over ``socket_path`` when given) on ``connections``
    keep-alive connections, stopping at ``max_seconds`` whatever is left. Latencies in ms;
    errors are non-200 answers and failed connections."""
    parts = urlsplit(url)
    path = parts.path or "/"
    lock = threading.Lock()
    remaining = [total]
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + max_seconds

    def take() -> bool:
        with lock:
            if remaining[0] <= 0 or time.monotonic() >= deadline:
                return False
            remaining[0] -= 1
            return True

    def worker() -> None:
        if socket_path:
            conn: http.client.HTTPConnection = UnixHTTPConnection(socket_path, timeout=30)
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        mine: list[float] = []
        try:
            while take():
                t0 = time.perf_counter()
                try:
                    conn.request("GET", path, headers={"Accept": "application/json", **headers})
                    response = conn.getresponse()
                    response.read()
                    ok = response.status == 200
                    if response.will_close:
                        conn.close()
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    with lock:
                        errors.append(type(exc).__name__)
                    continue
                mine.append((time.perf_counter() - t0) * 1000)
                if not ok:
                    with lock:
                        errors.append(str(response.status))
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max_seconds + 60)
    elapsed = time.monotonic() - started
    done = len(latencies)
    ordered = sorted(latencies) or [0.0]
    return {
        "requests": done,
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
        "seconds": elapsed,
        "rps": done / elapsed if elapsed else 0.0,
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
    }


def revision_socket(endpoint: str, token: str, region: str) -> str:
    request = control_request(endpoint, "state", token=token)
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        state = json.loads(resp.read())
    for service in state["dataplane"]["services"]:
        if service["region"] == region:
            for revision in service["revisions"]:
                if revision.get("socket") and revision.get("status") == "ready":
                    return str(revision["socket"])
    raise RuntimeError(f"no ready revision in {region}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="globalguide-load-"))
    running = daemon.start_background(["--profile", "instant", "--latency", "off"], directory=state)
    try:
        clients = CloudClients(running.project, endpoint=running.endpoint, token=running.token)
        spec = DeploySpec(project=running.project, local=True).validated()
        document = deployment.apply_deploy(deployment.make_plan(spec, clients), clients)
        region = document["served_from_region"]
        sock = revision_socket(running.endpoint, running.token, region)
        # Warm both paths (connections, the model client) before measuring.
        run_load(document["url"], {}, 4, 100, 30)
        run_load("/", CITY_HEADER, 4, 100, 30, sock)
        edge = run_load(document["url"], {}, args.connections, args.requests, args.max_seconds)
        straight = run_load(
            "/", CITY_HEADER, args.connections, args.requests, args.max_seconds, sock
        )
        plan = deployment.make_teardown_plan(spec, clients, keep_images=False)
        deployment.apply_teardown(plan, clients, keep_images=False)
    finally:
        daemon.stop(state)

    print(f"{args.connections} connections, {args.requests} requests per path "
          f"(cap {args.max_seconds:.0f} s), served from {region}, loopback")  # fmt: skip
    for label, r in (("through the edge", edge), ("direct to service", straight)):
        print(
            f"{label:18}  {r['requests']:6d} req  {r['errors']} errors  p50 "
            f"{r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  {r['rps']:8.1f} req/s"
        )
    print(f"edge throughput ratio (edge / direct)  {edge['rps'] / straight['rps']:.3f}")
    if edge["errors"] or straight["errors"]:
        print(f"ERRORS: edge {edge['error_kinds']}, direct {straight['error_kinds']}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
