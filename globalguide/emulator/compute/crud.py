"""The request cycle every compute resource shares (moto's "responses" layer).

Insert: check the project and the API, replay a known ``requestId``, validate the body
against the client library's proto, check the name, refuse a name that exists or is being
inserted (409), build the resource (the kind's rules), start an operation. The resource
appears when the operation completes, after its references are checked again. Delete:
404 if absent, 400 resourceInUseByAnotherResource while referenced, then an operation at
whose end the resource goes away. Patch and update need the current ``fingerprint``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from google.cloud import compute_v1
from werkzeug.wrappers import Request

from globalguide.emulator.compute import listing
from globalguide.emulator.compute.errors import (
    exists,
    in_use,
    invalid_value,
    missing,
    not_ready,
    precondition,
    required,
)
from globalguide.emulator.compute.kinds import KINDS, LABELLED, Kind
from globalguide.emulator.compute.links import BASE, Ref, path_of
from globalguide.emulator.compute.state import (
    ComputeState,
    Pending,
    fingerprint,
    label_fingerprint,
    new_id,
)
from globalguide.emulator.compute.validate import (
    References,
    check_labels,
    check_name,
    check_request_id,
)
from globalguide.emulator.core.routing import read_json
from globalguide.emulator.core.schema import validate_body
from globalguide.emulator.core.timestamps import compute_timestamp

SERVICE = "compute.googleapis.com"
Scope = tuple[str, str] | None
Builder = Callable[[References, dict[str, Any], dict[str, Any]], dict[str, Any]]
Hook = Callable[[dict[str, Any]], None]

LABELS_CHANGED = "Labels fingerprint either invalid or resource labels have changed"
PRECONDITION_FAILED = "Precondition Failed"


def has_fingerprint(kind: Kind) -> bool:
    return "fingerprint" in kind.message.meta.fields


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch, which compute's PATCH methods use."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def new_base(kind: Kind, ref: Ref) -> dict[str, Any]:
    """The fields the API sets on every resource it creates."""
    return {
        "kind": kind.kind,
        "id": new_id(),
        "creationTimestamp": compute_timestamp(),
        "name": ref.name,
        "selfLink": ref.link,
    }


class Crud:
    """Generic insert/get/list/delete/patch/update/setLabels over :class:`ComputeState`."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.state = ComputeState()

    # ------------------------------------------------------------ plumbing
    def _enter(self, project: str) -> None:
        self.emulator.enter(project, SERVICE, style="compute")

    def _request_id(self, request: Request, project: str) -> tuple[str | None, Any]:
        """The request's requestId, and the operation it already started, if any."""
        request_id = check_request_id(request.args.get("requestId"))
        if request_id is None:
            return None, None
        key = self.state.request_ops.get(f"{project}|{request_id}")
        if key is None:
            return request_id, None
        return request_id, self.emulator.operations.render(key)

    def _start(
        self,
        project: str,
        kind: str,
        operation_type: str,
        link: str,
        target_id: str,
        scope: Scope,
        effect: Callable[[], Any],
        request_id: str | None,
    ) -> tuple[dict[str, Any], str]:
        op = self.emulator.operations.start_compute(
            project=project,
            kind=kind,
            operation_type=operation_type,
            target_link=link,
            target_id=target_id,
            scope=scope,
            self_link_base=BASE,
            effect=effect,
            request_id=request_id,
        )
        key = path_of(op["selfLink"])
        if request_id:
            self.state.request_ops[f"{project}|{request_id}"] = key
        return op, key

    def _done(self, key: str | None) -> bool:
        if key is None:
            return False
        op = self.emulator.operations.peek(key)
        return op is None or op.done

    def _prune(self) -> None:
        """Forget inserts and deletes whose operation ended without its effect (a failed
        operation), so the name is free again and the resource is deletable again. Reads
        operations without completing any, so it is safe inside an operation's effect."""
        forgotten = False
        for link, pending in list(self.state.pending.items()):
            if self._done(pending.operation):
                forgotten = True
                del self.state.pending[link]
                if link not in self.state.items["forwardingRules"]:
                    self.state.rule_address.pop(link, None)
                    self.state.rule_ip.pop(link, None)
        for link, key in list(self.state.deleting.items()):
            if self._done(key):
                forgotten = True
                del self.state.deleting[link]
        if forgotten:
            self.state.changed()

    def _refs(self, project: str) -> References:
        return References(self.state, project)

    def _render(self, collection: str, resource: dict[str, Any]) -> dict[str, Any]:
        return self.state.render(collection, resource)

    def _check_references(self, collection: str, resource: dict[str, Any]) -> None:
        for link in self.state.references(collection, resource):
            if self.state.find(link) is None:
                raise missing(path_of(link))

    def _check_unused(self, collection: str, link: str) -> None:
        users = self.state.users(link)
        if users:
            raise in_use(KINDS[collection].snake, path_of(link), path_of(users[0]))

    def _notify_edges(self) -> None:
        """Tell the data plane that the load balancer's configuration changed."""
        sync = getattr(self.emulator.dataplane, "sync_edges", None)
        if callable(sync):
            sync()

    @staticmethod
    def _finish(kind: Kind, resource: dict[str, Any]) -> dict[str, Any]:
        if kind.collection in LABELLED:
            resource["labelFingerprint"] = label_fingerprint(resource.get("labels"))
        if has_fingerprint(kind):
            resource["fingerprint"] = fingerprint(resource)
        return resource

    def _body(self, request: Request, message: Any, field: str) -> dict[str, Any]:
        body = read_json(request)
        validate_body(body, message, resource=field)
        return body

    # ------------------------------------------------------------ generic methods
    def _insert(
        self,
        request: Request,
        project: str,
        collection: str,
        scope: Scope,
        build: Builder,
        *,
        prepare: Callable[[str, dict[str, Any]], None] | None = None,
        after: Hook | None = None,
    ) -> dict[str, Any]:
        """``prepare(link, resource)`` runs once the insert is accepted, before it starts."""
        self._enter(project)
        kind = KINDS[collection]
        with self.emulator.lock:
            request_id, replay = self._request_id(request, project)
            if replay is not None:
                return replay
            body = self._body(request, kind.message, kind.body_field)
            ref = Ref(project, scope, collection, check_name(body.get("name")))
            self._prune()
            if ref.link in self.state.items[collection] or ref.link in self.state.pending:
                raise exists(ref.path)
            resource = self._finish(kind, build(self._refs(project), body, new_base(kind, ref)))
            if prepare is not None:
                prepare(ref.link, resource)

            def effect() -> None:
                with self.emulator.lock:
                    self.state.pending.pop(ref.link, None)
                    self.state.changed()
                    self._check_references(collection, resource)
                    self.state.items[collection][ref.link] = resource
                if after is not None:
                    after(resource)

            self.state.pending[ref.link] = Pending(collection, resource)
            self.state.changed()
            op, key = self._start(
                project, kind.op_kind, "insert", ref.link, resource["id"], scope, effect, request_id
            )
            if ref.link in self.state.pending:
                self.state.pending[ref.link].operation = key
            return op

    def _get(self, project: str, collection: str, scope: Scope, name: str) -> dict[str, Any]:
        self._enter(project)
        ref = Ref(project, scope, collection, name)
        with self.emulator.lock:
            self._prune()
            resource = self.state.get(collection, ref.link)
            if resource is None:
                raise missing(ref.path)
            return self._render(collection, resource)

    def _list(self, request: Request, project: str, collection: str, scope: Scope) -> dict:
        self._enter(project)
        terms = listing.parse_filter(request.args.get("filter"))
        prefix = Ref(project, scope, collection, "").link
        with self.emulator.lock:
            self._prune()
            items = [
                self._render(collection, r)
                for link, r in self.state.items[collection].items()
                if link.startswith(prefix)
            ]
        items = [r for r in items if listing.matches(r, terms)]
        chunk, token = listing.page(
            items, request.args.get("maxResults"), request.args.get("pageToken")
        )
        out: dict[str, Any] = {
            "kind": KINDS[collection].kind + "List",
            "id": path_of(prefix.rstrip("/")),
            "selfLink": prefix.rstrip("/"),
        }
        if chunk:
            out["items"] = chunk
        if token:
            out["nextPageToken"] = token
        return out

    def _aggregated(self, request: Request, project: str, collection: str, key: str) -> dict:
        self._enter(project)
        terms = listing.parse_filter(request.args.get("filter"))
        scoped: dict[str, list[dict[str, Any]]] = {}
        with self.emulator.lock:
            self._prune()
            for link, resource in self.state.items[collection].items():
                parts = path_of(link).split("/")
                if parts[1] != project or parts[2] == "global":
                    continue
                rendered = self._render(collection, resource)
                if listing.matches(rendered, terms):
                    scoped.setdefault(f"{parts[2]}/{parts[3]}", []).append(rendered)
        return {
            "kind": KINDS[collection].kind + "AggregatedList",
            "id": f"projects/{project}/aggregated/{collection}",
            "items": {scope: {key: items} for scope, items in sorted(scoped.items())},
            "selfLink": f"{BASE}/projects/{project}/aggregated/{collection}",
        }

    def _delete(
        self,
        request: Request,
        project: str,
        collection: str,
        scope: Scope,
        name: str,
        *,
        after: Hook | None = None,
    ) -> dict[str, Any]:
        self._enter(project)
        ref = Ref(project, scope, collection, name)
        with self.emulator.lock:
            request_id, replay = self._request_id(request, project)
            if replay is not None:
                return replay
            self._prune()
            resource = self.state.get(collection, ref.link)
            if resource is None:
                raise missing(ref.path)
            if ref.link in self.state.deleting:
                raise not_ready(ref.path)
            self._check_unused(collection, ref.link)

            def effect() -> None:
                with self.emulator.lock:
                    self.state.deleting.pop(ref.link, None)
                    self.state.changed()
                    self._check_unused(collection, ref.link)
                    gone = self.state.items[collection].pop(ref.link, None)
                    self.state.rule_address.pop(ref.link, None)
                    self.state.rule_ip.pop(ref.link, None)
                if gone is not None and after is not None:
                    after(gone)

            self.state.deleting[ref.link] = ""
            self.state.changed()
            op, key = self._start(
                project,
                "compute.delete",
                "delete",
                ref.link,
                resource["id"],
                scope,
                effect,
                request_id,
            )
            if ref.link in self.state.deleting:
                self.state.deleting[ref.link] = key
            return op

    def _modify(
        self,
        request: Request,
        project: str,
        collection: str,
        name: str,
        build: Builder,
        *,
        merge: bool,
        after: Hook | None = None,
    ) -> dict[str, Any]:
        """PATCH (JSON merge patch) or PUT of a fingerprinted global resource."""
        self._enter(project)
        kind = KINDS[collection]
        ref = Ref(project, None, collection, name)
        with self.emulator.lock:
            request_id, replay = self._request_id(request, project)
            if replay is not None:
                return replay
            body = self._body(request, kind.message, kind.body_field)
            current = self.state.get(collection, ref.link)
            if current is None:
                raise missing(ref.path)
            if not body.get("fingerprint"):
                # k8s-multicluster-ingress PR #70 and ansible PR #70230 quote the API.
                raise required("resource.fingerprint")
            if body["fingerprint"] != current["fingerprint"]:
                raise precondition(PRECONDITION_FAILED)
            if body.get("name") not in (None, name):
                raise invalid_value("resource.name", body["name"], "The name cannot be changed.")
            if merge:
                body = merge_patch(current, body)
            base = {k: current[k] for k in ("kind", "id", "creationTimestamp", "name", "selfLink")}
            updated = self._finish(kind, build(self._refs(project), body, base))
            expected = current["fingerprint"]

            def effect() -> None:
                with self.emulator.lock:
                    now = self.state.get(collection, ref.link)
                    if now is None:
                        raise missing(ref.path)
                    if now["fingerprint"] != expected:
                        raise precondition(PRECONDITION_FAILED)
                    self._check_references(collection, updated)
                    self.state.items[collection][ref.link] = updated
                    self.state.changed()
                if after is not None:
                    after(updated)

            op, _ = self._start(
                project,
                kind.op_kind,
                "patch" if merge else "update",
                ref.link,
                current["id"],
                None,
                effect,
                request_id,
            )
            return op

    def _set_labels(
        self,
        request: Request,
        project: str,
        collection: str,
        scope: Scope,
        name: str,
    ) -> dict[str, Any]:
        self._enter(project)
        kind = KINDS[collection]
        ref = Ref(project, scope, collection, name)
        if collection == "instances":
            message, field = compute_v1.InstancesSetLabelsRequest, "instances_set_labels_request"
        else:
            message, field = compute_v1.GlobalSetLabelsRequest, "global_set_labels_request"
        with self.emulator.lock:
            request_id, replay = self._request_id(request, project)
            if replay is not None:
                return replay
            body = self._body(request, message, f"{field}_resource")
            current = self.state.get(collection, ref.link)
            if current is None:
                raise missing(ref.path)
            expected = current.get("labelFingerprint")
            if body.get("labelFingerprint") != expected:
                raise precondition(LABELS_CHANGED)
            labels = check_labels(body.get("labels"), "labels")

            def effect() -> None:
                with self.emulator.lock:
                    now = self.state.get(collection, ref.link)
                    if now is None:
                        raise missing(ref.path)
                    if now.get("labelFingerprint") != expected:
                        raise precondition(LABELS_CHANGED)
                    now.pop("labels", None)
                    if labels:
                        now["labels"] = labels
                    self._finish(kind, now)
                    self.state.changed()

            op, _ = self._start(
                project,
                kind.op_kind,
                "setLabels",
                ref.link,
                current["id"],
                scope,
                effect,
                request_id,
            )
            return op
