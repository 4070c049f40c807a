"""A global forwarding rule come alive: a loopback port that routes like the global external
Application Load Balancer.

Per request the edge:

1. takes the client's location from the emulator-only header (see :mod:`client`) and
   removes it; a bad value gets a short 400 from the edge;
2. follows forwarding rule -> target proxy -> URL map (host and path rules, redirects);
3. among the backend service's serverless NEGs that outlier detection has not ejected,
   picks the region with the lowest modelled RTT from the client, as the load balancer
   sends each request to the closest region with capacity
   (https://cloud.google.com/load-balancing/docs/https#load_distribution_algorithm);
4. removes and adds request headers as the URL map's header actions and the backend
   service's ``customRequestHeaders`` say (see :func:`transform_request`), plus the headers
   the load balancer always adds: ``X-Forwarded-For``, ``X-Forwarded-Proto``,
   ``Via: 1.1 google`` and, when absent, ``X-Cloud-Trace-Context``
   (https://cloud.google.com/load-balancing/docs/https#target-proxies);
5. sends the request straight to the region's serving revision and streams the answer back,
   within the backend service's ``timeoutSec`` (default 30 s).

The edge answers for itself as the Envoy-based load balancer does: 503 "no healthy
upstream" when the chosen region has no serving revision (a NEG whose service is missing
or not ready), 503 with Envoy's reset text when the connection fails, 504 "upstream request
timeout" on timeout (the registry.k8s.io outage report, kubernetes/registry.k8s.io#274,
shows this body from a global external ALB). A service whose ingress does not admit the
load balancer (internal only, or none), or a path Cloud Run reserves (see :mod:`front`),
is answered with Cloud Run's 404 page.

An HTTPS forwarding rule is served as plain HTTP on its port: a Google-managed certificate
never becomes ACTIVE without public DNS. The app still sees ``X-Forwarded-Proto: https``.
Under the realistic profile a new rule answers with the Google Front End's 502 page for a
modelled propagation time (``PROPAGATION_S`` times ``--time-scale``), and the edge reads
backend services, URL maps and NEGs as they have propagated (:mod:`propagation`): a change
reaches it only after a delay, as on Google Cloud.
"""

from __future__ import annotations

import functools
import math
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from globalguide import geo
from globalguide.emulator.dataplane import headers as hdr
from globalguide.emulator.dataplane import pages, urlmap
from globalguide.emulator.dataplane.client import (
    CITY_HEADER,
    EMULATOR_HEADERS,
    LATLNG_HEADER,
    BadClientLocation,
    ClientLocation,
    locate,
)
from globalguide.emulator.dataplane.front import (
    LOAD_BALANCER_ALLOWED,
    ServiceSlot,
    reserved_path,
)
from globalguide.emulator.dataplane.outlier import OutlierDetector
from globalguide.emulator.dataplane.proxy import (
    BodyTooLarge,
    Listener,
    UpstreamError,
    forward,
    read_body,
    relay,
    reply,
    request_headers,
    request_target,
    status_line,
)
from globalguide.emulator.dataplane.routes import Backend, Candidate, Routes

# "After waiting several minutes, the load balancer configuration will propagate globally
# and start working" (ahmetb/cloud-run-multi-region-terraform README; gcp-facts §7).
PROPAGATION_S = 180.0
DEFAULT_BACKEND_TIMEOUT_S = 30.0
MODELLED_RTT_HEADER = "X-Emulator-Modelled-Rtt-Ms"
# What a region's revisions answer while a drill makes them fail (the test control
# /_emulator/drill): the revision's own 503, which outlier detection counts.
DRILL_BODY = "Service Unavailable (failure drill)\n"


class Compute(Protocol):
    def get(self, kind: str, link: str) -> dict[str, Any] | None: ...


class EdgeHost(Protocol):
    """What an edge needs from the data plane."""

    @property
    def config(self) -> Compute:
        """The load-balancer configuration as it has propagated (:mod:`propagation`)."""
        ...

    def failing(self, region: str) -> bool:
        """True while a drill makes the region's revisions answer 503."""
        ...

    def slot(self, service: str) -> ServiceSlot | None: ...

    def detector(self, backend: dict[str, Any]) -> OutlierDetector | None: ...

    def client_city(self) -> str: ...

    def latency_modelled(self) -> bool: ...


