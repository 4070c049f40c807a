"""A local, content-addressed container image store.

Cloud Build in the emulator turns an uploaded source tarball into an :class:`Image`: a
directory holding the filesystem the container would see, plus the config a container
runtime reads (command, environment, working directory, user). The data plane starts a
revision from it with this machine's Python interpreter.

The digest is the sha256 of a canonical manifest that names the config and a digest over
every file's path, mode and content: the same context and Dockerfile give the same digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from globalguide.emulator.images.context import context_path, extract_context, join
from globalguide.emulator.images.dockerfile import Interpreter, Log
from globalguide.emulator.images.image import Image, ImageBuildError, image_from_meta

MAX_DOCKERFILE_BYTES = 1024 * 1024
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")


class ImageStore:
    """Images on disk under ``root``, one directory per digest."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._cache: dict[str, Image] = {}

    # ------------------------------------------------------------------ public
    def build(
        self,
        context_tar_gz: bytes,
        dockerfile_name: str = "Dockerfile",
        build_args: dict[str, str] | None = None,
        log: Log | None = None,
    ) -> Image:
        """Build an image from a gzipped tarball of a build context; ``log`` receives the
        build's output lines (each instruction, what its RUN commands print)."""
        work = self.root / ".tmp" / uuid.uuid4().hex
        context = work / "context"
        rootfs = work / "rootfs"
        try:
            context.mkdir(parents=True)
            rootfs.mkdir()
            extract_context(context_tar_gz, context)
            dockerfile = context_path(context, dockerfile_name, what="Dockerfile")
            if not dockerfile.is_file():
                raise ImageBuildError(
                    f"failed to read dockerfile: open {dockerfile_name}: no such file or directory"
                )
            if dockerfile.stat().st_size > MAX_DOCKERFILE_BYTES:
                raise ImageBuildError("failed to read dockerfile: file too large")
            text = dockerfile.read_text(encoding="utf-8", errors="replace")
            try:
                interpreter = Interpreter(context, rootfs, build_args or {}, self.root, log)
                config = interpreter.run(text)
                layer_digest, size = _tree_digest(rootfs)
            except OSError as exc:
                raise ImageBuildError(f"the image filesystem could not be written: {exc}") from exc
            manifest = _manifest(config, layer_digest, size)
            digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
            final = self._dir(digest)
            with self._lock:
                if not final.exists():
                    final.mkdir(parents=True)
                    os.replace(rootfs, final / "rootfs")
                    meta = {
                        "digest": digest,
                        "config": config,
                        "sizeBytes": size,
                        "created": time.time(),
                        "manifest": manifest.decode(),
                    }
                    (final / "image.json").write_text(json.dumps(meta, indent=1))
                self._cache.pop(digest, None)
            image = self.get(digest)
            assert image is not None
            if log is not None:
                log(f"Successfully built {digest.split(':', 1)[1][:12]}")
            return image
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def get(self, digest: str) -> Image | None:
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            return None
        with self._lock:
            cached = self._cache.get(digest)
            if cached is not None:
                return cached
            meta_path = self._dir(digest) / "image.json"
            if not meta_path.is_file():
                return None
            meta = json.loads(meta_path.read_text())
            image = image_from_meta(meta, self._dir(digest) / "rootfs")
            self._cache[digest] = image
            return image

    def delete(self, digest: str) -> bool:
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            return False
        with self._lock:
            self._cache.pop(digest, None)
            path = self._dir(digest)
            if not path.exists():
                return False
            shutil.rmtree(path, ignore_errors=True)
            return True

    def _dir(self, digest: str) -> Path:
        return self.root / digest.split(":", 1)[1]


def _tree_digest(rootfs: Path) -> tuple[str, int]:
    """A digest over every entry's path, type, mode and content; and the total size."""
    h = hashlib.sha256()
    size = 0
    for dirpath, dirnames, filenames in os.walk(rootfs):
        here = Path(dirpath)
        rel = here.relative_to(rootfs).as_posix()
        h.update(f"D {rel}\n".encode())
        linked_dirs = sorted(d for d in dirnames if (here / d).is_symlink())
        dirnames[:] = sorted(d for d in dirnames if d not in linked_dirs)
        for name in sorted([*filenames, *linked_dirs]):
            path = here / name
            rel_name = join(rel, name)
            if path.is_symlink():
                h.update(f"L {rel_name} {os.readlink(path)}\n".encode())
                continue
            mode = stat.S_IMODE(path.stat().st_mode)
            content = hashlib.sha256()
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    content.update(chunk)
                    size += len(chunk)
            h.update(f"F {rel_name} {mode:o} {content.hexdigest()}\n".encode())
    return "sha256:" + h.hexdigest(), size


def _manifest(config: dict[str, Any], layer_digest: str, size: int) -> bytes:
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": "sha256:" + hashlib.sha256(config_bytes).hexdigest(),
            "size": len(config_bytes),
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "digest": layer_digest,
                "size": size,
            }
        ],
    }
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
