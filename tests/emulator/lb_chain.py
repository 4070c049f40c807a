"""Building a load-balancer chain by hand with the client libraries, as a user would.

``service/`` goes through Storage and Cloud Build into Artifact Registry; Cloud Run
services, serverless NEGs, a backend service, URL map, HTTP proxy, address and forwarding
rule follow. The data-plane tests use it against in-process and background emulators.
"""

from __future__ import annotations

import requests
from google.cloud import artifactregistry_v1 as ar
from google.cloud import compute_v1, run_v2
from google.cloud.devtools import cloudbuild_v1 as cb

from globalguide.cloud.clients import CloudClients
from globalguide.cloud.source import make_context, service_dir
from globalguide.emulator.session import bearer

MODEL = "gemini-2.5-flash"
GEO = "X-Client-Geo-Location"
GEO_VALUE = "{client_city},{client_region_subdivision},{client_region}"
SERVICE = "local-guide"


def wait(op):
    op.result(timeout=60)
    return op


def build_service_image(c: CloudClients, project: str) -> str:
    """The service directory built by Cloud Build from a Storage tarball; the image URI."""
    context = make_context(service_dir())
    c.storage.create_bucket(f"{project}_cloudbuild").blob("source/lg.tgz").upload_from_string(
        context.data, "application/gzip"
    )
    c.artifact_registry.create_repository(
        parent=f"projects/{project}/locations/us-central1",
        repository_id="images",
        repository=ar.Repository(format_=ar.Repository.Format.DOCKER),
    ).result(timeout=60)
    image = f"us-central1-docker.pkg.dev/{project}/images/{SERVICE}:{context.tag}"
    source = cb.StorageSource(bucket=f"{project}_cloudbuild", object_="source/lg.tgz")
    build = cb.Build(
        source=cb.Source(storage_source=source),
        steps=[cb.BuildStep(name="gcr.io/cloud-builders/docker", args=["build", "-t", image, "."])],
        images=[image],
    )
    result = c.cloud_build.create_build(project_id=project, build=build).result(timeout=120)
    assert result.status == cb.Build.Status.SUCCESS
    return image


def run_service(c: CloudClients, project: str, region: str, image: str) -> run_v2.Service:
    """The Local Guide in ``region``, reachable only through the load balancer."""
    env = {
        "SERVICE_REGION": region,
        "GOOGLE_CLOUD_PROJECT": project,
        "VERTEX_LOCATION": region,
        "GEMINI_MODEL": MODEL,
        "GEMINI_TIMEOUT_S": "10",
        "GUNICORN_LOG_LEVEL": "warning",
    }
    service = run_v2.Service(
        ingress=run_v2.IngressTraffic.INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER,
        invoker_iam_disabled=True,
        template=run_v2.RevisionTemplate(
            containers=[
                run_v2.Container(
                    image=image,
                    env=[run_v2.EnvVar(name=k, value=v) for k, v in env.items()],
                    ports=[run_v2.ContainerPort(container_port=8080)],
                )
            ]
        ),
    )
    op = c.run_services.create_service(
        parent=f"projects/{project}/locations/{region}", service=service, service_id=SERVICE
    )
    return op.result(timeout=120)


def serverless_neg(c: CloudClients, project: str, region: str) -> str:
    wait(
        c.region_negs.insert(
            project=project,
            region=region,
            network_endpoint_group_resource=compute_v1.NetworkEndpointGroup(
                name="lg-neg",
                network_endpoint_type="SERVERLESS",
                cloud_run=compute_v1.NetworkEndpointGroupCloudRun(service=SERVICE),
            ),
        )
    )
    neg = c.region_negs.get(project=project, region=region, network_endpoint_group="lg-neg")
    return neg.self_link


def global_address(c: CloudClients, project: str) -> str:
    wait(
        c.global_addresses.insert(
            project=project, address_resource=compute_v1.Address(name="lg-ip")
        )
    )
    return c.global_addresses.get(project=project, address="lg-ip").self_link


def frontend(
    c: CloudClients,
    project: str,
    name: str,
    negs: list[str],
    address: str,
    port: str,
    *,
    outlier: bool,
) -> dict[str, str]:
    """Backend service (geo header), URL map (removing a client's geo header), HTTP proxy and
    forwarding rule; the rule's link and the URL its edge serves on."""
    backend = compute_v1.BackendService(
        name=f"{name}-bs",
        load_balancing_scheme="EXTERNAL_MANAGED",
        protocol="HTTPS",
        backends=[compute_v1.Backend(group=link) for link in negs],
        custom_request_headers=[f"{GEO}:{GEO_VALUE}"],
    )
    if outlier:
        backend.outlier_detection = compute_v1.OutlierDetection(
            consecutive_gateway_failure=3,
            enforcing_consecutive_gateway_failure=100,
            base_ejection_time=compute_v1.Duration(seconds=2),
            interval=compute_v1.Duration(seconds=1),
        )
    wait(c.backend_services.insert(project=project, backend_service_resource=backend))
    bs = c.backend_services.get(project=project, backend_service=f"{name}-bs").self_link
    url_map = compute_v1.UrlMap(
        name=f"{name}-um",
        default_service=bs,
        header_action=compute_v1.HttpHeaderAction(request_headers_to_remove=[GEO]),
    )
    wait(c.url_maps.insert(project=project, url_map_resource=url_map))
    um = c.url_maps.get(project=project, url_map=f"{name}-um").self_link
    proxy = compute_v1.TargetHttpProxy(name=f"{name}-px", url_map=um)
    wait(c.target_http_proxies.insert(project=project, target_http_proxy_resource=proxy))
    px = c.target_http_proxies.get(project=project, target_http_proxy=f"{name}-px").self_link
    rule = compute_v1.ForwardingRule(
        name=f"{name}-fr",
        I_p_address=address,
        I_p_protocol="TCP",
        port_range=port,
        target=px,
        load_balancing_scheme="EXTERNAL_MANAGED",
    )
    wait(c.global_forwarding_rules.insert(project=project, forwarding_rule_resource=rule))
    fr = c.global_forwarding_rules.get(project=project, forwarding_rule=f"{name}-fr").self_link
    return {"rule": fr, "url": edge_url(str(c.endpoint), fr, c.token)}


def edge_url(endpoint: str, rule: str, token: str | None = None) -> str:
    headers = bearer(endpoint, token)
    edges = requests.get(f"{endpoint}/_emulator/edges", headers=headers, timeout=5).json()
    (edge,) = [e for e in edges if e["forwardingRule"] == rule]
    return edge["url"]
