"""A strict HTTP/1.1 client exchange with a revision over its Unix socket.

The request head goes out in one write (with a small body, in the same one). The response
head is read whole, within :data:`MAX_RESPONSE_HEAD` bytes and :data:`MAX_RESPONSE_FIELDS`
fields, and parsed by RFC 9112's grammar: CRLF line ends only, no obsolete line folding, no
space before a field's colon, a three-digit status. The body is framed by
``Content-Length``, by chunked coding (chunk lines and trailers bounded too), or by the
close of the connection. Anything else is :class:`MalformedResponse`; the caller answers
it as a failed upstream and closes the connection.

:class:`BodyReader` says whether a body was read to its end, so that the caller knows when
the connection may carry another request: never after ``Connection: close``, an HTTP/1.0
answer, a body delimited by the close, or bytes the server sent beyond the response.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

MAX_RESPONSE_HEAD = 64 * 1024  # status line and fields, interim responses each alike
MAX_RESPONSE_FIELDS = 100
MAX_INTERIM_RESPONSES = 8  # 1xx answers before the final one
MAX_CHUNK_LINE = 4 * 1024  # a chunk's size line, extensions included
MAX_CHUNK_SIZE_DIGITS = 16
RECV_SIZE = 64 * 1024
# Sent with the head in one write below this size; a larger body follows on its own.
INLINE_BODY = 64 * 1024

_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")
# Header fields (or trailers), each a token, a colon and a value without control characters
# but HTAB, each ending in CRLF: one match checks them all.
_FIELDS = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET_CTL = re.compile(r"[\x00-\x20\x7f]")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,%d})[ \t]*(?:;[^\r\n]*)?" % MAX_CHUNK_SIZE_DIGITS)
# Request field names and values as http.client accepted them, and no others.
_REQUEST_NAME = re.compile(r"[^:\s][^:\r\n]*")
_REQUEST_VALUE_BREAK = re.compile(rb"\n(?![ \t])|\r(?![ \t\n])")

NO_BODY_STATUSES = frozenset({204, 304})


class MalformedResponse(Exception):
    """The response breaks the framing, the grammar or a bound."""


class ClosedBeforeAnswer(Exception):
    """The connection ended before a single byte of the response arrived."""


class BadTarget(Exception):
    """The request target holds a character a request line cannot carry."""


class UpstreamConnection:
    """A connected Unix stream socket and the bytes read from it but not yet used."""

    def __init__(self, socket_path: str, timeout: float) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(socket_path)
        except OSError:
            sock.close()
            raise
        self.sock: socket.socket | None = sock
        self._buffer = bytearray()

    def settimeout(self, seconds: float) -> None:
        if self.sock is not None:
            self.sock.settimeout(seconds)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    @property
    def buffered(self) -> int:
        """Bytes received and not used: after a whole response, ones nobody asked for."""
        return len(self._buffer)

    def send(self, data: bytes) -> None:
        if self.sock is None:
            raise ConnectionError("closed")
        self.sock.sendall(data)

    def _fill(self) -> bool:
        """Receive what has arrived (waiting for some); False at the end of the stream."""
        if self.sock is None:
            return False
        data = self.sock.recv(RECV_SIZE)
        if not data:
            return False
        self._buffer += data
        return True

    def read_head(self, limit: int) -> bytes:
        """Up to and including the empty line that ends a head, at most ``limit`` bytes."""
        buffer = self._buffer
        searched = 0
        while True:
            end = buffer.find(b"\r\n\r\n", searched)
            if end >= 0:
                end += 4
                if end > limit:
                    raise MalformedResponse("response head too large")
                head = bytes(buffer[:end])
                del buffer[:end]
                return head
            if len(buffer) > limit:
                raise MalformedResponse("response head too large")
            searched = max(0, len(buffer) - 3)
            received = len(buffer)
            try:
                more = self._fill()
            except ConnectionError as exc:
                if received == 0:
                    raise ClosedBeforeAnswer from exc
                raise
            if not more:
                if received == 0:
                    raise ClosedBeforeAnswer
                raise MalformedResponse("connection closed within the response head")

    def read_line(self, limit: int) -> bytes:
        """One CRLF-terminated line without its CRLF, at most ``limit`` bytes with it."""
        buffer = self._buffer
        searched = 0
        while True:
            end = buffer.find(b"\r\n", searched)
            if end >= 0:
                if end + 2 > limit:
                    break
                line = bytes(buffer[:end])
                del buffer[: end + 2]
                if b"\r" in line or b"\n" in line:
                    raise MalformedResponse("bare CR or LF")
                return line
            if len(buffer) >= limit:
                break
            searched = max(0, len(buffer) - 1)
            if not self._fill():
                raise MalformedResponse("connection closed within a line")
        raise MalformedResponse("line too long")

    def read_some(self, most: int) -> bytes:
        """Between 1 and ``most`` bytes (waiting for some); b"" at the end of the stream."""
        buffer = self._buffer
        if not buffer:
            if self.sock is None:
                return b""
            return self.sock.recv(min(most, RECV_SIZE))
        data = bytes(buffer[:most])
        del buffer[:most]
        return data


# ---------------------------------------------------------------------- request
def request_head(
    method: str, target: str, headers: list[tuple[str, str | bytes]], body: bytes
) -> bytes:
    """The request line and fields, with ``Content-Length`` set by the body (any the
    caller passed is dropped): as http.client's putrequest/putheader built them."""
    if _TOKEN.fullmatch(method) is None:
        raise ValueError(f"method {method!r} is not a token")
    if _TARGET_CTL.search(target):
        raise BadTarget(target)
    parts = [method.encode("ascii"), b" ", target.encode("ascii"), b" HTTP/1.1\r\n"]
    for name, value in headers:
        if _REQUEST_NAME.fullmatch(name) is None:
            raise ValueError(f"invalid header name {name!r}")
        if name.lower() == "content-length":
            continue
        raw = value.encode("latin-1") if isinstance(value, str) else value
        if _REQUEST_VALUE_BREAK.search(raw):
            raise ValueError(f"invalid header value {raw!r}")
        parts += [name.encode("ascii"), b": ", raw, b"\r\n"]
    if body or method in ("POST", "PUT", "PATCH"):
        parts.append(b"Content-Length: %d\r\n" % len(body))
    parts.append(b"\r\n")
    return b"".join(parts)


