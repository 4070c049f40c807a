"""A bounded load test of the local stack, on loopback only.

Deploys to a background emulator (instant profile, no modelled latency, so the fake
Gemini answers at once), then in one run, in alternating rounds:
  (1) through the edge: N concurrent keep-alive connections to the load balancer's URL;
  (2) direct: the same load straight at the serving revision's own Unix socket (a path
      only this user has: in the cloud, ingress allows only the load balancer);
each round a fixed request count per path, capped in time, so that both paths see the
same machine. Any error fails the run. Prints p50, p99 and requests per second of each
(medians over the rounds), the edge's overhead as the ratio of throughput through the
edge to throughput direct to the service, and the machine's load average. Beside them,
the CPU each request costs (bench/proc_cpu.py): the emulator's process (the edge and the
fake Gemini), the revision's processes under it (the service), and this load generator;
on a machine shared with other work that figure moves less than requests per second do.

    python bench/load.py [--connections 32] [--requests 1500] [--rounds 5] [--max-seconds 60]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from proc_cpu import own_cpu_s, process_cpu_s, tree_cpu_s

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


def alternate(
    paths: dict[str, tuple[str, dict[str, str], str | None]],
    args: argparse.Namespace,
    server_pid: int,
) -> dict[str, list[dict]]:
    """``args.rounds`` rounds, each running every path once, in turn; with the CPU
    milliseconds per request of the emulator's process, of the processes under it (the
    revision), and of this process."""
    results: dict[str, list[dict]] = {label: [] for label in paths}
    for _ in range(args.rounds):
        for label, (url, headers, sock) in paths.items():
            before = (process_cpu_s(server_pid), tree_cpu_s(server_pid), own_cpu_s())
            result = run_load(url, headers, args.connections, args.requests, args.max_seconds, sock)
            after = (process_cpu_s(server_pid), tree_cpu_s(server_pid), own_cpu_s())
            done = max(result["requests"], 1)
            spent = [(a - b) * 1000 / done for a, b in zip(after, before, strict=True)]
            emulator, tree, client = spent
            result.update(
                emulator_cpu_ms=emulator, service_cpu_ms=tree - emulator, client_cpu_ms=client
            )
            results[label].append(result)
    return results


def summary(rounds: list[dict]) -> dict:
    return {
        "requests": sum(r["requests"] for r in rounds),
        "errors": sum(r["errors"] for r in rounds),
        "error_kinds": sorted({kind for r in rounds for kind in r["error_kinds"]})[:5],
        **{
            key: statistics.median(r[key] for r in rounds)
            for key in (
                "rps",
                "p50_ms",
                "p99_ms",
                "emulator_cpu_ms",
                "service_cpu_ms",
                "client_cpu_ms",
            )
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--requests", type=int, default=1500, help="per path and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-seconds", type=float, default=60.0, help="per path and round")
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="globalguide-load-"))
    running = daemon.start_background(["--profile", "instant", "--latency", "off"], directory=state)
    try:
        clients = CloudClients(running.project, endpoint=running.endpoint, token=running.token)
        spec = DeploySpec(project=running.project, local=True).validated()
        document = deployment.apply_deploy(deployment.make_plan(spec, clients), clients)
        region = document["served_from_region"]
        sock = revision_socket(running.endpoint, running.token, region)
        paths = {
            "through the edge": (document["url"], {}, None),
            "direct to service": ("/", CITY_HEADER, sock),
        }
        # Warm both paths (connections, the model client) before measuring.
        for url, headers, path_sock in paths.values():
            run_load(url, headers, 4, 100, 30, path_sock)
        load_before = os.getloadavg()
        rounds = alternate(paths, args, running.pid)
        load_after = os.getloadavg()
        plan = deployment.make_teardown_plan(spec, clients, keep_images=False)
        deployment.apply_teardown(plan, clients, keep_images=False)
    finally:
        daemon.stop(state)

    print(f"{args.connections} connections, {args.requests} requests per path and round "
          f"(cap {args.max_seconds:.0f} s), {args.rounds} alternating rounds, medians; "
          f"served from {region}, loopback")  # fmt: skip
    results = {label: summary(values) for label, values in rounds.items()}
    for label, r in results.items():
        print(
            f"{label:18}  {r['requests']:6d} req  {r['errors']} errors  p50 "
            f"{r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  {r['rps']:8.1f} req/s"
        )
    edge, straight = results["through the edge"], results["direct to service"]
    per_round = [
        e["rps"] / d["rps"]
        for e, d in zip(rounds["through the edge"], rounds["direct to service"], strict=True)
    ]
    print("per-round edge / direct  " + " ".join(f"{ratio:.3f}" for ratio in per_round))
    for label, r in results.items():
        print(
            f"{label:18}  CPU ms per request: emulator {r['emulator_cpu_ms']:5.2f}  service "
            f"{r['service_cpu_ms']:5.2f}  load generator {r['client_cpu_ms']:5.2f}"
        )
    ratio = edge["rps"] / straight["rps"]
    verdict = "meets" if ratio >= 0.9 else "misses"
    print(f"edge throughput ratio (edge / direct)  {ratio:.3f}  ({verdict} the >= 0.9 goal)")
    keys = ("emulator_cpu_ms", "service_cpu_ms", "client_cpu_ms")
    cpu_ratio = sum(straight[k] for k in keys) / sum(edge[k] for k in keys)
    print(f"CPU per request, direct / edge (all processes)  {cpu_ratio:.3f}")
    print(
        "machine load (1, 5, 15 min) before: "
        + " ".join(f"{v:.2f}" for v in load_before)
        + ", after: "
        + " ".join(f"{v:.2f}" for v in load_after)
    )
    if edge["errors"] or straight["errors"]:
        print(f"ERRORS: edge {edge['error_kinds']}, direct {straight['error_kinds']}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
