"""Loopback HTTP plumbing shared by the service fronts and the load-balancer edges.

:class:`Listener` serves a WSGI app on a loopback port in daemon threads.
:func:`forward` sends a request to a local upstream and streams its answer back chunk by
chunk (server-sent events pass through as they are produced), bounded by a deadline.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

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


class _QuietHandler(WSGIRequestHandler):
    """No access log, and a server header that does not name the emulator's web server."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log_error(self, *args: Any) -> None:
        pass

    def version_string(self) -> str:
        return "Google Frontend"


class Listener:
    """A WSGI app on its own loopback port, served by daemon threads until :meth:`close`."""

    def __init__(self, app: WSGIApp, name: str) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server: BaseWSGIServer = make_server(
            LOOPBACK, 0, app, threaded=True, request_handler=_QuietHandler
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

    @property
    def closed(self) -> bool:
        return self._closed


# ---------------------------------------------------------------------- requests


def request_target(environ: dict[str, Any]) -> str:
    """The request's path and query as the client sent them."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw and raw.startswith("/"):
        return raw
    path = quote(environ.get("PATH_INFO", "") or "/", safe="/:@!$&'()*+,;=-._~%")
    query = environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


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


def forward(
    *,
    port: int,
    method: str,
    target: str,
    headers: list[tuple[str, str | bytes]],
    body: bytes,
    deadline: float,
) -> UpstreamResponse:
    """Send the request to ``127.0.0.1:port``; the response body streams as it arrives.

    ``deadline`` (a ``time.monotonic()`` value) bounds the whole exchange: past it before
    the response head arrives, UpstreamError("timeout"); past it mid-body, the body ends.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise UpstreamError("timeout")
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=remaining)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            if name.lower() != "content-length":
                conn.putheader(name, value)
        if body or method in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        response = conn.getresponse()
    except TimeoutError as exc:
        conn.close()
        raise UpstreamError("timeout") from exc
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise UpstreamError("connect") from exc
    out_headers = [
        (name, value) for name, value in response.getheaders() if name.lower() not in HOP_BY_HOP
    ]

    def stream() -> Iterator[bytes]:
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                if conn.sock is not None:
                    conn.sock.settimeout(remaining)
                try:
                    chunk = response.read1(READ_CHUNK)
                except (OSError, http.client.HTTPException):
                    return
                if not chunk:
                    return
                yield chunk
        finally:
            conn.close()

    return UpstreamResponse(response.status, response.reason, out_headers, stream())


def port_open(port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on the loopback port."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


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
