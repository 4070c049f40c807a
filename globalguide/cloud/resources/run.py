"""The Cloud Run service in each region."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import run_v2
from google.protobuf import duration_pb2

from globalguide.cloud.clients import CloudClients
from globalguide.cloud.names import (
    LABEL_KEY,
    Names,
)
from globalguide.cloud.resources.base import (
    Context,
    Resource,
    Unhealthy,
    get_or_none,
    wait_operation,
)

# A template annotation whose new value makes Cloud Run create a new revision without
# changing anything the service does ("any configuration change leads to the creation of a
# new revision": https://cloud.google.com/run/docs/resource-model#revisions).
ROLLOUT_ANNOTATION = "globalguide.dev/rollout"
# The traffic tag of the revision `globalguide drill` sends a region's traffic to.
DRILL_TAG = "drill"


@dataclass(frozen=True)
class ServiceSettings:
    image: str
    model: str
    vertex_location: str
    min_instances: int
    max_instances: int
    concurrency: int
    env_extra: dict[str, str] = field(default_factory=dict)  # the user's --env
    port: int = 8080
    cpu: str = "1"
    memory: str = "512Mi"


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
            **self.settings.env_extra,
            "SERVICE_REGION": self.region or "",
            "GOOGLE_CLOUD_PROJECT": self.project,
            "VERTEX_LOCATION": self.settings.vertex_location,
            "GEMINI_MODEL": self.settings.model,
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
                        ports=[run_v2.ContainerPort(container_port=s.port)],
                        resources=run_v2.ResourceRequirements(
                            limits={"cpu": s.cpu, "memory": s.memory},
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
            "port": container.ports[0].container_port if container.ports else None,
            "env": {e.name: e.value for e in container.env},
            "limits": dict(container.resources.limits),
            "cpu_idle": bool(container.resources.cpu_idle),
            "boost": bool(container.resources.startup_cpu_boost),
        }

    def read(self, c: CloudClients) -> Any | None:
        return get_or_none(c.run_services.get_service, name=self.path)

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

    def problem(self, current: Any) -> str | None:
        """Why the service exists but cannot serve: Ready is False, or its latest revision
        never became ready. None while healthy or still reconciling."""
        if current.reconciling:
            return None
        condition = current.terminal_condition
        if condition.state != run_v2.Condition.State.CONDITION_SUCCEEDED:
            message = (condition.message or "no reason given").splitlines()[0][:200]
            return f"Ready is not True: {message}"
        latest = current.latest_created_revision.rsplit("/", 1)[-1]
        if latest and current.latest_ready_revision.rsplit("/", 1)[-1] != latest:
            return f"latest revision {latest} is not ready"
        return None

    def repair(self, ctx: Context, current: Any) -> None:
        """A new revision of the desired template (Cloud Run keeps serving the last ready
        revision, if any, until the new one is Ready)."""
        service = self.desired()
        service.name = self.path
        service.template.annotations[ROLLOUT_ANNOTATION] = uuid.uuid4().hex[:12]
        op = ctx.clients.run_services.update_service(service=service)
        wait_operation(op)

    def verify(self, ctx: Context) -> None:
        """After a create, update or repair: the service must be Ready on its latest revision."""
        current = self.read(ctx.clients)
        if current is None:
            raise Unhealthy(f"{self.key} is missing after its operation finished")
        reason = self.problem(current) or ("still reconciling" if current.reconciling else None)
        if reason:
            raise Unhealthy(f"{self.key}: {reason}")

    def delete(self, ctx: Context) -> None:
        try:
            op = ctx.clients.run_services.delete_service(name=self.path)
            wait_operation(op)
        except gexc.NotFound:
            pass

    def summary(self, current: Any) -> dict[str, Any]:
        ready = current.terminal_condition.state == run_v2.Condition.State.CONDITION_SUCCEEDED
        revision = current.latest_ready_revision.rsplit("/", 1)[-1]
        out = {"uri": current.uri, "ready": ready, "revision": revision}
        reason = self.problem(current)
        if reason:
            out["ready"] = False
            out["reason"] = reason
        drill = [t.revision for t in current.traffic if t.tag == DRILL_TAG and t.percent]
        if drill:
            out["drill"] = drill[0]
        return out
