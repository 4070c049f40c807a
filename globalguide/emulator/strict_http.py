"""A strict HTTP/1.x request parser for every port the emulator serves.

Python's ``http.server`` (under werkzeug) accepts what a front end must not: HTTP/0.9,
conflicting ``Content-Length`` headers, ``Content-Length`` with ``Transfer-Encoding``
(the ways requests are smuggled past a proxy), raw bytes outside printable ASCII in the
request target, and it answers its own errors with a page naming Python. This handler
refuses at least what gunicorn refuses (gunicorn/http/message.py: RFC 9112 request line,
RFC 9110 field names and values, singleton ``Host``/``Content-Type``, underscores in
field names, the framing rules of RFC 9112 §6) and answers with short fixed pages in the
words of Google's front end:

- 400 "Your client has issued a malformed or illegal request." for anything malformed;
- 413 "Your client issued a request that was too large." when the header block is over
  the limits (the Google Front End's page for oversized requests and cookies);
- 414 when the request line is longer than gunicorn's default limit.

Every answer carries one ``Server`` (the name given per server: "Google Frontend" for the
data plane, "ESF" for the API, as googleapis.com answers) and one ``Date``.

Connections are persistent (RFC 9112 §9.3), as Google's front ends keep them: an HTTP/1.1
request without ``Connection: close`` leaves the connection open for the next one, unless
the request's body was not read to its end (its framing would then be lost), it came
chunked, or the response cannot be delimited. Those, HTTP/1.0 and every refusal close it.
Response bodies are framed by the app's ``Content-Length`` or, failing that, chunked; a
body shorter than announced closes the connection, and nothing past the announced length
is sent.
"""

from __future__ import annotations

import email.utils
import http.client
import re
import time
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import InternalServerError
from werkzeug.serving import WSGIRequestHandler

# gunicorn's defaults: limit_request_line 4094, limit_request_fields 100; a field line may
# be 16 KiB here, the limit the service's own gunicorn.conf.py sets.
MAX_REQUEST_LINE = 4094
MAX_FIELDS = 100
MAX_FIELD_LINE = 16384
MAX_HEAD = 64 * 1024
READ_TIMEOUT_S = 60.0

_TOKEN = re.compile(r"[!#$%&'*+\-.^`|~0-9a-zA-Z]+")
_METHOD_BAD = re.compile(r"[a-z#]")
_VERSION = re.compile(r"HTTP/1\.[01]")
_TARGET_BAD = re.compile(rb"[^\x21-\x7e]")
_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_DIGITS = re.compile(r"[0-9]+")
_SINGLETONS = ("host", "content-type")
_NO_BODY_STATUSES = (204, 304)

_GOOGLE_STYLE = (
    "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n"
    '  <meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">\n'
    "  <title>Error {code} ({title})!!1</title>\n"
    "  <a href=//www.google.com/><span id=logo aria-label=Google></span></a>\n"
    "  <p><b>{code}.</b> <ins>That\u2019s an error.</ins>\n"
    "  <p>{text}  <ins>That\u2019s all we know.</ins>\n"
)
PAGES = {
    400: (
        "Bad Request",
        _GOOGLE_STYLE.format(
            code=400,
            title="Bad Request",
            text="Your client has issued a malformed or illegal request.",
        ),
    ),
    413: (
        "Request Entity Too Large",
        '<html><head>\n<meta http-equiv="content-type" content="text/html;charset=utf-8">\n'
        "<title>413 Request Entity Too Large</title>\n</head>\n"
        "<body text=#000000 bgcolor=#ffffff>\n<h1>Error: Request Entity Too Large</h1>\n"
        "<h2>Your client issued a request that was too large.\n</h2>\n</body></html>\n",
    ),
    414: (
        "Request-URI Too Large",
        _GOOGLE_STYLE.format(
            code=414,
            title="Request-URI Too Large",
            text="The requested URL is too large to process.",
        ),
    ),
}