class Edge:
    def __init__(self, rule: dict[str, Any], host: EdgeHost, propagation_s: float) -> None:
        self.link: str = rule["selfLink"]
        self.ip_address: str = str(rule.get("IPAddress", ""))
        self.port_range: str = str(rule.get("portRange", ""))
        self._host = host
        self._serving_after = time.monotonic() + propagation_s
        self._rng = random.Random(self.link)
        self._routes = Routes(self.link)
        self.listener = Listener(self._app, name=f"edge:{rule.get('name', '')}")

    @property
    def url(self) -> str:
        return self.listener.url

    def to_dict(self) -> dict[str, Any]:
        return {
            "forwardingRule": self.link,
            "IPAddress": self.ip_address,
            "portRange": self.port_range,
            "url": self.url,
            **self.effective(),
        }

    def effective(self) -> dict[str, Any]:
        """Where this edge routes now, by the configuration that has reached it: the
        regions behind the URL map's default service, and those outlier detection ejects."""
        chain = self._routes.current(self._host.config)
        backend = chain.backend((chain.url_map or {}).get("defaultService"))
        candidates = backend.candidates if backend else ()
        detector = self._host.detector(backend.resource) if backend else None
        ejected = detector.ejected(c.key for c in candidates) if detector is not None else set()
        return {
            "serving": time.monotonic() >= self._serving_after,
            "backendService": backend.resource.get("selfLink") if backend else None,
            "regions": sorted({c.region for c in candidates}),
            "ejectedRegions": sorted({c.region for c in candidates if c.key in ejected}),
        }

    def close(self) -> None:
        self.listener.close()

    # ------------------------------------------------------------------ requests
    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        chain = self._routes.current(self._host.config)
        rule = chain.rule
        if rule is None or self.listener.closed:
            return reply(start_response, 502, pages.gfe_502(), pages.HTML)
        if time.monotonic() < self._serving_after:
            return reply(start_response, 502, pages.gfe_502(), pages.HTML)
        incoming = [(n, v.encode("latin-1")) for n, v in request_headers(environ)]
        try:
            location = locate(
                hdr.get(incoming, CITY_HEADER),
                hdr.get(incoming, LATLNG_HEADER),
                self._host.client_city(),
            )
        except BadClientLocation as exc:
            return reply(start_response, 400, f"{exc}\n", pages.TEXT)
        request = _Request(
            environ=environ,
            start_response=start_response,
            headers=hdr.remove(incoming, EMULATOR_HEADERS),
            location=location,
            https=chain.https,
            lb_ip=str(rule.get("IPAddress", "")),
        )
        url_map = chain.url_map
        route = urlmap.resolve(url_map, request.host, request.path, self._rng) if url_map else None
        if route is None:
            return reply(start_response, 404, "", pages.TEXT)
        if route.redirect is not None:
            status, location_url = urlmap.redirect_target(
                route.redirect,
                scheme="https" if request.https else "http",
                host=environ.get("HTTP_HOST", ""),
                path=request.path,
                query=environ.get("QUERY_STRING", ""),
                prefix=route.matched_prefix,
            )
            return reply(start_response, status, "", pages.TEXT, [("Location", location_url)])
        backend = chain.backend(route.service)
        if backend is None or not backend.candidates:
            return reply(start_response, 503, pages.NO_HEALTHY_UPSTREAM, pages.TEXT)
        return self._to_region(request, route, backend)

    def _to_region(self, request: _Request, route: urlmap.Route, found: Backend) -> Iterable[bytes]:
        """Send the request to the nearest region not ejected, and stream its answer back."""
        start_response = request.start_response
        backend, candidates, keys = found.resource, found.candidates, found.keys
        detector = self._host.detector(backend)
        chosen, rtt_ms = _nearest(request.location, candidates, detector)

        def outcome(status: int | None) -> None:
            if detector is not None:
                detector.record(chosen.key, status, keys)

        slot = self._host.slot(chosen.service)
        if slot is not None and (
            slot.ingress not in LOAD_BALANCER_ALLOWED or reserved_path(request.path)
        ):
            # Cloud Run refuses the request itself; its 404 page comes back through the LB.
            body = pages.google_404(request.path).encode("utf-8")
            out = transform_response(
                [("Content-Type", pages.HTML)], route.header_actions, backend, {}
            )
            start_response(status_line(404), [*out, ("Content-Length", str(len(body)))])
            return [body]
        serving = slot.target() if slot is not None else None
        if serving is None:
            outcome(503)
            return reply(start_response, 503, pages.NO_HEALTHY_UPSTREAM, pages.TEXT)
        if self._host.failing(chosen.region):
            outcome(503)
            return reply(start_response, 503, DRILL_BODY, pages.TEXT)
        socket_path, request_timeout_s = serving
        try:
            body = read_body(request.environ)
        except BodyTooLarge:
            return reply(start_response, 413, "payload too large", pages.TEXT)
        values = _variables(request)
        headers = transform_request(request.headers, route.header_actions, backend, values)
        headers = _always_added(headers, request)
        if self._host.latency_modelled():
            time.sleep(rtt_ms / 1000.0)
        backend_timeout_s = float(backend.get("timeoutSec") or DEFAULT_BACKEND_TIMEOUT_S)
        try:
            upstream = forward(
                socket_path=socket_path,
                method=request.environ["REQUEST_METHOD"],
                target=request_target(request.environ),
                headers=headers,
                body=body,
                deadline=time.monotonic() + min(backend_timeout_s, request_timeout_s),
                pool=slot.upstreams,
            )
        except UpstreamError as exc:
            if exc.kind == "timeout":
                outcome(504)
                return reply(start_response, 504, pages.UPSTREAM_TIMEOUT, pages.TEXT)
            outcome(None)
            return reply(start_response, 503, pages.UPSTREAM_CONNECT_FAILURE, pages.TEXT)
        outcome(upstream.status)
        response_headers = transform_response(
            upstream.headers, route.header_actions, backend, values
        )
        if self._host.latency_modelled():
            response_headers.append((MODELLED_RTT_HEADER, f"{rtt_ms:.1f}"))
        return relay(start_response, upstream, response_headers)