def send_request(
    conn: UpstreamConnection,
    method: str,
    target: str,
    headers: list[tuple[str, str | bytes]],
    body: bytes,
) -> None:
    head = request_head(method, target, headers, body)
    if len(body) <= INLINE_BODY:
        conn.send(head + body if body else head)
    else:
        conn.send(head)
        conn.send(body)


# ---------------------------------------------------------------------- response
@dataclass(frozen=True)
class ResponseHead:
    status: int
    reason: str
    headers: list[tuple[str, str]]  # as received, values latin-1
    chunked: bool
    length: int | None  # the body's length; None: chunked, or delimited by the close
    keep_alive: bool  # the server keeps the connection open after this response


def read_response_head(conn: UpstreamConnection, method: str) -> ResponseHead:
    """The final response's head; interim (1xx) answers are read and dropped."""
    for _ in range(MAX_INTERIM_RESPONSES + 1):
        head = parse_head(conn.read_head(MAX_RESPONSE_HEAD), method)
        if head.status >= 200:
            return head
        if head.status == 101:
            raise MalformedResponse("101 Switching Protocols was never asked for")
    raise MalformedResponse("too many interim responses")


def parse_head(data: bytes, method: str) -> ResponseHead:
    """A response head (ending in an empty line) by RFC 9112, with its body's framing."""
    first_end = data.index(b"\r\n")
    status_line = _STATUS_LINE.fullmatch(data, 0, first_end)
    if status_line is None:
        raise MalformedResponse("bad status line")
    minor, code, reason = status_line.groups()
    status = int(code)
    if status < 100:
        raise MalformedResponse("bad status code")
    fields = data[first_end + 2 : -2]
    if fields.count(b"\r\n") > MAX_RESPONSE_FIELDS:
        raise MalformedResponse("too many header fields")
    if _FIELDS.fullmatch(fields) is None:
        raise MalformedResponse("bad header field")
    headers: list[tuple[str, str]] = []
    lengths: set[bytes] = set()
    codings: list[bytes] = []
    close = minor == b"0"  # an HTTP/1.0 server's keep-alive is not relied on
    for line in fields.split(b"\r\n")[:-1]:
        name, _, value = line.partition(b":")
        value = value.strip(b" \t")
        lowered = name.lower()
        if lowered == b"content-length":
            lengths.update(v.strip(b" \t") for v in value.split(b","))
        elif lowered == b"transfer-encoding":
            codings += [c.strip(b" \t").lower() for c in value.split(b",")]
        elif lowered == b"connection":
            close = close or any(t.strip(b" \t").lower() == b"close" for t in value.split(b","))
        headers.append((name.decode("ascii"), value.decode("latin-1")))
    return ResponseHead(
        status=status,
        reason=(reason or b"").decode("latin-1"),
        headers=headers,
        **_framing(status, method, lengths, codings, close),
    )


