"""Service Usage v1: which APIs a project has enabled, and the 403 a disabled API answers.

A new project starts with the services Google enables by default for projects created in
the console or with gcloud (https://cloud.google.com/service-usage/docs/enabled-service,
"Services enabled by default"); every other known service is DISABLED. Enabling is a
long-running operation whose effect lands when it completes. ``require_enabled`` is what
every other emulated API calls first: it raises the real SERVICE_DISABLED error.

Enabling is eventually consistent: Service Usage reports the service ENABLED as soon as
the operation is done, but under the realistic profile the service itself still answers
SERVICE_DISABLED for a propagation window (the error's own text says "If you enabled this
API recently, wait a few minutes for the action to propagate to our systems and retry.").
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from werkzeug.wrappers import Request

from globalguide.emulator.core.paging import offset_page
from globalguide.emulator.core.project import project_number
from globalguide.emulator.core.routing import ApiError, Route, bad_request, read_json

ENABLED_BY_DEFAULT = (
    "analyticshub.googleapis.com",
    "bigquery.googleapis.com",
    "bigqueryconnection.googleapis.com",
    "bigquerydatapolicy.googleapis.com",
    "bigquerydatatransfer.googleapis.com",
    "bigquerymigration.googleapis.com",
    "bigqueryreservation.googleapis.com",
    "bigquerystorage.googleapis.com",
    "cloudapis.googleapis.com",
    "cloudtrace.googleapis.com",
    "dataform.googleapis.com",
    "dataplex.googleapis.com",
    "datastore.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "servicemanagement.googleapis.com",
    "serviceusage.googleapis.com",
    "sql-component.googleapis.com",
    "storage-api.googleapis.com",
    "storage-component.googleapis.com",
    "storage.googleapis.com",
)

# Product titles, as the SERVICE_DISABLED message and ServiceConfig.title show them.
SERVICE_TITLES = {
    "aiplatform.googleapis.com": "Vertex AI API",
    "analyticshub.googleapis.com": "Analytics Hub API",
    "artifactregistry.googleapis.com": "Artifact Registry API",
    "bigquery.googleapis.com": "BigQuery API",
    "bigqueryconnection.googleapis.com": "BigQuery Connection API",
    "bigquerydatapolicy.googleapis.com": "BigQuery Data Policy API",
    "bigquerydatatransfer.googleapis.com": "BigQuery Data Transfer API",
    "bigquerymigration.googleapis.com": "BigQuery Migration API",
    "bigqueryreservation.googleapis.com": "BigQuery Reservation API",
    "bigquerystorage.googleapis.com": "BigQuery Storage API",
    "certificatemanager.googleapis.com": "Certificate Manager API",
    "cloudapis.googleapis.com": "Google Cloud APIs",
    "cloudbuild.googleapis.com": "Cloud Build API",
    "cloudfunctions.googleapis.com": "Cloud Functions API",
    "cloudkms.googleapis.com": "Cloud Key Management Service (KMS) API",
    "cloudscheduler.googleapis.com": "Cloud Scheduler API",
    "cloudresourcemanager.googleapis.com": "Cloud Resource Manager API",
    "cloudtrace.googleapis.com": "Cloud Trace API",
    "compute.googleapis.com": "Compute Engine API",
    "containerregistry.googleapis.com": "Container Registry API",
    "container.googleapis.com": "Kubernetes Engine API",
    "containerscanning.googleapis.com": "Container Scanning API",
    "dataform.googleapis.com": "Dataform API",
    "dataplex.googleapis.com": "Cloud Dataplex API",
    "datastore.googleapis.com": "Cloud Datastore API",
    "dns.googleapis.com": "Cloud DNS API",
    "eventarc.googleapis.com": "Eventarc API",
    "firestore.googleapis.com": "Cloud Firestore API",
    "generativelanguage.googleapis.com": "Generative Language API",
    "iam.googleapis.com": "Identity and Access Management (IAM) API",
    "iamcredentials.googleapis.com": "IAM Service Account Credentials API",
    "logging.googleapis.com": "Cloud Logging API",
    "monitoring.googleapis.com": "Cloud Monitoring API",
    "networkservices.googleapis.com": "Network Services API",
    "pubsub.googleapis.com": "Cloud Pub/Sub API",
    "run.googleapis.com": "Cloud Run Admin API",
    "secretmanager.googleapis.com": "Secret Manager API",
    "servicemanagement.googleapis.com": "Service Management API",
    "serviceusage.googleapis.com": "Service Usage API",
    "sql-component.googleapis.com": "Cloud SQL",
    "sqladmin.googleapis.com": "Cloud SQL Admin API",
    "storage-api.googleapis.com": "Google Cloud Storage JSON API",
    "storage-component.googleapis.com": "Cloud Storage",
    "storage.googleapis.com": "Cloud Storage API",
    "vpcaccess.googleapis.com": "Serverless VPC Access API",
    "workflows.googleapis.com": "Workflows API",
}

MAX_BATCH_ENABLE = 20  # BatchEnableServicesRequest.service_ids docstring
MAX_BATCH_GET = 30  # BatchGetServicesRequest.names docstring
MAX_PAGE_SIZE = 200  # ListServicesRequest.page_size docstring
DEFAULT_PAGE_SIZE = 50

# What enabling an enabled service (or disabling a disabled one) answers at once.
NOOP_OPERATION = "operations/noop.DONE_OPERATION"
_OPERATION_METADATA = {"@type": "type.googleapis.com/google.api.serviceusage.v1.OperationMetadata"}
_TYPE = "type.googleapis.com/google.api.serviceusage.v1."


def activation_url(service: str, project: str) -> str:
    return f"https://console.developers.google.com/apis/api/{service}/overview?project={project}"


class ServiceDisabled(ApiError):
    """403 SERVICE_DISABLED, with the ErrorInfo and Help details Google's front end adds."""

    def __init__(self, service: str, project_id: str, number: str) -> None:
        self.service = service
        self.title = SERVICE_TITLES.get(service, service)
        self.number = number
        self.url = activation_url(service, number)
        message = (
            f"{self.title} has not been used in project {number} before or it is disabled. "
            f"Enable it by visiting {self.url} then retry. If you enabled this API recently, "
            "wait a few minutes for the action to propagate to our systems and retry."
        )
        super().__init__(403, message, reason="accessNotConfigured", status="PERMISSION_DENIED")

    def details(self) -> list[dict[str, Any]]:
        return [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "SERVICE_DISABLED",
                "domain": "googleapis.com",
                "metadata": {
                    "service": self.service,
                    "consumer": f"projects/{self.number}",
                    "containerInfo": self.number,
                    "serviceTitle": self.title,
                    "activationUrl": self.url,
                },
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": self.message,
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {"description": "Google developers console API activation", "url": self.url}
                ],
            },
        ]

    def body(self, style: str = "google") -> dict[str, Any]:
        error: dict[str, Any] = {"code": 403, "message": self.message}
        if style in ("compute", "storage"):
            error["errors"] = [
                {
                    "message": self.message,
                    "domain": "usageLimits",
                    "reason": "accessNotConfigured",
                    "extendedHelp": "https://console.developers.google.com",
                }
            ]
        error["status"] = "PERMISSION_DENIED"
        error["details"] = self.details()
        return {"error": error}


