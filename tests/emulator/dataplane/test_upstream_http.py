"""The strict HTTP/1.1 client the front ends use towards a revision's Unix socket: framing
by Content-Length, chunked coding and the close; a malformed or oversized answer is a failed
upstream; a connection goes back to the pool only after a whole answer on an open one."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from globalguide.emulator.dataplane.proxy import UpstreamError, UpstreamPool, forward
from globalguide.emulator.dataplane.upstream_http import (
    MAX_RESPONSE_FIELDS,
    MAX_RESPONSE_HEAD,
    MalformedResponse,
    parse_head,
    request_head,
)

MAX_REQUESTS = 20  # per scripted server: every loop in these tests is bounded


class ScriptedUpstream:
    """A Unix socket server answering every request with ``answer`` (raw bytes), then
    closing the connection when ``close`` is set. Counts connections and requests."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        self.close = False
        self.connections = 0
        self.requests: list[bytes] = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(path)
        self._server.listen(8)
        self._server.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        deadline = time.monotonic() + 30
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        pending = b""
        with conn:
            for _ in range(MAX_REQUESTS):
                while b"\r\n\r\n" not in pending and len(pending) < 65536:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    pending += data
                head, _, pending = pending.partition(b"\r\n\r\n")
                self.requests.append(head)
                conn.sendall(self.answer)
                if self.close:
                    return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._server.close()


@pytest.fixture
def upstream(tmp_path):
    server = ScriptedUpstream(str(tmp_path / "rev.sock"))
    yield server
    server.stop()


def get(server: ScriptedUpstream, pool: UpstreamPool, method: str = "GET"):
    response = forward(
        socket_path=server.path,
        method=method,
        target="/x?y=1",
        headers=[("Host", "a"), ("X-Value", b"v")],
        body=b"",
        deadline=time.monotonic() + 5,
        pool=pool,
    )
    return response.status, response.headers, b"".join(response.body)


def test_a_content_length_body_is_read_to_its_end_and_the_connection_reused(upstream):
    upstream.answer = b"HTTP/1.1 201 Made\r\nContent-Length: 5\r\nX-A: b \r\n\r\nhello"
    pool = UpstreamPool()
    for _ in range(3):
        assert get(upstream, pool) == (201, [("Content-Length", "5"), ("X-A", "b")], b"hello")
    assert upstream.connections == 1
    assert upstream.requests[0] == b"GET /x?y=1 HTTP/1.1\r\nHost: a\r\nX-Value: v"
    pool.close()


def test_a_chunked_body_is_decoded_with_extensions_and_trailers(upstream):
    upstream.answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    pool = UpstreamPool()
    assert get(upstream, pool) == (200, [], b"hello world")
    assert get(upstream, pool)[2] == b"hello world"
    assert upstream.connections == 1
    pool.close()


def test_interim_answers_are_skipped(upstream):
    upstream.answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz"
    pool = UpstreamPool()
    assert get(upstream, pool)[::2] == (200, b"z")
    pool.close()


@pytest.mark.parametrize(
    ("answer", "closes", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", False, b"ok"),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", False, b"ok"),
        # unasked bytes after the answer
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n", False, b"ok"),
        # a body delimited by the close is whole
        (b"HTTP/1.1 200 OK\r\n\r\nuntil the end", True, b"until the end"),
    ],
    ids=["connection-close", "http-1.0", "bytes-after-the-answer", "body-until-the-close"],
)
def test_these_connections_are_not_reused(upstream, answer, closes, body):
    upstream.answer = answer
    upstream.close = closes
    pool = UpstreamPool()
    assert get(upstream, pool)[2] == body
    assert get(upstream, pool)[2] == body
    assert upstream.connections == 2
    pool.close()


def test_a_body_cut_short_ends_and_its_connection_is_closed(upstream):
    upstream.answer = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"
    upstream.close = True
    pool = UpstreamPool()
    assert get(upstream, pool)[2] == b"short"
    get(upstream, pool)
    assert upstream.connections == 2
    pool.close()


def test_a_head_answer_has_no_body_whatever_its_length_says(upstream):
    upstream.answer = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"
    pool = UpstreamPool()
    assert get(upstream, pool, "HEAD")[2] == b""
    assert get(upstream, pool, "HEAD")[2] == b""
    assert upstream.connections == 1
    pool.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * MAX_RESPONSE_HEAD + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Endless: " + b"a" * (2 * MAX_RESPONSE_HEAD),  # never ends
        b"HTTP/1.1 200 OK\r\n" + b"X-F: 1\r\n" * (MAX_RESPONSE_FIELDS + 1) + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: b\r\n folded\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    ],
    ids=[
        "oversized-field",
        "head-without-end",
        "too-many-fields",
        "space-before-colon",
        "obsolete-fold",
        "bare-lf",
        "four-digit-status",
        "http-2",
        "conflicting-lengths",
        "negative-length",
        "length-and-chunked",
        "other-coding",
        "unasked-upgrade",
    ],
)
def test_a_malformed_or_oversized_head_is_a_failed_upstream(upstream, answer):
    upstream.answer = answer
    pool = UpstreamPool()
    with pytest.raises(UpstreamError) as info:
        get(upstream, pool)
    assert info.value.kind == "connect"
    pool.close()


@pytest.mark.parametrize(
    "body",
    [
        b"5\r\nhelloXX0\r\n\r\n",  # data longer than its size
        b"zz\r\nhello\r\n0\r\n\r\n",  # not a size
        b"1" * 17 + b"\r\n",  # a size too long to be one
        b"5;" + b"e" * 5000 + b"\r\nhello\r\n0\r\n\r\n",  # an endless size line
    ],
)
def test_broken_chunked_framing_ends_the_body_and_the_connection(upstream, body):
    upstream.answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    pool = UpstreamPool()
    status, _, _ = get(upstream, pool)
    assert status == 200
    get(upstream, pool)
    assert upstream.connections == 2
    pool.close()


def test_the_request_head_is_one_buffer_with_the_length_the_body_has():
    head = request_head("POST", "/a", [("Host", "h"), ("Content-Length", "99")], b"abc")
    assert head == b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n"
    assert request_head("PUT", "/", [], b"").endswith(b"Content-Length: 0\r\n\r\n")
    with pytest.raises(ValueError):
        request_head("GET", "/", [("X-A", b"a\r\nX-Injected: 1")], b"")


def test_parse_head_keeps_names_as_sent_and_trims_values():
    head = parse_head(b"HTTP/1.1 404\r\ncontent-LENGTH: 3\r\nX-Empty:\r\n\r\n", "GET")
    assert (head.status, head.reason, head.length, head.keep_alive) == (404, "", 3, True)
    assert head.headers == [("content-LENGTH", "3"), ("X-Empty", "")]
    with pytest.raises(MalformedResponse):
        parse_head(b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n", "GET")
