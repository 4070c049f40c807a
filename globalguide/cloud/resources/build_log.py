"""The end of an image build's log, read back from Cloud Storage when the build fails.

Cloud Build writes a build's log to ``log-<build id>.txt`` under the build's ``logsBucket``
(``gs://bucket`` or ``gs://bucket/folder``). Only the last lines are read (a bounded range
of bytes), each bounded in length and stripped of what a terminal would act on.
"""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc

TAIL_LINES = 20
LINE_CHARS = 200
_TAIL_BYTES = 64 * 1024


def log_object(logs_bucket: str, build_id: str) -> tuple[str, str] | None:
    """(bucket, object name) of a build's log, or None without a ``gs://`` logs bucket."""
    if not logs_bucket.startswith("gs://") or not build_id:
        return None
    bucket, _, folder = logs_bucket.removeprefix("gs://").partition("/")
    folder = folder.strip("/")
    return bucket, f"{folder}/log-{build_id}.txt" if folder else f"log-{build_id}.txt"


def log_tail(storage: Any, build: Any) -> list[str]:
    """The last lines of ``build``'s log, or [] when it cannot be read: the build's own
    failure is what matters, and it is reported either way."""
    location = log_object(build.logs_bucket or "", build.id)
    if location is None:
        return []
    try:
        blob = storage.bucket(location[0]).get_blob(location[1])
        if blob is None:
            return []
        start = max(0, (blob.size or 0) - _TAIL_BYTES)
        data = blob.download_as_bytes(start=start) if blob.size else b""
    except gexc.GoogleAPICallError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    if start:
        lines = lines[1:]  # the first line read may be cut
    kept = [_bounded(line) for line in lines if line.strip()]
    return kept[-TAIL_LINES:]


def _bounded(line: str) -> str:
    printable = "".join(c if c.isprintable() else " " for c in line.rstrip())
    return printable if len(printable) <= LINE_CHARS else printable[: LINE_CHARS - 1] + "…"