class Refused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class StrictRequestHandler(WSGIRequestHandler):
    """werkzeug's WSGI handler with a strict parser, fixed refusals and persistent
    connections."""

    server_header = "Google Frontend"
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT_S
    # A response's head goes out with its first body bytes, in one write: nothing to wait
    # for, so Nagle's algorithm would only hold back the last segment of each answer.
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return self.server_header

    def date_time_string(self, timestamp: float | None = None) -> str:
        return _http_date()

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log_error(self, *args: Any) -> None:
        pass

    def log_message(self, *args: Any) -> None:
        pass

    def handle(self) -> None:
        """The requests of one connection, one after another, while it stays open."""
        self.close_connection = True
        self._requests_served = 0
        try:
            self.handle_one_request()
            while not self.close_connection:
                self.handle_one_request()
        except (ConnectionError, TimeoutError):
            pass

    def parse_request(self) -> bool:
        self.close_connection = True
        self.command, self.request_version = "", "HTTP/1.1"
        if self._requests_served and self.server.socket.fileno() < 0:
            return False  # the server has closed: a kept-alive connection ends unanswered
        self._requests_served += 1
        try:
            method, target, version = _request_line(self.raw_requestline)
            self.command, self.path, self.request_version = method, target, version
            self.requestline = f"{method} {target} {version}"
            fields = self._read_fields()
            _check_fields(fields, version)
        except Refused as exc:
            self.send_error(exc.status)
            return False
        headers = http.client.HTTPMessage()
        for name, value in fields:
            headers[name] = value
        self.headers = headers
        self.close_connection = not _persistent(fields, version)
        return True

    def _read_fields(self) -> list[tuple[str, str]]:
        fields: list[tuple[str, str]] = []
        total = 0
        while True:
            line = self.rfile.readline(MAX_FIELD_LINE + 3)
            total += len(line)
            if line in (b"\r\n",):
                return fields
            if not line.endswith(b"\r\n"):
                if len(line) > MAX_FIELD_LINE:
                    raise Refused(413)
                raise Refused(400)  # a bare LF, or the connection ended mid-header
            if len(line) > MAX_FIELD_LINE + 2 or total > MAX_HEAD or len(fields) >= MAX_FIELDS:
                raise Refused(413)
            fields.append(_field(line[:-2]))

    def run_wsgi(self) -> None:
        """Call the app and write its answer, framed so that the connection can go on."""
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        body = None
        if "wsgi.input_terminated" not in environ:
            body = _Body(self.rfile, int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = body
        response = _Response(self, body)
        try:
            self._execute(self.server.app, response)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
            return
        except Exception as exc:
            self.close_connection = True
            if not response.sent:
                # Roll back what the app set: the error page takes its place.
                response = _Response(self, body)
                try:
                    self._execute(InternalServerError(), response)
                except Exception:  # noqa: S110 - the client is told nothing more
                    pass
            self._log_failure(exc)
        if body is None or not body.read_to_end:
            self.close_connection = True
            self._discard_unread()

    def _execute(self, app: Callable[..., Any], response: _Response) -> None:
        answer = app(self.environ, response.start_response)
        try:
            for data in answer:
                response.write(data)
            response.finish()
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()

    def _log_failure(self, exc: Exception) -> None:
        from werkzeug.debug.tbtools import DebugTraceback

        text = DebugTraceback(exc).render_traceback_text()
        self.server.log("error", f"Error on request:\n{text}")

    def _discard_unread(self) -> None:
        """Read what the client is still sending (a body the app did not read, the rest of
        a refused request) for a short while, so that the connection does not close with
        unread data, which resets it before the client has read the answer."""
        self.connection.settimeout(0.01)
        try:
            for _ in range(1000):
                if not self.connection.recv(1 << 20):
                    return
        except OSError:
            return

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        status = code if code in PAGES else 400
        reason, page = PAGES[status]
        body = page.encode("utf-8")
        head = (
            f"HTTP/1.1 {status} {reason}\r\n"
            "Content-Type: text/html; charset=UTF-8\r\n"
            "Referrer-Policy: no-referrer\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Date: {_http_date()}\r\n"
            f"Server: {self.server_header}\r\n"
            "Connection: close\r\n\r\n"
        )
        self.close_connection = True
        try:
            self.wfile.write(head.encode("latin-1") + body)
        except OSError:
            return
        self._discard_unread()


class _Body:
    """A request body of ``Content-Length`` bytes, read from the connection: an app never
    reads past it into the next request, and the handler knows whether it was read whole."""

    def __init__(self, rfile: Any, length: int) -> None:
        self._rfile = rfile
        self._left = length

    @property
    def read_to_end(self) -> bool:
        return self._left == 0

    def read(self, size: int | None = -1) -> bytes:
        return self._take(self._rfile.read, size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._take(self._rfile.readline, size)

    def _take(self, reader: Callable[[int], bytes], size: int | None) -> bytes:
        if size is None or size < 0 or size > self._left:
            size = self._left
        data = reader(size) if size else b""
        self._left -= len(data)
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> Any:
        return iter(self.readline, b"")


class _Response:
    """One answer on the connection: the app's status and headers, then its body, framed
    by its ``Content-Length`` or chunked."""

    def __init__(self, handler: StrictRequestHandler, body: _Body | None) -> None:
        self._handler = handler
        self._body = body
        self._status: str | None = None
        self._headers: list[tuple[str, str]] = []
        self.sent = False
        self._chunked = False
        self._bodiless = False
        self._owed: int | None = None  # body bytes still due under Content-Length

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self._status is not None:
            raise AssertionError("Headers already set")
        self._status, self._headers = status, headers
        return self.write

    def write(self, data: bytes) -> None:
        assert self._status is not None, "write() before start_response"
        assert isinstance(data, bytes), "applications must write bytes"
        out = b"" if self.sent else self._head()
        if data and not self._bodiless:
            if self._chunked:
                out += b"%x\r\n%b\r\n" % (len(data), data)
            elif self._owed is None:
                out += data
            else:
                if len(data) > self._owed:  # more than announced: never sent
                    data = data[: self._owed]
                    self._handler.close_connection = True
                self._owed -= len(data)
                out += data
        if out:
            self._handler.wfile.write(out)

    def finish(self) -> None:
        if not self.sent:
            self.write(b"")
        if self._chunked:
            self._handler.wfile.write(b"0\r\n\r\n")
        elif self._owed:
            self._handler.close_connection = True  # shorter than announced

    def _head(self) -> bytes:
        handler = self._handler
        assert self._status is not None
        code_text, _, reason = self._status.partition(" ")
        code = int(code_text)
        self._bodiless = handler.command == "HEAD" or 100 <= code < 200 or code in _NO_BODY_STATUSES
        lines = [
            f"{handler.protocol_version} {code} {reason.strip()}",
            f"Server: {handler.server_header}",
            f"Date: {_http_date()}",
        ]
        length: int | None = None
        close = handler.close_connection
        for name, value in self._headers:
            lines.append(f"{name}: {value}")
            lowered = name.lower()
            if lowered == "content-length":
                length = int(value) if _DIGITS.fullmatch(value) and length is None else -1
            elif lowered == "connection":
                close = close or "close" in value.lower()
            elif lowered == "transfer-encoding":
                close = True  # an app's own framing: the connection ends with the body
        if length is not None and length >= 0:
            self._owed = None if self._bodiless else length
        elif length is not None:
            close = True  # a malformed or repeated length delimits nothing
        elif not self._bodiless:
            if handler.request_version == "HTTP/1.1" and not close:
                self._chunked = True
                lines.append("Transfer-Encoding: chunked")
            else:
                close = True
        if self._body is None or not self._body.read_to_end:
            close = True
        if close:
            handler.close_connection = True
            lines.append("Connection: close")
        self.sent = True
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    """The ``Date`` header value, formatted once per second."""
    global _date_cache
    now = int(time.time())
    second, text = _date_cache
    if second != now:
        text = email.utils.formatdate(now, usegmt=True)
        _date_cache = (now, text)
    return text


def _persistent(fields: list[tuple[str, str]], version: str) -> bool:
    """Whether the connection may carry another request after this one's answer."""
    if version != "HTTP/1.1":
        return False
    for name, value in fields:
        lowered = name.lower()
        if lowered == "transfer-encoding":
            return False  # a chunked body ends the connection with its answer
        if lowered == "connection" and "close" in (t.strip().lower() for t in value.split(",")):
            return False
    return True


def handler_named(server_header: str) -> type[StrictRequestHandler]:
    """The strict handler, answering with ``Server: server_header``."""
    return type("StrictHandler", (StrictRequestHandler,), {"server_header": server_header})


# googleapis.com answers with "Server: ESF": the emulator's API port and the standalone fake
# Gemini alike.
ApiRequestHandler = handler_named("ESF")


def _request_line(raw: bytes) -> tuple[str, str, str]:
    if len(raw) > MAX_REQUEST_LINE + 2:
        raise Refused(414)
    if not raw.endswith(b"\r\n"):
        raise Refused(400)
    parts = raw[:-2].split(b" ")
    if len(parts) != 3:  # HTTP/0.9 ("GET /"), or stray spaces
        raise Refused(400)
    if _TARGET_BAD.search(parts[1]):
        raise Refused(400)
    method, target, version = (p.decode("latin-1") for p in parts)
    if not _TOKEN.fullmatch(method) or _METHOD_BAD.search(method) or not 3 <= len(method) <= 20:
        raise Refused(400)
    if not _VERSION.fullmatch(version):
        raise Refused(400)
    if not (target.startswith("/") or (target == "*" and method == "OPTIONS")):
        raise Refused(400)
    return method, target, version


def _field(line: bytes) -> tuple[str, str]:
    text = line.decode("latin-1")
    if text[:1] in (" ", "\t"):  # obsolete line folding
        raise Refused(400)
    name, colon, value = text.partition(":")
    if not colon or not _TOKEN.fullmatch(name) or "_" in name:
        raise Refused(400)
    value = value.strip(" \t")
    if _VALUE_BAD.search(value):
        raise Refused(400)
    return name, value


def _check_fields(fields: list[tuple[str, str]], version: str) -> None:
    names = [n.lower() for n, _ in fields]
    for singleton in _SINGLETONS:
        if names.count(singleton) > 1:
            raise Refused(400)
    if version == "HTTP/1.1" and "host" not in names:
        raise Refused(400)  # RFC 9112 §3.2
    lengths = [v for n, v in fields if n.lower() == "content-length"]
    codings = [v for n, v in fields if n.lower() == "transfer-encoding"]
    if len(lengths) > 1 or (lengths and not _DIGITS.fullmatch(lengths[0])):
        raise Refused(400)
    if codings:
        listed = [c.strip(" \t").lower() for v in codings for c in v.split(",")]
        if listed != ["chunked"] or version != "HTTP/1.1" or lengths:
            raise Refused(400)
