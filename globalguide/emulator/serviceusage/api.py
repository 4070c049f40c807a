"""Service Usage v1 over REST: which APIs a project has enabled, and the 403 a disabled API
answers.

Enabling is a long-running operation whose effect lands when it completes.
``require_enabled`` is what every other emulated API calls first: it raises the real
SERVICE_DISABLED error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request

from globalguide.emulator.core.paging import offset_page
from globalguide.emulator.core.routing import ApiError, Route, bad_request, read_json
from globalguide.emulator.serviceusage.services import ProjectServices, check_known
from globalguide.emulator.serviceusage.validate import (
    batch_enable_ids,
    batch_get_services,
    listed_states,
    page_size,
    page_token,
)

# What enabling an enabled service (or disabling a disabled one) answers at once.
NOOP_OPERATION = "operations/noop.DONE_OPERATION"
_OPERATION_METADATA = {"@type": "type.googleapis.com/google.api.serviceusage.v1.OperationMetadata"}
_TYPE = "type.googleapis.com/google.api.serviceusage.v1."


class API:
    """Service Usage v1 for the emulator's one project."""

    name = "serviceusage"

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self._services = ProjectServices(emulator.project)

    # ------------------------------------------------------------ contract
    def routes(self) -> list[Route]:
        base = "/v1/projects/<project>/services"
        return [
            Route("GET", base, self.list_services, api=self.name),
            Route("GET", f"{base}:batchGet", self.batch_get, api=self.name),
            Route("POST", f"{base}:batchEnable", self.batch_enable, api=self.name, mutating=True),
            Route(
                "POST",
                "/v1/<kind>/<ident>/services:batchEnable",
                self.batch_enable_other_parent,
                api=self.name,
                mutating=True,
            ),
            Route("GET", f"{base}/<service>", self.get_service, api=self.name),
            Route("POST", f"{base}/<service>:enable", self.enable, api=self.name, mutating=True),
            Route("POST", f"{base}/<service>:disable", self.disable, api=self.name, mutating=True),
            Route("GET", "/v1/operations/<operation>", self.get_operation, api=self.name),
        ]

    def snapshot(self) -> dict[str, Any]:
        with self.emulator.lock:
            return {"projectNumber": self._services.number, "enabled": self._services.enabled()}

    def reset(self) -> None:
        with self.emulator.lock:
            self._services.reset()

    def resource_count(self) -> int:
        return 0  # enabled services are configuration, not resources a teardown removes

    # ------------------------------------------------------------ public helpers
    def is_enabled(self, service: str) -> bool:
        with self.emulator.lock:
            return self._services.is_enabled(service)

    def require_enabled(self, service: str, *, style: str = "google") -> None:
        """Raise the real 403 SERVICE_DISABLED when ``service`` is not enabled, or was
        enabled so recently that the change has not propagated yet."""
        with self.emulator.lock:
            self._services.require_enabled(service)

    def set_enabled(self, services: list[str], enabled: bool = True) -> None:
        """Test helper: enable or disable at once, without an operation."""
        with self.emulator.lock:
            self._services.set_enabled(services, enabled)

    # ------------------------------------------------------------ handlers
    def _project(self, project: str) -> None:
        self.emulator.check_project(project, by_number=True)

    def _turn_on(self, services: list[str]) -> None:
        propagation = self.emulator.timing.propagation("serviceusage.enable")
        self._services.turn_on(services, propagation=propagation)

    def get_service(self, request: Request, project: str, service: str) -> dict:
        self._project(project)
        check_known([service])
        with self.emulator.lock:
            return self._services.render(service, full=True)

    def list_services(self, request: Request, project: str) -> dict:
        self._project(project)
        states = listed_states(request.args.get("filter", "").strip())
        size = page_size(request.args.get("pageSize"))
        offset = page_token(request.args.get("pageToken"))
        with self.emulator.lock:
            items = self._services.listed(states)
        return offset_page(items, offset, size, "services", always=True)

    def batch_get(self, request: Request, project: str) -> dict:
        self._project(project)
        parents = (project, self._services.project_id, self._services.number)
        services = batch_get_services(request.args.getlist("names"), parents)
        check_known(services)
        with self.emulator.lock:
            return {"services": [self._services.render(s, full=True) for s in services]}

    def enable(self, request: Request, project: str, service: str) -> dict:
        self._project(project)
        check_known([service])

        def effect() -> dict:
            with self.emulator.lock:
                self._turn_on([service])
                return {
                    "@type": _TYPE + "EnableServiceResponse",
                    "service": self._services.render(service),
                }

        return self._start(effect, changes=not self.is_enabled(service))

    def disable(self, request: Request, project: str, service: str) -> dict:
        self._project(project)
        check_known([service])

        def effect() -> dict:
            with self.emulator.lock:
                self._services.turn_off(service)
                return {
                    "@type": _TYPE + "DisableServiceResponse",
                    "service": self._services.render(service),
                }

        return self._start(effect, changes=self.is_enabled(service))

    def batch_enable(self, request: Request, project: str) -> dict:
        self._project(project)
        ids = batch_enable_ids(read_json(request))
        check_known(ids)
        wanted = list(dict.fromkeys(ids))

        def effect() -> dict:
            with self.emulator.lock:
                self._turn_on(wanted)
                return {
                    "@type": _TYPE + "BatchEnableServicesResponse",
                    "services": [self._services.render(s) for s in wanted],
                }

        return self._start(effect, changes=not all(self.is_enabled(s) for s in wanted))

    def batch_enable_other_parent(self, request: Request, kind: str, ident: str) -> dict:
        raise bad_request(
            f"Invalid parent '{kind}/{ident}': the BatchEnableServices method currently only "
            "supports projects."
        )

    def _start(self, effect: Callable[[], dict], *, changes: bool) -> dict:
        if not changes:
            # Nothing to do: a synthetic operation that is already done and cannot be polled.
            return {"name": NOOP_OPERATION, "done": True, "response": effect()}
        name = f"operations/acf.p2-{self._services.number}-{uuid.uuid4()}"
        return self.emulator.operations.start_google(
            parent="",
            kind="serviceusage.enable",
            effect=effect,
            metadata=dict(_OPERATION_METADATA),
            name=name,
        )

    def get_operation(self, request: Request, operation: str) -> dict:
        if f"operations/{operation}" == NOOP_OPERATION:
            raise bad_request(f"Invalid operation name: '{NOOP_OPERATION}'.")
        rendered = self.emulator.operations.render(f"operations/{operation}")
        if rendered is None:
            raise ApiError(
                404, f"Operation 'operations/{operation}' not found.", status="NOT_FOUND"
            )
        return rendered
