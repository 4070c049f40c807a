"""The v2 API's rules for a Service: ids, namespaces, containers, resources, scaling, schema."""

from __future__ import annotations

import re

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import run_v2
from google.protobuf import duration_pb2

from globalguide.emulator.session import bearer
from tests.emulator.run.support import LATEST, create_service, parent_of, publish, service_with


@pytest.mark.parametrize("service_id", ["Guide", "1guide", "guide-", "gu_ide", "g" * 50, ""])
def test_service_id_rules(enabled, emu, project, dataplane, service_id):
    with pytest.raises(gexc.BadRequest, match="service_id"):
        create_service(enabled, project, service_with("x"), service_id=service_id)


def test_service_id_of_49_characters_is_fine(enabled, emu, project, dataplane):
    image = publish(enabled, emu, project)
    create_service(enabled, project, service_with(image), service_id="g" * 49).result(timeout=10)


@pytest.mark.parametrize(
    "namespace",
    [
        "run.googleapis.com",
        "cloud.googleapis.com",
        "serving.knative.dev",
        "autoscaling.knative.dev",
    ],
)
@pytest.mark.parametrize("kind", ["labels", "annotations"])
def test_reserved_namespaces_are_refused(enabled, project, dataplane, namespace, kind):
    service = service_with("x", **{kind: {f"{namespace}/thing": "v"}})
    with pytest.raises(gexc.BadRequest, match=re.escape(f"{kind}[{namespace}/thing]")):
        create_service(enabled, project, service)


@pytest.mark.parametrize("name", ["PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"])
def test_reserved_env_names_are_refused(enabled, project, dataplane, name):
    with pytest.raises(gexc.BadRequest) as info:
        create_service(enabled, project, service_with("x", env={name: "1"}))
    assert (
        f"template.containers[0].env: The following reserved env names were provided: {name}. "
        "These values are automatically set by the system."
    ) in info.value.message


def test_container_rules(enabled, project, dataplane):
    client = enabled.run_services
    parent = parent_of(project)
    no_containers = run_v2.Service(template=run_v2.RevisionTemplate())
    with pytest.raises(gexc.BadRequest, match="template.containers: required field not present"):
        client.create_service(parent=parent, service=no_containers, service_id="a")
    with pytest.raises(gexc.BadRequest, match=r"containers\[0\].image: required field"):
        client.create_service(parent=parent, service=service_with(""), service_id="a")
    two = run_v2.Service(
        template=run_v2.RevisionTemplate(
            containers=[
                run_v2.Container(name="a", image="x"),
                run_v2.Container(name="b", image="y"),
            ]
        )
    )
    with pytest.raises(gexc.BadRequest, match="exactly one container with an exposed port"):
        client.create_service(parent=parent, service=two, service_id="a")
    ports = [run_v2.ContainerPort(container_port=8080), run_v2.ContainerPort(container_port=9090)]
    with pytest.raises(gexc.BadRequest, match="ports should contain 0 or 1 port."):
        client.create_service(parent=parent, service=service_with("x", ports=ports), service_id="a")
    duplicate = run_v2.Service(
        template=run_v2.RevisionTemplate(
            containers=[
                run_v2.Container(
                    image="x",
                    env=[run_v2.EnvVar(name="A", value="1"), run_v2.EnvVar(name="A", value="2")],
                )
            ]
        )
    )
    with pytest.raises(gexc.BadRequest, match="Duplicate env var names"):
        client.create_service(parent=parent, service=duplicate, service_id="a")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {
                "template": {
                    "scaling": run_v2.RevisionScaling(min_instance_count=3, max_instance_count=2)
                }
            },
            "max_instance_count must be greater than or equal to min_instance_count",
        ),
        ({"scaling": run_v2.ServiceScaling(min_instance_count=-1)}, "must not be negative"),
        ({"template": {"max_instance_request_concurrency": 1001}}, "between 1 and 1000"),
        (
            {"resources": run_v2.ResourceRequirements(limits={"cpu": "3"})},
            "Invalid value specified for cpu",
        ),
        (
            {"resources": run_v2.ResourceRequirements(limits={"cpu": "4", "memory": "1Gi"})},
            "For 4.0 CPU, memory must be between 2Gi and 16Gi inclusive.",
        ),
        (
            {"resources": run_v2.ResourceRequirements(limits={"cpu": "1", "memory": "64Gi"})},
            "memory must be between",
        ),
        (
            {
                "resources": run_v2.ResourceRequirements(limits={"cpu": "500m"}),
                "template": {"max_instance_request_concurrency": 80},
            },
            "Total cpu < 1 is not supported with concurrency > 1.",
        ),
        ({"resources": run_v2.ResourceRequirements(limits={"disk": "1Gi"})}, "unknown resource"),
        ({"description": "d" * 513}, "at most 512 characters"),
        ({"template": {"timeout": duration_pb2.Duration(seconds=3601)}}, "at most 3600 seconds"),
        (
            {"traffic": [run_v2.TrafficTarget(type_=LATEST, percent=50)]},
            "must add up to 100",
        ),
        ({"labels": {"Bad Key": "v"}}, "Invalid"),
    ],
)
def test_resource_and_scaling_rules(enabled, project, dataplane, fields, message):
    with pytest.raises(gexc.BadRequest, match=re.escape(message)):
        create_service(enabled, project, service_with("x", **fields))