@dataclass(frozen=True)
class _Request:
    environ: dict[str, Any]
    start_response: Callable[..., Any]
    headers: hdr.HeaderList  # the client's, without hop-by-hop and emulator-only headers
    location: ClientLocation
    https: bool
    lb_ip: str

    @property
    def path(self) -> str:
        return self.environ.get("PATH_INFO") or "/"

    @property
    def host(self) -> str:
        return self.environ.get("HTTP_HOST", "").rsplit(":", 1)[0]


def _always_added(headers: hdr.HeaderList, request: _Request) -> hdr.HeaderList:
    """X-Forwarded-For (client values first, then the client, then the LB's IP),
    X-Forwarded-Proto, Via, and a trace context when the client sent none."""
    forwarded = hdr.get(headers, "X-Forwarded-For")
    chain = [forwarded.decode("latin-1")] if forwarded else []
    chain += [request.environ.get("REMOTE_ADDR", ""), request.lb_ip]
    headers = hdr.add(headers, "X-Forwarded-For", ",".join(chain).encode(), replace=True)
    proto = b"https" if request.https else b"http"
    headers = hdr.add(headers, "X-Forwarded-Proto", proto, replace=True)
    via = hdr.get(headers, "Via")
    headers = hdr.add(headers, "Via", (via + b", " if via else b"") + b"1.1 google", replace=True)
    if hdr.get(headers, "X-Cloud-Trace-Context") is None:
        trace = f"{uuid.uuid4().hex}/{random.getrandbits(63)};o=1"
        headers = hdr.add(headers, "X-Cloud-Trace-Context", trace.encode(), replace=True)
    return headers


def _nearest(
    location: ClientLocation, candidates: tuple[Candidate, ...], detector: OutlierDetector | None
) -> tuple[Candidate, float]:
    ejected = detector.ejected(c.key for c in candidates) if detector is not None else set()
    usable = [c for c in candidates if c.key not in ejected] or candidates
    scored = [(_rtt_ms(location, c.region), c.region, c) for c in usable]
    rtt, _, best = min(scored, key=lambda item: (item[0], item[1]))
    return best, rtt


