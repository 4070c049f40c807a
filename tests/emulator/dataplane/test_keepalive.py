"""Persistent connections: clients to the emulator's front ends, the front ends to revisions.

A connection carries request after request only while every message on it is delimited:
a body the app did not read, a chunked request, an answer shorter than announced, an
HTTP/1.0 client or ``Connection: close`` end it. Upstream, a kept-alive connection to a
revision is reused for GET, HEAD and OPTIONS only, and never once its server has closed it.
"""

from __future__ import annotations

import http.client
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest

from globalguide.emulator.dataplane import proxy
from globalguide.emulator.dataplane.proxy import Listener, UpstreamPool, forward


class App:
    """Answers by path; records every path it is called with."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        with self._lock:
            self.paths.append(path)
        if path == "/unread":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        body = environ["wsgi.input"].read()
        if path == "/nolength":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"a", b"b"]
        if path == "/short":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")])
            return [b"abc"]
        data = b"got:" + body
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))]
        )
        return [data]


@pytest.fixture
def served():
    app = App()
    listener = Listener(app, name="keepalive-test")
    yield listener, app
    listener.close()


def connect(listener: Listener) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", listener.port), timeout=5)
    return sock


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def responses(sock: socket.socket, count: int) -> list[Answer]:
    """Read ``count`` responses, one after another, from the connection."""
    stream = sock.makefile("rb")
    out = []
    for _ in range(count):
        status = int(stream.readline().split(b" ", 2)[1])
        headers: dict[str, str] = {}
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while size := int(stream.readline(), 16):
                body += stream.read(size)
                stream.readline()
            stream.readline()
        elif "content-length" in headers:
            body = stream.read(int(headers["content-length"]))
        else:
            body = stream.read()
        out.append(Answer(status, headers, body))
    return out


def closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, TimeoutError):
        return True


def test_one_connection_carries_many_requests(served):
    listener, app = served
    conn = http.client.HTTPConnection("127.0.0.1", listener.port, timeout=5)
    first_socket = None
    for i in range(3):
        conn.request("POST", "/", body=f"n{i}".encode())
        response = conn.getresponse()
        assert response.read() == f"got:n{i}".encode()
        assert not response.will_close
        assert response.getheader("Connection") is None
        first_socket = first_socket or conn.sock
        assert conn.sock is first_socket
    conn.close()
    assert app.paths == ["/", "/", "/"]


def test_pipelined_requests_are_answered_in_order_and_a_body_ends_at_its_length(served):
    listener, app = served
    with connect(listener) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        )
        first, second = responses(sock, 2)
    assert first.body == b"got:abc"  # the app read to the end: not into the next request
    assert second.body == b"got:"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
    ],
    ids=["connection close", "HTTP/1.0", "chunked request"],
)
def test_these_requests_end_their_connection(served, request_bytes):
    listener, _ = served
    with connect(listener) as sock:
        sock.sendall(request_bytes)
        (response,) = responses(sock, 1)
        assert response.status == 200
        assert response.header("Connection") == "close"
        assert closed_by_peer(sock)


def test_a_body_the_app_did_not_read_never_becomes_a_request(served):
    listener, app = served
    hidden = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
    with connect(listener) as sock:
        sock.sendall(
            b"POST /unread HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(hidden) + hidden
        )
        (response,) = responses(sock, 1)
        assert response.header("Connection") == "close"
        assert closed_by_peer(sock)
    time.sleep(0.1)
    assert app.paths == ["/unread"]


def test_an_answer_without_a_length_is_chunked_and_the_connection_goes_on(served):
    listener, _ = served
    with connect(listener) as sock:
        sock.sendall(b"GET /nolength HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
        first, second = responses(sock, 2)
    assert first.header("Transfer-Encoding") == "chunked"
    assert first.body == b"ab"
    assert second.body == b"got:"


def test_an_answer_without_a_length_to_http10_is_delimited_by_the_close(served):
    listener, _ = served
    with connect(listener) as sock:
        sock.sendall(b"GET /nolength HTTP/1.0\r\n\r\n")
        (response,) = responses(sock, 1)
        assert response.header("Transfer-Encoding") is None
        assert response.body == b"ab"


def test_an_answer_shorter_than_announced_ends_the_connection(served):
    listener, _ = served
    with connect(listener) as sock:
        sock.sendall(b"GET /short HTTP/1.1\r\nHost: a\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.endswith(b"\r\n\r\nabc")


def test_a_closed_listener_answers_nothing_more_on_a_kept_connection():
    app = App()
    listener = Listener(app, name="keepalive-close")
    with connect(listener) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        responses(sock, 1)
        listener.close()
        sock.sendall(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        assert closed_by_peer(sock)
    assert "/after" not in app.paths


# ---------------------------------------------------------------- upstream connections


class _CountingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.connections += 1  # type: ignore[attr-defined]

    def log_message(self, *args) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.requests.append(self.command)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(b"ok")
        if self.server.close_after_answer:  # type: ignore[attr-defined]
            self.close_connection = True  # closes without saying so, as an idle timeout does

    do_GET = do_POST = do_HEAD = _answer


class _Upstream(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str) -> None:
        super().__init__(path, _CountingHandler)
        self.lock = threading.Lock()
        self.connections = 0
        self.requests: list[str] = []
        self.close_after_answer = False


@pytest.fixture
def upstream(tmp_path):
    path = str(tmp_path / "rev.sock")
    server = _Upstream(path)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield path, server
    server.shutdown()
    server.server_close()


def send(path: str, pool: UpstreamPool, method: str = "GET") -> bytes:
    upstream = forward(
        socket_path=path,
        method=method,
        target="/",
        headers=[("Host", "a")],
        body=b"x" if method == "POST" else b"",
        deadline=time.monotonic() + 5,
        pool=pool,
    )
    assert upstream.status == 200
    return b"".join(upstream.body)


def test_a_kept_alive_upstream_connection_is_reused(upstream):
    path, server = upstream
    pool = UpstreamPool()
    assert [send(path, pool) for _ in range(3)] == [b"ok"] * 3
    assert send(path, pool, "HEAD") == b""
    assert send(path, pool) == b"ok"
    assert server.connections == 1
    pool.close()


def test_a_post_is_never_sent_on_a_reused_connection(upstream):
    path, server = upstream
    pool = UpstreamPool()
    send(path, pool)
    send(path, pool, "POST")
    assert server.connections == 2
    assert server.requests == ["GET", "POST"]
    pool.close()


def test_a_connection_its_server_closed_is_not_reused(upstream):
    path, server = upstream
    server.close_after_answer = True
    pool = UpstreamPool()
    send(path, pool)
    time.sleep(0.1)
    assert send(path, pool) == b"ok"
    assert server.connections == 2
    pool.close()


def test_a_get_on_a_connection_closed_unseen_is_sent_again_on_a_new_one(upstream, monkeypatch):
    path, server = upstream
    server.close_after_answer = True
    pool = UpstreamPool()
    send(path, pool)
    time.sleep(0.1)
    monkeypatch.setattr(proxy, "_readable", lambda conn: False)  # the close not yet seen
    assert send(path, pool) == b"ok"
    assert server.requests == ["GET", "GET"]
    pool.close()


def test_idle_connections_expire_and_a_discarded_socket_starts_afresh(upstream, monkeypatch):
    path, server = upstream
    pool = UpstreamPool()
    send(path, pool)
    pool.discard(path)
    send(path, pool)
    assert server.connections == 2
    monkeypatch.setattr(proxy, "POOL_IDLE_S", 0.0)
    send(path, pool)
    assert server.connections == 3
    pool.close()
    send(path, pool)  # a closed pool keeps nothing
    send(path, pool)
    assert server.connections == 5