def test_fractional_cpu_with_concurrency_one_is_fine(enabled, emu, project, dataplane):
    image = publish(enabled, emu, project)
    service = service_with(
        image,
        resources=run_v2.ResourceRequirements(limits={"cpu": "500m", "memory": "256Mi"}),
        template={"max_instance_request_concurrency": 1},
    )
    assert (
        create_service(enabled, project, service)
        .result(timeout=10)
        .template.max_instance_request_concurrency
        == 1
    )


def test_region_and_schema_are_checked(enabled, emu, project, dataplane):
    with pytest.raises(gexc.BadRequest, match="not a valid Cloud Run region"):
        enabled.run_services.create_service(
            parent=parent_of(project, "moon-central1"), service=service_with("x"), service_id="a"
        )
    response = requests.post(
        f"{emu.base_url}/v2/{parent_of(project)}/services?serviceId=a",
        headers=bearer(emu.base_url),
        json={"template": {"containers": [{"image": "x"}]}, "replicas": 3},
        timeout=5,
    )
    assert response.status_code == 400
    assert 'Unknown name "replicas"' in response.json()["error"]["message"]
    bad_enum = requests.post(
        f"{emu.base_url}/v2/{parent_of(project)}/services?serviceId=a",
        headers=bearer(emu.base_url),
        json={"template": {"containers": [{"image": "x"}]}, "ingress": "INGRESS_TRAFFIC_SOME"},
        timeout=5,
    )
    assert bad_enum.status_code == 400


# -- the v2 sweep: rules found in the run_v2 docstrings and the Cloud Run limits pages --------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"env": {"E" * 32769: "v"}}, "must not exceed 32768 characters"),
        ({"env": {"BIG": "v" * 32769}}, "must not exceed 32768 bytes"),
        (
            {"resources": run_v2.ResourceRequirements(limits={"cpu": "0.085"})},
            "in steps of 0.01",
        ),
        (
            {
                "resources": run_v2.ResourceRequirements(limits={"cpu": "0.5", "memory": "1Gi"}),
                "template": {"max_instance_request_concurrency": 1},
            },
            "1Gi needs at least 0.583 CPU",
        ),
        (
            {"resources": run_v2.ResourceRequirements(limits={"cpu": "1", "memory": "6Gi"})},
            "6Gi needs at least 2 CPU",
        ),
        (
            {
                "resources": run_v2.ResourceRequirements(limits={"cpu": "1", "memory": "256Mi"}),
                "template": {
                    "execution_environment": run_v2.ExecutionEnvironment.EXECUTION_ENVIRONMENT_GEN2
                },
            },
            "memory must be between 512Mi and 4Gi",
        ),
        (
            {"template": {"revision": "other-00001-abc"}},
            "must be prefixed with the name of the enclosing Service",
        ),
        ({"template": {"revision": "guide-Bad_Name"}}, "must be prefixed"),
    ],
)
def test_more_container_and_revision_rules(enabled, project, dataplane, fields, message):
    with pytest.raises(gexc.BadRequest, match=re.escape(message)):
        create_service(enabled, project, service_with("x", **fields))


def test_first_generation_takes_128_mib(enabled, emu, project, dataplane):
    image = publish(enabled, emu, project)
    gen1 = run_v2.ExecutionEnvironment.EXECUTION_ENVIRONMENT_GEN1
    service = service_with(
        image,
        resources=run_v2.ResourceRequirements(limits={"cpu": "0.17", "memory": "256Mi"}),
        template={"execution_environment": gen1, "max_instance_request_concurrency": 1},
    )
    created = create_service(enabled, project, service).result(timeout=10)
    assert created.template.containers[0].resources.limits["memory"] == "256Mi"
