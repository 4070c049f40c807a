"""The Cloud Run service in each region."""

from __future__ import annotations

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
    get_or_none,
    wait_operation,
)


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
