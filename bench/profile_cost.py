"""Where the per-request CPU goes: py-spy samples a process under load, on loopback only.

    python bench/profile_cost.py service [--app service|minimal] [--seconds 8] [--top 15]
    python bench/profile_cost.py edge [--seconds 8] [--top 15]

``service``: the app (``service``: ``python -m service``; ``minimal``: bench/minimal_app.py)
under the service's gunicorn settings against the zero-delay fake Gemini, with the keep-alive
load of bench/service_bench.py; py-spy attaches to the gunicorn worker.
``edge``: a local deployment as in bench/load.py, with its load sent through the edge; py-spy
attaches to the emulator, whose threads run the edge.

py-spy (``pip install py-spy``) samples the thread holding the GIL (``--gil``), so the figures are
shares of the CPU the process burns; nothing in the profiled code is changed for it.
Prints the functions with the most samples of their own and the most samples in total
(with everything they call), each as a share of all samples.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import load as edge_load  # noqa: E402
import service_bench  # noqa: E402

RATE_HZ = 250


def sample(pid: int, seconds: float, out: Path) -> subprocess.Popen:
    """py-spy recording ``pid`` for ``seconds``, collapsed stacks without line numbers."""
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("py-spy is not installed (pip install py-spy)")
    argv = [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds))]
    argv += ["--rate", str(RATE_HZ), "--gil", "--format", "raw", "--nolineno", "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def short(frame: str) -> str:
    """``func (/long/path/site-packages/pkg/mod.py)`` as ``func (pkg/mod.py)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/lib/python3.", str(BENCH.parent) + "/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            if marker.startswith("/lib/python3."):
                where = "stdlib/" + where.split("/", 1)[1]
    return f"{name} ({where})"


def report(raw: Path, top: int) -> None:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [short(f) for f in stack.split(";")]
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    print(f"{samples} samples at {RATE_HZ} Hz (threads holding the GIL)")
    for title, counter in (("own", own), ("total (with callees)", total)):
        print(f"  top {top} by {title}:")
        for frame, count in counter.most_common(top):
            print(f"    {100 * count / samples:5.1f} %  {frame}")


def worker_pid(master: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise RuntimeError("no gunicorn worker")


def profile_service(args: argparse.Namespace, out: Path) -> None:
    start = {"service": service_bench.start_service, "minimal": service_bench.start_minimal}
    fake, fake_url = service_bench.start_fake()
    proc = start[args.app](fake_url)
    try:
        service_bench.first_200(proc.port, proc.process, proc.started)
        pid = worker_pid(proc.process.pid)
        service_bench.load(proc.port, 8, 200, 10)  # warm
        spy = sample(pid, args.seconds, out)
        time.sleep(0.5)  # py-spy attaches
        done, seconds = service_bench.load(proc.port, 8, args.requests, args.seconds - 1)
        spy.wait(timeout=args.seconds + 30)
        print(f"{args.app}: {done / seconds:.0f} req/s while sampled")
    finally:
        proc.stop()
        if fake.stdin:
            fake.stdin.close()
        fake.wait(timeout=10)


def profile_edge(args: argparse.Namespace, out: Path) -> None:
    from globalguide.cloud import deployment
    from globalguide.cloud.clients import CloudClients
    from globalguide.emulator import daemon
    from globalguide.spec import DeploySpec

    state = Path(tempfile.mkdtemp(prefix="globalguide-profile-"))
    running = daemon.start_background(["--profile", "instant", "--latency", "off"], directory=state)
    try:
        clients = CloudClients(running.project, endpoint=running.endpoint, token=running.token)
        spec = DeploySpec(project=running.project, local=True).validated()
        document = deployment.apply_deploy(deployment.make_plan(spec, clients), clients)
        edge_load.run_load(document["url"], {}, 4, 100, 30)  # warm
        result: dict = {}

        def drive() -> None:
            result.update(
                edge_load.run_load(document["url"], {}, 32, args.requests, args.seconds - 1)
            )

        spy = sample(running.pid, args.seconds, out)
        time.sleep(0.5)
        driver = threading.Thread(target=drive)
        driver.start()
        driver.join(args.seconds + 60)
        spy.wait(timeout=args.seconds + 30)
        rate, errors = result.get("rps", 0.0), result.get("errors")
        print(f"edge: {rate:.0f} req/s, {errors} errors while sampled")
    finally:
        daemon.stop(state)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=("service", "edge"))
    parser.add_argument("--app", choices=("service", "minimal"), default="service")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--requests", type=int, default=4000, help="at most, while sampled")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stacks.txt"
        if args.target == "service":
            profile_service(args, out)
        else:
            profile_edge(args, out)
        report(out, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
