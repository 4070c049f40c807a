"""Loopback HTTP plumbing shared by the service fronts and the load-balancer edges.

:class:`Listener` serves a WSGI app on a loopback port in daemon threads, parsing requests
strictly (:mod:`globalguide.emulator.strict_http`).
:func:`forward` sends a request to a revision's Unix socket and streams its answer back
chunk by chunk (server-sent events pass through as they are produced), bounded by a
deadline. The revision's own ``Server`` and ``Date`` are replaced by the front end's.
An :class:`UpstreamPool` keeps the connections a revision leaves open, so that the next
request does not pay for a new one (as a front end keeps its connections to backends).
The exchange itself is a strict HTTP/1.1 client (:mod:`upstream_http`).
"""

from __future__ import annotations

import http.client
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from globalguide.emulator.dataplane.upstream_http import (
    BadTarget,
    BodyReader,
    ClosedBeforeAnswer,
    MalformedResponse,
    ResponseHead,
    UpstreamConnection,
    read_response_head,
    send_request,
)
from globalguide.emulator.strict_http import handler_named

LOOPBACK = "127.0.0.1"
# Cloud Run's request size limit for HTTP/1 (https://cloud.google.com/run/quotas).
MAX_REQUEST_BODY = 32 * 1024 * 1024
READ_CHUNK = 64 * 1024

# RFC 7230 §6.1 hop-by-hop headers: a proxy never forwards them.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Headers = list[tuple[str, str]]


# Strict parsing and Google's front-end pages for malformed requests (see strict_http).
FrontEndHandler = handler_named("Google Frontend")
# Set by the front end itself: an upstream's own values are dropped, never doubled.
FRONT_END_SET = frozenset({"server", "date"})


class Listener:
    """A WSGI app on its own loopback port, served by daemon threads until :meth:`close`."""

    def __init__(self, app: WSGIApp, name: str, on_close: Callable[[], None] | None = None) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._on_close = on_close
        self._server: BaseWSGIServer = make_server(
            LOOPBACK, 0, app, threaded=True, request_handler=FrontEndHandler
        )
        self.port: int = self._server.server_port
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._closed = False
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{name}:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop accepting and release the port (waits at most one poll interval)."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self._on_close is not None:
            self._on_close()

    @property
    def closed(self) -> bool:
        return self._closed


# ---------------------------------------------------------------------- requests


def request_target(environ: dict[str, Any]) -> str:
    """The request's path and query as the client sent them (printable ASCII: the strict
    parser refuses anything else); any other byte is percent-encoded."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not (raw and raw.startswith("/")):
        path = environ.get("PATH_INFO", "") or "/"
        query = environ.get("QUERY_STRING", "")
        raw = f"{path}?{query}" if query else path
    data = raw.encode("latin-1", "replace")
    return "".join(chr(b) if 0x21 <= b <= 0x7E else f"%{b:02X}" for b in data)


def request_headers(environ: dict[str, Any]) -> Headers:
    """The client's headers, in order, without hop-by-hop ones (values as sent, latin-1)."""
    out: Headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key.replace("_", "-").title()
            if not value:
                continue
        else:
            continue
        if name.lower() in HOP_BY_HOP:
            continue
        out.append((name, value))
    connection = environ.get("HTTP_CONNECTION", "")
    listed = {token.strip().lower() for token in connection.split(",") if token.strip()}
    return [(n, v) for n, v in out if n.lower() not in listed]


class BodyTooLarge(Exception):
    """The request body is over the limit."""


def read_body(environ: dict[str, Any], limit: int = MAX_REQUEST_BODY) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        try:
            size = int(length)
        except ValueError:
            size = -1
        if size > limit:
            raise BodyTooLarge
        return stream.read(size) if size > 0 else b""
    if environ.get("wsgi.input_terminated") or "chunked" in environ.get(
        "HTTP_TRANSFER_ENCODING", ""
    ):
        data = stream.read(limit + 1)
        if len(data) > limit:
            raise BodyTooLarge
        return data
    return b""


