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
    Resource,
    get_or_none,
    wait_operation,
)
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


class BuildBucket(Resource):
    kind = "bucket"
    rank = 1

    def read(self, c: CloudClients) -> Any | None:
        return get_or_none(c.storage.get_bucket, self.name)

    def same(self, current: Any) -> bool:
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
        )
        op = c.cloud_build.create_build(project_id=self.project, build=build)
        result = wait_operation(op, BUILD_TIMEOUT_S)
        if result.status != cloudbuild_v1.Build.Status.SUCCESS:
            raise CloudError(
                f"The image build ended {result.status.name}: "
                f"{result.status_detail or 'no detail'}.",
                hint=f"Read the build log: {result.log_url}" if result.log_url else None,
            )

    def delete(self, ctx: Context) -> None:
        try:
            op = ctx.clients.artifact_registry.delete_package(name=self.package_path)
            wait_operation(op)
        except gexc.NotFound:
            pass
