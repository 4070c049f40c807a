"""The global external Application Load Balancer, resource by resource."""

from __future__ import annotations

from typing import Any, ClassVar

from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from globalguide.cloud.clients import CloudClients
from globalguide.cloud.names import (
    GEO_HEADER,
    GEO_HEADER_VALUE,
    LABEL_KEY,
    Names,
)
from globalguide.cloud.resources.base import (
    Context,
    Resource,
    get_or_none,
    short_link,
    wait_operation,
)

COMPUTE_URL = "https://www.googleapis.com/compute/v1/"


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
        return get_or_none(
            self.client(c).get, **self.scope(), **{self.request_name_field: self.name}
        )

    def insert_body(self) -> Any:
        """What insert sends: the desired resource, by default."""
        return self.desired()

    def create(self, ctx: Context) -> None:
        resource = self.insert_body()
        resource.name = self.name
        op = self.client(ctx.clients).insert(
            request={
                **self.scope(),
                self.resource_field: resource,
                "request_id": ctx.request_id,
            }
        )
        wait_operation(op)

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
        wait_operation(op)

    def delete(self, ctx: Context) -> None:
        try:
            op = self.client(ctx.clients).delete(
                request={
                    **self.scope(),
                    self.request_name_field: self.name,
                    "request_id": ctx.request_id,
                }
            )
            wait_operation(op)
        except gexc.NotFound:
            pass


class _Labelled(_Compute):
    """Global addresses and forwarding rules: labels sent with insert are ignored (their
    compute_v1 ``labels`` docstrings: "can only be added or modified by the setLabels
    method"), so insert goes without them and setLabels follows with the fingerprint just
    read. A resource left without its label (a crash between the two calls) differs only
    in ``label``, and its update is that setLabels alone."""

    def insert_body(self) -> Any:
        resource = self.desired()
        resource.labels.clear()
        return resource

    def create(self, ctx: Context) -> None:
        super().create(ctx)
        created = self.client(ctx.clients).get(
            **self.scope(), **{self.request_name_field: self.name}
        )
        self.set_labels(ctx, created)

    def compared(self, current: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """(desired, current) owned fields, as ``same`` compares them."""
        return self.desired_owned(), self.owned(current)

    def same(self, current: Any) -> bool:
        want, have = self.compared(current)
        return want == have

    def update(self, ctx: Context, current: Any) -> None:
        want, have = self.compared(current)
        want.pop("label")
        have.pop("label")
        if want != have:  # anything but the label cannot change in place
            super().update(ctx, current)
        self.set_labels(ctx, current)

    def set_labels(self, ctx: Context, current: Any) -> None:
        # No requestId: the step's one belongs to its insert, and the label fingerprint
        # already makes a repeated call harmless (a stale one is a 412 and the step re-reads).
        wait_operation(
            self.client(ctx.clients).set_labels(
                project=self.project,
                resource=self.name,
                global_set_labels_request_resource=compute_v1.GlobalSetLabelsRequest(
                    labels={**current.labels, **self.names.labels},
                    label_fingerprint=current.label_fingerprint,
                ),
            )
        )


class GlobalAddress(_Labelled):
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
            # No timeout_sec: with serverless NEG backends the API refuses it (the request
            # timeout is Cloud Run's own; terraform-google-lb-http PR #358).
            backends=[
                # compute_v1 Backend.group: "You must use the fully-qualified URL ...
                # Partial URLs are not supported."
                compute_v1.Backend(
                    group=COMPUTE_URL
                    + self.names.region_link(r, "networkEndpointGroups", self.names.neg)
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
        wait_operation(
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

    def __init__(self, names: Names, domain: str | None) -> None:
        """``domain`` None: the deployment's certificate, whatever domain it names (to read
        or delete it; it has nothing to create)."""
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


class ForwardingRule(_Labelled):
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

    def compared(self, current: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        want, have = super().compared(current)
        if have["address"] is None:
            want["address"] = None
        return want, have

    def summary(self, current: Any) -> dict[str, Any]:
        return {"address": current.I_p_address, "port": current.port_range}