class UnknownServices(ApiError):
    """403 for service names that do not exist (or that the caller may not see)."""

    def __init__(self, services: list[str]) -> None:
        self.services = services
        super().__init__(
            403,
            f"Not found or permission denied for service(s): {', '.join(services)}.",
            reason="forbidden",
            status="PERMISSION_DENIED",
        )

    def body(self, style: str = "google") -> dict[str, Any]:
        out = super().body(style)
        out["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "SERVICE_CONFIG_NOT_FOUND_OR_PERMISSION_DENIED",
                "domain": "serviceusage.googleapis.com",
                "metadata": {"services": ",".join(self.services)},
            }
        ]
        return out


class API:
    """Service Usage v1 for the emulator's one project."""

    name = "serviceusage"

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.project_id: str = emulator.project
        self.number = project_number(self.project_id)
        self._enabled: set[str] = set(ENABLED_BY_DEFAULT)
        self._visible_at: dict[str, float] = {}  # service -> when its enable has propagated

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
            return {"projectNumber": self.number, "enabled": sorted(self._enabled)}

    def reset(self) -> None:
        with self.emulator.lock:
            self._enabled = set(ENABLED_BY_DEFAULT)
            self._visible_at.clear()

    def resource_count(self) -> int:
        return 0  # enabled services are configuration, not resources a teardown removes

    # ------------------------------------------------------------ public helpers
    def is_enabled(self, service: str) -> bool:
        with self.emulator.lock:
            return service in self._enabled

    def require_enabled(self, service: str, *, style: str = "google") -> None:
        """Raise the real 403 SERVICE_DISABLED when ``service`` is not enabled, or was
        enabled so recently that the change has not propagated yet."""
        with self.emulator.lock:
            if service in self._enabled:
                if time.time() >= self._visible_at.get(service, 0.0):
                    return
        raise ServiceDisabled(service, self.project_id, self.number)

    def _turn_on(self, services: list[str]) -> None:
        """The effect of an enable: the services that were off are on from now, and usable
        once the change has propagated (the window of the profile in force when it completed:
        a later change of profile does not hide what had already propagated)."""
        visible_at = time.time() + self.emulator.timing.propagation("serviceusage.enable")
        for service in services:
            if service not in self._enabled:
                self._enabled.add(service)
                self._visible_at[service] = visible_at

    def set_enabled(self, services: list[str], enabled: bool = True) -> None:
        """Test helper: enable or disable at once, without an operation."""
        with self.emulator.lock:
            if enabled:
                self._enabled.update(services)
            else:
                self._enabled.difference_update(services)
            for service in services:
                self._visible_at.pop(service, None)

    # ------------------------------------------------------------ handlers
    def _project(self, project: str) -> None:
        self.emulator.check_project(project, by_number=True)

    def _service(self, service: str, state: str | None = None, *, full: bool = False) -> dict:
        state = state or ("ENABLED" if service in self._enabled else "DISABLED")
        config: dict[str, Any] = {"name": service, "title": SERVICE_TITLES.get(service, service)}
        if full:
            config["documentation"] = {"summary": f"{config['title']}."}
            config["usage"] = {
                "requirements": ["serviceusage.googleapis.com/tos/cloud"],
            }
        return {
            "name": f"projects/{self.number}/services/{service}",
            "config": config,
            "state": state,
            "parent": f"projects/{self.number}",
        }

    def _check_known(self, services: list[str]) -> None:
        unknown = [s for s in services if s not in SERVICE_TITLES]
        if unknown:
            raise UnknownServices(unknown)

    def get_service(self, request: Request, project: str, service: str) -> dict:
        self._project(project)
        self._check_known([service])
        with self.emulator.lock:
            return self._service(service, full=True)

    def list_services(self, request: Request, project: str) -> dict:
        self._project(project)
        flt = request.args.get("filter", "").strip()
        states = {
            "": ("ENABLED", "DISABLED"),
            "state:ENABLED": ("ENABLED",),
            "state:DISABLED": ("DISABLED",),
        }
        if flt not in states:
            raise bad_request(
                f"Invalid filter: {flt!r}. Allowed filters are state:ENABLED and state:DISABLED."
            )
        size = _page_size(request.args.get("pageSize"))
        offset = _page_token(request.args.get("pageToken"))
        with self.emulator.lock:
            items = [
                self._service(s)
                for s in sorted(SERVICE_TITLES)
                if ("ENABLED" if s in self._enabled else "DISABLED") in states[flt]
            ]
        return offset_page(items, offset, size, "services", always=True)

    def batch_get(self, request: Request, project: str) -> dict:
        self._project(project)
        names = request.args.getlist("names")
        if len(names) > MAX_BATCH_GET:
            raise bad_request(
                f"A single request can get a maximum of {MAX_BATCH_GET} services at a time."
            )
        services = []
        for name in names:
            parts = name.split("/")
            if len(parts) != 4 or parts[0] != "projects" or parts[2] != "services":
                raise bad_request(f"Invalid service name: {name!r}.")
            if parts[1] not in (project, self.project_id, self.number):
                raise bad_request(f"The parent of service {name!r} must match the request parent.")
            services.append(parts[3])
        self._check_known(services)
        with self.emulator.lock:
            return {"services": [self._service(s, full=True) for s in services]}

    def enable(self, request: Request, project: str, service: str) -> dict:
        self._project(project)
        self._check_known([service])

        def effect() -> dict:
            with self.emulator.lock:
                self._turn_on([service])
                return {"@type": _TYPE + "EnableServiceResponse", "service": self._service(service)}

        return self._start(effect, changes=not self.is_enabled(service))

    def disable(self, request: Request, project: str, service: str) -> dict:
        self._project(project)
        self._check_known([service])

        def effect() -> dict:
            with self.emulator.lock:
                self._enabled.discard(service)
                self._visible_at.pop(service, None)
                return {
                    "@type": _TYPE + "DisableServiceResponse",
                    "service": self._service(service),
                }

        return self._start(effect, changes=self.is_enabled(service))

    def batch_enable(self, request: Request, project: str) -> dict:
        self._project(project)
        body = read_json(request)
        unknown_fields = set(body) - {"serviceIds", "parent"}
        if unknown_fields:
            field = sorted(unknown_fields)[0]
            raise bad_request(
                f'Invalid JSON payload received. Unknown name "{field}": Cannot find field.'
            )
        ids = body.get("serviceIds") or []
        if not isinstance(ids, list) or not all(isinstance(s, str) for s in ids):
            raise bad_request("Invalid value at 'service_ids': expected a list of strings.")
        if not ids:
            raise bad_request("At least one service must be specified.")
        if len(ids) > MAX_BATCH_ENABLE:
            raise bad_request(
                f"A single request can enable a maximum of {MAX_BATCH_ENABLE} services at a "
                f"time; {len(ids)} were given."
            )
        self._check_known(ids)
        wanted = list(dict.fromkeys(ids))

        def effect() -> dict:
            with self.emulator.lock:
                self._turn_on(wanted)
                return {
                    "@type": _TYPE + "BatchEnableServicesResponse",
                    "services": [self._service(s) for s in wanted],
                }

        return self._start(effect, changes=not all(self.is_enabled(s) for s in wanted))

    def batch_enable_other_parent(self, request: Request, kind: str, ident: str) -> dict:
        raise bad_request(
            f"Invalid parent '{kind}/{ident}': the BatchEnableServices method currently only "
            "supports projects."
        )

    def _start(self, effect: Any, changes: bool = True) -> dict:
        if not changes:
            # Nothing to do: a synthetic operation that is already done and cannot be polled.
            return {"name": NOOP_OPERATION, "done": True, "response": effect()}
        name = f"operations/acf.p2-{self.number}-{uuid.uuid4()}"
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


def _page_size(raw: str | None) -> int:
    if raw in (None, ""):
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError as exc:
        raise bad_request(f"Invalid value at 'page_size' (TYPE_INT32), \"{raw}\"") from exc
    if size < 0 or size > MAX_PAGE_SIZE:
        raise bad_request(f"Requested page size cannot exceed {MAX_PAGE_SIZE}.")
    return size or DEFAULT_PAGE_SIZE


def _page_token(raw: str | None) -> int:
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError as exc:
        raise bad_request("Invalid page token.") from exc
    if value < 0:
        raise bad_request("Invalid page token.")
    return value
