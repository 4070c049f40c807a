"""Cloud Run revisions as local processes.

A :class:`Revision` is the handle the Run API holds: its status moves from ``starting`` to
``ready`` or ``failed`` under a lock, as a Cloud Run revision's Ready condition does. A
:class:`Runner` starts and stops revisions; :class:`LocalProcessRunner` runs the image's
command with this machine's Python interpreter, in its own process group, with the
environment Cloud Run gives a container:

- ``PORT`` and ``K_SERVICE``, ``K_REVISION``, ``K_CONFIGURATION``
  (https://cloud.google.com/run/docs/container-contract#env-vars). On Cloud Run PORT is the
  container port (8080 unless the template names another); here every revision shares one
  machine, so PORT is a free loopback port of its own;
- ``BIND_UNIX``: the Unix socket to listen on instead of ``PORT``, in a directory of its
  own that only this user can enter. The revision's front connects there; nothing else on
  the machine can reach the process, as on Cloud Run only the service's ingress reaches a
  container. A container that knows nothing of it and listens on ``PORT`` (any service
  written for Cloud Run) is joined to that socket by a bridge (:mod:`bridge`) once its port
  opens; such a port stays reachable around the front (``BIND_HOST=127.0.0.1`` asks it to
  keep to loopback);
- ``GEMINI_BASE_URL`` pointing at the emulator's fake Vertex AI, as seen from the region
  (``{emulator}/_from/{region}/``), unless the revision's own env sets it, and
  ``GEMINI_ACCESS_TOKEN``: the emulator's revision token, which only Vertex AI accepts.

Readiness follows the startup probe, made on the socket: the container's own
``startupProbe`` (TCP or HTTP GET,
with its delay, period and failure threshold) when the template has one, else Cloud Run's
default startup probe, a TCP connect on the container port with a 240 s budget
(https://cloud.google.com/run/docs/configuring/healthchecks#default-tcp-startup-probe). The
emulator probes every 50 ms within that budget rather than once per period. A container
that exits or never passes the probe fails the revision; its ``error`` says why in the
words of Cloud Run's revision logs ("Container called exit(1).", "Default STARTUP TCP probe
failed 1 time consecutively ...") and where the container's output is.
"""

from __future__ import annotations

import contextlib
import enum
import http.client
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from globalguide.emulator.dataplane.bridge import SocketBridge, free_port, tcp_open
from globalguide.emulator.dataplane.process import (
    CHILDREN_FILE,
    LogPump,
    ProcessGroups,
    group_alive,
    signal_group,
)
from globalguide.emulator.dataplane.proxy import LOOPBACK, UnixHTTPConnection, socket_open
from globalguide.emulator.images import launch
from globalguide.emulator.session import REVISION_TOKEN_ENV

__all__ = ["CHILDREN_FILE", "LocalProcessRunner", "Revision", "RevisionStatus", "Runner"]

DEFAULT_STARTUP_BUDGET_S = 240.0
PROBE_EVERY_S = 0.05
STOP_GRACE_S = 5.0  # Cloud Run allows 10 s after SIGTERM; the emulator 5 s

_PYTHON = re.compile(r"(?:.*/)?python(?:3(?:\.\d+)?)?\Z")


class RevisionStatus(enum.StrEnum):
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class RevisionSpec:
    """What the Run API asks for: one revision of one service in one region."""

    service: str  # projects/P/locations/R/services/S
    region: str
    revision: str
    image: Any  # globalguide.emulator.images.Image
    env: dict[str, str]
    ingress: str
    template: dict[str, Any] = field(default_factory=dict)

    @property
    def service_id(self) -> str:
        return self.service.rsplit("/", 1)[-1]


