"""One small class per resource kind: its desired state, and how to read, compare, create,
update and delete it.

``read`` returns the current resource or None. ``owned`` reduces a resource (desired or
current) to the fields globalguide manages, so "same" vs "changed" is a plain comparison
and fields the cloud fills in never look like drift. Each mutating method waits for its
operation; the executor retries a whole step, re-reading first, so every method may run
again after a transient failure.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from google.api_core import exceptions as gexc
from google.cloud import artifactregistry_v1, compute_v1, run_v2, service_usage_v1
from google.cloud.devtools import cloudbuild_v1
from google.protobuf import duration_pb2

from globalguide.cloud.clients import CloudClients
from globalguide.cloud.names import (
    GEO_HEADER,
    GEO_HEADER_VALUE,
    IMAGE_NAME,
    LABEL_KEY,
    REQUIRED_APIS,
    RUNTIME_ROLES,
    Names,
)
from globalguide.errors import CloudError

OPERATION_TIMEOUT_S = 600.0
BUILD_TIMEOUT_S = 1200.0
_LINK_PREFIX = re.compile(r"^https?://[^/]+/compute/(v1|beta|alpha)/")


def short_link(link: str) -> str:
    """``projects/...`` form of a compute reference, whatever form the API returned."""
    return _LINK_PREFIX.sub("", link or "")


def _to_dict(message: Any) -> dict[str, Any]:
    return type(message).to_dict(message, preserving_proto_field_name=True)


def api_disabled(exc: BaseException) -> bool:
    """A 403 that says the API is not enabled in the project (SERVICE_DISABLED)."""
    if not isinstance(exc, gexc.Forbidden | gexc.PermissionDenied):
        return False
    text = str(exc)
    return "SERVICE_DISABLED" in text or "has not been used in project" in text


def _get_or_none(call: Any, *args: Any, **kwargs: Any) -> Any:
    """The resource, or None when it does not exist (or its API is not enabled yet)."""
    try:
        return call(*args, **kwargs)
    except gexc.NotFound:
        return None
    except (gexc.Forbidden, gexc.PermissionDenied) as exc:
        if api_disabled(exc):
            return None
        raise


@dataclass
class Context:
    """What steps share while a plan runs: clients and the per-step idempotency key."""

    clients: CloudClients
    request_id: str | None = None


class Resource(ABC):
    """A managed resource. ``rank`` orders kinds: a kind may only reference lower ranks."""

    kind: ClassVar[str]
    rank: ClassVar[int]
    deletable: ClassVar[bool] = True

    def __init__(self, names: Names, name: str, region: str | None = None) -> None:
        self.names = names
        self.name = name
        self.region = region
        self.depends_on: list[str] = []

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.region or 'global'}/{self.name}"

    @property
    def project(self) -> str:
        return self.names.project

    def row(self, action: str) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "region": self.region, "action": action}

    @abstractmethod
    def read(self, c: CloudClients) -> Any | None: ...

    def desired_owned(self) -> dict[str, Any]:
        return self.owned(self.desired())

    def desired(self) -> Any:
        raise NotImplementedError

    def owned(self, resource: Any) -> dict[str, Any]:
        return {}

    def same(self, current: Any) -> bool:
        return self.owned(current) == self.desired_owned()

    @abstractmethod
    def create(self, ctx: Context) -> None: ...

    def update(self, ctx: Context, current: Any) -> None:
        raise CloudError(
            f"The {self.kind} {self.name} differs from what globalguide would create and cannot "
            "be changed in place.",
            hint="Run `globalguide teardown`, then deploy again.",
        )

    def delete(self, ctx: Context) -> None:
        raise NotImplementedError

    def summary(self, current: Any) -> dict[str, Any]:
        """A few fields `status` shows for this resource."""
        return {}


class OperationFailed(Exception):
    """An operation was accepted and then ended in error: a retry needs a new requestId."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _polling(timeout: float) -> Any:
    """Poll an operation every 50 ms at first, backing off to 1 s: the library's default
    starts at 1 s and grows to 20 s, which adds seconds to every step of a dependency
    chain to save a few GETs."""
    from google.api_core import retry
    from google.api_core.future import polling

    return retry.Retry(
        predicate=retry.if_exception_type(polling._OperationNotComplete),
        initial=0.05,
        maximum=1.0,
        multiplier=1.3,
        timeout=timeout,
    )


