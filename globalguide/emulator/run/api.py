"""Cloud Run Admin API v2 for the emulator: services, their operations and IAM policies.

Paths are those of the run_v2 REST transport. Each handler reads the request, calls the
rules (:mod:`.services`, :mod:`.policy`) and returns the answer.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request

from globalguide.emulator.core.paging import offset_page
from globalguide.emulator.core.routing import Route, bad_request, read_json
from globalguide.emulator.run.operations import operation_not_found
from globalguide.emulator.run.policy import check_permissions, checked_bindings, granted, replaced
from globalguide.emulator.run.services import Services
from globalguide.emulator.run.validate import seconds

DEFAULT_PAGE_SIZE = 100
MAX_WAIT_SECONDS = 60.0  # the longest a :wait call holds the request


def _flag(request: Request, name: str) -> bool:
    return request.args.get(name, "").lower() == "true"


def _page(request: Request, items: list[dict], key: str) -> dict:
    raw = request.args.get("pageSize", "")
    try:
        size = int(raw) if raw else DEFAULT_PAGE_SIZE
        offset = int(request.args.get("pageToken") or 0)
    except ValueError as exc:
        raise bad_request("Invalid page size or page token.") from exc
    size = size if size > 0 else DEFAULT_PAGE_SIZE
    return offset_page(items, offset, size, key)


class API(Services):
    """Cloud Run Admin API v2 services for the emulator's one project."""

    name = "run"

    # ------------------------------------------------------------ contract
    def routes(self) -> list[Route]:
        api = self.name
        loc = "/v2/projects/<project>/locations/<location>"
        svc = f"{loc}/services/<service>"
        return [
            Route("POST", f"{loc}/services", self.create_service, api=api, mutating=True),
            Route("GET", f"{loc}/services", self.list_services, api=api),
            Route("GET", svc, self.get_service, api=api),
            Route("PATCH", svc, self.update_service, api=api, mutating=True),
            Route("DELETE", svc, self.delete_service, api=api, mutating=True),
            Route("GET", f"{svc}:getIamPolicy", self.get_iam_policy, api=api),
            Route(
                "POST",
                f"{svc}:setIamPolicy",
                self.set_iam_policy,
                api=api,
                mutating=True,
                endpoint="no-operation",
            ),
            Route("POST", f"{svc}:testIamPermissions", self.test_iam_permissions, api=api),
            Route("GET", f"{loc}/operations", self.list_operations, api=api),
            Route("GET", f"{loc}/operations/<operation>", self.get_operation, api=api),
            Route("DELETE", f"{loc}/operations/<operation>", self.delete_operation, api=api),
            Route("POST", f"{loc}/operations/<operation>:wait", self.wait_operation, api=api),
        ]

    def snapshot(self) -> dict[str, Any]:
        with self.emulator.lock:
            return {
                "services": [self._render(n) for n in sorted(self._services)],
                "iamPolicies": {n: dict(s.policy) for n, s in self._services.items()},
            }

    def reset(self) -> None:
        with self.emulator.lock:
            self._services.clear()
            self.ops.clear()

    def resource_count(self) -> int:
        with self.emulator.lock:
            return len(self._services)

    # ------------------------------------------------------------ services
    def create_service(self, request: Request, project: str, location: str) -> dict:
        self.enter(project, location)
        service_id = request.args.get("serviceId", "")
        body = read_json(request)
        return self.create(
            location,
            service_id,
            body,
            "CreateServiceRequest",
            validate_only=_flag(request, "validateOnly"),
        )

    def get_service(self, request: Request, project: str, location: str, service: str) -> dict:
        self.enter(project, location)
        return self.get(location, service)

    def list_services(self, request: Request, project: str, location: str) -> dict:
        self.enter(project, location)
        return _page(request, self.listed(location), "services")

    def update_service(self, request: Request, project: str, location: str, service: str) -> dict:
        self.enter(project, location)
        body = read_json(request)
        return self.update(
            location,
            service,
            body,
            mask=[p for p in request.args.get("updateMask", "").split(",") if p],
            allow_missing=_flag(request, "allowMissing"),
            validate_only=_flag(request, "validateOnly"),
        )

    def delete_service(self, request: Request, project: str, location: str, service: str) -> dict:
        self.enter(project, location)
        return self.delete(
            location,
            service,
            sent_etag=request.args.get("etag"),
            validate_only=_flag(request, "validateOnly"),
        )

    # ------------------------------------------------------------ IAM
    def get_iam_policy(self, request: Request, project: str, location: str, service: str) -> dict:
        with self.emulator.lock:
            return dict(self.state_of(project, location, service).policy)

    def set_iam_policy(self, request: Request, project: str, location: str, service: str) -> dict:
        policy = read_json(request).get("policy")
        bindings = checked_bindings(policy)
        with self.emulator.lock:
            state = self.state_of(project, location, service)
            state.policy = replaced(state.policy, policy.get("etag"), bindings)
            return dict(state.policy)

    def test_iam_permissions(
        self, request: Request, project: str, location: str, service: str
    ) -> dict:
        permissions = read_json(request).get("permissions", [])
        check_permissions(permissions)
        with self.emulator.lock:
            self.state_of(project, location, service)
        held = granted(permissions)
        return {"permissions": held} if held else {}

    # ------------------------------------------------------------ operations
    def get_operation(self, request: Request, project: str, location: str, operation: str) -> dict:
        self.enter(project, location)
        name = self.ops.known(location, operation)
        rendered = self.emulator.operations.render(name)
        if rendered is None:
            raise operation_not_found(name)
        return rendered

    def list_operations(self, request: Request, project: str, location: str) -> dict:
        self.enter(project, location)
        return _page(request, self.ops.rendered_in(location), "operations")

    def delete_operation(
        self, request: Request, project: str, location: str, operation: str
    ) -> dict:
        self.enter(project, location)
        self.ops.forget(self.ops.known(location, operation))
        return {}

    def wait_operation(self, request: Request, project: str, location: str, operation: str) -> dict:
        self.enter(project, location)
        name = self.ops.known(location, operation)
        body = read_json(request)
        timeout = (
            seconds(body["timeout"], "WaitOperationRequest.timeout")
            if body.get("timeout")
            else MAX_WAIT_SECONDS
        )
        rendered = self.emulator.operations.wait(name, timeout=min(timeout, MAX_WAIT_SECONDS))
        if rendered is None:
            raise operation_not_found(name)
        return rendered
