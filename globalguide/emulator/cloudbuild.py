"""Cloud Build v1: builds from a Cloud Storage tarball into the local image store.

A build is accepted when its source resolves (otherwise the 400 "could not resolve
source" the real API answers), runs in a worker thread started at create time, and moves
QUEUED -> WORKING -> SUCCESS / FAILURE over the operation's time. Supported steps are the
docker builder's ``build`` (``-t``, ``-f``, ``--build-arg``, a context directory) and
``push``; ``images`` are pushed to Artifact Registry when the build ends, and a missing
repository fails the build as the real push does. The operation is named
``operations/build/{project}/{id}`` (global) or ``projects/{p}/locations/{l}/operations/{id}``
and polled at the paths the cloudbuild_v1 REST transport uses.

A failed build's operation ends with the generic "Build failed; check build logs for
details" error; the reason is in the build's ``statusDetail`` and ``failureInfo``.
"""

from __future__ import annotations

import base64
import io
import re
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from globalguide.emulator.artifactregistry.image_uri import parse_image_uri
from globalguide.emulator.core.operations import peek_operation_fault
from globalguide.emulator.core.paging import offset_page
from globalguide.emulator.core.project import project_number
from globalguide.emulator.core.routing import ApiError, Route, bad_request, read_json
from globalguide.emulator.core.schema import canonical, validate_body
from globalguide.emulator.core.timestamps import rfc3339
from globalguide.emulator.iam.permissions import READ_OBJECT, UPLOAD_ARTIFACTS, holds
from globalguide.emulator.images import Image, ImageBuildError

if TYPE_CHECKING:
    from globalguide.emulator.artifactregistry import API as ArtifactRegistryAPI
    from globalguide.emulator.iam import API as IamAPI
    from globalguide.emulator.resourcemanager import API as ResourceManagerAPI
    from globalguide.emulator.storage import API as StorageAPI

SERVICE = "cloudbuild.googleapis.com"
DOCKER_BUILDER = "gcr.io/cloud-builders/docker"
_TYPE = "type.googleapis.com/google.devtools.cloudbuild.v1."
_FINAL = ("SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED")
_IMAGE_NAME = re.compile(
    r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?\Z"
)
_SUBSTITUTION = re.compile(r"\$(?:\{([A-Z_][A-Z0-9_]*)\}|([A-Z_][A-Z0-9_]*))")
_FILTER_TERM = re.compile(r'\s*(\w+)\s*=\s*"([^"]*)"\s*')
# A stand-in digest for the docker builder image, reported in results.buildStepImages.
_BUILDER_DIGEST = "sha256:" + "d0c4e7b5" * 8
BUILD_FAILED = "Build failed; check build logs for details"
_ACCOUNT_NAME = re.compile(r"projects/([^/]+)/serviceAccounts/([^/]+)\Z")
# Logging choices that do not need the default (Google-owned) logs bucket.
_OWN_LOGGING = ("CLOUD_LOGGING_ONLY", "STACKDRIVER_ONLY", "NONE")
SERVICE_ACCOUNT_LOGGING = (
    "if 'build.service_account' is specified, the build must either (a) specify "
    "'build.logs_bucket', (b) use the REGIONAL_USER_OWNED_BUCKET "
    "build.options.default_logs_bucket_behavior option, or (c) use either CLOUD_LOGGING_ONLY / "
    "NONE logging options: invalid argument"
)


def default_service_account(number: str) -> str:
    """The Compute Engine default service account, which builds run as by default."""
    return f"{number}-compute@developer.gserviceaccount.com"


def _tagged(name: str) -> str:
    """An image name with the implied ``:latest`` made explicit."""
    last = name.rsplit("/", 1)[-1]
    return name if (":" in last or "@" in name) else f"{name}:latest"