def wait_operation(op: Any, timeout: float = OPERATION_TIMEOUT_S) -> Any:
    try:
        return op.result(timeout=timeout, polling=_polling(timeout))
    except gexc.GoogleAPICallError as exc:
        raise OperationFailed(exc) from exc


_wait_compute = wait_operation


# --------------------------------------------------------------------------- APIs


class EnabledApis(Resource):
    kind = "apis"
    rank = 0
    deletable = False  # teardown never disables APIs: other things in the project use them.

    def __init__(self, names: Names) -> None:
        super().__init__(names, "required-apis")

    def read(self, c: CloudClients) -> list[str]:
        response = c.service_usage.batch_get_services(
            service_usage_v1.BatchGetServicesRequest(
                parent=f"projects/{self.project}",
                names=[f"projects/{self.project}/services/{s}" for s in REQUIRED_APIS],
            )
        )
        enabled = service_usage_v1.State.ENABLED
        return sorted(s.config.name for s in response.services if s.state == enabled)

    def same(self, current: Any) -> bool:
        return set(REQUIRED_APIS) <= set(current or [])

    def create(self, ctx: Context) -> None:
        missing = sorted(set(REQUIRED_APIS) - set(self.read(ctx.clients)))
        if not missing:
            return
        op = ctx.clients.service_usage.batch_enable_services(
            service_usage_v1.BatchEnableServicesRequest(
                parent=f"projects/{self.project}", service_ids=missing
            )
        )
        wait_operation(op)

    def update(self, ctx: Context, current: Any) -> None:
        self.create(ctx)

    def summary(self, current: Any) -> dict[str, Any]:
        return {"enabled": len(current or [])}


# ------------------------------------------------------------------ identity


class RuntimeAccount(Resource):
    """The Cloud Run services' own service account, instead of the default compute
    account (which holds Editor on the project)."""

    kind = "service-account"
    rank = 1

    def __init__(self, names: Names) -> None:
        super().__init__(names, names.runtime_account_id)

    @property
    def email(self) -> str:
        return self.names.runtime_account

    def desired(self) -> dict[str, Any]:
        return {"email": self.email}

    def read(self, c: CloudClients) -> Any | None:
        return _get_or_none(c.service_accounts.get, self.project, self.email)

    def same(self, current: Any) -> bool:
        return True  # nothing on the account itself is managed beyond its existence

    def create(self, ctx: Context) -> None:
        try:
            ctx.clients.service_accounts.create(
                self.project,
                self.name,
                display_name=f"globalguide {self.names.name} runtime",
                description=f"Identity of the Cloud Run services of the globalguide "
                f"deployment {self.names.name}.",
            )
        except gexc.Conflict:
            pass  # created by an earlier attempt whose answer was lost

    def delete(self, ctx: Context) -> None:
        try:
            ctx.clients.service_accounts.delete(self.project, self.email)
        except gexc.NotFound:
            pass