# ---------------------------------------------------------------------- upstream


class UpstreamError(Exception):
    """The upstream could not be reached ("connect") or did not answer in time ("timeout")."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class UpstreamResponse:
    status: int
    reason: str
    headers: Headers
    body: Iterator[bytes]


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix stream socket (a revision's ``BIND_UNIX``), for health checks."""

    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


# Requests sent again on a new connection when a kept-alive one turns out to be closed:
# those a server may receive twice (RFC 9110 §9.2.2 idempotent methods without a body).
RETRIED_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A kept-alive connection is reused for this long: well within the keep-alive timeout of
# the revision's server (5 s in service/gunicorn.conf.py), which closes it after that.
POOL_IDLE_S = 2.0
POOL_MAX_IDLE = 32  # per socket


class UpstreamPool:
    """Idle kept-alive connections to revisions' Unix sockets, newest reused first.

    A connection comes back only when its response was read to the end and the server
    kept it open; it is reused only by :data:`RETRIED_METHODS`, never after
    :data:`POOL_IDLE_S`, and never once the server has closed it or sent anything unasked.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[str, list[tuple[float, UpstreamConnection]]] = {}
        self._closed = False

    def take(self, socket_path: str) -> UpstreamConnection | None:
        now = time.monotonic()
        stale: list[UpstreamConnection] = []
        found = None
        with self._lock:
            idle = self._idle.get(socket_path)
            while idle:
                since, conn = idle.pop()
                if now - since < POOL_IDLE_S and not _readable(conn):
                    found = conn
                    break
                stale.append(conn)
            if not idle:
                self._idle.pop(socket_path, None)
        for conn in stale:
            conn.close()
        return found

    def give(self, socket_path: str, conn: UpstreamConnection) -> None:
        now = time.monotonic()
        with self._lock:
            if self._closed:
                dropped = [conn]
            else:
                idle = self._idle.setdefault(socket_path, [])
                idle.append((now, conn))
                cut = max(0, len(idle) - POOL_MAX_IDLE)
                while cut < len(idle) and now - idle[cut][0] >= POOL_IDLE_S:
                    cut += 1
                dropped = [c for _, c in idle[:cut]]
                del idle[:cut]
        for old in dropped:
            old.close()

    def discard(self, socket_path: str) -> None:
        """Close the idle connections to ``socket_path`` (its revision is stopping)."""
        with self._lock:
            idle = self._idle.pop(socket_path, [])
        for _, conn in idle:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [conn for entries in self._idle.values() for _, conn in entries]
            self._idle.clear()
        for conn in idle:
            conn.close()


def _readable(conn: UpstreamConnection) -> bool:
    """True when an idle connection has something to read: its server closed it (or sent
    what nobody asked for), so it must not carry another request."""
    if conn.sock is None:
        return True
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    return bool(poller.poll(0))


def forward(
    *,
    socket_path: str,
    method: str,
    target: str,
    headers: list[tuple[str, str | bytes]],
    body: bytes,
    deadline: float,
    pool: UpstreamPool | None = None,
) -> UpstreamResponse:
    """Send the request to the socket; the response body streams as it arrives.

    ``deadline`` (a ``time.monotonic()`` value) bounds the whole exchange: past it before
    the response head arrives, UpstreamError("timeout"); past it mid-body, the body ends.
    With a ``pool``, a kept-alive connection is reused when there is one, and the
    connection goes back to it once the body has been read to its end.
    """
    request = _Outgoing(socket_path, method, target, headers, body, deadline)
    reused = None
    if pool is not None and method in RETRIED_METHODS:
        reused = pool.take(socket_path)
    try:
        conn, head = _exchange(reused, request)
    except _StaleConnection:
        # A kept-alive connection the server had closed: nothing was answered on it.
        conn, head = _exchange(None, request)
    out_headers = [
        (name, value)
        for name, value in head.headers
        if name.lower() not in HOP_BY_HOP and name.lower() not in FRONT_END_SET
    ]
    reader = BodyReader(conn, head)

    def stream() -> Iterator[bytes]:
        whole = False
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                conn.settimeout(remaining)
                try:
                    chunk = reader.read(READ_CHUNK)
                except (OSError, MalformedResponse):
                    return
                if not chunk:
                    # Reusable only when whole, kept open, and nothing unasked came after.
                    whole = reader.complete and head.keep_alive and not conn.buffered
                    return
                yield chunk
        finally:
            if whole and pool is not None:
                pool.give(socket_path, conn)
            else:
                conn.close()

    return UpstreamResponse(head.status, head.reason, out_headers, stream())


class _StaleConnection(Exception):
    """A reused connection failed before any of the response arrived."""


@dataclass(frozen=True)
class _Outgoing:
    socket_path: str
    method: str
    target: str
    headers: list[tuple[str, str | bytes]]
    body: bytes
    deadline: float


def _exchange(
    conn: UpstreamConnection | None, request: _Outgoing
) -> tuple[UpstreamConnection, ResponseHead]:
    """Send the request on ``conn`` (a new connection when None) and read the response
    head. A reused ``conn`` that fails before the head arrives raises _StaleConnection."""
    remaining = request.deadline - time.monotonic()
    if remaining <= 0:
        if conn is not None:
            conn.close()
        raise UpstreamError("timeout")
    reused = conn is not None
    try:
        if conn is None:
            conn = UpstreamConnection(request.socket_path, timeout=remaining)
        else:
            conn.settimeout(remaining)
    except TimeoutError as exc:
        raise UpstreamError("timeout") from exc
    except OSError as exc:
        raise UpstreamError("connect") from exc
    try:
        send_request(conn, request.method, request.target, request.headers, request.body)
        head = read_response_head(conn, request.method)
    except TimeoutError as exc:
        conn.close()
        raise UpstreamError("timeout") from exc
    except (OSError, ClosedBeforeAnswer, MalformedResponse, BadTarget) as exc:
        conn.close()
        if reused and isinstance(exc, (ConnectionError, ClosedBeforeAnswer)):
            raise _StaleConnection from exc
        raise UpstreamError("connect") from exc
    except ValueError:
        conn.close()
        raise
    return conn, head


def socket_open(socket_path: str, timeout: float = 0.5) -> bool:
    """Whether something accepts connections on the Unix socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(socket_path)
        except OSError:
            return False
        return True


