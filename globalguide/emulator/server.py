"""The emulator's HTTP front: one base URL for every API, routed by path.

Each API is a package whose ``api.API`` takes the :class:`Emulator`, is handed the other
APIs it calls as typed attributes, and offers ``routes()``, ``snapshot()`` and ``reset()``.
This module matches the request against every route, records the call, injects faults
into mutating calls, renders ``ApiError`` in the API's own shape, and serves the test
controls under ``/_emulator``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from globalguide.emulator import (
    artifactregistry,
    cloudbuild,
    compute,
    guard,
    iam,
    resourcemanager,
    run,
    serviceusage,
    session,
    storage,
)
from globalguide.emulator.core.operations import (
    FaultInjector,
    OperationStore,
    Timing,
    reset_operation_fault,
    set_operation_fault,
)
from globalguide.emulator.core.project import check_project
from globalguide.emulator.core.routing import ApiError, Route, json_response
from globalguide.emulator.images.store import ImageStore
from globalguide.emulator.options import EmulatorConfig
from globalguide.emulator.strict_http import ApiRequestHandler
from globalguide.emulator.vertex import api as vertex


@dataclass
class LoggedRequest:
    method: str
    path: str
    api: str
    mutating: bool
    status: int = 0
    at: float = 0.0
    fault: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "api": self.api,
            "mutating": self.mutating,
            "status": self.status,
            "at": self.at,
            "fault": self.fault,
        }


class _CompiledRoute:
    __slots__ = ("route", "regex")

    def __init__(self, route: Route) -> None:
        self.route = route
        self.regex = _compile(route.pattern)


def _compile(pattern: str) -> re.Pattern[str]:
    """``<name>`` matches one path segment without ':'; ``<path:name>`` matches the rest."""
    out, pos = [], 0
    for m in re.finditer(r"<(?:(path):)?([a-zA-Z_][a-zA-Z0-9_]*)>", pattern):
        out.append(re.escape(pattern[pos : m.start()]))
        out.append(f"(?P<{m.group(2)}>.+)" if m.group(1) else f"(?P<{m.group(2)}>[^/:]+)")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out) + r"\Z")


class Emulator:
    """State, timing, faults and the APIs of one emulator instance."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.lock = threading.RLock()
        self.timing = Timing(self.config.profile, self.config.time_scale)
        self.operations = OperationStore(self.timing, self.lock)
        self.faults = FaultInjector(self.config.fault_rate, self.config.fault_seed)
        self.base_url = ""  # set once the server is listening
        self.port = 0  # likewise
        self.token = self.config.token or session.new_token()
        self.revision_token = session.new_token()  # what revisions call Vertex AI with
        self._log: list[LoggedRequest] = []
        self._log_lock = threading.Lock()
        self.images = ImageStore(self.config.state_dir / "images")
        self.dataplane = self._make_dataplane()
        self.serviceusage = serviceusage.API(self)
        self.storage = storage.API(self)
        self.artifactregistry = artifactregistry.API(self)
        self.cloudbuild = cloudbuild.API(self)
        self.run = run.API(self)
        self.compute = compute.API(self)
        self.vertex = vertex.API(self)
        self.iam = iam.API(self)
        self.resourcemanager = resourcemanager.API(self)
        self._wire()
        # In the order their routes are tried; the names key the state snapshot.
        self.apis: dict[str, Any] = {
            "serviceusage": self.serviceusage,
            "storage": self.storage,
            "artifactregistry": self.artifactregistry,
            "cloudbuild": self.cloudbuild,
            "run": self.run,
            "compute": self.compute,
            "vertex_api": self.vertex,
            "iam": self.iam,
            "resourcemanager": self.resourcemanager,
        }
        self._routes = [_CompiledRoute(r) for api in self.apis.values() for r in api.routes()]

    def _wire(self) -> None:
        """Hand each API the others it calls."""
        self.storage.iam = self.iam
        self.artifactregistry.iam = self.iam
        self.cloudbuild.iam = self.iam
        self.cloudbuild.storage = self.storage
        self.cloudbuild.registry = self.artifactregistry
        self.cloudbuild.resourcemanager = self.resourcemanager
        self.run.iam = self.iam
        self.run.registry = self.artifactregistry
        self.iam.resourcemanager = self.resourcemanager
        self.resourcemanager.iam = self.iam

    def _make_dataplane(self) -> Any:
        from globalguide.emulator.dataplane import DataPlane

        return DataPlane(self)

    @property
    def project(self) -> str:
        return self.config.project

    def check_project(
        self, project: str, *, style: str = "google", by_number: bool = False
    ) -> None:
        """The emulator holds one project; others do not exist for the caller."""
        check_project(self.config.project, project, style=style, by_number=by_number)

    def require_enabled(self, service: str, *, style: str = "google") -> None:
        """403 SERVICE_DISABLED, as the cloud answers, when ``service`` is not enabled."""
        self.serviceusage.require_enabled(service, style=style)

    def enter(
        self, project: str, service: str, *, style: str = "google", by_number: bool = False
    ) -> None:
        """Every API's entry check: the project exists for the caller and ``service`` is on."""
        self.check_project(project, style=style, by_number=by_number)
        self.require_enabled(service, style=style)

    # ------------------------------------------------------------------ WSGI
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        refused = guard.refuse_origin_or_media(request, self.port)
        if refused is not None:
            return refused
        who = guard.caller(request, self.token, self.revision_token)
        if who is None:
            return guard.unauthenticated(request)
        path = request.path
        if path.startswith("/_emulator/"):
            if who != guard.USER:
                return guard.revision_not_allowed()
            return self._control(request)
        self.operations.tick()
        for compiled in self._routes:
            match = compiled.regex.match(path)
            if match is None or compiled.route.method != request.method:
                continue
            if who != guard.USER and compiled.route.api != "aiplatform":
                return guard.revision_not_allowed()
            return self._handle(compiled.route, request, match.groupdict())
        return json_response(
            {"error": {"code": 404, "message": "Not Found", "status": "NOT_FOUND"}}, 404
        )

    def _handle(self, route: Route, request: Request, params: dict[str, str]) -> Response:
        entry = LoggedRequest(
            request.method, request.path, route.api, route.mutating, at=time.time()
        )
        fault = None
        if route.mutating:
            fault = self.faults.decide(
                request.method, request.path, has_operation=route.endpoint != "no-operation"
            )
        entry.fault = fault
        token = set_operation_fault(fault == "operation")
        try:
            if fault in ("429", "503"):
                raise FaultInjector.error_for(fault)
            result = route.handler(request, **params)
            response = result if isinstance(result, Response) else json_response(result)
        except ApiError as exc:
            response = json_response(exc.body(route.style), exc.code)
        finally:
            reset_operation_fault(token)
        entry.status = response.status_code
        with self._log_lock:
            self._log.append(entry)
        return response

    # ------------------------------------------------------------ test controls
    def _control(self, request: Request) -> Response:
        name = request.path[len("/_emulator/") :].strip("/")
        if name == "health":
            return json_response({"ok": True, "project": self.project})
        if name == "requests":
            if request.method == "DELETE":
                with self._log_lock:
                    self._log.clear()
                return json_response({})
            with self._log_lock:
                return json_response([e.to_dict() for e in self._log])
        if name == "state":
            self.operations.tick()
            return json_response(self.snapshot())
        if name == "faults":
            if request.method == "POST":
                return self._configure_faults(request)
            return json_response(
                {
                    "rate": self.faults.rate,
                    "seed": self.faults.seed,
                    "injected": list(self.faults.injected),
                }
            )
        if name == "reset" and request.method == "POST":
            self.reset()
            return json_response({})
        if name == "resources":
            self.operations.tick()
            return json_response({"count": self.resource_count()})
        if name == "edges":
            return json_response(self.dataplane.edges())
        if name == "drill":
            return self._drill(request)
        if name.startswith("vertex/"):
            return self.vertex.control(request, name[len("vertex/") :])
        if name.startswith("storage/"):
            return self.storage.control(request, name[len("storage/") :])
        return json_response({"error": {"code": 404, "message": "Not Found"}}, 404)

    def _drill(self, request: Request) -> Response:
        """Test control: make a region's revisions answer 503, or stop (`globalguide drill`)."""
        if request.method == "POST":
            body = request.get_json(silent=True)
            region = body.get("region") if isinstance(body, dict) else None
            if not isinstance(region, str) or not 0 < len(region) <= 64:
                return json_response(
                    {"error": {"code": 400, "message": "expected {region, failing}"}}, 400
                )
            self.dataplane.set_failing(region, bool(body.get("failing", True)))
        return json_response({"failingRegions": self.dataplane.failing_regions()})

    def _configure_faults(self, request: Request) -> Response:
        """Test control: a new fault rate and seed, with fresh attempt counters."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return json_response({"error": {"code": 400, "message": "expected a JSON object"}}, 400)
        try:
            rate = float(body.get("rate", self.faults.rate))
            seed = int(body.get("seed", self.faults.seed))
            self.faults = FaultInjector(rate, seed)
        except (TypeError, ValueError) as exc:
            return json_response({"error": {"code": 400, "message": str(exc)}}, 400)
        return json_response({"rate": rate, "seed": seed})

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            state = {name: api.snapshot() for name, api in self.apis.items()}
            state["operations"] = self.operations.snapshot()
            state["dataplane"] = self.dataplane.snapshot()
            return state

    def reset(self) -> None:
        with self.lock:
            self.dataplane.stop_all()
            for api in self.apis.values():
                api.reset()
            self.operations.reset()
        with self._log_lock:
            self._log.clear()

    def resource_count(self) -> int:
        """How many resources every API holds (enabled services are configuration, not counted)."""
        with self.lock:
            return sum(api.resource_count() for api in self.apis.values())


class EmulatorServer:
    """A threaded loopback server for one :class:`Emulator`, with a background ticker."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        config = emulator.config
        self._server = make_server(
            config.host, config.port, emulator, threaded=True, request_handler=ApiRequestHandler
        )
        self.port = self._server.server_port
        host = f"[{config.host}]" if ":" in config.host else config.host
        self.endpoint = f"http://{host}:{self.port}"
        emulator.base_url = self.endpoint
        emulator.port = self.port
        session.remember(self.endpoint, emulator.token)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> EmulatorServer:
        serve = threading.Thread(
            target=lambda: self._server.serve_forever(poll_interval=0.05),
            name="emulator-http",
            daemon=True,
        )
        tick = threading.Thread(target=self._tick, name="emulator-ticker", daemon=True)
        self._threads = [serve, tick]
        for t in self._threads:
            t.start()
        return self

    def _tick(self) -> None:
        while not self._stop.wait(0.05):
            self.emulator.operations.tick()

    def serve_forever(self) -> None:
        tick = threading.Thread(target=self._tick, name="emulator-ticker", daemon=True)
        tick.start()
        try:
            self._server.serve_forever(poll_interval=0.05)
        finally:
            self._stop.set()

    def shutdown_listener(self) -> None:
        """Make ``serve_forever`` return (from another thread)."""
        self._stop.set()
        self._server.shutdown()

    def stop(self) -> None:
        session.forget(self.endpoint)
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self.emulator.dataplane.stop_all()