@dataclass
class _Step:
    kind: str  # "build", "push" or "unsupported"
    tags: list[str] = field(default_factory=list)
    dockerfile: str | None = None
    context: str = "."
    build_args: dict[str, str] = field(default_factory=dict)
    image: str = ""
    problem: str = ""


@dataclass
class _Outcome:
    built: dict[str, Image] = field(default_factory=dict)  # "name:tag" -> image
    pushes: list[tuple[int, str]] = field(default_factory=list)  # (step index, image)
    failure: tuple[str, str, int | None] | None = None  # (type, detail, step index)
    fetch_s: float = 0.0


@dataclass
class _Record:
    build: dict[str, Any]
    location: str
    op_name: str
    created: float
    queue_s: float
    steps: list[_Step]
    done_event: threading.Event = field(default_factory=threading.Event)
    outcome: _Outcome | None = None
    final: bool = False
    cancelled: bool = False
    account: str = ""  # the email the build runs as


def parse_step(step: dict[str, Any]) -> _Step:
    """What a build step asks for, in the emulator's supported subset."""
    name = step.get("name", "")
    args = list(step.get("args", []))
    if step.get("entrypoint") or step.get("script") or name.split(":")[0] != DOCKER_BUILDER:
        return _Step("unsupported", problem=f"step {name!r} is not a docker build or push")
    if not args or args[0] not in ("build", "push"):
        return _Step("unsupported", problem=f"docker {' '.join(args[:1])} is not supported")
    if args[0] == "push":
        images = [a for a in args[1:] if not a.startswith("-")]
        if len(images) != 1:
            return _Step("unsupported", problem="docker push takes exactly one image")
        return _Step("push", image=images[0])
    out = _Step("build")
    positional: list[str] = []
    i = 1
    while i < len(args):
        arg = args[i]
        flag, eq, inline = arg.partition("=")
        takes_value = flag in (
            "-t",
            "--tag",
            "-f",
            "--file",
            "--build-arg",
            "--platform",
            "--cache-from",
            "--network",
            "--target",
            "--label",
        )
        value = inline if eq else (args[i + 1] if takes_value and i + 1 < len(args) else "")
        if takes_value and not eq:
            i += 1
        if flag in ("-t", "--tag"):
            out.tags.append(value)
        elif flag in ("-f", "--file"):
            out.dockerfile = value
        elif flag == "--build-arg":
            key, _, val = value.partition("=")
            out.build_args[key] = val
        elif flag == "--target":
            return _Step("unsupported", problem="docker build --target is not supported")
        elif arg.startswith("-"):
            if not takes_value and arg not in ("--pull", "--no-cache", "-q", "--quiet"):
                return _Step("unsupported", problem=f"docker build {arg} is not supported")
        else:
            positional.append(arg)
        i += 1
    if len(positional) != 1:
        return _Step("unsupported", problem="docker build needs exactly one context path")
    out.context = positional[0]
    return out


