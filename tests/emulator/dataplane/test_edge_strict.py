"""The front end's HTTP parsing, over raw sockets: at least as strict as gunicorn's.

A :class:`Listener` is what every service front and load-balancer edge serves with; the
app behind it here counts its calls, so a refused request is seen never to reach it. One
real front with a tiny revision checks the headers the revision's own server adds.
"""

from __future__ import annotations

import socket
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from globalguide.emulator.dataplane import DataPlane
from globalguide.emulator.dataplane.proxy import Listener
from globalguide.emulator.server import EmulatorConfig
from tests.emulator.dataplane_support import FakeEmulator, tiny_image, wait_for

FORBIDDEN_NAMES = (b"python", b"werkzeug", b"gunicorn", b"http.server", b"basehttp")


class CountingApp:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self._lock:
            self.calls.append(environ.get("RAW_URI") or environ.get("PATH_INFO", ""))
        body = b"ok"
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [body]


@pytest.fixture(scope="module")
def served():
    app = CountingApp()
    listener = Listener(app, name="strict-test")
    yield listener, app
    listener.close()


def exchange(listener: Listener, raw: bytes, timeout: float = 5.0) -> bytes:
    """Send ``raw`` as is; everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", listener.port), timeout=timeout) as sock:
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the whole request was sent: the answer may still be there
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def head_fields(answer: bytes) -> list[tuple[bytes, bytes]]:
    head = answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    return [tuple(part.strip() for part in line.split(b":", 1)) for line in head]


def assert_front_end_answer(answer: bytes) -> None:
    fields = head_fields(answer)
    assert [v for n, v in fields if n.lower() == b"server"] == [b"Google Frontend"]
    assert len([v for n, v in fields if n.lower() == b"date"]) == 1
    assert not any(name in answer.lower() for name in FORBIDDEN_NAMES), answer


REFUSED = {
    "conflicting content-length": (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
    ),
    "repeated content-length": (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
        400,
    ),
    "content-length and transfer-encoding": (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        400,
    ),
    "chunked twice": (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "chunked not last": (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        400,
    ),
    "chunked in HTTP/1.0": (
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "signed content-length": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\na", 400),
    "HTTP/0.9": (b"GET /\r\n", 400),
    "HTTP/2 on the wire": (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 400),
    "non-ASCII path": ("GET /café HTTP/1.1\r\nHost: a\r\n\r\n".encode(), 400),
    "non-ASCII query": ("GET /?q=é HTTP/1.1\r\nHost: a\r\n\r\n".encode(), 400),
    "latin-1 byte in path": (b"GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "NUL in path": (b"GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "no-break space in path": (b"GET /a\xa0b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "absolute form": (b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "lower-case method": (b"get / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "two spaces": (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "bare LF": (b"GET / HTTP/1.1\nHost: a\n\n", 400),
    "no Host in HTTP/1.1": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "two Hosts": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "space before colon": (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    "underscore in a name": (b"GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 1\r\n\r\n", 400),
    "obsolete folding": (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  2\r\n\r\n", 400),
    "control byte in a value": (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\x012\r\n\r\n", 400),
    "101 header fields": (
        b"GET / HTTP/1.1\r\nHost: a\r\n"
        + b"".join(b"X-%d: 1\r\n" % i for i in range(100))
        + b"\r\n",
        413,
    ),
    "a 64 KiB header": (b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n", 413),
    "a long request line": (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_ambiguous_or_malformed_requests_get_a_short_fixed_answer(served, case):
    listener, app = served
    raw, status = REFUSED[case]
    before = len(app.calls)
    answer = exchange(listener, raw)
    assert status_of(answer) == status
    assert_front_end_answer(answer)
    expected = {
        400: b"Your client has issued a malformed or illegal request.",
        413: b"Your client issued a request that was too large.",
        414: b"The requested URL is too large to process.",
    }[status]
    assert expected in answer
    assert len(app.calls) == before  # never reached the app


def test_well_formed_requests_pass_with_their_target_as_sent(served):
    listener, app = served
    raw = b"GET /caf%C3%A9?q=%E2%9C%93&x={y} HTTP/1.1\r\nHost: a\r\n\r\n"
    answer = exchange(listener, raw)
    assert status_of(answer) == 200
    assert_front_end_answer(answer)
    assert app.calls[-1] == "/caf%C3%A9?q=%E2%9C%93&x={y}"
    chunked = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
    assert status_of(exchange(listener, chunked)) == 200
    assert status_of(exchange(listener, b"GET / HTTP/1.0\r\n\r\n")) == 200


@settings(
    max_examples=60,
    deadline=2000,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    path=st.binary(max_size=40),
    query=st.binary(max_size=40),
    value=st.binary(max_size=40),
)
def test_any_bytes_in_the_target_or_a_header_are_data_never_a_5xx(served, path, query, value):
    listener, _ = served
    raw = b"GET /" + path + b"?" + query + b" HTTP/1.1\r\nHost: a\r\nX-Fuzz: " + value + b"\r\n\r\n"
    answer = exchange(listener, raw)
    assert answer, raw
    assert status_of(answer) < 500, raw
    assert not any(name in answer.lower() for name in FORBIDDEN_NAMES)


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    root = tmp_path_factory.mktemp("strict-front")
    emulator = FakeEmulator(EmulatorConfig(state_dir=root / "state"))
    plane = DataPlane(emulator)
    handle = plane.start_revision(
        service="projects/p/locations/europe-west1/services/tiny",
        region="europe-west1",
        revision="tiny-00001-abc",
        image=tiny_image(root / "image"),
        env={},
        ingress="INGRESS_TRAFFIC_ALL",
    )
    assert wait_for(lambda: handle.status == "ready", 30), handle.error
    yield plane.slot("projects/p/locations/europe-west1/services/tiny").front
    plane.stop_all()


def test_one_server_and_one_date_though_the_revision_sends_its_own(front):
    """The tiny revision's http.server sends ``Server: BaseHTTP/… Python/…`` and a Date."""
    answer = exchange(front, b"GET /_count HTTP/1.1\r\nHost: a\r\n\r\n")
    assert status_of(answer) == 200
    assert_front_end_answer(answer)


@pytest.mark.parametrize("case", ["conflicting content-length", "non-ASCII path", "HTTP/0.9"])
def test_a_real_front_refuses_too(front, case):
    raw, status = REFUSED[case]
    answer = exchange(front, raw)
    assert status_of(answer) == status
    assert_front_end_answer(answer)
