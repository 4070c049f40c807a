"""Compute Engine v1 for the emulator: the load balancer's resources, probe VMs, operations.

Paths are those of the compute_v1 REST transport (``services/*/transports/rest_base.py``);
note that the target proxies' ``setUrlMap`` and ``setSslCertificates`` have no ``global/``
segment. Every mutating call returns a compute ``Operation`` (global, regional or zonal, as
the real API does) that ``google.api_core.extended_operation`` polls with the matching
``*OperationsClient.get``.

Read accessors for the data plane: :meth:`API.get` and :meth:`API.list`; it writes probe
VM output with :meth:`API.append_serial_output`.
The API calls ``emulator.dataplane.sync_edges()`` after every change that can alter a live
edge, and ``emulator.dataplane.on_instance_running(instance)`` when a VM reaches RUNNING.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from google.cloud import compute_v1
from werkzeug.wrappers import Request

from globalguide.emulator.compute import links
from globalguide.emulator.compute.backend import (
    build_backend_service,
    build_neg,
    build_url_map,
)
from globalguide.emulator.compute.crud import Crud, new_base
from globalguide.emulator.compute.errors import invalid_value, missing, required
from globalguide.emulator.compute.frontend import (
    PROXIES,
    backend_scheme,
    build_address,
    build_certificate,
    build_forwarding_rule,
    build_proxy,
    check_certificates,
    check_https_url_map,
    conflict,
    port_of,
)
from globalguide.emulator.compute.instances import (
    SERIAL_PORTS,
    SerialBuffer,
    build_instance,
    check_region,
    check_zone,
)
from globalguide.emulator.compute.kinds import KINDS
from globalguide.emulator.compute.validate import check_name
from globalguide.emulator.core.routing import ApiError, Route
from globalguide.emulator.core.timestamps import compute_timestamp
from globalguide.emulator.dataplane.propagation import DELAYED as LB_CONFIG

OPERATION_WAIT_SECONDS = 120.0  # compute's operations.wait returns after at most 2 minutes


class API(Crud):
    """Compute Engine v1 for the emulator's one project."""

    name = "compute"

    def __init__(self, emulator: Any) -> None:
        super().__init__(emulator)
        self.serial: dict[str, SerialBuffer] = {}
        self.instance_ops: dict[str, str] = {}  # instance link -> its insert operation

    # ------------------------------------------------------------ contract
    def routes(self) -> list[Route]:
        p = "/compute/v1/projects/<project>"
        g = f"{p}/global"
        r = f"{p}/regions/<region>"
        z = f"{p}/zones/<zone>"
        routes: list[tuple[str, str, Any, bool]] = []

        def crud(base: str, collection: str) -> None:
            one = f"{base}/{collection}/<name>"
            routes.extend(
                [
                    ("POST", f"{base}/{collection}", partial(self.insert, collection), True),
                    ("GET", f"{base}/{collection}", partial(self.list_handler, collection), False),
                    ("GET", one, partial(self.get_handler, collection), False),
                    ("DELETE", one, partial(self.delete, collection), True),
                ]
            )

        for collection in (
            "addresses",
            "backendServices",
            "urlMaps",
            "targetHttpProxies",
            "targetHttpsProxies",
            "sslCertificates",
            "forwardingRules",
        ):
            crud(g, collection)
        crud(r, "networkEndpointGroups")
        crud(z, "instances")
        for collection in ("backendServices", "urlMaps"):
            one = f"{g}/{collection}/<name>"
            routes.append(("PATCH", one, partial(self.modify, collection, True), True))
            routes.append(("PUT", one, partial(self.modify, collection, False), True))
        routes += [
            ("POST", f"{g}/addresses/<name>/setLabels", self._labels("addresses"), True),
            (
                "POST",
                f"{g}/forwardingRules/<name>/setLabels",
                self._labels("forwardingRules"),
                True,
            ),
            ("POST", f"{g}/forwardingRules/<name>/setTarget", self.set_target, True),
            ("POST", f"{z}/instances/<name>/setLabels", self._labels("instances"), True),
            ("GET", f"{z}/instances/<name>/serialPort", self.serial_port_output, False),
            ("GET", f"{p}/aggregated/networkEndpointGroups", self.aggregated_negs, False),
            ("GET", f"{p}/aggregated/instances", self.aggregated_instances, False),
        ]
        for collection in PROXIES:
            set_url_map = partial(self.set_url_map, collection)
            routes.append(("POST", f"{p}/{collection}/<name>/setUrlMap", set_url_map, True))
        set_certs = f"{p}/targetHttpsProxies/<name>/setSslCertificates"
        routes.append(("POST", set_certs, self.set_certificates, True))
        for base in (g, r, z):
            ops = f"{base}/operations"
            routes += [
                ("GET", ops, self.list_operations, False),
                ("GET", f"{ops}/<operation>", self.get_operation, False),
                ("POST", f"{ops}/<operation>/wait", self.wait_operation, False),
                ("DELETE", f"{ops}/<operation>", self.delete_operation, True),
            ]
        out = []
        for method, pattern, handler, mutating in routes:
            no_op = mutating and method == "DELETE" and "/operations/" in pattern
            out.append(
                Route(
                    method,
                    pattern,
                    handler,
                    api=self.name,
                    mutating=mutating,
                    style="compute",
                    endpoint="no-operation" if no_op else "",
                )
            )
        return out

    def snapshot(self) -> dict[str, Any]:
        with self.emulator.lock:
            return {c: self.list(c) for c in KINDS}

    def reset(self) -> None:
        with self.emulator.lock:
            self.state.clear()
            self.serial.clear()
            self.instance_ops.clear()

    def resource_count(self) -> int:
        with self.emulator.lock:
            self._prune()
            return self.state.count()

    # ------------------------------------------------------------ for the data plane
    @property
    def generation(self) -> int:
        """Changes whenever what :meth:`get` and :meth:`list` return may change (an
        instance's transitional status aside)."""
        return self.state.generation

    def get(self, kind: str, link_or_path: str) -> dict[str, Any] | None:
        """A resource of ``kind`` (a collection name such as "forwardingRules") by full
        link, ``projects/...`` path or ``global/...`` path; None if it does not exist."""
        if kind not in KINDS:
            raise KeyError(kind)
        ref = links.parse(link_or_path, project=self.emulator.project)
        if ref is None or ref.collection != kind:
            return None
        with self.emulator.lock:
            self._prune()
            resource = self.state.get(kind, ref.link)
            return None if resource is None else self._render(kind, resource)

    def list(self, kind: str) -> list[dict[str, Any]]:
        if kind not in KINDS:
            raise KeyError(kind)
        with self.emulator.lock:
            self._prune()
            return [self._render(kind, r) for r in self.state.items[kind].values()]

    def append_serial_output(self, instance_self_link: str, text: str) -> bool:
        """Append to an instance's serial port 1 output; False if the instance is gone."""
        with self.emulator.lock:
            buffer = self.serial.get(instance_self_link)
            if buffer is None:
                return False
            buffer.append(text)
            return True

    # ------------------------------------------------------------ generic handlers
    def _scope(self, project: str, params: dict[str, str]) -> tuple[str, str] | None:
        """The request's region or zone scope, once the project and the API are checked."""
        self._enter(project)
        if "region" in params:
            return ("regions", check_region(params["region"]))
        if "zone" in params:
            check_zone(params["zone"])
            return ("zones", params["zone"])
        return None

    def insert(self, collection: str, request: Request, project: str, **scope: str) -> Any:
        where = self._scope(project, scope)
        if collection == "instances":
            return self._insert_instance(request, project, where)
        if collection == "forwardingRules":
            return self._insert_rule(request, project)
        builders = {
            "addresses": build_address,
            "backendServices": build_backend_service,
            "urlMaps": build_url_map,
            "targetHttpProxies": partial(_proxy, "targetHttpProxies"),
            "targetHttpsProxies": partial(_proxy, "targetHttpsProxies"),
            "sslCertificates": build_certificate,
            "networkEndpointGroups": lambda refs, body, base: build_neg(
                refs, body, base, where[1] if where else ""
            ),
        }
        return self._insert(request, project, collection, where, builders[collection])

    def get_handler(self, collection: str, request: Request, project: str, name: str, **scope):
        where = self._scope(project, scope)
        return self._get(project, collection, where, name)

    def list_handler(self, collection: str, request: Request, project: str, **scope: str):
        where = self._scope(project, scope)
        return self._list(request, project, collection, where)

    def delete(self, collection: str, request: Request, project: str, name: str, **scope: str):
        where = self._scope(project, scope)
        if collection == "instances":
            return self._delete(
                request, project, collection, where, name, after=self._instance_gone
            )
        # Deleting load-balancer configuration starts its propagation to the edges too.
        edges = collection in ("forwardingRules", *PROXIES, *LB_CONFIG)
        return self._delete(
            request, project, collection, where, name, after=self._edges if edges else None
        )

    def modify(self, collection: str, merge: bool, request: Request, project: str, name: str):
        build = build_backend_service if collection == "backendServices" else build_url_map
        return self._modify(
            request, project, collection, name, build, merge=merge, after=self._edges
        )

    def _labels(self, collection: str) -> Any:
        return partial(self.set_labels, collection)

    def set_labels(self, collection: str, request: Request, project: str, name: str, **scope):
        where = self._scope(project, scope)
        return self._set_labels(request, project, collection, where, name)

    def aggregated_negs(self, request: Request, project: str) -> dict[str, Any]:
        return self._aggregated(request, project, "networkEndpointGroups", "networkEndpointGroups")

    def aggregated_instances(self, request: Request, project: str) -> dict[str, Any]:
        return self._aggregated(request, project, "instances", "instances")

    def _edges(self, _resource: dict[str, Any]) -> None:
        self._notify_edges()

    # ------------------------------------------------------------ forwarding rules
    def _insert_rule(self, request: Request, project: str) -> Any:
        placed: dict[str, Any] = {}

        def build(refs, body, base):
            rule, address, identity = build_forwarding_rule(refs, body, base)
            if conflict(self.state, identity, port_of(rule), rule["IPProtocol"], base["selfLink"]):
                # k8s-multicluster-ingress PR #132 quotes the API.
                raise invalid_value(
                    "resource.IPAddress",
                    rule["IPAddress"],
                    "Specified IP address is in-use and would result in a conflict.",
                )
            placed.update(address=address, identity=identity)
            return rule

        def prepare(link: str, _rule: dict[str, Any]) -> None:
            if placed["address"]:
                self.state.rule_address[link] = placed["address"]
            self.state.rule_ip[link] = placed["identity"]

        return self._insert(
            request, project, "forwardingRules", None, build, prepare=prepare, after=self._edges
        )

    def set_target(self, request: Request, project: str, name: str) -> Any:
        def change(refs, body, rule):
            if not body.get("target"):
                raise required("target")
            target = refs.existing("target", body["target"], PROXIES)
            want = backend_scheme(self.state, target)
            if want is not None and want != rule["loadBalancingScheme"]:
                raise invalid_value(
                    "resource.backendService",
                    "",
                    f"Load balancing scheme {rule['loadBalancingScheme']} does not match the "
                    f"backend service load balancing scheme {want}.",
                )
            return {"target": target}

        return self._set_field(
            request,
            project,
            "forwardingRules",
            name,
            compute_v1.TargetReference,
            "target_reference_resource",
            "setTarget",
            change,
        )

    # ------------------------------------------------------------ target proxies
    def set_url_map(self, collection: str, request: Request, project: str, name: str) -> Any:
        def change(refs, body, _proxy_resource):
            if not body.get("urlMap"):
                raise required("urlMap")
            url_map = refs.existing("urlMap", body["urlMap"], ("urlMaps",))
            if collection == "targetHttpsProxies":
                check_https_url_map(refs, url_map, "urlMap")
            return {"urlMap": url_map}

        return self._set_field(
            request,
            project,
            collection,
            name,
            compute_v1.UrlMapReference,
            "url_map_reference_resource",
            "setUrlMap",
            change,
        )

    def set_certificates(self, request: Request, project: str, name: str) -> Any:
        def change(refs, body, _proxy_resource):
            certificates = check_certificates(
                refs, body.get("sslCertificates") or [], "sslCertificates"
            )
            return {"sslCertificates": certificates}

        return self._set_field(
            request,
            project,
            "targetHttpsProxies",
            name,
            compute_v1.TargetHttpsProxiesSetSslCertificatesRequest,
            "target_https_proxies_set_ssl_certificates_request_resource",
            "setSslCertificates",
            change,
        )

    def _set_field(self, request, project, collection, name, message, field, op_type, change):
        """A set* method: validate, then replace some fields when the operation completes."""
        self._enter(project)
        kind = KINDS[collection]
        ref = links.Ref(project, None, collection, name)
        with self.emulator.lock:
            request_id, replay = self._request_id(request, project)
            if replay is not None:
                return replay
            body = self._body(request, message, field)
            current = self.state.get(collection, ref.link)
            if current is None:
                raise missing(ref.path)
            fields = change(self._refs(project), body, current)

            def effect() -> None:
                with self.emulator.lock:
                    now = self.state.get(collection, ref.link)
                    if now is None:
                        raise missing(ref.path)
                    updated = self._finish(kind, {**now, **fields})
                    self._check_references(collection, updated)
                    self.state.items[collection][ref.link] = updated
                    self.state.changed()
                self._notify_edges()

            op, _ = self._start(
                project, kind.op_kind, op_type, ref.link, current["id"], None, effect, request_id
            )
            return op

    # ------------------------------------------------------------ instances
    def _render(self, collection: str, resource: dict[str, Any]) -> dict[str, Any]:
        out = super()._render(collection, resource)
        if collection == "instances" and resource["selfLink"] in self.state.deleting:
            out["status"] = "STOPPING"
        elif collection == "instances" and out.get("status") == "PROVISIONING":
            op = self.emulator.operations.peek(self.instance_ops.get(resource["selfLink"], ""))
            if op is not None and not op.done:
                span = max(op.due - op.started, 1e-9)
                if (time.time() - op.started) / span >= 0.5:
                    out["status"] = "STAGING"
        return out

    def _prune(self) -> None:
        super()._prune()
        for link, key in list(self.instance_ops.items()):
            op = self.emulator.operations.peek(key)
            if op is None or not op.done:
                continue
            del self.instance_ops[link]
            instance = self.state.get("instances", link)
            if op.error is not None and instance is not None and instance["status"] != "RUNNING":
                # The insert failed: the VM never came up and does not stay.
                self.state.items["instances"].pop(link, None)
                self.state.changed()
                self.serial.pop(link, None)

    def _insert_instance(self, request: Request, project: str, where: Any) -> Any:
        zone = where[1]
        kind = KINDS["instances"]
        with self.emulator.lock:
            request_id, replay = self._request_id(request, project)
            if replay is not None:
                return replay
            body = self._body(request, kind.message, kind.body_field)
            ref = links.Ref(project, where, "instances", check_name(body.get("name")))
            self._prune()
            if self.state.get("instances", ref.link) is not None:
                raise ApiError(
                    409, f"The resource '{ref.path}' already exists", reason="alreadyExists"
                )
            base = new_base(kind, ref)
            instance = self._finish(kind, build_instance(body, base, zone, project))
            self.state.items["instances"][ref.link] = instance
            self.state.changed()
            self.serial[ref.link] = SerialBuffer()

            def effect() -> None:
                with self.emulator.lock:
                    current = self.state.get("instances", ref.link)
                    if current is None or current["status"] != "PROVISIONING":
                        return
                    current.update(status="RUNNING", lastStartTimestamp=compute_timestamp())
                    self.state.changed()
                    running = self._render("instances", current)
                hook = getattr(self.emulator.dataplane, "on_instance_running", None)
                if callable(hook):
                    hook(running)

            op, key = self._start(
                project, kind.op_kind, "insert", ref.link, base["id"], where, effect, request_id
            )
            if instance["status"] == "PROVISIONING":
                self.instance_ops[ref.link] = key
            return op

    def _instance_gone(self, instance: dict[str, Any]) -> None:
        with self.emulator.lock:
            self.serial.pop(instance["selfLink"], None)
            self.instance_ops.pop(instance["selfLink"], None)
        hook = getattr(self.emulator.dataplane, "on_instance_deleted", None)
        if callable(hook):
            hook(instance)

    def serial_port_output(self, request: Request, project: str, zone: str, name: str) -> Any:
        self._scope(project, {"zone": zone})
        port = _int_arg(request, "port", 1)
        if port not in SERIAL_PORTS:
            raise invalid_value("port", port, "Must be between 1 and 4, inclusive.")
        start = _int_arg(request, "start", None)
        ref = links.Ref(project, ("zones", zone), "instances", name)
        with self.emulator.lock:
            if self.state.get("instances", ref.link) is None:
                raise missing(ref.path)
            buffer = self.serial.get(ref.link) if port == 1 else None
            contents, used, end = (buffer or SerialBuffer()).read(start)
        return {
            "kind": "compute#serialPortOutput",
            "contents": contents,
            "start": str(used),
            "next": str(end),
            "selfLink": f"{ref.link}/serialPort",
        }

    # ------------------------------------------------------------ operations
    def _operation_key(self, project: str, operation: str, params: dict[str, str]) -> str:
        where = self._scope(project, params)
        scope = "global" if where is None else f"{where[0]}/{where[1]}"
        return f"projects/{project}/{scope}/operations/{operation}"

    def get_operation(self, request: Request, project: str, operation: str, **scope: str):
        key = self._operation_key(project, operation, scope)
        rendered = self.emulator.operations.render(key)
        if rendered is None or rendered.get("kind") != "compute#operation":
            raise missing(key)
        return rendered

    def wait_operation(self, request: Request, project: str, operation: str, **scope: str):
        key = self._operation_key(project, operation, scope)
        rendered = self.emulator.operations.wait(key, timeout=OPERATION_WAIT_SECONDS)
        if rendered is None or rendered.get("kind") != "compute#operation":
            raise missing(key)
        return rendered

    def delete_operation(self, request: Request, project: str, operation: str, **scope: str):
        key = self._operation_key(project, operation, scope)
        if self.emulator.operations.peek(key) is None or not self.emulator.operations.delete(key):
            raise missing(key)
        return {}

    def list_operations(self, request: Request, project: str, **scope: str) -> dict[str, Any]:
        prefix = f"{links.BASE}/{self._operation_key(project, '', scope)}"
        self.emulator.operations.tick()
        items = [
            op
            for op in self.emulator.operations.snapshot()
            if op.get("kind") == "compute#operation" and op.get("selfLink", "").startswith(prefix)
        ]
        out: dict[str, Any] = {
            "kind": "compute#operationList",
            "id": links.path_of(prefix.rstrip("/")),
            "selfLink": prefix.rstrip("/"),
        }
        if items:
            out["items"] = items
        return out


def _proxy(collection: str, refs: Any, body: dict[str, Any], base: dict[str, Any]) -> dict:
    return build_proxy(refs, body, base, collection)


def _int_arg(request: Request, name: str, default: int | None) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid_value(name, raw, "Must be an integer.") from None
