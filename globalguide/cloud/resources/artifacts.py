"""The image and where it is built and kept: bucket, repository, image."""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import artifactregistry_v1
from google.cloud.devtools import cloudbuild_v1
from google.protobuf import duration_pb2

from globalguide.cloud.clients import CloudClients
from globalguide.cloud.names import (
    IMAGE_NAME,
    LABEL_KEY,
    Names,
)
from globalguide.cloud.resources.base import (
    BUILD_TIMEOUT_S,
    Context,
    OperationFailed,
    Resource,
    api_disabled,
    get_or_none,
    poll_policy,
    wait_operation,
)
from globalguide.cloud.resources.build_log import log_tail
from globalguide.errors import CloudError


class Repository(Resource):
    kind = "repository"
    rank = 1

    @property
    def path(self) -> str:
        return f"projects/{self.project}/locations/{self.region}/repositories/{self.name}"

    def desired(self) -> artifactregistry_v1.Repository:
        return artifactregistry_v1.Repository(
            format_=artifactregistry_v1.Repository.Format.DOCKER,
            description=f"Images of the globalguide deployment {self.names.name}",
            labels=self.names.labels,
        )

    def owned(self, resource: Any) -> dict[str, Any]:
        return {
            "format": int(resource.format_),
            "label": resource.labels.get(LABEL_KEY),
        }

    def read(self, c: CloudClients) -> Any | None:
        return get_or_none(c.artifact_registry.get_repository, name=self.path)

    def create(self, ctx: Context) -> None:
        op = ctx.clients.artifact_registry.create_repository(
            parent=f"projects/{self.project}/locations/{self.region}",
            repository_id=self.name,
            repository=self.desired(),
        )
        wait_operation(op)

    def update(self, ctx: Context, current: Any) -> None:
        if int(current.format_) != int(self.desired().format_):
            super().update(ctx, current)
        repo = artifactregistry_v1.Repository(name=self.path, labels=self.names.labels)
        ctx.clients.artifact_registry.update_repository(
            repository=repo, update_mask={"paths": ["labels"]}
        )

    def delete(self, ctx: Context) -> None:
        op = ctx.clients.artifact_registry.delete_repository(name=self.path)
        wait_operation(op)


TAKEN = "taken by another project"


class BuildBucket(Resource):
    """Bucket names are one global namespace: a name another project holds answers 403
    (the caller may not see that bucket), which reads as TAKEN."""

    kind = "bucket"
    rank = 1

    def read(self, c: CloudClients) -> Any | None:
        try:
            return get_or_none(c.storage.get_bucket, self.name)
        except gexc.Forbidden as exc:
            if api_disabled(exc):
                return None
            return TAKEN

    def present(self, current: Any) -> bool:
        return current is not None and current is not TAKEN

    def same(self, current: Any) -> bool:
        if current is TAKEN:
            raise CloudError(
                f"The bucket name {self.name} is taken by another project.",
                hint="Deploy with another --name.",
            )
        return (current.labels or {}).get(LABEL_KEY) == self.names.name

    def create(self, ctx: Context) -> None:
        bucket = ctx.clients.storage.bucket(self.name)
        bucket.labels = self.names.labels
        bucket.iam_configuration.uniform_bucket_level_access_enabled = True
        try:
            ctx.clients.storage.create_bucket(bucket, location=self.region or "US")
        except gexc.Conflict:
            if self.read(ctx.clients) is None:  # the name is taken by someone else's bucket
                raise CloudError(
                    f"The bucket name {self.name} is taken in another project.",
                    hint="Deploy with another --name.",
                ) from None

    def update(self, ctx: Context, current: Any) -> None:
        current.labels = {**(current.labels or {}), **self.names.labels}
        current.patch()

    def delete(self, ctx: Context) -> None:
        bucket = ctx.clients.storage.bucket(self.name)
        for blob in ctx.clients.storage.list_blobs(self.name):
            try:
                blob.delete()
            except gexc.NotFound:
                pass
        try:
            bucket.delete()
        except gexc.NotFound:
            pass


