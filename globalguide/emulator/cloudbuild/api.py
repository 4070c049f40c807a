"""Cloud Build v1: builds from a Cloud Storage tarball into the local image store.

A build is accepted when its source resolves (otherwise the 400 "could not resolve
source" the real API answers), runs in a worker thread started at create time
(:mod:`runner`), and moves QUEUED -> WORKING -> SUCCESS / FAILURE over the operation's
time. ``images`` are pushed to Artifact Registry when the build ends (:mod:`push`), and a
missing repository fails the build as the real push does. The operation is named
``operations/build/{project}/{id}`` (global) or ``projects/{p}/locations/{l}/operations/{id}``
and polled at the paths the cloudbuild_v1 REST transport uses.

A failed build's operation ends with the generic "Build failed; check build logs for
details" error; the reason is in the build's ``statusDetail`` and ``failureInfo``.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from globalguide.emulator.cloudbuild import completion, logs, runner
from globalguide.emulator.cloudbuild import request as rules
from globalguide.emulator.cloudbuild.push import push_images
from globalguide.emulator.cloudbuild.state import (
    FINAL,
    Outcome,
    Record,
)
from globalguide.emulator.cloudbuild.steps import parse_step
from globalguide.emulator.core.operations import peek_operation_fault
from globalguide.emulator.core.paging import offset_page
from globalguide.emulator.core.project import project_number
from globalguide.emulator.core.routing import ApiError, Route, bad_request, read_json
from globalguide.emulator.core.schema import canonical, validate_body
from globalguide.emulator.core.timestamps import rfc3339
from globalguide.emulator.iam.permissions import READ_OBJECT, holds

if TYPE_CHECKING:
    from globalguide.emulator.artifactregistry import API as ArtifactRegistryAPI
    from globalguide.emulator.iam import API as IamAPI
    from globalguide.emulator.resourcemanager import API as ResourceManagerAPI
    from globalguide.emulator.storage import API as StorageAPI

SERVICE = "cloudbuild.googleapis.com"
_TYPE = "type.googleapis.com/google.devtools.cloudbuild.v1."
BUILD_FAILED = "Build failed; check build logs for details"


class API:
    """Cloud Build v1 for the emulator's one project."""

    name = "cloudbuild"
    # The APIs it calls, handed over by the server.
    iam: IamAPI
    storage: StorageAPI
    registry: ArtifactRegistryAPI
    resourcemanager: ResourceManagerAPI

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self._builds: dict[str, Record] = {}

    # ------------------------------------------------------------ contract
    def routes(self) -> list[Route]:
        api = self.name
        p = "/v1/projects/<project>"
        scopes = (
            (p, self.create_global, self.list_global, self.get_global, self.cancel_global),
            (
                f"{p}/locations/<location>",
                self.create_regional,
                self.list_regional,
                self.get_regional,
                self.cancel_regional,
            ),
        )
        out = []
        for base, create, listing, get, cancel in scopes:
            one = f"{base}/builds/<build_id>"
            out += [
                Route("POST", f"{base}/builds", create, api=api, mutating=True),
                Route("GET", f"{base}/builds", listing, api=api),
                Route("GET", one, get, api=api),
                Route(
                    "POST", f"{one}:cancel", cancel, api=api, mutating=True, endpoint="no-operation"
                ),
            ]
        out.append(
            Route("GET", "/v1/operations/build/<project>/<op_id>", self.get_operation, api=api)
        )
        return out

    def snapshot(self) -> dict[str, Any]:
        with self.emulator.lock:
            return {"builds": [self._render(r) for r in self._builds.values()]}

    def reset(self) -> None:
        with self.emulator.lock:
            self._builds.clear()

    def resource_count(self) -> int:
        return 0  # builds are history, not resources a teardown removes

    # ------------------------------------------------------------ handlers
    def _enter(self, project: str) -> str:
        self.emulator.enter(project, SERVICE, by_number=True)
        return self.emulator.project

    def create_global(self, request: Request, project: str) -> dict:
        return self._create(request, project, "global")

    def create_regional(self, request: Request, project: str, location: str) -> dict:
        self._check_location(location)
        return self._create(request, project, location)

    def get_global(self, request: Request, project: str, build_id: str) -> dict:
        return self._get(project, "global", build_id)

    def get_regional(self, request: Request, project: str, location: str, build_id: str) -> dict:
        return self._get(project, location, build_id)

    def list_global(self, request: Request, project: str) -> dict:
        return self._list(request, project, "global")

    def list_regional(self, request: Request, project: str, location: str) -> dict:
        return self._list(request, project, location)

    def cancel_global(self, request: Request, project: str, build_id: str) -> dict:
        return self._cancel(project, "global", build_id)

    def cancel_regional(self, request: Request, project: str, location: str, build_id: str) -> dict:
        return self._cancel(project, location, build_id)

    def get_operation(self, request: Request, project: str, op_id: str) -> dict:
        self._enter(project)
        name = f"operations/build/{project}/{op_id}"
        rendered = self.emulator.operations.render(name)
        if rendered is None:
            raise ApiError(404, f"Operation {name!r} not found.", status="NOT_FOUND")
        return rendered

    # ------------------------------------------------------------ create
    def _check_location(self, location: str) -> None:
        from globalguide import geo

        if location != "global" and location not in geo.REGIONS:
            raise bad_request(f"Invalid location: {location!r} is not a Cloud Build location.")

    def _create(self, request: Request, project: str, location: str) -> dict:
        project_id = self._enter(project)
        body = read_json(request)
        validate_body(body, rules.build_cls(), resource="build")
        body = canonical(body, rules.build_cls())
        build_id = str(uuid.uuid4())
        number = project_number(project_id)
        build = rules.substitute(body, project_id, number, build_id, location)
        source_bytes, source_meta = self._resolve_source(build)
        rules.check_steps(build)
        logs.check_logs_bucket(build)
        steps = [parse_step(s) for s in build["steps"]]
        account = self._service_account(build, project_id, number)
        now = time.time()
        duration = self.emulator.timing.seconds("cloudbuild.build")
        op_name = rules.operation_name(project, location, build_id)
        stored = {
            "name": f"projects/{number}/locations/{location}/builds/{build_id}",
            "id": build_id,
            "projectId": project_id,
            **build,
            "steps": [dict(s) for s in build["steps"]],
            "createTime": rfc3339(now),
            "timeout": build.get("timeout", "600s"),
            "queueTtl": build.get("queueTtl", "3600s"),
            "logsBucket": build.get("logsBucket", logs.default_logs_bucket(number)),
            "options": build.get("options", {"logging": "LEGACY", "pool": {}}),
            "logUrl": rules.log_url(number, location, build_id),
            "serviceAccount": f"projects/{project_id}/serviceAccounts/{account}",
        }
        if source_meta is not None:
            stored["sourceProvenance"] = {
                "resolvedStorageSource": {
                    **build["source"]["storageSource"],
                    "generation": source_meta["generation"],
                },
                "fileHashes": {},
            }
        record = Record(
            build=stored,
            location=location,
            op_name=op_name,
            created=now,
            queue_s=min(1.0, duration * 0.1),
            steps=steps,
            account=account,
        )
        faulted = peek_operation_fault()
        with self.emulator.lock:
            self._builds[build_id] = record
            op = self.emulator.operations.start_google(
                parent="",
                kind="cloudbuild.build",
                name=op_name,
                effect=lambda: self._finish(record),
                metadata=lambda: self._metadata(record),
                ready=None if faulted else record.done_event.is_set,
            )
        if not faulted:
            threading.Thread(
                target=runner.run,
                args=(
                    record,
                    source_bytes,
                    self.emulator.images,
                    lambda: self._may_read(record),
                    lambda: self._log_problem(record),
                ),
                name=f"build-{build_id[:8]}",
                daemon=True,
            ).start()
        return op

    def _service_account(self, build: dict[str, Any], project: str, number: str) -> str:
        """The email the build runs as; the real 400s for a user-specified account."""
        match = rules.check_account_form(build)
        if match is None:
            return rules.default_service_account(number)
        account = match.group(2)
        with self.emulator.lock:
            email = next(
                (
                    a["email"]
                    for a in self.iam.snapshot()["serviceAccounts"]
                    if account in (a["email"], a["uniqueId"])
                ),
                None,
            )
        if match.group(1) not in (project, number, "-") or email is None:
            raise bad_request(
                f"invalid build: service account {build['serviceAccount']} does not exist: "
                "invalid argument"
            )
        return email

    def _resolve_source(self, build: dict[str, Any]) -> tuple[bytes | None, dict | None]:
        """The source tarball's bytes and object metadata; the real 400 when it is missing."""
        source = build.get("source") or {}
        if not source:
            return None, None
        storage_source = source.get("storageSource")
        if not storage_source:
            raise bad_request(
                "invalid build: the emulator's Cloud Build supports only source.storageSource"
            )
        bucket, obj = storage_source.get("bucket", ""), storage_source.get("object", "")
        storage = self.storage
        if not bucket or not obj:
            raise bad_request("invalid build: storageSource needs a bucket and an object")
        if not storage.bucket_exists(bucket):
            raise bad_request(
                "could not resolve source: googleapi: Error 404: The specified bucket does not "
                "exist., notFound"
            )
        meta = storage.object_metadata(bucket, obj)
        generation = storage_source.get("generation")
        data = None
        if meta is not None and not (generation and str(generation) != meta["generation"]):
            data = storage.read_object(bucket, obj)
        if data is None:
            raise bad_request(
                f"could not resolve source: googleapi: Error 404: No such object: {bucket}/{obj}"
                ", notFound"
            )
        return data, meta

    def _may_read(self, record: Record) -> bool:
        bucket = record.build["source"]["storageSource"]["bucket"]
        with self.emulator.lock:
            policy = self.storage.policy_of(bucket)
        member = f"serviceAccount:{record.account}"
        return holds(self.resourcemanager, member, READ_OBJECT, policy)

    def _log_problem(self, record: Record) -> str | None:
        """Why the build's account cannot create its log object, or None."""
        location = logs.log_location(record.build)
        if location is None:
            return None
        bucket = location[0]
        exists = self.storage.bucket_exists(bucket)
        with self.emulator.lock:
            policy = self.storage.policy_of(bucket)
        member = f"serviceAccount:{record.account}"
        if exists and holds(self.resourcemanager, member, logs.CREATE_OBJECT, policy):
            return None
        return logs.logging_failure(record.account, bucket_exists=exists)

    def _write_log(self, record: Record, outcome: Outcome) -> None:
        """The log object, written before the build is complete, as Cloud Build does."""
        location = logs.log_location(record.build)
        if location is None or (outcome.failure or ("",))[0] == "LOGGING_FAILURE":
            return
        text = "\n".join(outcome.log) + "\n"
        bucket, name = location
        try:
            self.storage.write_object(bucket, name, text.encode(), "text/plain; charset=utf-8")
        except ApiError:
            pass  # the bucket went away while the build ran: the log is lost, as it would be

    # ------------------------------------------------------------ completion
    def _finish(self, record: Record) -> dict:
        """The operation's effect: push, settle the final status, write the log."""
        with self.emulator.lock:
            now = time.time()
            if record.cancelled:
                raise ApiError(499, "Build was cancelled.", status="CANCELLED")
            outcome = record.outcome or Outcome(failure=("USER_BUILD_STEP", "no result", None))
            completion.record_timing(record, outcome, now)
            failure = outcome.failure
            if failure is None:
                failure = push_images(
                    record,
                    outcome,
                    now,
                    project=self.emulator.project,
                    registry=self.registry,
                    resourcemanager=self.resourcemanager,
                )
            completion.settle(record, outcome, failure, now)
            self._write_log(record, outcome)
            if failure is not None:
                raise ApiError(500, BUILD_FAILED, status="UNKNOWN")
            return {"@type": _TYPE + "Build", **self._render(record)}

    # ------------------------------------------------------------ reading
    def _render(self, record: Record) -> dict[str, Any]:
        build = dict(record.build)
        if record.final:
            return build
        op = self.emulator.operations.get(record.op_name)
        if op is not None and op.done and op.error is not None and not record.final:
            # The operation failed without running its effect (a transient fault).
            record.final = True
            record.build["status"] = "INTERNAL_ERROR"
            record.build["statusDetail"] = op.error[2]
            record.build["finishTime"] = rfc3339(op.finished or time.time())
            return dict(record.build)
        now = time.time()
        if now - record.created < record.queue_s:
            build["status"] = "QUEUED"
        else:
            build["status"] = "WORKING"
            build["startTime"] = rfc3339(record.created + record.queue_s)
        build["steps"] = [{**s, "status": "QUEUED"} for s in build["steps"]]
        return build

    def _metadata(self, record: Record) -> dict[str, Any]:
        with self.emulator.lock:
            return {"@type": _TYPE + "BuildOperationMetadata", "build": self._render(record)}

    def _find(self, project: str, location: str, build_id: str) -> Record:
        record = self._builds.get(build_id)
        if record is None or record.location != location:
            raise ApiError(404, f'Build "{build_id}" not found', status="NOT_FOUND")
        return record

    def _get(self, project: str, location: str, build_id: str) -> dict:
        self._enter(project)
        with self.emulator.lock:
            return self._render(self._find(project, location, build_id))

    def _list(self, request: Request, project: str, location: str) -> dict:
        self._enter(project)
        terms = rules.parse_filter(request.args.get("filter", ""))
        with self.emulator.lock:
            builds = [
                self._render(r)
                for r in sorted(self._builds.values(), key=lambda r: r.created, reverse=True)
                if r.location == location
            ]
        builds = [b for b in builds if all(rules.matches(b, k, v) for k, v in terms)]
        size = int(request.args.get("pageSize") or 50)
        offset = int(request.args.get("pageToken") or 0)
        return offset_page(builds, offset, size, "builds")

    def _cancel(self, project: str, location: str, build_id: str) -> dict:
        self._enter(project)
        with self.emulator.lock:
            record = self._find(project, location, build_id)
            current = self._render(record)
            if current["status"] in FINAL:
                return current
            now = time.time()
            record.cancelled = True
            record.final = True
            record.build["status"] = "CANCELLED"
            record.build["finishTime"] = rfc3339(now)
            if now - record.created >= record.queue_s:
                record.build["startTime"] = rfc3339(record.created + record.queue_s)
            for step in record.build["steps"]:
                step["status"] = "CANCELLED"
            op = self.emulator.operations.get(record.op_name)
            if op is not None and not op.done:
                op.due = min(op.due, now)
                op.ready = None
            return dict(record.build)
