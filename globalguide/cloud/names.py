"""Every resource name, derived from the deployment name alone (no local state needed)."""

from __future__ import annotations

from dataclasses import dataclass

LABEL_KEY = "globalguide"
GEO_HEADER = "X-Client-Geo-Location"
GEO_HEADER_VALUE = "{client_city},{client_region_subdivision},{client_region}"
IMAGE_NAME = "service"


REQUIRED_APIS = (
    "run.googleapis.com",
    "compute.googleapis.com",
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "storage.googleapis.com",
    "aiplatform.googleapis.com",
    "iam.googleapis.com",
    "cloudresourcemanager.googleapis.com",
)

# What the services' own identity needs, and no more: calling Gemini, writing logs.
RUNTIME_ROLES = ("roles/aiplatform.user", "roles/logging.logWriter")
# What the image build's identity needs, each on the narrowest resource: read its source
# object and create its log object (both on the build bucket), push the image (on the
# repository). Creating is not replacing: it cannot overwrite the sources.
BUILD_BUCKET_ROLES = ("roles/storage.objectCreator", "roles/storage.objectViewer")
BUILD_PUSH_ROLE = "roles/artifactregistry.writer"
# The project role earlier versions gave the build account, when its log went to Cloud
# Logging: removed wherever it is found.
FORMER_BUILD_PROJECT_ROLES = ("roles/logging.logWriter",)


@dataclass(frozen=True)
class Names:
    name: str
    project: str

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL_KEY: self.name}

    # artifacts and build
    @property
    def repository(self) -> str:
        return self.name

    @property
    def bucket(self) -> str:
        return f"{self.project}-{self.name}-build"

    @property
    def build_logs(self) -> str:
        """Where the image builds write their logs: a folder of the build bucket."""
        return f"gs://{self.bucket}/logs"

    def image(self, repo_region: str, tag: str) -> str:
        return f"{repo_region}-docker.pkg.dev/{self.project}/{self.repository}/{IMAGE_NAME}:{tag}"

    # per region
    @property
    def service(self) -> str:
        return self.name

    @property
    def neg(self) -> str:
        return f"{self.name}-neg"

    @property
    def runtime_account_id(self) -> str:
        """The Cloud Run services' identity (account ids are 6-30 characters)."""
        suffix = "-run" if len(self.name) >= 2 else "-runtime"
        return f"{self.name}{suffix}"

    @property
    def runtime_account(self) -> str:
        return f"{self.runtime_account_id}@{self.project}.iam.gserviceaccount.com"

    @property
    def build_account_id(self) -> str:
        """The image build's identity (account ids are at most 30 characters)."""
        return f"{self.name}-build" if len(self.name) <= 24 else f"{self.name}-bld"

    @property
    def build_account(self) -> str:
        return f"{self.build_account_id}@{self.project}.iam.gserviceaccount.com"

    # the load balancer
    @property
    def address(self) -> str:
        return f"{self.name}-ip"

    @property
    def backend_service(self) -> str:
        return f"{self.name}-backend"

    @property
    def url_map(self) -> str:
        return f"{self.name}-urlmap"

    @property
    def redirect_url_map(self) -> str:
        return f"{self.name}-redirect"

    @property
    def http_proxy(self) -> str:
        return f"{self.name}-http-proxy"

    @property
    def https_proxy(self) -> str:
        return f"{self.name}-https-proxy"

    @property
    def certificate(self) -> str:
        return f"{self.name}-cert"

    @property
    def http_rule(self) -> str:
        return f"{self.name}-http"

    @property
    def https_rule(self) -> str:
        return f"{self.name}-https"

    def global_link(self, collection: str, name: str) -> str:
        return f"projects/{self.project}/global/{collection}/{name}"

    def region_link(self, region: str, collection: str, name: str) -> str:
        return f"projects/{self.project}/regions/{region}/{collection}/{name}"
