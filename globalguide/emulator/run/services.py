"""The services of the emulator's one project and the operations that change them.

A service is stored with the defaults the real API fills in and the output-only fields it
reports (generation, conditions, revisions, uri, etag...). Creating or changing the
revision template starts a revision through the data plane (:mod:`.rollout`); the
operation completes when that process is ready or has failed, and the service's
conditions say which, in the real API's words.
"""

from __future__ import annotations

import copy
import os
import random
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from globalguide.emulator.core.operations import peek_operation_fault
from globalguide.emulator.core.project import project_number
from globalguide.emulator.core.routing import ApiError, bad_request
from globalguide.emulator.core.schema import canonical, validate_body
from globalguide.emulator.core.timestamps import rfc3339
from globalguide.emulator.iam import act_as_denied
from globalguide.emulator.run import rollout
from globalguide.emulator.run.defaults import (
    SETTABLE,
    apply_mask,
    mask_paths,
    settable,
    with_defaults,
)
from globalguide.emulator.run.operations import RunOperations
from globalguide.emulator.run.rollout import Rollout
from globalguide.emulator.run.state import (
    ServiceState,
    etag,
    mark_failed,
    mark_reconciling,
    rendered,
    revision_id,
)
from globalguide.emulator.run.validate import (
    check_revision_name,
    check_service_id,
    validate_service,
)

if TYPE_CHECKING:
    from globalguide.emulator.artifactregistry import API as ArtifactRegistryAPI
    from globalguide.emulator.iam import API as IamAPI

SERVICE = "run.googleapis.com"
SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"
CREATOR = "emulator@globalguide.local"


def _service_cls() -> Any:
    from google.cloud import run_v2

    return run_v2.Service


def _stale_etag(sent: str, name: str) -> ApiError:
    return ApiError(
        409,
        f"The etag {sent} does not match the current etag of "
        f"{name}; read the service again and retry.",
        status="ABORTED",
    )


def _already_exists(service_id: str) -> ApiError:
    return ApiError(409, f"Resource '{service_id}' already exists.", status="ALREADY_EXISTS")


