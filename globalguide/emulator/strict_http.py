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
"""

from __future__ import annotations

import email.utils
import http.client
import io
import re
from typing import Any

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
    """werkzeug's WSGI handler with a strict parser and fixed refusals."""

    server_header = "Google Frontend"
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT_S

    def version_string(self) -> str:
        return self.server_header

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log_error(self, *args: Any) -> None:
        pass

    def log_message(self, *args: Any) -> None:
        pass

    def parse_request(self) -> bool:
        self.close_connection = True
        self.command, self.request_version = "", "HTTP/1.1"
        try:
            method, target, version = _request_line(self.raw_requestline)
            self.command, self.path, self.request_version = method, target, version
            self.requestline = f"{method} {target} {version}"
            fields = self._read_fields()
            _check_fields(fields, version)
        except Refused as exc:
            self.send_error(exc.status)
            return False
        raw = b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in fields) + b"\r\n"
        self.headers = http.client.parse_headers(io.BytesIO(raw))
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

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        status = code if code in PAGES else 400
        reason, page = PAGES[status]
        body = page.encode("utf-8")
        head = (
            f"HTTP/1.1 {status} {reason}\r\n"
            "Content-Type: text/html; charset=UTF-8\r\n"
            "Referrer-Policy: no-referrer\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Date: {email.utils.formatdate(usegmt=True)}\r\n"
            f"Server: {self.server_header}\r\n"
            "Connection: close\r\n\r\n"
        )
        self.close_connection = True
        try:
            self.wfile.write(head.encode("latin-1") + body)
        except OSError:
            pass


def handler_named(server_header: str) -> type[StrictRequestHandler]:
    """The strict handler, answering with ``Server: server_header``."""
    return type("StrictHandler", (StrictRequestHandler,), {"server_header": server_header})


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