def _rtt_ms(location: ClientLocation, region: str) -> float:
    return _rtt_from(location.lat, location.lon, region)


@functools.lru_cache(maxsize=4096)
def _rtt_from(lat: float, lon: float, region: str) -> float:
    if region not in geo.REGIONS:
        return math.inf
    return geo.modelled_rtt_ms(lat, lon, region)


def _variables(request: _Request) -> dict[str, str]:
    environ, location = request.environ, request.location
    return {
        "client_region": location.region,
        "client_region_subdivision": location.subdivision,
        "client_city": location.city,
        "client_city_lat_long": location.lat_long,
        # Modelled: the client's access network to Google's nearest front end.
        "client_rtt_msec": str(round(geo.LAST_MILE_RTT_MS)),
        "client_ip_address": environ.get("REMOTE_ADDR", ""),
        "client_port": str(environ.get("REMOTE_PORT", "")),
        "client_protocol": environ.get("SERVER_PROTOCOL", ""),
        "client_encrypted": "true" if request.https else "false",
        "origin_request_header": environ.get("HTTP_ORIGIN", ""),
    }


def transform_request(
    headers: hdr.HeaderList,
    actions: list[dict[str, Any]],
    backend: dict[str, Any],
    values: dict[str, str],
) -> hdr.HeaderList:
    """The request headers after the URL map's and the backend service's transformations.

    The URL map's ``requestHeadersToRemove`` act on the headers the client sent; then the
    URL map's ``requestHeadersToAdd`` apply (route rule, path matcher, URL map, in that
    order); then the backend service's ``customRequestHeaders``, except those the URL map
    also sets: "if the same header is set in both the backend service and the URL map, the
    URL map takes precedence" (custom-headers-global). A backend service header is added
    next to a value the client sent (the docs do not say it replaces one); a URL map that
    removes the header makes sure only the load balancer's value arrives.
    """
    for action in actions:
        headers = hdr.remove(headers, action.get("requestHeadersToRemove") or [])
    set_by_url_map: set[str] = set()
    for action in actions:
        for option in action.get("requestHeadersToAdd") or []:
            name = option.get("headerName", "")
            value = hdr.expand(str(option.get("headerValue", "")), values)
            headers = hdr.add(
                headers, name, hdr.encode(value), replace=hdr.header_option_replace(option)
            )
            set_by_url_map.add(name.lower())
    for entry in backend.get("customRequestHeaders") or []:
        name, template = hdr.split_custom_header(entry)
        if name.lower() in set_by_url_map:
            continue
        headers = hdr.add(headers, name, hdr.encode(hdr.expand(template, values)), replace=False)
    return headers


def transform_response(
    headers: list[tuple[str, str]],
    actions: list[dict[str, Any]],
    backend: dict[str, Any],
    values: dict[str, str],
) -> list[tuple[str, str]]:
    """The response headers after header actions, ``customResponseHeaders`` and ``Via``."""
    raw: hdr.HeaderList = [(n, v.encode("latin-1")) for n, v in headers]
    for action in actions:
        raw = hdr.remove(raw, action.get("responseHeadersToRemove") or [])
    set_by_url_map: set[str] = set()
    for action in actions:
        for option in action.get("responseHeadersToAdd") or []:
            name = option.get("headerName", "")
            value = hdr.expand(str(option.get("headerValue", "")), values)
            raw = hdr.add(raw, name, hdr.encode(value), replace=hdr.header_option_replace(option))
            set_by_url_map.add(name.lower())
    for entry in backend.get("customResponseHeaders") or []:
        name, template = hdr.split_custom_header(entry)
        if name.lower() not in set_by_url_map:
            raw = hdr.add(raw, name, hdr.encode(hdr.expand(template, values)), replace=False)
    via = hdr.get(raw, "Via")
    raw = hdr.add(raw, "Via", (via + b", " if via else b"") + b"1.1 google", replace=True)
    return [(n, v.decode("latin-1")) for n, v in raw]
