"""One factory for every Google Cloud client globalguide uses.

Against Google Cloud the clients use Application Default Credentials and the real
endpoints. Against the emulator (``endpoint`` given, or ``GLOBALGUIDE_EMULATOR`` set) they
use the same client classes with the REST transport, ``api_endpoint`` pointed at the
emulator and a static-token credential holding the emulator's session token (see
``globalguide.emulator.session``). What else differs between the two (waits, how the load
balancer is read, the emulator's test controls) is :attr:`CloudClients.target`
(:mod:`globalguide.cloud.targets`); nothing else in the code base knows the difference.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from globalguide.cloud.targets import Target

EMULATOR_ENV = "GLOBALGUIDE_EMULATOR"


def emulator_endpoint_from_env() -> str | None:
    value = os.environ.get(EMULATOR_ENV, "").strip()
    return value or None


class CloudClients:
    """Lazily built clients; each is created once and shared by every thread."""

    def __init__(
        self,
        project: str,
        *,
        endpoint: str | None = None,
        credentials: Any = None,
        token: str | None = None,
    ) -> None:
        self.project = project
        self.endpoint = endpoint
        if credentials is None and endpoint is not None:
            credentials = emulator_credentials(endpoint, token)
        self.credentials = credentials

    @property
    def token(self) -> str | None:
        """The emulator's session token, for plain HTTP calls to its test controls."""
        return getattr(self.credentials, "token", None) if self.endpoint is not None else None

    @cached_property
    def target(self) -> Target:
        """Google Cloud or the emulator: everything else that differs between the two."""
        from globalguide.cloud import targets

        return targets.GoogleCloud(self) if self.endpoint is None else targets.Emulator(self)

    def _options(self) -> Any:
        from google.api_core.client_options import ClientOptions

        if self.endpoint is None:
            return None
        return ClientOptions(api_endpoint=self.endpoint)

    def _make(self, cls: Any) -> Any:
        return cls(credentials=self.credentials, transport="rest", client_options=self._options())

    # -- Service Usage, Storage, Artifact Registry, Cloud Build, Cloud Run
    @cached_property
    def service_usage(self) -> Any:
        from google.cloud import service_usage_v1

        return self._make(service_usage_v1.ServiceUsageClient)

    @cached_property
    def storage(self) -> Any:
        from google.cloud import storage

        options = None if self.endpoint is None else {"api_endpoint": self.endpoint}
        return storage.Client(
            project=self.project, credentials=self.credentials, client_options=options
        )

    @cached_property
    def artifact_registry(self) -> Any:
        from google.cloud import artifactregistry_v1

        return self._make(artifactregistry_v1.ArtifactRegistryClient)

    @cached_property
    def cloud_build(self) -> Any:
        from google.cloud.devtools import cloudbuild_v1

        return self._make(cloudbuild_v1.CloudBuildClient)

    @cached_property
    def run_services(self) -> Any:
        from google.cloud import run_v2

        return self._make(run_v2.ServicesClient)

    def gemini(self, location: str) -> Any:
        """A google-genai client for Vertex AI in ``location`` (not shared: one per call)."""
        from google import genai
        from google.genai import types

        base_url = {} if self.endpoint is None else {"base_url": f"{self.endpoint}/"}
        return genai.Client(
            vertexai=True,
            project=self.project,
            location=location,
            credentials=self.credentials,
            http_options=types.HttpOptions(timeout=30_000, **base_url),
        )

    # -- IAM: service accounts, and the project's policy
    @cached_property
    def service_accounts(self) -> Any:
        from globalguide.cloud.iam_rest import ServiceAccounts

        return ServiceAccounts(self.credentials, self.endpoint)

    @cached_property
    def projects(self) -> Any:
        from google.cloud import resourcemanager_v3

        return self._make(resourcemanager_v3.ProjectsClient)

    # -- Compute Engine
    _OPERATION_CLIENTS = ("global_operations", "region_operations", "zone_operations")

    def _compute(self, name: str) -> Any:
        from google.cloud import compute_v1

        client = self._make(getattr(compute_v1, name))
        services = getattr(client._transport, "_extended_operations_services", None)
        if self.endpoint is not None and isinstance(services, dict):
            # compute_v1 polls an operation (``.result()``) with an operations client it
            # builds itself without client_options, i.e. against the real endpoint; it
            # reuses one found in this cache, so give it ours.
            for attr in self._OPERATION_CLIENTS:
                services[attr] = getattr(self, attr)
        return client

    @cached_property
    def global_addresses(self) -> Any:
        return self._compute("GlobalAddressesClient")

    @cached_property
    def region_negs(self) -> Any:
        return self._compute("RegionNetworkEndpointGroupsClient")

    @cached_property
    def network_endpoint_groups(self) -> Any:
        return self._compute("NetworkEndpointGroupsClient")

    @cached_property
    def backend_services(self) -> Any:
        return self._compute("BackendServicesClient")

    @cached_property
    def url_maps(self) -> Any:
        return self._compute("UrlMapsClient")

    @cached_property
    def target_http_proxies(self) -> Any:
        return self._compute("TargetHttpProxiesClient")

    @cached_property
    def target_https_proxies(self) -> Any:
        return self._compute("TargetHttpsProxiesClient")

    @cached_property
    def ssl_certificates(self) -> Any:
        return self._compute("SslCertificatesClient")

    @cached_property
    def global_forwarding_rules(self) -> Any:
        return self._compute("GlobalForwardingRulesClient")

    @cached_property
    def instances(self) -> Any:
        return self._compute("InstancesClient")

    @cached_property
    def global_operations(self) -> Any:
        return self._compute("GlobalOperationsClient")

    @cached_property
    def region_operations(self) -> Any:
        return self._compute("RegionOperationsClient")

    @cached_property
    def zone_operations(self) -> Any:
        return self._compute("ZoneOperationsClient")


def emulator_credentials(endpoint: str, token: str | None = None) -> Any:
    """A static bearer-token credential for the emulator at ``endpoint`` (anonymous when
    its token cannot be found: the emulator then answers 401)."""
    from globalguide.emulator.session import token_for

    token = token or token_for(endpoint)
    if not token:
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    from google.oauth2.credentials import Credentials

    return Credentials(token=token)


def google_cloud_credentials() -> Any:
    """Application Default Credentials, or a UsageError with the one-line fix."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    from globalguide.errors import UsageError

    try:
        credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
    except DefaultCredentialsError:
        raise UsageError(
            "No Google Cloud credentials found.",
            hint="Run `gcloud auth application-default login`, or add --local to use the emulator.",
        ) from None
    return credentials