class Revision:
    """The handle of one revision: status, error, process and socket, guarded by a lock."""

    def __init__(self, spec: RevisionSpec, uri: str, seq: int) -> None:
        self.spec = spec
        self.uri = uri
        self.seq = seq
        self._lock = threading.Lock()
        self._status = RevisionStatus.STARTING
        self._error: str | None = None
        self.socket_path: str | None = None
        self.port: int | None = None  # PORT, for a container that listens there instead
        self.bridge: SocketBridge | None = None
        self.pid: int | None = None
        self.log_path: Path | None = None
        self.exit_code: int | None = None

    @property
    def name(self) -> str:
        return self.spec.revision

    @property
    def status(self) -> RevisionStatus:
        with self._lock:
            return self._status

    @property
    def error(self) -> str | None:
        with self._lock:
            return self._error

    def set_status(self, status: RevisionStatus, error: str | None = None) -> bool:
        """Move to ``status``; False (and no change) once the revision is stopped."""
        with self._lock:
            if self._status is RevisionStatus.STOPPED:
                return False
            self._status = status
            if error is not None:
                self._error = error
            return True

    @property
    def serving_socket(self) -> str | None:
        """The Unix socket to send requests to, while the revision is ready."""
        with self._lock:
            return self.socket_path if self._status is RevisionStatus.READY else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.spec.service,
            "region": self.spec.region,
            "revision": self.spec.revision,
            "status": str(self.status),
            "error": self.error,
            "pid": self.pid,
            "socket": self.socket_path,
            "uri": self.uri,
            "exitCode": self.exit_code,
            "logPath": str(self.log_path) if self.log_path else None,
        }


class Runner(Protocol):
    """Starts revisions without blocking (``on_ready`` is called once one is ready), stops
    some in the background, or stops everything before returning."""

    def start(self, revision: Revision, on_ready: Callable[[Revision], None]) -> None: ...

    def stop_later(self, revisions: Iterable[Revision]) -> None: ...

    def stop_everything(self, grace_s: float = STOP_GRACE_S) -> None: ...


# --------------------------------------------------------------------- the runner


@dataclass
class _Probe:
    kind: str  # "tcp" or "http"
    path: str
    initial_delay_s: float
    budget_s: float
    timeout_s: float
    threshold: int = 1
    default: bool = False


@dataclass
class _Running:
    revision: Revision
    process: subprocess.Popen[bytes]
    log: LogPump
    stopping: threading.Event = field(default_factory=threading.Event)


