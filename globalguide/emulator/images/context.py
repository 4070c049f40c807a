"""The build context: a tarball extracted safely, and paths that may not leave it."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path, PurePosixPath

from globalguide.emulator.images.image import ImageBuildError

MAX_CONTEXT_FILES = 20_000
MAX_CONTEXT_BYTES = 256 * 1024 * 1024  # uncompressed


def extract_context(data: bytes, dest: Path) -> None:
    """Extract a .tar.gz build context into ``dest``, refusing anything unsafe.

    Refused: absolute names, ``..`` components, links that leave the context, device
    files, and contexts over the file-count or size bounds.
    """
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ImageBuildError(f"the build context is not a gzipped tarball: {exc}") from exc
    total = 0
    count = 0
    with tar:
        try:
            for member in tar:
                count += 1
                if count > MAX_CONTEXT_FILES:
                    raise ImageBuildError(
                        f"the build context has more than {MAX_CONTEXT_FILES} entries"
                    )
                _check_member(member)
                total += max(member.size, 0)
                if total > MAX_CONTEXT_BYTES:
                    raise ImageBuildError(
                        f"the build context is larger than {MAX_CONTEXT_BYTES // (1024 * 1024)} MiB"
                    )
                if member.isdev() or member.isfifo():
                    continue
                tar.extract(member, dest, filter="data")
        except tarfile.FilterError as exc:
            raise ImageBuildError(f"unsafe entry in the build context: {exc}") from exc
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ImageBuildError(f"the build context could not be read: {exc}") from exc


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    path = PurePosixPath(name)
    if name.startswith("/") or path.is_absolute():
        raise ImageBuildError(f"unsafe entry in the build context: absolute path {name!r}")
    if ".." in path.parts:
        raise ImageBuildError(f"unsafe entry in the build context: {name!r} leaves the context")
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        if member.linkname.startswith("/"):
            raise ImageBuildError(
                f"unsafe entry in the build context: link {name!r} points to an absolute path"
            )
        base = path.parent if member.issym() else PurePosixPath()
        depth = 0
        for part in (*base.parts, *target.parts):
            if part == "..":
                depth -= 1
            elif part not in ("", "."):
                depth += 1
            if depth < 0:
                raise ImageBuildError(
                    f"unsafe entry in the build context: link {name!r} leaves the context"
                )


def context_path(context: Path, relative: str, *, what: str) -> Path:
    """A path inside the context; refuse one that leaves it."""
    candidate = (context / relative.lstrip("/")).resolve()
    root = context.resolve()
    if candidate != root and root not in candidate.parents:
        raise ImageBuildError(f"forbidden path outside the build context: {relative} ({what})")
    return candidate


def join(directory: str, name: str) -> str:
    """``name`` inside ``directory``, a relative path in the context ("" or "." for its root)."""
    return name if directory in ("", ".") else f"{directory}/{name}"