def _framing(
    status: int, method: str, lengths: set[bytes], codings: list[bytes], close: bool
) -> dict[str, object]:
    """How the body is delimited (RFC 9112 §6.3); a conflicting framing is malformed."""
    if codings and lengths:
        raise MalformedResponse("both Transfer-Encoding and Content-Length")
    if len(lengths) > 1:
        raise MalformedResponse("conflicting Content-Length values")
    if status < 200 or status in NO_BODY_STATUSES or method == "HEAD":
        return {"chunked": False, "length": 0, "keep_alive": not close}
    if codings:
        if codings != [b"chunked"]:
            raise MalformedResponse("unsupported Transfer-Encoding")
        return {"chunked": True, "length": None, "keep_alive": not close}
    if lengths:
        (text,) = lengths
        if not text.isdigit() or len(text) > 18:
            raise MalformedResponse("bad Content-Length")
        return {"chunked": False, "length": int(text), "keep_alive": not close}
    return {"chunked": False, "length": None, "keep_alive": False}


class BodyReader:
    """A response body as it arrives, decoded from its framing."""

    def __init__(self, conn: UpstreamConnection, head: ResponseHead) -> None:
        self._conn = conn
        self._chunked = head.chunked
        self._until_close = head.length is None and not head.chunked
        self._left = 0 if head.chunked else (head.length or 0)
        self._chunk_end_due = False  # the CRLF after a chunk's data, read with what follows
        self.complete = not head.chunked and head.length == 0

    def read(self, most: int) -> bytes:
        """Up to ``most`` bytes of the body; b"" once it has ended (``complete`` says
        whether whole). MalformedResponse on broken framing."""
        if self.complete:
            return b""
        if self._until_close:
            return self._conn.read_some(most)
        if self._chunked and self._left == 0 and not self._next_chunk():
            return b""
        data = self._conn.read_some(min(most, self._left))
        if not data:
            raise MalformedResponse("connection closed within the body")
        self._left -= len(data)
        if self._left == 0:
            self._chunk_end_due = self._chunked
            self.complete = not self._chunked
        return data

    def _next_chunk(self) -> bool:
        """Read the next chunk's size line; False after the last chunk and trailers."""
        if self._chunk_end_due:
            if self._conn.read_line(2) != b"":
                raise MalformedResponse("chunk data longer than its size")
            self._chunk_end_due = False
        size = _CHUNK_SIZE.fullmatch(self._conn.read_line(MAX_CHUNK_LINE))
        if size is None:
            raise MalformedResponse("bad chunk size line")
        self._left = int(size.group(1), 16)
        if self._left:
            return True
        self._discard_trailers()
        self.complete = True
        return False

    def _discard_trailers(self) -> None:
        spent = 0
        for _ in range(MAX_RESPONSE_FIELDS + 1):
            line = self._conn.read_line(MAX_RESPONSE_HEAD - spent)
            if not line:
                return
            if _FIELDS.fullmatch(line + b"\r\n") is None:
                raise MalformedResponse("bad trailer field")
            spent += len(line) + 2
        raise MalformedResponse("too many trailer fields")
