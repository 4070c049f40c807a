"""A Cloud Run service's own URL: a stable loopback port that honours the ingress setting.

The service's ``uri`` stands for its ``run.app`` URL: a request there comes from outside the
project's network. So only ``INGRESS_TRAFFIC_ALL`` lets it through; with any other setting
Cloud Run answers 404 with Google's error page and the request never reaches the container
(https://cloud.google.com/run/docs/securing/ingress). The emulated load balancer does not
come this way: it is allowed by ``INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER`` too and reaches
the revision's socket directly (see :mod:`edge`). These two are the only ways in: the
revision's process listens on a Unix socket in a directory only the emulator can enter.

Cloud Run keeps some URL paths for itself: ``/eventlog``, paths under ``/_ah/``, and "some
paths ending with z" (https://cloud.google.com/run/docs/known-issues, "Reserved URL paths");
``/healthz`` is one of them (datawranglerai/self-host-n8n-on-gcr#47). Requests for those get
the same 404 page, on the service URL and through the load balancer alike. Probes go to the
container directly and are not affected.

Requests are forwarded unchanged apart from hop-by-hop headers; the headers Cloud Run's own
front end adds (trace context, forwarding headers) are not modelled here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from globalguide.emulator.dataplane import pages
from globalguide.emulator.dataplane.proxy import (
    BodyTooLarge,
    Listener,
    UpstreamError,
    UpstreamPool,
    forward,
    parse_duration,
    read_body,
    relay,
    reply,
    request_headers,
    request_target,
)
from globalguide.emulator.dataplane.runner import Revision

ALL = "INGRESS_TRAFFIC_ALL"
UNSPECIFIED = "INGRESS_TRAFFIC_UNSPECIFIED"
# Ingress settings under which the global external Application Load Balancer may call in.
LOAD_BALANCER_ALLOWED = frozenset({ALL, UNSPECIFIED, "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"})
DEFAULT_REQUEST_TIMEOUT_S = 300.0  # RevisionTemplate.timeout default
RESERVED_PATHS = frozenset({"/eventlog", "/healthz"})


def reserved_path(path: str) -> bool:
    """Whether Cloud Run answers ``path`` itself instead of passing it to the container."""
    return path in RESERVED_PATHS or path.startswith("/_ah/")


class ServiceSlot:
    """One Cloud Run service in the data plane: its revisions, the serving one, its front."""

    def __init__(self, name: str, region: str, ingress: str) -> None:
        self.name = name
        self.region = region
        self._lock = threading.Lock()
        self._ingress = ingress or UNSPECIFIED
        self.revisions: list[Revision] = []
        self.serving: Revision | None = None
        # Kept-alive connections to the revisions, shared by the front and the edges.
        self.upstreams = UpstreamPool()
        self.front = Listener(
            front_app(lambda: self),
            name=f"front:{name.rsplit('/', 1)[-1]}",
            on_close=self.upstreams.close,
        )

    @property
    def ingress(self) -> str:
        with self._lock:
            return self._ingress

    @ingress.setter
    def ingress(self, value: str) -> None:
        with self._lock:
            self._ingress = value or UNSPECIFIED

    @property
    def uri(self) -> str:
        return self.front.url

    def target(self) -> tuple[str, float] | None:
        """(Unix socket, request timeout) of the serving revision, if one is ready."""
        with self._lock:
            revision = self.serving
        if revision is None:
            return None
        socket_path = revision.serving_socket
        if socket_path is None:
            return None
        return socket_path, request_timeout_s(revision)

    def set_serving(self, revision: Revision) -> list[Revision]:
        """Send traffic to ``revision`` if it is the newest ready one; the revisions to stop."""
        with self._lock:
            if revision not in self.revisions:
                return [revision]
            if self.serving is not None and self.serving.seq > revision.seq:
                return [revision]
            older = [r for r in self.revisions if r.seq < revision.seq]
            self.revisions = [r for r in self.revisions if r.seq >= revision.seq]
            self.serving = revision
        for retired in older:
            if retired.socket_path:
                self.upstreams.discard(retired.socket_path)
        return older

    def add(self, revision: Revision) -> None:
        with self._lock:
            self.revisions.append(revision)

    def all_revisions(self) -> list[Revision]:
        with self._lock:
            return list(self.revisions)


def request_timeout_s(revision: Revision) -> float:
    return parse_duration(revision.spec.template.get("timeout"), DEFAULT_REQUEST_TIMEOUT_S)


def blocked_by_ingress(start_response: Callable[..., Any], environ: dict[str, Any]) -> list[bytes]:
    """Cloud Run's own 404 page: ingress refused the request, or the path is reserved."""
    return reply(start_response, 404, pages.google_404(environ.get("PATH_INFO") or "/"), pages.HTML)


def front_app(slot: Callable[[], ServiceSlot]) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        service = slot()
        if service.front.closed:
            return blocked_by_ingress(start_response, environ)
        if service.ingress not in (ALL, UNSPECIFIED):
            return blocked_by_ingress(start_response, environ)
        if reserved_path(environ.get("PATH_INFO") or "/"):
            return blocked_by_ingress(start_response, environ)
        target = service.target()
        if target is None:
            return reply(start_response, 503, "Service Unavailable", pages.TEXT)
        socket_path, timeout_s = target
        try:
            body = read_body(environ)
        except BodyTooLarge:
            return reply(start_response, 413, "Request Entity Too Large", pages.TEXT)
        headers = [(n, v.encode("latin-1")) for n, v in request_headers(environ)]
        try:
            upstream = forward(
                socket_path=socket_path,
                method=environ["REQUEST_METHOD"],
                target=request_target(environ),
                headers=headers,
                body=body,
                deadline=time.monotonic() + timeout_s,
                pool=service.upstreams,
            )
        except UpstreamError as exc:
            if exc.kind == "timeout":
                return reply(start_response, 504, pages.UPSTREAM_TIMEOUT, pages.TEXT)
            return reply(start_response, 503, "Service Unavailable", pages.TEXT)
        return relay(start_response, upstream, upstream.headers)

    return app
