"""Benchmark the service: cold start and requests per second, as ratios measured in one run.

    python bench/service_bench.py [--reps 5] [--rps-reps 3] [--requests 3000] [--seconds 8]

(a) Cold start: from process start to the first 200 on ``GET /`` of
    - ``python -m service`` (gunicorn gthread, against a zero-delay fake Gemini),
    - a bare Flask "hello" app under the very same gunicorn settings,
    - the reference tutorial's app started the tutorial's way (``python main.py``: the
      Flask debug server with its reloader, ``vertexai.generative_models``, a model object
      per request), against the same fake Gemini. Its SDK is not a project dependency: it
      runs from a separate virtual environment created on first use (``--tutorial-python``
      to bring one, ``--no-tutorial`` to skip).
(b) Requests per second on ``GET /``, all under the very same gunicorn settings, against the
    same zero-delay fake Gemini, with the same keep-alive load bounded by count and time:
    - the service;
    - its floor, ``bench/minimal_app.py``: one google-genai client built at import and one
      ``generate_content`` per request, nothing else;
    - the tutorial's app (when its SDK is available);
    - the bare Flask hello (no model call: the ceiling of Flask and gunicorn alone);
    - a second copy of the minimal app, as a control: the spread of minimal / its copy is
      what this method reports when two apps do exactly the same work.
    All are measured in alternating rounds (the order reversed every other round), each
    app in a new process every round, so that each round sees the same machine; the ratios
    are medians of the per-round ratios. Beside requests per second, the CPU milliseconds
    each request costs the app's processes (bench/proc_cpu.py), which moves far less with
    other work on the machine.
    On a machine with two CPUs or more, the apps run on one CPU and the load generator and
    the fake Gemini on the others (``--no-pin`` to share them all): the service is deployed
    with one vCPU per instance, and with the load generator on the same CPUs every app's
    figures move with the generator's share of them rather than with the app's own cost.

Everything listens on and talks to 127.0.0.1 only. Medians of several repetitions.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from proc_cpu import tree_cpu_s

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# gunicorn too, so that its requests per second are measured under the service's settings.
TUTORIAL_REQUIREMENTS = ("flask==3.1.3", "google-cloud-aiplatform==2.7.0", "gunicorn==27.0.1")
PARIS = b"X-Client-Geo-Location: Paris,FRIDF,FR\r\n"
START_TIMEOUT_S = 60.0
WARM_UP_REQUESTS = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- a minimal keep-alive HTTP/1.1 client (cheap enough not to be the bottleneck) --------


class Connection:
    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + PARIS + b"\r\n"

    def get(self) -> int:
        self.sock.sendall(self.request)
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        while len(rest) < length:
            rest += self._recv()
        self.buffer = rest[length:]
        if close:
            self.reopen()
        return status

    def _read(self) -> None:
        self.buffer += self._recv()

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        return data

    def reopen(self) -> None:
        self.sock.close()
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()


def first_200(port: int, process: subprocess.Popen, started: float) -> float:
    """Seconds from ``started`` to the first 200 on ``GET /``; polls every 5 ms."""
    deadline = started + START_TIMEOUT_S
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before answering")
        try:
            conn = Connection(port, timeout=30)
        except OSError:
            time.sleep(0.005)
            continue
        try:
            status = conn.get()
        except (OSError, ConnectionError, ValueError, IndexError):
            status = 0
        finally:
            conn.close()
        if status == 200:
            return time.perf_counter() - started
        time.sleep(0.005)
    raise RuntimeError("no 200 within the start timeout")


# -- the processes under test ------------------------------------------------------------


# The CPUs the apps under test are started on (None: any); see pin_apart().
APP_CPUS: set[int] | None = None


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of ``pid`` onto ``cpus`` (threads started later inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), cpus)
        except (OSError, ValueError):
            continue


def pin_apart(fake_pid: int) -> str:
    """The apps on the last CPU, this process and the fake Gemini on the others."""
    global APP_CPUS
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(available) < 2:
        return "not pinned: fewer than 2 CPUs"
    APP_CPUS = {available[-1]}
    others = set(available[:-1])
    pin(os.getpid(), others)
    pin(fake_pid, others)
    return f"apps on CPU {available[-1]}, load generator and fake Gemini on CPU {sorted(others)}"


class Proc:
    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.port = int(env["PORT"])
        self.started = time.perf_counter()
        cpus = APP_CPUS
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,  # noqa: PLW1509
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        # The tutorial's reloader child is in the same process group.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def base_env(port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GUNICORN_")}
    env.update(PORT=str(port), BIND_HOST="127.0.0.1", GUNICORN_LOG_LEVEL="warning")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def service_starter(checkout: Path) -> Callable[[str], Proc]:
    """``python -m service`` of ``checkout`` (ours, or another for ``--before``), that
    checkout alone on the path so that no other service shadows it."""

    def start(fake_url: str) -> Proc:
        env = base_env(free_port())
        env["PYTHONPATH"] = str(checkout)
        env.update(
            SERVICE_REGION="europe-west1",
            GOOGLE_CLOUD_PROJECT="bench-project",
            VERTEX_LOCATION="global",
            GEMINI_BASE_URL=fake_url,
        )
        return Proc([sys.executable, "-m", "service"], env, checkout)

    return start


start_service = service_starter(ROOT)


def under_gunicorn(app_uri: str) -> str:
    """Python code that serves ``app_uri`` with the service's own gunicorn settings."""
    return f"from service.__main__ import ServiceApplication; ServiceApplication({app_uri!r}).run()"