class Image(Resource):
    """The service image, tagged with the hash of its source; built only when missing."""

    kind = "image"
    rank = 2

    def __init__(self, names: Names, repo_region: str, context: Any) -> None:
        super().__init__(names, f"{IMAGE_NAME}:{context.tag}", repo_region)
        self.context = context
        self.uri = names.image(repo_region, context.tag)
        self.service_account = f"projects/{names.project}/serviceAccounts/{names.build_account}"

    @property
    def package_path(self) -> str:
        return (
            f"projects/{self.project}/locations/{self.region}/repositories/"
            f"{self.names.repository}/packages/{IMAGE_NAME}"
        )

    def read(self, c: CloudClients) -> Any | None:
        return get_or_none(
            c.artifact_registry.get_tag, name=f"{self.package_path}/tags/{self.context.tag}"
        )

    def same(self, current: Any) -> bool:
        return True  # a tag is content-addressed: if it exists, it is this source

    def create(self, ctx: Context) -> None:
        c = ctx.clients
        object_name = f"source/{self.context.tag}.tar.gz"
        blob = c.storage.bucket(self.names.bucket).blob(object_name)
        if not blob.exists():
            blob.upload_from_string(self.context.data, content_type="application/gzip")
        build = cloudbuild_v1.Build(
            source=cloudbuild_v1.Source(
                storage_source=cloudbuild_v1.StorageSource(
                    bucket=self.names.bucket, object_=object_name
                )
            ),
            steps=[
                cloudbuild_v1.BuildStep(
                    name="gcr.io/cloud-builders/docker", args=["build", "-t", self.uri, "."]
                )
            ],
            images=[self.uri],
            tags=[LABEL_KEY, self.names.name],
            timeout=duration_pb2.Duration(seconds=int(BUILD_TIMEOUT_S)),
            service_account=self.service_account,
            # A build with its own service account must choose where its logs go: a folder
            # of the build bucket, and only there, so a failed build's log can be read back.
            logs_bucket=self.names.build_logs,
            options=cloudbuild_v1.BuildOptions(
                logging=cloudbuild_v1.BuildOptions.LoggingMode.GCS_ONLY
            ),
        )
        op = c.cloud_build.create_build(project_id=self.project, build=build)
        try:
            result = op.result(timeout=BUILD_TIMEOUT_S, polling=poll_policy(BUILD_TIMEOUT_S))
        except gexc.GoogleAPICallError as exc:
            # A failed build ends its operation in error; the build itself, in the
            # operation's metadata, says whether the source failed or the service did.
            failed = _build_of(op)
            if failed is not None and failed.status in _SOURCE_FAILURES:
                raise build_failed(failed, log_tail(c.storage, failed)) from None
            raise OperationFailed(exc) from exc
        if result.status != cloudbuild_v1.Build.Status.SUCCESS:
            raise build_failed(result, log_tail(c.storage, result))

    def delete(self, ctx: Context) -> None:
        try:
            op = ctx.clients.artifact_registry.delete_package(name=self.package_path)
            wait_operation(op)
        except gexc.NotFound:
            pass


_SOURCE_FAILURES = (
    cloudbuild_v1.Build.Status.FAILURE,
    cloudbuild_v1.Build.Status.TIMEOUT,
    cloudbuild_v1.Build.Status.CANCELLED,
)


def _build_of(op: Any) -> Any | None:
    """The build an operation's metadata carries (BuildOperationMetadata.build), if any."""
    try:
        metadata = op.metadata
    except Exception:  # noqa: BLE001 - metadata that cannot be parsed tells nothing
        return None
    build = getattr(metadata, "build", None)
    return build if build is not None and build.id else None


def build_failed(build: Any, log_lines: list[str]) -> CloudError:
    """What failed in a build, as one message; as the hint, the log URL and the last lines
    of the build log (read from the build bucket). Running it again gives the same result,
    so it is not retried."""
    detail = build.failure_info.detail or build.status_detail or "no detail"
    where = ""
    failed_steps = [
        (i, s.name)
        for i, s in enumerate(build.steps)
        if s.status == cloudbuild_v1.Build.Status.FAILURE
    ]
    if failed_steps:
        index, name = failed_steps[0]
        where = f" at step {index} ({name})"
    hint = [f"Read the build log: {build.log_url}"] if build.log_url else []
    if log_lines:
        hint += ["The build log ends:", *(f"  {line}" for line in log_lines)]
    return CloudError(
        f"The image build {build.id} ended {build.status.name}{where}: {detail}",
        hint="\n".join(hint) or None,
    )