class LocalProcessRunner:
    """Runs each revision as ``image.cmd`` with this interpreter, one process group each."""

    def __init__(
        self,
        *,
        state_dir: Path,
        gemini_base_url: Callable[[str], str],
        gemini_token: str = "",
        startup_budget_s: float | None = None,
    ) -> None:
        self._logs = state_dir / "logs"
        self._gemini_base_url = gemini_base_url
        self._gemini_token = gemini_token
        self.startup_budget_s = startup_budget_s
        self.groups = ProcessGroups(state_dir)
        self._lock = threading.Lock()
        self._running: dict[int, _Running] = {}  # by revision seq
        self._stoppers: list[threading.Thread] = []

    # -- starting
    def start(self, revision: Revision, on_ready: Callable[[Revision], None]) -> None:
        thread = threading.Thread(
            target=self._run,
            args=(revision, on_ready),
            name=f"revision:{revision.name}",
            daemon=True,
        )
        thread.start()

    def _run(self, revision: Revision, on_ready: Callable[[Revision], None]) -> None:
        try:
            self._start_and_watch(revision, on_ready)
        except Exception as exc:  # the revision must not stay "starting" forever
            revision.set_status(RevisionStatus.FAILED, f"The container could not be started: {exc}")

    def _start_and_watch(self, revision: Revision, on_ready: Callable[[Revision], None]) -> None:
        try:
            running = self._spawn(revision)
        except _StartError as exc:
            revision.set_status(RevisionStatus.FAILED, str(exc))
            return
        if running is None:
            return
        probe = self._probe_for(revision.spec)
        if self._await_startup(running, probe):
            if revision.set_status(RevisionStatus.READY):
                on_ready(revision)
            self._watch_exit(running)
            return
        if running.stopping.is_set():
            return
        revision.set_status(RevisionStatus.FAILED, self._startup_failure(revision, probe))
        self._terminate([running], grace_s=STOP_GRACE_S)

    def _spawn(self, revision: Revision) -> _Running | None:
        spec = revision.spec
        container = _ingress_container(spec.template)
        argv = _argv(spec.image, container)
        if not argv:
            raise _StartError(
                "The container image has no command: set CMD or ENTRYPOINT in the "
                "Dockerfile, or the container's command."
            )
        workdir = _workdir(spec.image, container)
        if not workdir.is_dir():
            raise _StartError(
                f"The working directory {container.get('workingDir') or spec.image.workdir} "
                "does not exist in the image."
            )
        socket_path = _private_socket()
        revision.port = free_port()
        env = self._environment(spec, socket_path, revision.port)
        self._logs.mkdir(parents=True, exist_ok=True)
        log_path = self._logs / f"{spec.service_id}-{spec.region}-{spec.revision}.log"
        with self._lock:
            if revision.status is RevisionStatus.STOPPED:
                _remove_socket(socket_path)
                return None
            try:
                process = subprocess.Popen(
                    argv,
                    cwd=workdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as exc:
                _remove_socket(socket_path)
                raise _StartError(
                    f"The container could not be started: {exc.strerror or exc}."
                ) from exc
            self.groups.add(process.pid)
            revision.socket_path, revision.pid = socket_path, process.pid
            revision.log_path = log_path
            running = _Running(revision, process, LogPump(process.stdout, log_path))
            self._running[revision.seq] = running
        return running

    def _environment(self, spec: RevisionSpec, socket_path: str, port: int) -> dict[str, str]:
        image = spec.image
        env = {
            "PATH": launch.search_path(image, os.environ.get("PATH", "/usr/bin:/bin")),
            "HOME": os.environ.get("HOME", "/"),
            "LANG": "C.UTF-8",
        }
        env.update(image.env)
        declared = [p for p in image.env.get("PYTHONPATH", "").split(":") if p]
        python_path = [str(_in_root(image.root, p)) for p in declared]
        env["PYTHONPATH"] = os.pathsep.join([*python_path, str(_workdir(image, {}))])
        env["GEMINI_BASE_URL"] = self._gemini_base_url(spec.region)
        env.update(spec.env)
        env.update(
            {
                "PORT": str(port),
                "BIND_UNIX": socket_path,
                "BIND_HOST": LOOPBACK,
                REVISION_TOKEN_ENV: self._gemini_token,
                "K_SERVICE": spec.service_id,
                "K_REVISION": spec.revision,
                "K_CONFIGURATION": spec.service_id,
            }
        )
        return env

    def _probe_for(self, spec: RevisionSpec) -> _Probe:
        probe = _ingress_container(spec.template).get("startupProbe")
        if not probe:
            budget = self.startup_budget_s or DEFAULT_STARTUP_BUDGET_S
            return _Probe("tcp", "/", 0.0, budget, 1.0, default=True)
        period = float(probe.get("periodSeconds") or 10)
        threshold = int(probe.get("failureThreshold") or 3)
        budget = self.startup_budget_s or period * threshold
        http_get = probe.get("httpGet")
        return _Probe(
            "http" if http_get is not None else "tcp",
            (http_get or {}).get("path") or "/",
            float(probe.get("initialDelaySeconds") or 0),
            budget,
            float(probe.get("timeoutSeconds") or 1),
            threshold,
        )

    def _await_startup(self, running: _Running, probe: _Probe) -> bool:
        revision = running.revision
        start = time.monotonic()
        deadline = start + probe.initial_delay_s + probe.budget_s
        if probe.initial_delay_s and running.stopping.wait(probe.initial_delay_s):
            return False
        socket_path = revision.socket_path
        assert socket_path is not None
        while time.monotonic() < deadline:
            if running.stopping.is_set():
                return False
            code = running.process.poll()
            if code is not None:
                revision.exit_code = code
                return False
            if _probe_once(probe, socket_path):
                return True
            self._bridge_if_on_port(revision)
            running.stopping.wait(PROBE_EVERY_S)
        return False

    @staticmethod
    def _bridge_if_on_port(revision: Revision) -> None:
        """A container that ignored BIND_UNIX and opened PORT: join it to the socket."""
        path, port = revision.socket_path, revision.port
        if revision.bridge is None and path and port and not os.path.exists(path):
            if tcp_open(port, timeout=0.2):
                revision.bridge = SocketBridge(path, port)

    def _startup_failure(self, revision: Revision, probe: _Probe) -> str:
        """What went wrong, in the words of Cloud Run's revision logs, and where the output is.

        The Run API wraps it in the revision's condition message."""
        if revision.exit_code is not None:
            detail = f"Container called exit({revision.exit_code})."
        else:
            port = _container_port(revision.spec.template)
            kind = "TCP" if probe.kind == "tcp" else "HTTP"
            what = "Default STARTUP TCP" if probe.default else f"STARTUP {kind}"
            detail = (
                f"{what} probe failed {probe.threshold} time{'s' if probe.threshold > 1 else ''} "
                f"consecutively on port {port}. The instance was not started."
            )
        return f"{detail} Container output: {revision.log_path}"

    def _watch_exit(self, running: _Running) -> None:
        code = running.process.wait()
        running.revision.exit_code = code
        running.log.join()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(running.process.pid, signal.SIGKILL)  # stragglers of a crashed leader
        self._forget(running)

    # -- stopping
    def stop(self, revisions: Iterable[Revision], *, grace_s: float = STOP_GRACE_S) -> None:
        """Stop the revisions' processes now: SIGTERM, then SIGKILL after ``grace_s``."""
        batch = []
        for revision in revisions:
            revision.set_status(RevisionStatus.STOPPED)
            with self._lock:
                running = self._running.get(revision.seq)
            if running is not None:
                batch.append(running)
        self._terminate(batch, grace_s=grace_s)

    def stop_later(self, revisions: Iterable[Revision]) -> None:
        items = list(revisions)
        if not items:
            return
        for revision in items:
            revision.set_status(RevisionStatus.STOPPED)
        thread = threading.Thread(target=self.stop, args=(items,), daemon=True)
        with self._lock:
            self._stoppers = [t for t in self._stoppers if t.is_alive()] + [thread]
        thread.start()

    def stop_everything(self, grace_s: float = STOP_GRACE_S) -> None:
        with self._lock:
            batch = list(self._running.values())
        for running in batch:
            running.revision.set_status(RevisionStatus.STOPPED)
        self._terminate(batch, grace_s=grace_s)
        self.join(grace_s + 5)
        for pgid in self.groups.snapshot():  # anything whose leader we no longer track
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            self.groups.discard(pgid)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            stoppers = list(self._stoppers)
        for thread in stoppers:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _terminate(self, batch: list[_Running], *, grace_s: float) -> None:
        for running in batch:
            running.stopping.set()
            signal_group(running.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for running in batch:
            try:
                running.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for running in batch:
            # SIGKILL the whole group: the leader if it lingers, and any worker it left.
            signal_group(running.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                running.process.wait(timeout=5)
            running.revision.exit_code = running.process.returncode
            running.log.join(timeout=2)
            self._forget(running)

    def _forget(self, running: _Running) -> None:
        with self._lock:
            if self._running.get(running.revision.seq) is running:
                del self._running[running.revision.seq]
        if running.revision.bridge is not None:
            running.revision.bridge.close()
        _remove_socket(running.revision.socket_path)
        pgid = running.process.pid
        deadline = time.monotonic() + 1.0  # killed workers take a moment to be gone
        while group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not group_alive(pgid):
            self.groups.discard(pgid)


class _StartError(Exception):
    pass


def _private_socket() -> str:
    """A socket path in a new directory only this user can enter (short: a Unix socket's
    path is limited to about 100 bytes)."""
    return os.path.join(tempfile.mkdtemp(prefix="gg-rev-"), "app.sock")


def _remove_socket(socket_path: str | None) -> None:
    if socket_path:
        shutil.rmtree(os.path.dirname(socket_path), ignore_errors=True)


def _probe_once(probe: _Probe, socket_path: str) -> bool:
    if probe.kind == "tcp":
        return socket_open(socket_path, timeout=min(probe.timeout_s, 0.5))
    conn = UnixHTTPConnection(socket_path, timeout=probe.timeout_s)
    try:
        conn.request("GET", probe.path, headers={"User-Agent": "GoogleHC/1.0"})
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
    # Any status from 200 up to 399 passes (Cloud Run's HTTP probe rule).
    return 200 <= status < 400


def _ingress_container(template: dict[str, Any]) -> dict[str, Any]:
    """The container that receives requests: the one declaring a port, else the first."""
    containers = [c for c in template.get("containers") or [] if c]
    for container in containers:
        if container.get("ports"):
            return container
    return containers[0] if containers else {}


def _container_port(template: dict[str, Any]) -> int:
    ports = _ingress_container(template).get("ports") or [{}]
    return int(ports[0].get("containerPort") or 8080)


def _argv(image: Any, container: dict[str, Any]) -> list[str]:
    """Kubernetes/Cloud Run rules: ``command`` replaces ENTRYPOINT (and drops CMD unless
    ``args`` is given); ``args`` replaces CMD."""
    command = list(container.get("command") or [])
    args = list(container.get("args") or [])
    if command:
        argv = command + args
    elif args:
        argv = list(image.entrypoint) + args
    else:
        argv = list(image.cmd)
    return launch.resolve_argv(image, argv)


def _in_root(root: Path, container_path: str) -> Path:
    parts = [p for p in container_path.split("/") if p not in ("", ".", "..")]
    return root.joinpath(*parts)


def _workdir(image: Any, container: dict[str, Any]) -> Path:
    return _in_root(image.root, container.get("workingDir") or image.workdir or "/")