def start_hello(_: str) -> Proc:
    env = base_env(free_port())
    env["PYTHONPATH"] = os.pathsep.join([str(BENCH), env["PYTHONPATH"]])
    return Proc([sys.executable, "-c", under_gunicorn("hello_app:app")], env, ROOT)


def start_minimal(fake_url: str) -> Proc:
    env = base_env(free_port())
    env["PYTHONPATH"] = os.pathsep.join([str(BENCH), env["PYTHONPATH"]])
    env.update(GOOGLE_CLOUD_PROJECT="bench-project", GEMINI_BASE_URL=fake_url)
    return Proc([sys.executable, "-c", under_gunicorn("minimal_app:app")], env, ROOT)


def tutorial_starter(python: str) -> Callable[[str], Proc]:
    def start(fake_url: str) -> Proc:
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        env.update(
            PORT=str(free_port()),
            GOOGLE_CLOUD_PROJECT="bench-project",
            SERVICE_REGION="europe-west1",
            TUTORIAL_VERTEX_ENDPOINT=fake_url.rstrip("/"),
            TUTORIAL_HOST="127.0.0.1",
        )
        return Proc([python, "tutorial_app.py"], env, BENCH)

    return start


def tutorial_gunicorn_starter(python: str) -> Callable[[str], Proc]:
    """The tutorial's app under the service's gunicorn settings (for requests per second:
    the debug server's reloader and single thread would measure the server, not the app)."""

    def start(fake_url: str) -> Proc:
        env = base_env(free_port())
        env["PYTHONPATH"] = os.pathsep.join([str(BENCH), str(ROOT)])
        env.update(
            GOOGLE_CLOUD_PROJECT="bench-project",
            SERVICE_REGION="europe-west1",
            TUTORIAL_VERTEX_ENDPOINT=fake_url.rstrip("/"),
        )
        return Proc([python, "-c", under_gunicorn("tutorial_app:app")], env, ROOT)

    return start


def ensure_tutorial_python(given: str | None) -> tuple[str | None, str]:
    """An interpreter with the tutorial's SDK, or (None, why not)."""
    if given:
        return given, "given"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    venv = cache / "globalguide" / "bench-tutorial-venv"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import vertexai.generative_models, gunicorn"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return str(python), "cached venv"
    print(
        f"creating a venv for the tutorial app ({', '.join(TUTORIAL_REQUIREMENTS)}) ...",
        file=sys.stderr,
    )
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *TUTORIAL_REQUIREMENTS],
            check=True,
            timeout=900,
        )
        subprocess.run(probe, check=True, capture_output=True)
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"could not install the tutorial's SDK ({type(exc).__name__})"
    return str(python), "new venv"