def _subcontext(source: bytes, directory: str) -> bytes:
    """A gzipped tarball of ``directory`` inside the ``source`` tarball."""
    prefix = PurePosixPath(directory)
    if str(prefix) in (".", ""):
        return source
    if prefix.is_absolute() or ".." in prefix.parts:
        raise ImageBuildError(f'unable to prepare context: path "{directory}" not found')
    out = io.BytesIO()
    found = False
    with (
        tarfile.open(fileobj=io.BytesIO(source), mode="r:gz") as src,
        tarfile.open(fileobj=out, mode="w:gz") as dst,
    ):
        for member in src:
            path = PurePosixPath(member.name.removeprefix("./"))
            try:
                rel = path.relative_to(prefix)
            except ValueError:
                continue
            found = True
            if str(rel) == ".":
                continue
            member.name = str(rel)
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    if not found:
        raise ImageBuildError(f'unable to prepare context: path "{directory}" not found')
    return out.getvalue()


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
        self._builds: dict[str, _Record] = {}

    # ------------------------------------------------------------ contract
    def routes(self) -> list[Route]:
        api = self.name
        p = "/v1/projects/<project>"
        loc = f"{p}/locations/<location>"
        return [
            Route("POST", f"{p}/builds", self.create_global, api=api, mutating=True),
            Route("GET", f"{p}/builds", self.list_global, api=api),
            Route("GET", f"{p}/builds/<build_id>", self.get_global, api=api),
            Route(
                "POST",
                f"{p}/builds/<build_id>:cancel",
                self.cancel_global,
                api=api,
                mutating=True,
                endpoint="no-operation",
            ),
            Route("POST", f"{loc}/builds", self.create_regional, api=api, mutating=True),
            Route("GET", f"{loc}/builds", self.list_regional, api=api),
            Route("GET", f"{loc}/builds/<build_id>", self.get_regional, api=api),
            Route(
                "POST",
                f"{loc}/builds/<build_id>:cancel",
                self.cancel_regional,
                api=api,
                mutating=True,
                endpoint="no-operation",
            ),
            Route("GET", "/v1/operations/build/<project>/<op_id>", self.get_operation, api=api),
        ]

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
        validate_body(body, _build_cls(), resource="build")
        body = canonical(body, _build_cls())
        build_id = str(uuid.uuid4())
        number = project_number(project_id)
        build = self._substitute(body, project_id, number, build_id, location)
        source_bytes, source_meta = self._resolve_source(build)
        steps_json = build.get("steps") or []
        if not steps_json:
            raise bad_request("invalid build: the build must have at least one step")
        for index, step in enumerate(steps_json):
            if not step.get("name"):
                raise bad_request(f"invalid build: step {index} must specify a name")
        for image in build.get("images", []):
            if not _IMAGE_NAME.match(image):
                raise bad_request(f'invalid build: invalid image name "{image}"')
        steps = [parse_step(s) for s in steps_json]
        account = self._check_service_account(build, project_id, number)
        now = time.time()
        duration = self.emulator.timing.seconds("cloudbuild.build")
        encoded = base64.urlsafe_b64encode(build_id.encode()).decode().rstrip("=")
        if location == "global":
            op_name = f"operations/build/{project}/{encoded}"
            log_url = (
                f"https://console.cloud.google.com/cloud-build/builds/{build_id}?project={number}"
            )
        else:
            op_name = f"projects/{project}/locations/{location}/operations/{encoded}"
            log_url = (
                f"https://console.cloud.google.com/cloud-build/builds;region={location}/"
                f"{build_id}?project={number}"
            )
        stored = {
            "name": f"projects/{number}/locations/{location}/builds/{build_id}",
            "id": build_id,
            "projectId": project_id,
            **build,
            "steps": [dict(s) for s in steps_json],
            "createTime": rfc3339(now),
            "timeout": build.get("timeout", "600s"),
            "queueTtl": build.get("queueTtl", "3600s"),
            "logsBucket": build.get(
                "logsBucket", f"gs://{number}.cloudbuild-logs.googleusercontent.com"
            ),
            "options": build.get("options", {"logging": "LEGACY", "pool": {}}),
            "logUrl": log_url,
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
        record = _Record(
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
                target=self._work,
                args=(record, source_bytes),
                name=f"build-{build_id[:8]}",
                daemon=True,
            ).start()
        return op

    def _check_service_account(self, build: dict[str, Any], project: str, number: str) -> str:
        """The email the build runs as; the real 400s for a user-specified account."""
        given = build.get("serviceAccount")
        if not given:
            return default_service_account(number)
        match = _ACCOUNT_NAME.fullmatch(given)
        if match is None:
            raise bad_request(
                f"invalid build: invalid service account {given!r}: it must be of the format "
                "projects/{PROJECT_ID}/serviceAccounts/{ACCOUNT}: invalid argument"
            )
        options = build.get("options") or {}
        if not (
            build.get("logsBucket")
            or options.get("logging") in _OWN_LOGGING
            or options.get("defaultLogsBucketBehavior") == "REGIONAL_USER_OWNED_BUCKET"
        ):
            raise bad_request(SERVICE_ACCOUNT_LOGGING)
        iam = self.iam
        account = match.group(2)
        with self.emulator.lock:
            email = next(
                (
                    a["email"]
                    for a in iam.snapshot()["serviceAccounts"]
                    if account in (a["email"], a["uniqueId"])
                ),
                None,
            )
        if match.group(1) not in (project, number, "-") or email is None:
            raise bad_request(
                f"invalid build: service account {given} does not exist: invalid argument"
            )
        return email

    def _substitute(
        self, body: dict[str, Any], project: str, number: str, build_id: str, location: str
    ) -> dict[str, Any]:
        values = {
            "PROJECT_ID": project,
            "PROJECT_NUMBER": number,
            "BUILD_ID": build_id,
            "LOCATION": location,
            **{k: v for k, v in body.get("substitutions", {}).items() if k.startswith("_")},
        }

        def sub(text: str) -> str:
            return _SUBSTITUTION.sub(
                lambda m: values.get(m.group(1) or m.group(2), m.group(0)), text
            )

        out = dict(body)
        out["steps"] = [
            {**s, "args": [sub(a) for a in s.get("args", [])]} for s in body.get("steps", [])
        ]
        if "images" in body:
            out["images"] = [sub(i) for i in body["images"]]
        return out

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
        if meta is None or (generation and str(generation) != meta["generation"]):
            raise bad_request(
                f"could not resolve source: googleapi: Error 404: No such object: {bucket}/{obj}"
                ", notFound"
            )
        data = storage.read_object(bucket, obj)
        if data is None:
            raise bad_request(
                f"could not resolve source: googleapi: Error 404: No such object: {bucket}/{obj}"
                ", notFound"
            )
        return data, meta

    # ------------------------------------------------------------ the worker
    def _work(self, record: _Record, source: bytes | None) -> None:
        """Run the build steps off the lock; the operation completes once this is done."""
        outcome = _Outcome()
        started = time.time()
        try:
            if source is not None and not self._may_read_source(record):
                bucket = record.build["source"]["storageSource"]["bucket"]
                obj = record.build["source"]["storageSource"]["object"]
                outcome.failure = (
                    "FETCH_SOURCE_FAILED",
                    f"AccessDeniedException: 403 {record.account} does not have "
                    f"{READ_OBJECT} access to the Google Cloud Storage object "
                    f"gs://{bucket}/{obj}. Permission '{READ_OBJECT}' denied on resource "
                    "(or it may not exist).",
                    None,
                )
                return
            if source is not None:
                try:
                    with tarfile.open(fileobj=io.BytesIO(source), mode="r:gz") as tar:
                        tar.getmembers()
                except (tarfile.TarError, OSError, EOFError):
                    outcome.failure = (
                        "FETCH_SOURCE_FAILED",
                        "failed to fetch source: the storage object is not a gzipped tarball "
                        "(.tar.gz)",
                        None,
                    )
                    return
            outcome.fetch_s = time.time() - started
            for index, step in enumerate(record.steps):
                if step.kind == "unsupported":
                    outcome.failure = ("USER_BUILD_STEP", step.problem, index)
                    return
                if step.kind == "push":
                    if _tagged(step.image) not in outcome.built:
                        outcome.failure = (
                            "USER_BUILD_STEP",
                            f"An image does not exist locally with the tag: {step.image}",
                            index,
                        )
                        return
                    outcome.pushes.append((index, step.image))
                    continue
                try:
                    image = self._docker_build(step, source)
                except ImageBuildError as exc:
                    outcome.failure = ("USER_BUILD_STEP", str(exc), index)
                    return
                for tag in step.tags:
                    outcome.built[_tagged(tag)] = image
        except Exception as exc:  # noqa: BLE001 - a crash must end the build, not hang it
            outcome.failure = ("USER_BUILD_STEP", f"internal error: {exc}", None)
        finally:
            record.outcome = outcome
            record.done_event.set()

    def _may_read_source(self, record: _Record) -> bool:
        bucket = record.build["source"]["storageSource"]["bucket"]
        storage = self.storage
        with self.emulator.lock:
            policy = storage.policy_of(bucket)
        return holds(self.resourcemanager, f"serviceAccount:{record.account}", READ_OBJECT, policy)

    def _docker_build(self, step: _Step, source: bytes | None) -> Image:
        if source is None:
            raise ImageBuildError(
                'unable to prepare context: path "." not found (the build has no source)'
            )
        context = PurePosixPath(step.context)
        dockerfile = "Dockerfile"
        if step.dockerfile:
            path = PurePosixPath(step.dockerfile)
            try:
                dockerfile = str(path.relative_to(context)) if str(context) != "." else str(path)
            except ValueError as exc:
                raise ImageBuildError(
                    f"the Dockerfile ({step.dockerfile}) must be inside the build context "
                    f"({step.context}) for the emulator's builder"
                ) from exc
        return self.emulator.images.build(
            _subcontext(source, step.context), dockerfile, step.build_args
        )

    # ------------------------------------------------------------ completion
    def _finish(self, record: _Record) -> dict:
        """The operation's effect: push, then settle the final status."""
        with self.emulator.lock:
            now = time.time()
            build = record.build
            if record.cancelled:
                raise ApiError(499, "Build was cancelled.", status="CANCELLED")
            outcome = record.outcome or _Outcome(failure=("USER_BUILD_STEP", "no result", None))
            started = record.created + record.queue_s
            build["startTime"] = rfc3339(started)
            build["timing"] = {
                "FETCHSOURCE": {
                    "startTime": rfc3339(started),
                    "endTime": rfc3339(started + outcome.fetch_s),
                },
                "BUILD": {"startTime": rfc3339(started + outcome.fetch_s), "endTime": rfc3339(now)},
            }
            failure = outcome.failure
            if failure is None:
                failure = self._push(record, outcome, now)
            for index, step in enumerate(build["steps"]):
                step["status"] = _step_status(index, failure)
            build["finishTime"] = rfc3339(now)
            record.final = True
            if failure is not None:
                kind, detail, step_index = failure
                build["status"] = "FAILURE"
                if kind == "USER_BUILD_STEP" and step_index is not None:
                    name = build["steps"][step_index]["name"]
                    summary = (
                        f'Build step failure: build step {step_index} "{name}" failed: step '
                        "exited with non-zero status: 1"
                    )
                    build["statusDetail"] = f"{summary} ({detail})"
                    build["failureInfo"] = {"type": kind, "detail": f"{summary} ({detail})"}
                else:
                    build["statusDetail"] = detail
                    build["failureInfo"] = {"type": kind, "detail": detail}
                raise ApiError(500, BUILD_FAILED, status="UNKNOWN")
            build["status"] = "SUCCESS"
            return {"@type": _TYPE + "Build", **self._render(record)}

    def _push(
        self, record: _Record, outcome: _Outcome, now: float
    ) -> tuple[str, str, int | None] | None:
        registry = self.registry
        results: list[dict[str, Any]] = []
        wanted = [(index, image) for index, image in outcome.pushes]
        wanted += [(None, image) for image in record.build.get("images", [])]
        missing = [img for _, img in wanted if _tagged(img) not in outcome.built]
        if missing:
            return (
                "PUSH_IMAGE_NOT_FOUND",
                "failed to find one or more images after execution of build steps: "
                + str(missing).replace("'", '"'),
                None,
            )
        for step_index, image_name in wanted:
            image = outcome.built[_tagged(image_name)]
            ref = parse_image_uri(_tagged(image_name))
            problem = None
            if ref is None:
                problem = (
                    f"failed to push {image_name}: the emulator pushes only to Artifact "
                    "Registry (LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE)"
                )
            elif ref.project == self.emulator.project and not holds(
                self.resourcemanager,
                f"serviceAccount:{record.account}",
                UPLOAD_ARTIFACTS,
                registry.policy_of(ref.repository_name),
            ):
                problem = (
                    f'denied: Permission "{UPLOAD_ARTIFACTS}" denied on resource '
                    f'"{ref.repository_name}" (or it may not exist)'
                )
            elif ref.project != self.emulator.project or not registry.record_image(
                ref.repository_name, ref.image, ref.tag or "latest", image.digest, image.size_bytes
            ):
                problem = f'name unknown: Repository "{ref.repository}" not found'
            if problem is not None:
                kind = "PUSH_FAILED" if step_index is None else "USER_BUILD_STEP"
                return (kind, problem, step_index)
            if step_index is None:
                results.append(
                    {
                        "name": image_name,
                        "digest": image.digest,
                        "pushTiming": {"startTime": rfc3339(now), "endTime": rfc3339(now)},
                    }
                )
        record.build["results"] = {
            "buildStepImages": [_BUILDER_DIGEST for _ in record.steps],
            "buildStepOutputs": ["" for _ in record.steps],
        }
        if results:
            record.build["results"]["images"] = results
        record.build.setdefault("timing", {})["PUSH"] = {
            "startTime": rfc3339(now),
            "endTime": rfc3339(now),
        }
        return None

    # ------------------------------------------------------------ reading
    def _render(self, record: _Record) -> dict[str, Any]:
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

    def _metadata(self, record: _Record) -> dict[str, Any]:
        with self.emulator.lock:
            return {"@type": _TYPE + "BuildOperationMetadata", "build": self._render(record)}

    def _find(self, project: str, location: str, build_id: str) -> _Record:
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
        terms = _parse_filter(request.args.get("filter", ""))
        with self.emulator.lock:
            builds = [
                self._render(r)
                for r in sorted(self._builds.values(), key=lambda r: r.created, reverse=True)
                if r.location == location
            ]
        builds = [b for b in builds if all(_matches(b, k, v) for k, v in terms)]
        size = int(request.args.get("pageSize") or 50)
        offset = int(request.args.get("pageToken") or 0)
        return offset_page(builds, offset, size, "builds")

    def _cancel(self, project: str, location: str, build_id: str) -> dict:
        self._enter(project)
        with self.emulator.lock:
            record = self._find(project, location, build_id)
            current = self._render(record)
            if current["status"] in _FINAL:
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


def _step_status(index: int, failure: tuple[str, str, int | None] | None) -> str:
    """A step's final status, given where (if anywhere) the build failed."""
    if failure is None or failure[0] in ("PUSH_FAILED", "PUSH_IMAGE_NOT_FOUND"):
        return "SUCCESS"
    failed_at = failure[2]
    if failed_at is None or index > failed_at:
        return "QUEUED"  # never ran
    return "FAILURE" if index == failed_at else "SUCCESS"


def _build_cls() -> Any:
    from google.cloud.devtools import cloudbuild_v1

    return cloudbuild_v1.Build


def _parse_filter(text: str) -> list[tuple[str, str]]:
    text = text.strip()
    if not text:
        return []
    terms = []
    for part in re.split(r"\s+AND\s+", text):
        match = _FILTER_TERM.fullmatch(part)
        if match is None or match.group(1) not in ("id", "status", "images", "tags"):
            raise bad_request(f"Invalid filter: {text!r}")
        terms.append((match.group(1), match.group(2)))
    return terms


def _matches(build: dict[str, Any], key: str, value: str) -> bool:
    if key in ("images", "tags"):
        return value in build.get(key, [])
    return str(build.get(key, "")) == value
