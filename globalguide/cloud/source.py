"""The build context: a deterministic tarball of ``service/`` (the Local Guide) or of the
user's ``--source DIR``, and its tag.

The same source always gives the same bytes and the same tag, so an unchanged service is
never rebuilt: the tag is the first 16 hex digits of the SHA-256 of the tarball. A user's
directory is packed as ``gcloud builds submit`` uploads it (:mod:`ignore`: ``.gcloudignore``,
then ``.dockerignore``), with a generated Dockerfile when it has none
(:mod:`python_app`), and bounded: at most ``MAX_FILES`` files and ``MAX_BYTES`` before
compression. (Cloud Build documents no smaller bound on a source archive that could be
found; these are globalguide's own, the same as the emulator's build context.)
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from globalguide.cloud.ignore import DockerIgnore, GcloudIgnore
from globalguide.errors import UsageError

MAX_FILES = 20_000
MAX_BYTES = 256 * 1024 * 1024

_SKIP_DIRS = {"__pycache__", ".pytest_cache", "tests"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}


def service_dir() -> Path:
    import service

    return Path(service.__file__).resolve().parent


@dataclass(frozen=True)
class BuildContext:
    data: bytes
    tag: str
    generated_dockerfile: str | None = None  # when the directory had none
    files: int = 0


def _files(root: Path) -> list[Path]:
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in _SKIP_DIRS or part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix not in _SKIP_SUFFIXES:
            out.append(path)
    return out


def user_files(root: Path) -> list[Path]:
    """The files of a user's directory that a build sees, sorted; bounded in count and size."""
    gcloud, docker = GcloudIgnore.for_dir(root), DockerIgnore.for_dir(root)
    out: list[Path] = []
    total = 0
    stack = [root]
    while stack:
        here = stack.pop()
        try:
            entries = sorted(here.iterdir())
        except OSError as exc:
            raise UsageError(f"--source: cannot read {here}: {exc.strerror}.") from None
        for path in entries:
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                continue  # a link may leave the directory: it is not uploaded
            is_dir = path.is_dir()
            if gcloud.ignored(rel, is_dir=is_dir):
                continue
            if is_dir:
                stack.append(path)
                continue
            if not path.is_file() or docker.ignored(rel):
                continue
            out.append(path)
            total += path.stat().st_size
            if len(out) > MAX_FILES:
                raise UsageError(
                    f"--source {root}: more than {MAX_FILES} files to upload; list what the "
                    "build does not need in .gcloudignore."
                )
            if total > MAX_BYTES:
                raise UsageError(
                    f"--source {root}: more than {MAX_BYTES // 2**20} MiB to upload; list what "
                    "the build does not need in .gcloudignore."
                )
    return sorted(out)


def source_context(root: Path) -> BuildContext:
    """The build context of a user's directory (UsageError when it cannot be built)."""
    root = root.resolve()
    if not root.is_dir():
        raise UsageError(f"--source {root}: no such directory.")
    files = user_files(root)
    generated = None
    extra: dict[str, bytes] = {}
    if not (root / "Dockerfile").is_file():
        from globalguide.cloud.python_app import dockerfile_for

        generated = dockerfile_for(root)
        extra["Dockerfile"] = generated.encode()
    context = make_context(root, files=files, extra=extra)
    return BuildContext(context.data, context.tag, generated, len(files) + len(extra))


def make_context(
    root: Path, *, files: list[Path] | None = None, extra: dict[str, bytes] | None = None
) -> BuildContext:
    """A gzipped tar of ``root`` (or of ``files`` in it, plus ``extra`` named contents)
    with fixed owners, modes and times, in sorted order."""
    chosen = files if files is not None else _files(root)
    entries = [(p.relative_to(root).as_posix(), p) for p in chosen]
    entries += [(name, content) for name, content in (extra or {}).items()]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, source in sorted(entries, key=lambda e: e[0]):
            info = tarfile.TarInfo(name)
            content = source if isinstance(source, bytes) else source.read_bytes()
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


def context_for(spec: Any) -> BuildContext | None:
    """What a deploy builds: nothing with --image, the user's --source, else the Local Guide."""
    if spec.image:
        return None
    if spec.source:
        return source_context(Path(spec.source))
    return service_context()
