"""What the Cloud Run tests build their services from: a published image, a Service."""

from __future__ import annotations

from google.cloud import artifactregistry_v1 as ar
from google.cloud import run_v2

from tests.emulator.fakes import simple_context

REGION = "us-central1"
Ingress = run_v2.IngressTraffic
State = run_v2.Condition.State
LATEST = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST


def publish(clients, emu, project, tag="v1", marker="hello") -> str:
    """An emulator-built image recorded in Artifact Registry; returns its URI."""
    repo = f"projects/{project}/locations/{REGION}/repositories/images"
    if emu.artifactregistry.repository(repo) is None:
        clients.artifact_registry.create_repository(
            parent=f"projects/{project}/locations/{REGION}",
            repository_id="images",
            repository=ar.Repository(format_=ar.Repository.Format.DOCKER),
        ).result(timeout=30)
    image = emu.images.build(simple_context(marker))
    emu.artifactregistry.record_image(repo, "app", tag, image.digest, image.size_bytes)
    return f"{REGION}-docker.pkg.dev/{project}/images/app:{tag}"


def service_with(image: str, **fields) -> run_v2.Service:
    env = fields.pop("env", {"SERVICE_REGION": REGION})
    container = run_v2.Container(
        image=image, env=[run_v2.EnvVar(name=k, value=v) for k, v in env.items()]
    )
    for key in ("resources", "ports"):
        if key in fields:
            setattr(container, key, fields.pop(key))
    template = run_v2.RevisionTemplate(containers=[container], **fields.pop("template", {}))
    return run_v2.Service(template=template, **fields)


def parent_of(project: str, region: str = REGION) -> str:
    return f"projects/{project}/locations/{region}"


def create_service(clients, project, service: run_v2.Service, service_id="guide"):
    return clients.run_services.create_service(
        parent=parent_of(project), service=service, service_id=service_id
    )