def start_fake() -> tuple[subprocess.Popen, str]:
    """A zero-delay fake Gemini in its own process (so it does not share our GIL)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [sys.executable, str(BENCH / "fake_gemini.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        process.kill()
        raise RuntimeError("the fake Gemini did not start")
    return process, url


def stop_fake(process: subprocess.Popen) -> None:
    if process.stdin:
        process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


# -- measurements --------------------------------------------------------------------------


def cold_start(start: Callable[[str], Proc], fake_url: str) -> float:
    proc = start(fake_url)
    try:
        return first_200(proc.port, proc.process, proc.started)
    finally:
        proc.stop()


def side_by_side_rps(
    starters: dict[str, Callable[[str], Proc]], args: argparse.Namespace
) -> dict[str, list[tuple[float, float]]]:
    """(requests per second, CPU ms per request) of each app, measured in ``args.rps_reps``
    alternating rounds, so that every round of every app sees the same machine.

    Every app runs in a new process in each round, against a new fake Gemini: nothing one
    measurement leaves behind (in a long-lived fake, its heap and threads after the heavier
    apps) reaches the next. With one fake for all, a second copy of the same app measured
    0.71-0.88 of the first, by where it stood in the order.
    """
    values: dict[str, list[tuple[float, float]]] = {label: [] for label in starters}
    for index in range(args.rps_reps):
        order = list(starters.items())
        for label, start in order if index % 2 == 0 else reversed(order):
            values[label].append(measure_fresh(start, args))
    return values


def measure_fresh(start: Callable[[str], Proc], args: argparse.Namespace) -> tuple[float, float]:
    """Start a fake Gemini and the app, warm it up, then (requests per second, CPU ms per
    request)."""
    fake, fake_url = start_fake()
    proc = start(fake_url)
    try:
        first_200(proc.port, proc.process, proc.started)
        warm = Connection(proc.port)
        for _ in range(WARM_UP_REQUESTS):
            warm.get()
        warm.close()
        cpu_before = tree_cpu_s(proc.process.pid)
        done, seconds = load(proc.port, args.concurrency, args.requests, args.seconds)
        cpu_ms = (tree_cpu_s(proc.process.pid) - cpu_before) * 1000 / max(done, 1)
        return done / seconds, cpu_ms
    finally:
        proc.stop()
        stop_fake(fake)


def load(port: int, concurrency: int, total: int, seconds: float) -> tuple[int, float]:
    """(completed 200s, seconds taken) over ``concurrency`` keep-alive connections."""
    lock = threading.Lock()
    remaining = [total]
    done = [0]
    failures = [0]
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        conn = Connection(port)
        try:
            while time.perf_counter() < deadline:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                status = conn.get()
                with lock:
                    if status == 200:
                        done[0] += 1
                    else:
                        failures[0] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures[0]:
        print(f"  ({failures[0]} non-200 answers)", file=sys.stderr)
    return done[0], elapsed


def median_of(label: str, reps: int, measure: Callable[[], float]) -> float:
    values = [measure() for _ in range(reps)]
    print(f"  {label}: " + ", ".join(f"{v:.3f}" for v in values), file=sys.stderr)
    return statistics.median(values)


def cold_starts(
    fake_url: str, args: argparse.Namespace, tutorial_python: str | None
) -> tuple[float, float, float | None]:
    # One unmeasured start of each, so every measured run finds warm file caches.
    cold_start(start_service, fake_url)
    cold_start(start_hello, fake_url)
    if tutorial_python:
        cold_start(tutorial_starter(tutorial_python), fake_url)
    service_cold = median_of("service cold", args.reps, lambda: cold_start(start_service, fake_url))
    hello_cold = median_of("hello cold", args.reps, lambda: cold_start(start_hello, fake_url))
    tutorial_cold = None
    if tutorial_python:
        start_tutorial = tutorial_starter(tutorial_python)
        tutorial_cold = median_of(
            "tutorial cold", args.tutorial_reps, lambda: cold_start(start_tutorial, fake_url)
        )
    return service_cold, hello_cold, tutorial_cold


def row(label: str, value: str) -> None:
    print(f"    {label:<46}{value}")


def print_cold(
    args: argparse.Namespace,
    service_cold: float,
    hello_cold: float,
    tutorial_cold: float | None,
    why: str,
) -> None:
    print(f"(a) cold start, process start to first 200 on GET / (median of {args.reps})")
    row("service (python -m service)", f"{service_cold:7.3f} s")
    row("bare Flask hello, same gunicorn settings", f"{hello_cold:7.3f} s")
    row("service / hello", f"{service_cold / hello_cold:7.2f}")
    if tutorial_cold is not None:
        ratio = service_cold / tutorial_cold
        verdict = "meets" if ratio <= 0.25 else "misses"
        row(f"tutorial app, its way (median of {args.tutorial_reps})", f"{tutorial_cold:7.3f} s")
        row("service / tutorial", f"{ratio:7.2f}  ({verdict} the <= 0.25 goal)")
    else:
        row("tutorial app", f"not measured: {why}")


def ratios(
    rounds: dict[str, list[tuple[float, float]]], top: str, bottom: str, field: int
) -> list[float]:
    """Per round, ``top``'s figure over ``bottom``'s (field 0: req/s, 1: CPU ms/request)."""
    pairs = zip(rounds[top], rounds[bottom], strict=True)
    return [a[field] / b[field] for a, b in pairs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="cold-start repetitions")
    parser.add_argument("--tutorial-reps", type=int, default=3)
    parser.add_argument("--rps-reps", type=int, default=7, help="alternating rounds")
    parser.add_argument("--requests", type=int, default=3000, help="per RPS run, at most")
    parser.add_argument("--seconds", type=float, default=8.0, help="per RPS run, at most")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--tutorial-python", help="an interpreter with the tutorial's SDK")
    parser.add_argument("--no-tutorial", action="store_true")
    parser.add_argument("--rps-only", action="store_true", help="skip the cold starts")
    parser.add_argument(
        "--no-pin", action="store_true", help="let the apps share every CPU with the load"
    )
    parser.add_argument(
        "--before",
        type=Path,
        help="another checkout whose service joins the rounds (e.g. a worktree of an older "
        "commit), for a before/after measured side by side",
    )
    args = parser.parse_args()

    tutorial_python, why = (None, "skipped (--no-tutorial)")
    if not args.no_tutorial:
        tutorial_python, why = ensure_tutorial_python(args.tutorial_python)

    fake, fake_url = start_fake()
    service_cold = hello_cold = tutorial_cold = None
    try:
        print("raw values (s or req/s):", file=sys.stderr)
        if not args.rps_only:
            service_cold, hello_cold, tutorial_cold = cold_starts(fake_url, args, tutorial_python)
        pinning = "not pinned (--no-pin)" if args.no_pin else pin_apart(fake.pid)
        starters = {"service": start_service, "minimal": start_minimal}
        if args.before:
            starters["service before"] = service_starter(args.before.resolve())
        if tutorial_python:
            starters["tutorial"] = tutorial_gunicorn_starter(tutorial_python)
        starters["hello"] = start_hello
        starters["minimal copy"] = start_minimal
        load_before = os.getloadavg()
        rounds = side_by_side_rps(starters, args)
        load_after = os.getloadavg()
        for label, values in rounds.items():
            print(
                f"  {label} rps: " + ", ".join(f"{rps:.0f}" for rps, _ in values),
                "CPU ms/request: " + ", ".join(f"{cpu:.2f}" for _, cpu in values),
                file=sys.stderr,
            )
        rates = {label: statistics.median(v for v, _ in values) for label, values in rounds.items()}
        cpu = {label: statistics.median(c for _, c in values) for label, values in rounds.items()}
    finally:
        stop_fake(fake)

    cpus = os.cpu_count()
    print(f"machine: {platform.python_implementation()} {platform.python_version()}, {cpus} CPUs")
    print("gunicorn settings: gthread, 1 worker x 8 threads (service/gunicorn.conf.py)")
    print(f"CPUs for requests per second: {pinning}")
    print()
    if service_cold is not None and hello_cold is not None:
        print_cold(args, service_cold, hello_cold, tutorial_cold, why)
        print()

    print(
        f"(b) requests per second on GET /, zero-delay fake Gemini, {args.concurrency} keep-alive "
        f"connections, <= {args.requests} requests or {args.seconds:g} s per run "
        f"({args.rps_reps} alternating rounds, medians)"
    )
    row("service", f"{rates['service']:7.0f} req/s")
    row("minimal google-genai app (the floor)", f"{rates['minimal']:7.0f} req/s")
    if "tutorial" in rates:
        row("tutorial app, same gunicorn settings", f"{rates['tutorial']:7.0f} req/s")
    else:
        row("tutorial app", f"not measured: {why}")
    row("bare Flask hello, no model call", f"{rates['hello']:7.0f} req/s")
    per_round = ratios(rounds, "service", "minimal", 0)
    ratio = statistics.median(per_round)
    verdict = "meets" if ratio >= 0.9 else "misses"
    row("service / minimal (median per round)", f"{ratio:7.2f}  ({verdict} the >= 0.9 goal)")
    row("service / minimal, per round", " ".join(f"{r:.2f}" for r in per_round))
    if "tutorial" in rates:
        row("service / tutorial", f"{rates['service'] / rates['tutorial']:7.2f}")
    row("service / hello", f"{rates['service'] / rates['hello']:7.2f}")
    if "service before" in rates:
        before = ratios(rounds, "service before", "minimal", 0)
        row("service before / minimal", f"{statistics.median(before):7.2f}")
        row("  per round", " ".join(f"{r:.2f}" for r in before))
    control = ratios(rounds, "minimal", "minimal copy", 0)
    row("control: minimal / its copy", f"{statistics.median(control):7.2f}")
    row("  per round", " ".join(f"{r:.2f}" for r in control))
    print("    CPU ms per request of the app's processes (gunicorn master and worker):")
    for label, value in cpu.items():
        row(f"  {label}", f"{value:7.2f} ms")
    cpu_rounds = ratios(rounds, "minimal", "service", 1)
    row("minimal / service, CPU per request", f"{statistics.median(cpu_rounds):7.2f}")
    row("  per round", " ".join(f"{r:.2f}" for r in cpu_rounds))
    if "service before" in rates:
        before_cpu = ratios(rounds, "minimal", "service before", 1)
        row("minimal / service before, CPU", f"{statistics.median(before_cpu):7.2f}")
    cpu_control = ratios(rounds, "minimal copy", "minimal", 1)
    row("control: its copy / minimal, CPU", f"{statistics.median(cpu_control):7.2f}")
    row("  per round", " ".join(f"{r:.2f}" for r in cpu_control))
    print(
        "machine load (1, 5, 15 min) before: "
        + " ".join(f"{v:.2f}" for v in load_before)
        + ", after: "
        + " ".join(f"{v:.2f}" for v in load_after)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
