"""Object bytes on the wire: a download's ``Range``, a multipart upload's two parts, and
resumable upload sessions (JSON API "Uploads" and "Download" pages; the requests
google-cloud-storage's ``resumable_media`` sends)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from globalguide.emulator.storage.errors import invalid, storage_error
from globalguide.emulator.storage.objects import check_length

_RANGE = re.compile(r"bytes=(\d*)-(\d*)\Z")
_CONTENT_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)\Z")
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?')


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The first and last byte a ``Range`` header asks of ``size`` bytes; None for all."""
    match = _RANGE.match(header.strip()) if header else None
    if not match or not (match.group(1) or match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if first:
        start, end = int(first), int(last) if last else size - 1
    else:
        start, end = max(size - int(last), 0), size - 1
    if start >= size or start > end:
        raise storage_error(416, "Request range not satisfiable", "requestedRangeNotSatisfiable")
    return start, min(end, size - 1)


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes]:
    """(metadata, media) from a ``multipart/related`` upload; the metadata's
    ``contentType`` defaults to the media part's."""
    match = _BOUNDARY.search(content_type)
    if not content_type.startswith("multipart/related") or match is None:
        raise invalid("Invalid multipart request: missing boundary.")
    boundary = b"--" + match.group(1).encode()
    parts = [p for p in body.split(boundary) if p not in (b"", b"--", b"--\r\n", b"\r\n")]
    if len(parts) < 2:
        raise invalid("Invalid multipart request: expected metadata and media.")
    _, meta_bytes = _split_part(parts[0])
    media_headers, data = _split_part(parts[1])
    bad_metadata = storage_error(
        400, "Invalid JSON payload received in the metadata part.", "parseError"
    )
    try:
        metadata = json.loads(meta_bytes or b"{}")
    except ValueError as exc:
        raise bad_metadata from exc
    if not isinstance(metadata, dict):
        raise bad_metadata
    part_type = media_headers.get("content-type", "")
    if "contentType" not in metadata and part_type:
        metadata["contentType"] = part_type
    return metadata, data


def _split_part(part: bytes) -> tuple[dict[str, str], bytes]:
    part = part[2:] if part.startswith(b"\r\n") else part
    head, _, content = part.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n"):
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if content.endswith(b"\r\n"):
        content = content[:-2]
    return headers, content


@dataclass
class UploadSession:
    """A resumable upload: what it will make, and the bytes received so far (on disk)."""

    bucket: str
    name: str
    metadata: dict[str, Any]
    path: Path
    args: dict[str, str] = field(default_factory=dict)  # the starting request's query
    size: int = 0
    total: int | None = None

    def receive(self, content_range: str, data: bytes) -> bool:
        """Take one chunk sent with ``Content-Range`` (empty: the whole rest); True once
        every byte is in. A chunk past a gap is refused: the client resends from ``size``."""
        match = _CONTENT_RANGE.match(content_range) if content_range else None
        if content_range and match is None:
            raise invalid(f"Invalid Content-Range header: {content_range!r}")
        if match and match.group(3) != "*":
            self.total = int(match.group(3))
            check_length(self.total)
        if match is None:
            first = 0 if not data else self.size
            self.total = self.size + len(data)
        else:
            first = int(match.group(1)) if match.group(1) else self.size
        if data:
            if first > self.size:
                return False
            fresh = data[self.size - first :]
            check_length(self.size + len(fresh))
            with self.path.open("ab") as f:
                f.write(fresh)
            self.size += len(fresh)
        return self.total is not None and self.size >= self.total

    def take(self) -> bytes:
        """The bytes received, the file that held them removed."""
        content = self.path.read_bytes()
        self.path.unlink(missing_ok=True)
        return content