class Services:
    """Cloud Run services of the emulator's one project, by location."""

    # The APIs it calls, handed over by the server.
    iam: IamAPI
    registry: ArtifactRegistryAPI

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self._services: dict[str, ServiceState] = {}
        self.ops = RunOperations(emulator)
        self._rng = random.Random(os.getpid() ^ int(time.time()))

    # ------------------------------------------------------------ lookups
    def enter(self, project: str, location: str) -> None:
        """The project exists, the API is enabled and ``location`` is a Cloud Run region."""
        from globalguide import geo

        self.emulator.enter(project, SERVICE, by_number=True)
        if location not in geo.REGIONS:
            raise bad_request(f"Location '{location}' is not a valid Cloud Run region.")

    def _name(self, location: str, service: str) -> str:
        return f"projects/{self.emulator.project}/locations/{location}/services/{service}"

    def _not_found(self, name: str) -> ApiError:
        return ApiError(404, f'service "{name}" not found', status="NOT_FOUND")

    def state_of(self, project: str, location: str, service: str) -> ServiceState:
        """The service's state (404 if there is none); call under the emulator's lock."""
        self.enter(project, location)
        name = self._name(location, service)
        state = self._services.get(name)
        if state is None:
            raise self._not_found(name)
        return state

    def _refresh(self, name: str) -> None:
        """Settle a rollout whose operation ended without its effect (a transient fault)."""
        state = self._services.get(name)
        if state is None or state.rollout is None:
            return
        op = self.emulator.operations.get(state.rollout.op_name)
        # Reading the operation may have completed others, which can change the service.
        state = self._services.get(name)
        if state is None or state.rollout is None or op is None or not op.done:
            return
        message = op.error[2] if op.error else "The operation ended without a result."
        state.rollout = None
        mark_failed(state, message, "INTERNAL")

    def _render(self, name: str) -> dict[str, Any]:
        self._refresh(name)
        return rendered(self._services[name])

    def get(self, location: str, service: str) -> dict[str, Any]:
        name = self._name(location, service)
        with self.emulator.lock:
            if name not in self._services:
                raise self._not_found(name)
            return self._render(name)

    def listed(self, location: str) -> list[dict[str, Any]]:
        """The services of ``location``, by name."""
        prefix = f"projects/{self.emulator.project}/locations/{location}/services/"
        with self.emulator.lock:
            return [self._render(n) for n in sorted(self._services) if n.startswith(prefix)]

    # ------------------------------------------------------------ checks
    def _check_service_account(self, service: dict[str, Any]) -> None:
        """Deploying as an account needs iam.serviceaccounts.actAs on it. An account of this
        project that does not exist, or that IAM does not show Cloud Run yet (just created,
        under the realistic profile), is refused with the same 403: IAM does not say which.
        """
        email = (service.get("template") or {}).get("serviceAccount")
        if not email or not isinstance(email, str):
            return
        own = email.endswith(f"@{self.emulator.project}.iam.gserviceaccount.com")
        if own and not self.iam.visible(email):
            raise act_as_denied(email)

    # ------------------------------------------------------------ changes
    def create(
        self,
        location: str,
        service_id: str,
        body: dict[str, Any],
        request_name: str,
        *,
        validate_only: bool,
    ) -> dict:
        check_service_id(service_id, request_name)
        validate_body(body, _service_cls(), resource="service")
        body = canonical(body, _service_cls())
        validate_service(body, request_name)
        check_revision_name(body.get("template") or {}, service_id, [])
        self._check_service_account(body)
        name = self._name(location, service_id)
        number = project_number(self.emulator.project)
        desired = with_defaults(settable(body), number)
        now = rfc3339()
        output: dict[str, Any] = {
            "name": name,
            "uid": str(uuid.uuid4()),
            "generation": "1",
            **desired,
            "createTime": now,
            "updateTime": now,
            "creator": CREATOR,
            "lastModifier": CREATOR,
        }
        with self.emulator.lock:
            if name in self._services:
                raise _already_exists(service_id)
        if validate_only:
            return self._start_validation(location, output)
        with self.emulator.lock:
            if name in self._services:
                raise _already_exists(service_id)
            state = ServiceState(desired=desired, output=output)
            revision = revision_id(self._rng, service_id, 1, desired["template"])
            state.revisions.append(revision)
            output["latestCreatedRevision"] = (
                f"projects/{self.emulator.project}/locations/{location}/revisions/{revision}"
            )
            mark_reconciling(state)
            self._services[name] = state
        return self._roll_out(name, location, state, revision, "run.create")

    def update(
        self,
        location: str,
        service: str,
        body: dict[str, Any],
        *,
        mask: list[str],
        allow_missing: bool,
        validate_only: bool,
    ) -> dict:
        """Replace the service (or the fields ``mask`` names); with ``allow_missing``, an
        absent service is created."""
        name = self._name(location, service)
        with self.emulator.lock:
            exists = name in self._services
        if not exists:
            if not allow_missing:
                raise self._not_found(name)
            return self.create(
                location, service, body, "UpdateServiceRequest", validate_only=validate_only
            )
        validate_body(body, _service_cls(), resource="service")
        body = canonical(body, _service_cls())
        mask = mask_paths(mask)
        number = project_number(self.emulator.project)
        with self.emulator.lock:
            state = self._services.get(name)
            if state is None:
                raise self._not_found(name)
            self._refresh(name)
            sent = body.get("etag")
            if sent and sent != etag(state.output):
                raise _stale_etag(sent, name)
            if state.deleting:
                raise ApiError(409, f"Service {name} is being deleted.", status="ABORTED")
            merged = apply_mask(state.desired, settable(body), mask)
            validate_service(merged, "UpdateServiceRequest")
            self._check_service_account(merged)
            desired = with_defaults(merged, number)
            if validate_only:
                return self._start_validation(location, {**state.output, **desired})
            template_changed = desired["template"] != state.desired["template"]
            ingress_changed = desired["ingress"] != state.desired["ingress"]
            output = state.output
            if desired != state.desired:
                generation = int(output["generation"]) + 1
                for key in SETTABLE:
                    output.pop(key, None)
                output.update(copy.deepcopy(desired))
                output["generation"] = str(generation)
                output["updateTime"] = rfc3339()
                output["lastModifier"] = CREATOR
                state.desired = desired
            revision = None
            if template_changed:
                check_revision_name(desired["template"], service, state.revisions)
                revision = revision_id(
                    self._rng, service, int(output["generation"]), desired["template"]
                )
                state.revisions.append(revision)
                output["latestCreatedRevision"] = (
                    f"projects/{self.emulator.project}/locations/{location}/revisions/{revision}"
                )
            mark_reconciling(state)
        return self._roll_out(
            name, location, state, revision, "run.update", ingress_changed=ingress_changed
        )

    def delete(
        self, location: str, service: str, *, sent_etag: str | None, validate_only: bool
    ) -> dict:
        """An operation at whose end the service and its processes are gone."""
        name = self._name(location, service)
        with self.emulator.lock:
            state = self._services.get(name)
            if state is None:
                raise self._not_found(name)
            if sent_etag and sent_etag != etag(state.output):
                raise _stale_etag(sent_etag, name)
            snapshot = self._render(name)
        if validate_only:
            return self._start_validation(location, snapshot)
        faulted = peek_operation_fault()
        removed = threading.Event()
        op_name = self.ops.new_name(location)

        def effect() -> dict:
            with self.emulator.lock:
                current = self._services.get(name)
                if current is None or current.deleting != op_name:
                    raise self._not_found(name)
                del self._services[name]
            return {"@type": SERVICE_TYPE, **snapshot, "deleteTime": rfc3339()}

        with self.emulator.lock:
            state.deleting = op_name
            op = self.emulator.operations.start_google(
                parent="",
                kind="run.delete",
                name=op_name,
                effect=effect,
                metadata={"@type": SERVICE_TYPE, **snapshot},
                ready=None if faulted else removed.is_set,
            )
            record = self.emulator.operations.get(op_name)
        if not faulted and record is not None:
            # The process stops before the operation reports done, off the emulator's lock.
            threading.Thread(
                target=self._remove_later,
                args=(name, record.due, removed),
                name="run-delete",
                daemon=True,
            ).start()
        return op

    def _remove_later(self, name: str, due: float, removed: threading.Event) -> None:
        try:
            time.sleep(max(0.0, due - time.time()))
            self.emulator.dataplane.remove_service(name)
        finally:
            removed.set()

    # ------------------------------------------------------------ rollouts
    def _roll_out(
        self,
        name: str,
        location: str,
        state: ServiceState,
        revision: str | None,
        kind: str,
        *,
        ingress_changed: bool = False,
    ) -> dict:
        """Start the revision (if any) and the operation that reports on it."""
        op_name = self.ops.new_name(location)
        change = Rollout(op_name=op_name, revision=revision, ingress_changed=ingress_changed)
        rollout.start(self.emulator, self.registry, name, location, state.desired, change)
        handle = change.handle

        def ready() -> bool:
            return handle is None or handle.status != "starting"

        with self.emulator.lock:
            state.rollout = change
            return self.emulator.operations.start_google(
                parent="",
                kind=kind,
                name=op_name,
                effect=lambda: self._settle(name, change),
                metadata=lambda: self._metadata(name),
                ready=ready,
            )

    def _metadata(self, name: str) -> dict[str, Any]:
        with self.emulator.lock:
            if name not in self._services:
                return {"@type": SERVICE_TYPE, "name": name}
            return {"@type": SERVICE_TYPE, **self._render(name)}

    def _settle(self, name: str, change: Rollout) -> dict:
        with self.emulator.lock:
            state = self._services.get(name)
            if state is None:
                raise self._not_found(name)
            rollout.settle(state, change, name, self.emulator.dataplane)
            return {"@type": SERVICE_TYPE, **self._render(name)}

    def _start_validation(self, location: str, service: dict[str, Any]) -> dict:
        op_name = self.ops.new_name(location)
        body = {"@type": SERVICE_TYPE, **service}
        return self.emulator.operations.start_google(
            parent="", kind="run.validate", name=op_name, effect=lambda: body, metadata=body
        )
