"""The service's build context: a deterministic tarball of ``service/`` and its tag.

The same source always gives the same bytes and the same tag, so an unchanged service is
never rebuilt: the tag is the first 16 hex digits of the SHA-256 of the tarball.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_SKIP_DIRS = {"__pycache__", ".pytest_cache", "tests"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}


def service_dir() -> Path:
    import service

    return Path(service.__file__).resolve().parent


@dataclass(frozen=True)
class BuildContext:
    data: bytes
    tag: str


def _files(root: Path) -> list[Path]:
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in _SKIP_DIRS or part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix not in _SKIP_SUFFIXES:
            out.append(path)
    return out


def make_context(root: Path) -> BuildContext:
    """A gzipped tar of ``root`` with fixed owners, modes and times, in sorted order."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _files(root):
            info = tarfile.TarInfo(path.relative_to(root).as_posix())
            content = path.read_bytes()
            info.size = len(content)
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(content))
    compressed = io.BytesIO()
    with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    data = compressed.getvalue()
    return BuildContext(data=data, tag=hashlib.sha256(raw.getvalue()).hexdigest()[:16])


@lru_cache(maxsize=1)
def service_context() -> BuildContext:
    return make_context(service_dir())