class RuntimeRoles(Resource):
    """The runtime account's roles on the project: only RUNTIME_ROLES. The project policy
    is shared with everyone else's bindings, so it is changed by read-modify-write with
    the policy's etag: members are only added or removed for this account, and a
    concurrent change (409 ABORTED) means read again and redo the change."""

    kind = "iam-binding"
    rank = 2
    RMW_ATTEMPTS = 5

    def __init__(self, names: Names) -> None:
        super().__init__(names, "runtime-roles")

    @property
    def member(self) -> str:
        return f"serviceAccount:{self.names.runtime_account}"

    def _policy(self, c: CloudClients) -> Any:
        return c.projects.get_iam_policy(
            request={
                "resource": f"projects/{self.project}",
                "options": {"requested_policy_version": 3},
            }
        )

    def _ours(self, member: str) -> bool:
        return member == self.member or member.startswith(f"deleted:{self.member}?uid=")

    def read(self, c: CloudClients) -> list[str] | None:
        policy = _get_or_none(self._policy, c)
        if policy is None:
            return None
        held = sorted(
            {
                b.role
                for b in policy.bindings
                if b.role in RUNTIME_ROLES
                and not b.condition.expression
                and any(self._ours(m) for m in b.members)
            }
        )
        return held or None

    def desired(self) -> list[str]:
        return sorted(RUNTIME_ROLES)

    def same(self, current: Any) -> bool:
        return sorted(current or []) == self.desired()

    def _modify(self, ctx: Context, change: Any) -> None:
        """Read the policy, apply ``change`` to it, write it back with its etag; again on
        a concurrent change."""
        for attempt in range(self.RMW_ATTEMPTS):
            policy = self._policy(ctx.clients)
            if not change(policy):
                return
            try:
                ctx.clients.projects.set_iam_policy(
                    request={"resource": f"projects/{self.project}", "policy": policy}
                )
                return
            except (gexc.Aborted, gexc.Conflict):  # HTTP 409, status ABORTED
                if attempt == self.RMW_ATTEMPTS - 1:
                    raise

    def create(self, ctx: Context) -> None:
        def add(policy: Any) -> bool:
            changed = False
            for role in RUNTIME_ROLES:
                binding = next(
                    (b for b in policy.bindings if b.role == role and not b.condition.expression),
                    None,
                )
                if binding is None:
                    binding = policy.bindings.add(role=role)
                if self.member not in binding.members:
                    binding.members.append(self.member)
                    changed = True
            if changed and policy.version < 1:
                policy.version = 1
            return changed

        self._modify(ctx, add)

    def update(self, ctx: Context, current: Any) -> None:
        self.create(ctx)

    def delete(self, ctx: Context) -> None:
        def remove(policy: Any) -> bool:
            changed = False
            for binding in list(policy.bindings):
                members = [m for m in binding.members if not self._ours(m)]
                if len(members) == len(binding.members):
                    continue
                changed = True
                if members:
                    del binding.members[:]
                    binding.members.extend(members)
                else:
                    policy.bindings.remove(binding)
            return changed

        self._modify(ctx, remove)

    def summary(self, current: Any) -> dict[str, Any]:
        return {"roles": ", ".join(current or [])}