# ---------------------------------------------------------------------- responses


def status_line(status: int, reason: str | None = None) -> str:
    try:
        phrase = reason or HTTPStatus(status).phrase
    except ValueError:
        phrase = reason or "Unknown"
    return f"{status} {phrase}"


def reply(
    start_response: Callable[..., Any],
    status: int,
    body: str,
    content_type: str,
    extra: Headers | None = None,
) -> list[bytes]:
    """A whole response the proxy writes itself."""
    data = body.encode("utf-8")
    headers = [("Content-Type", content_type), ("Content-Length", str(len(data))), *(extra or [])]
    start_response(status_line(status), headers)
    return [data]


def relay(
    start_response: Callable[..., Any], upstream: UpstreamResponse, headers: Headers
) -> Iterator[bytes]:
    """Stream an upstream response with ``headers``: each chunk is written as it arrives."""
    start_response(status_line(upstream.status, upstream.reason), headers)
    return upstream.body


def parse_duration(value: Any, default: float) -> float:
    """A google.protobuf.Duration in JSON ("300s", "1.5s") as seconds."""
    if isinstance(value, str) and value.endswith("s"):
        try:
            return float(value[:-1])
        except ValueError:
            return default
    if isinstance(value, dict):
        return int(value.get("seconds", 0) or 0) + int(value.get("nanos", 0) or 0) / 1e9
    return default