# ------------------------------------------------------------- artifacts and build


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
        return _get_or_none(c.artifact_registry.get_repository, name=self.path)

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
        return _get_or_none(c.storage.get_bucket, self.name)

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
        return _get_or_none(
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


# ------------------------------------------------------------------- Cloud Run


@dataclass(frozen=True)
class ServiceSettings:
    image: str
    model: str
    vertex_location: str
    min_instances: int
    max_instances: int
    concurrency: int
    env_extra: dict[str, str] = field(default_factory=dict)


class RunService(Resource):
    kind = "run-service"
    rank = 3

    def __init__(self, names: Names, region: str, settings: ServiceSettings) -> None:
        super().__init__(names, names.service, region)
        self.settings = settings

    @property
    def path(self) -> str:
        return f"projects/{self.project}/locations/{self.region}/services/{self.name}"

    def env(self) -> dict[str, str]:
        return {
            "SERVICE_REGION": self.region or "",
            "GOOGLE_CLOUD_PROJECT": self.project,
            "VERTEX_LOCATION": self.settings.vertex_location,
            "GEMINI_MODEL": self.settings.model,
            **self.settings.env_extra,
        }

    def desired(self) -> run_v2.Service:
        s = self.settings
        return run_v2.Service(
            labels=self.names.labels,
            # Only the load balancer reaches the service, so no client can forge the geo
            # header; with that, the invoker IAM check adds nothing but an allUsers binding
            # that organisation policies often forbid (docs/security.md).
            ingress=run_v2.IngressTraffic.INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER,
            invoker_iam_disabled=True,
            template=run_v2.RevisionTemplate(
                labels=self.names.labels,
                scaling=run_v2.RevisionScaling(
                    min_instance_count=s.min_instances, max_instance_count=s.max_instances
                ),
                max_instance_request_concurrency=s.concurrency,
                timeout=duration_pb2.Duration(seconds=60),
                service_account=self.names.runtime_account,
                containers=[
                    run_v2.Container(
                        image=s.image,
                        env=[run_v2.EnvVar(name=k, value=v) for k, v in sorted(self.env().items())],
                        ports=[run_v2.ContainerPort(container_port=8080)],
                        resources=run_v2.ResourceRequirements(
                            limits={"cpu": "1", "memory": "512Mi"},
                            cpu_idle=True,
                            startup_cpu_boost=True,
                        ),
                    )
                ],
            ),
        )

    def owned(self, resource: Any) -> dict[str, Any]:
        template = resource.template
        container = template.containers[0] if template.containers else run_v2.Container()
        return {
            "label": resource.labels.get(LABEL_KEY),
            "ingress": int(resource.ingress),
            "invoker_iam_disabled": bool(resource.invoker_iam_disabled),
            "min": template.scaling.min_instance_count,
            "max": template.scaling.max_instance_count,
            "concurrency": template.max_instance_request_concurrency,
            "account": template.service_account,
            "image": container.image,
            "env": {e.name: e.value for e in container.env},
            "limits": dict(container.resources.limits),
            "cpu_idle": bool(container.resources.cpu_idle),
            "boost": bool(container.resources.startup_cpu_boost),
        }

    def read(self, c: CloudClients) -> Any | None:
        return _get_or_none(c.run_services.get_service, name=self.path)

    def create(self, ctx: Context) -> None:
        op = ctx.clients.run_services.create_service(
            parent=f"projects/{self.project}/locations/{self.region}",
            service=self.desired(),
            service_id=self.name,
        )
        wait_operation(op)

    def update(self, ctx: Context, current: Any) -> None:
        service = self.desired()
        service.name = self.path
        op = ctx.clients.run_services.update_service(service=service)
        wait_operation(op)

    def delete(self, ctx: Context) -> None:
        try:
            op = ctx.clients.run_services.delete_service(name=self.path)
            wait_operation(op)
        except gexc.NotFound:
            pass

    def summary(self, current: Any) -> dict[str, Any]:
        ready = current.terminal_condition.state == run_v2.Condition.State.CONDITION_SUCCEEDED
        revision = current.latest_ready_revision.rsplit("/", 1)[-1]
        return {"uri": current.uri, "ready": ready, "revision": revision}


# ----------------------------------------------------------------- load balancer


class _Compute(Resource):
    """Compute resources: reads and deletes through one client, inserts with a requestId."""

    client_attr: ClassVar[str]
    resource_field: ClassVar[str]
    request_name_field: ClassVar[str]

    def client(self, c: CloudClients) -> Any:
        return getattr(c, self.client_attr)

    def scope(self) -> dict[str, str]:
        scope = {"project": self.project}
        if self.region:
            scope["region"] = self.region
        return scope

    def read(self, c: CloudClients) -> Any | None:
        return _get_or_none(
            self.client(c).get, **self.scope(), **{self.request_name_field: self.name}
        )

    def create(self, ctx: Context) -> None:
        resource = self.desired()
        resource.name = self.name
        op = self.client(ctx.clients).insert(
            request={
                **self.scope(),
                self.resource_field: resource,
                "request_id": ctx.request_id,
            }
        )
        _wait_compute(op)

    def replace(self, ctx: Context, current: Any) -> None:
        """Update in place with the desired resource; the current fingerprint proves no one
        changed it since it was read (a stale one is a 412, and the step re-reads)."""
        resource = self.desired()
        resource.name = self.name
        resource.fingerprint = current.fingerprint
        op = self.client(ctx.clients).update(
            request={
                **self.scope(),
                self.request_name_field: self.name,
                self.resource_field: resource,
                "request_id": ctx.request_id,
            }
        )
        _wait_compute(op)

    def delete(self, ctx: Context) -> None:
        try:
            op = self.client(ctx.clients).delete(
                request={
                    **self.scope(),
                    self.request_name_field: self.name,
                    "request_id": ctx.request_id,
                }
            )
            _wait_compute(op)
        except gexc.NotFound:
            pass


class GlobalAddress(_Compute):
    kind = "address"
    rank = 1
    client_attr = "global_addresses"
    resource_field = "address_resource"
    request_name_field = "address"

    def desired(self) -> compute_v1.Address:
        return compute_v1.Address(
            ip_version="IPV4", address_type="EXTERNAL", labels=self.names.labels
        )

    def owned(self, resource: Any) -> dict[str, Any]:
        return {
            "ip_version": resource.ip_version or "IPV4",
            "type": resource.address_type or "EXTERNAL",
            "label": resource.labels.get(LABEL_KEY),
        }

    def update(self, ctx: Context, current: Any) -> None:
        if self.owned(current)["label"] == self.names.name:  # only labels can change in place
            super().update(ctx, current)
        op = ctx.clients.global_addresses.set_labels(
            project=self.project,
            resource=self.name,
            global_set_labels_request_resource=compute_v1.GlobalSetLabelsRequest(
                labels={**current.labels, **self.names.labels},
                label_fingerprint=current.label_fingerprint,
            ),
        )
        wait_operation(op)

    def summary(self, current: Any) -> dict[str, Any]:
        return {"address": current.address, "status": current.status}


class ServerlessNeg(_Compute):
    kind = "neg"
    rank = 1  # may exist before its Cloud Run service
    client_attr = "region_negs"
    resource_field = "network_endpoint_group_resource"
    request_name_field = "network_endpoint_group"

    def desired(self) -> compute_v1.NetworkEndpointGroup:
        return compute_v1.NetworkEndpointGroup(
            network_endpoint_type="SERVERLESS",
            cloud_run=compute_v1.NetworkEndpointGroupCloudRun(service=self.names.service),
        )

    def owned(self, resource: Any) -> dict[str, Any]:
        return {"type": resource.network_endpoint_type, "service": resource.cloud_run.service}


class BackendService(_Compute):
    kind = "backend-service"
    rank = 2
    client_attr = "backend_services"
    resource_field = "backend_service_resource"
    request_name_field = "backend_service"

    def __init__(self, names: Names, regions: tuple[str, ...]) -> None:
        super().__init__(names, names.backend_service)
        self.regions = regions

    def desired(self) -> compute_v1.BackendService:
        return compute_v1.BackendService(
            load_balancing_scheme="EXTERNAL_MANAGED",
            protocol="HTTPS",
            timeout_sec=60,
            backends=[
                compute_v1.Backend(
                    group=self.names.region_link(r, "networkEndpointGroups", self.names.neg)
                )
                for r in sorted(self.regions)
            ],
            custom_request_headers=[f"{GEO_HEADER}:{GEO_HEADER_VALUE}"],
            # A region whose service keeps failing is ejected and its clients go to the
            # next nearest region (no health checks exist for serverless backends).
            outlier_detection=compute_v1.OutlierDetection(
                consecutive_errors=5,
                enforcing_consecutive_errors=100,
                consecutive_gateway_failure=3,
                enforcing_consecutive_gateway_failure=100,
                interval=compute_v1.Duration(seconds=5),
                base_ejection_time=compute_v1.Duration(seconds=30),
                max_ejection_percent=50,
            ),
            log_config=compute_v1.BackendServiceLogConfig(enable=True, sample_rate=1.0),
        )

    def owned(self, resource: Any) -> dict[str, Any]:
        od = resource.outlier_detection
        return {
            "scheme": resource.load_balancing_scheme,
            "protocol": resource.protocol,
            "timeout": resource.timeout_sec,
            "groups": sorted(short_link(b.group) for b in resource.backends),
            "headers": list(resource.custom_request_headers),
            "outlier": [
                od.consecutive_errors,
                od.enforcing_consecutive_errors,
                od.consecutive_gateway_failure,
                od.enforcing_consecutive_gateway_failure,
                od.interval.seconds,
                od.base_ejection_time.seconds,
                od.max_ejection_percent,
            ],
            "log": bool(resource.log_config.enable),
        }

    def update(self, ctx: Context, current: Any) -> None:
        self.replace(ctx, current)


class UrlMap(_Compute):
    kind = "url-map"
    rank = 3
    client_attr = "url_maps"
    resource_field = "url_map_resource"
    request_name_field = "url_map"

    def desired(self) -> compute_v1.UrlMap:
        return compute_v1.UrlMap(
            default_service=self.names.global_link("backendServices", self.names.backend_service),
            # The URL map decides the geo header: any value a client sent is removed, and the
            # load balancer's own replaces it (gcp-facts §2: the URL map wins).
            header_action=compute_v1.HttpHeaderAction(
                request_headers_to_remove=[GEO_HEADER],
                request_headers_to_add=[
                    compute_v1.HttpHeaderOption(
                        header_name=GEO_HEADER, header_value=GEO_HEADER_VALUE, replace=True
                    )
                ],
            ),
        )

    def owned(self, resource: Any) -> dict[str, Any]:
        action = resource.header_action
        return {
            "service": short_link(resource.default_service),
            "remove": list(action.request_headers_to_remove),
            "add": [
                (h.header_name, h.header_value, h.replace) for h in action.request_headers_to_add
            ],
        }

    def update(self, ctx: Context, current: Any) -> None:
        self.replace(ctx, current)


class RedirectUrlMap(UrlMap):
    """With --domain, plain HTTP answers with a redirect to HTTPS."""

    kind = "url-map"

    def desired(self) -> compute_v1.UrlMap:
        return compute_v1.UrlMap(
            default_url_redirect=compute_v1.HttpRedirectAction(
                https_redirect=True,
                redirect_response_code="MOVED_PERMANENTLY_DEFAULT",
                strip_query=False,
            )
        )

    def owned(self, resource: Any) -> dict[str, Any]:
        redirect = resource.default_url_redirect
        return {"https": bool(redirect.https_redirect), "code": redirect.redirect_response_code}


class TargetHttpProxy(_Compute):
    kind = "http-proxy"
    rank = 4
    client_attr = "target_http_proxies"
    resource_field = "target_http_proxy_resource"
    request_name_field = "target_http_proxy"

    def __init__(self, names: Names, url_map: str) -> None:
        super().__init__(names, names.http_proxy)
        self.url_map = url_map

    def desired(self) -> compute_v1.TargetHttpProxy:
        return compute_v1.TargetHttpProxy(url_map=self.names.global_link("urlMaps", self.url_map))

    def owned(self, resource: Any) -> dict[str, Any]:
        return {"url_map": short_link(resource.url_map)}

    def update(self, ctx: Context, current: Any) -> None:
        _wait_compute(
            ctx.clients.target_http_proxies.set_url_map(
                request={
                    "project": self.project,
                    "target_http_proxy": self.name,
                    "url_map_reference_resource": compute_v1.UrlMapReference(
                        url_map=self.desired().url_map
                    ),
                    "request_id": ctx.request_id,
                }
            )
        )


class ManagedCertificate(_Compute):
    kind = "certificate"
    rank = 1
    client_attr = "ssl_certificates"
    resource_field = "ssl_certificate_resource"
    request_name_field = "ssl_certificate"

    def __init__(self, names: Names, domain: str) -> None:
        super().__init__(names, names.certificate)
        self.domain = domain

    def desired(self) -> compute_v1.SslCertificate:
        return compute_v1.SslCertificate(
            type_="MANAGED",
            managed=compute_v1.SslCertificateManagedSslCertificate(domains=[self.domain]),
        )

    def owned(self, resource: Any) -> dict[str, Any]:
        return {"type": resource.type_, "domains": sorted(resource.managed.domains)}

    def summary(self, current: Any) -> dict[str, Any]:
        return {"status": current.managed.status}


class TargetHttpsProxy(_Compute):
    kind = "https-proxy"
    rank = 4
    client_attr = "target_https_proxies"
    resource_field = "target_https_proxy_resource"
    request_name_field = "target_https_proxy"

    def desired(self) -> compute_v1.TargetHttpsProxy:
        return compute_v1.TargetHttpsProxy(
            url_map=self.names.global_link("urlMaps", self.names.url_map),
            ssl_certificates=[self.names.global_link("sslCertificates", self.names.certificate)],
        )

    def owned(self, resource: Any) -> dict[str, Any]:
        return {
            "url_map": short_link(resource.url_map),
            "certs": sorted(short_link(s) for s in resource.ssl_certificates),
        }


class ForwardingRule(_Compute):
    kind = "forwarding-rule"
    rank = 5
    client_attr = "global_forwarding_rules"
    resource_field = "forwarding_rule_resource"
    request_name_field = "forwarding_rule"

    def __init__(self, names: Names, name: str, port: str, target: str) -> None:
        super().__init__(names, name)
        self.port = port
        self.target = target

    def desired(self) -> compute_v1.ForwardingRule:
        return compute_v1.ForwardingRule(
            I_p_address=self.names.global_link("addresses", self.names.address),
            I_p_protocol="TCP",
            port_range=self.port,
            target=self.target,
            load_balancing_scheme="EXTERNAL_MANAGED",
            network_tier="PREMIUM",
            labels=self.names.labels,
        )

    def owned(self, resource: Any) -> dict[str, Any]:
        address = resource.I_p_address
        return {
            # The API answers with the literal IP; the link is what was asked for.
            "address": short_link(address) if "/" in address else None,
            "port": resource.port_range.split("-")[0],
            "target": short_link(resource.target),
            "scheme": resource.load_balancing_scheme,
            "label": resource.labels.get(LABEL_KEY),
        }

    def same(self, current: Any) -> bool:
        want, have = self.desired_owned(), self.owned(current)
        if have["address"] is None:
            want["address"] = None
        return want == have

    def summary(self, current: Any) -> dict[str, Any]:
        return {"address": current.I_p_address, "port": current.port_range}
