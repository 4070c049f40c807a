"""A local, content-addressed container image store and a Dockerfile interpreter.

Cloud Build in the emulator turns an uploaded source tarball into an :class:`Image`: a
directory holding the filesystem the container would see, plus the config a container
runtime reads (command, environment, working directory, user). The data plane starts a
revision from it with this machine's Python interpreter.

The Dockerfile is interpreted honestly for the subset that shapes the filesystem and the
config: FROM (recorded), ARG, ENV, WORKDIR, COPY/ADD from the context, USER, EXPOSE,
LABEL, CMD, ENTRYPOINT, plus metadata-only VOLUME, STOPSIGNAL, HEALTHCHECK, MAINTAINER.
RUN lines are interpreted by :mod:`image_run`: ``pip install`` runs into the image's own
Python environment (a venv on this machine's interpreter), ``mkdir`` makes directories,
OS-level commands are recorded; the base image's OS is not recreated. Anything else
(another RUN command, SHELL, ONBUILD, multi-stage builds, ADD from a URL or of an archive)
fails the build with a message naming the line.

The digest is the sha256 of a canonical manifest that names the config and a digest over
every file's path, mode and content: the same context and Dockerfile give the same digest.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shlex
import shutil
import stat
import sys
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from globalguide.emulator import image_run

MAX_CONTEXT_FILES = 20_000
MAX_CONTEXT_BYTES = 256 * 1024 * 1024  # uncompressed
MAX_DOCKERFILE_BYTES = 1024 * 1024

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
# A docker image reference: [host[:port]/]path[:tag][@digest]. Source: the reference
# grammar of distribution/reference (reference.go), which `docker build` applies to FROM.
_REFERENCE = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::\d+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?\Z"
)
_VAR = re.compile(
    r"\\\$|\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)
_PYTHON = re.compile(r"(?:.*/)?python(?:3(?:\.\d+)?)?\Z")
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_IGNORED_COPY_FLAGS = {"--chown", "--link", "--parents", "--exclude", "--checksum"}
_METADATA_ONLY = {"VOLUME", "STOPSIGNAL", "HEALTHCHECK", "MAINTAINER"}


class ImageBuildError(Exception):
    """The build cannot produce an image; the message says why, as docker would."""


@dataclass(frozen=True)
class Image:
    """A built image: its filesystem root and the config a runtime reads.

    ``cmd`` is the full argv the container starts with (ENTRYPOINT followed by CMD, as
    docker combines them); ``entrypoint`` and ``docker_cmd`` keep the two parts.
    """

    digest: str
    root: Path
    cmd: list[str]
    env: dict[str, str]
    workdir: str
    user: str | None
    entrypoint: list[str] = field(default_factory=list)
    docker_cmd: list[str] = field(default_factory=list)
    exposed_ports: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    base: str = ""
    runs: list[str] = field(default_factory=list)
    size_bytes: int = 0
    created: float = 0.0
    python: str | None = None  # the image's own interpreter (a path in the image), if any

    @property
    def workdir_path(self) -> Path:
        """Where the process starts: the image's WORKDIR inside its root."""
        return self.root / self.workdir.lstrip("/")

    def argv(self, interpreter: str | None = None) -> list[str]:
        """``cmd`` with a leading ``python``, ``python3`` or ``pythonX.Y`` replaced."""
        argv = list(self.cmd)
        if argv and _PYTHON.match(argv[0]):
            argv[0] = interpreter or sys.executable
        return argv

    def to_config(self) -> dict[str, Any]:
        return {
            "cmd": self.docker_cmd,
            "entrypoint": self.entrypoint,
            "env": self.env,
            "workdir": self.workdir,
            "user": self.user,
            "exposedPorts": self.exposed_ports,
            "labels": self.labels,
            "base": self.base,
            "runs": self.runs,
            "python": self.python,
        }


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
    ) -> Image:
        """Build an image from a gzipped tarball of a build context."""
        work = self.root / ".tmp" / uuid.uuid4().hex
        context = work / "context"
        rootfs = work / "rootfs"
        try:
            context.mkdir(parents=True)
            rootfs.mkdir()
            extract_context(context_tar_gz, context)
            dockerfile = _context_path(context, dockerfile_name, what="Dockerfile")
            if not dockerfile.is_file():
                raise ImageBuildError(
                    f"failed to read dockerfile: open {dockerfile_name}: no such file or directory"
                )
            if dockerfile.stat().st_size > MAX_DOCKERFILE_BYTES:
                raise ImageBuildError("failed to read dockerfile: file too large")
            text = dockerfile.read_text(encoding="utf-8", errors="replace")
            try:
                config = _Interpreter(context, rootfs, build_args or {}, self.root).run(text)
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
            image = _image_from_meta(meta, self._dir(digest) / "rootfs")
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

    def digests(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            "sha256:" + p.name for p in self.root.iterdir() if (p / "image.json").is_file()
        )

    def _dir(self, digest: str) -> Path:
        return self.root / digest.split(":", 1)[1]


def _image_from_meta(meta: dict[str, Any], rootfs: Path) -> Image:
    config = meta["config"]
    return Image(
        digest=meta["digest"],
        root=rootfs,
        cmd=_effective_cmd(config["entrypoint"], config["cmd"]),
        env=dict(config["env"]),
        workdir=config["workdir"],
        user=config["user"],
        entrypoint=list(config["entrypoint"]),
        docker_cmd=list(config["cmd"]),
        exposed_ports=list(config["exposedPorts"]),
        labels=dict(config["labels"]),
        base=config["base"],
        runs=list(config["runs"]),
        python=config.get("python"),
        size_bytes=int(meta.get("sizeBytes", 0)),
        created=float(meta.get("created", 0.0)),
    )


def _effective_cmd(entrypoint: list[str], cmd: list[str]) -> list[str]:
    if not entrypoint:
        return list(cmd)
    if entrypoint[:2] == ["/bin/sh", "-c"]:
        return list(entrypoint)  # a shell-form ENTRYPOINT ignores CMD, as docker does
    return list(entrypoint) + list(cmd)


# --------------------------------------------------------------------- context


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


def _context_path(context: Path, relative: str, *, what: str) -> Path:
    """A path inside the context; refuse one that leaves it."""
    candidate = (context / relative.lstrip("/")).resolve()
    root = context.resolve()
    if candidate != root and root not in candidate.parents:
        raise ImageBuildError(f"forbidden path outside the build context: {relative} ({what})")
    return candidate


# ------------------------------------------------------------------ dockerfile


@dataclass
class _Instruction:
    line: int
    keyword: str
    rest: str


def parse_dockerfile(text: str) -> list[_Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    out: list[_Instruction] = []
    escape = "\\"
    pending = ""
    start = 0
    directives_allowed = True
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if directives_allowed and not pending:
            directive = re.match(r"#\s*([a-zA-Z]+)\s*=\s*(\S+)", stripped)
            if directive:
                if directive.group(1).lower() == "escape" and directive.group(2) in ("`", "\\"):
                    escape = directive.group(2)
                continue
        if stripped.startswith("#") or not stripped:
            # Comments and blank lines end the directive block and are skipped, also
            # inside a continued instruction.
            directives_allowed = False
            continue
        directives_allowed = False
        if not pending:
            start = number
        if stripped.endswith(escape):
            pending += stripped[:-1] + " "
            continue
        pending += stripped
        _append(out, start, pending)
        pending = ""
    if pending.strip():
        _append(out, start, pending)
    return out


def _append(out: list[_Instruction], line: int, text: str) -> None:
    text = text.strip()
    if not text:
        return
    keyword, _, rest = text.partition(" ")
    out.append(_Instruction(line, keyword.upper(), rest.strip()))


def _substitute(text: str, variables: dict[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "\\$":
            return "$"
        name = m.group(1) or m.group(4)
        value = variables.get(name)
        modifier = m.group(2)
        if modifier == "-":
            return value if value else _substitute(m.group(3), variables)
        if modifier == "+":
            return _substitute(m.group(3), variables) if value else ""
        return value or ""

    return _VAR.sub(repl, text)


def _json_or_shell(rest: str) -> tuple[list[str], bool]:
    """(argv, exec_form) for CMD/ENTRYPOINT/RUN-style arguments."""
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value), True
    return ["/bin/sh", "-c", rest], False


class _Interpreter:
    def __init__(
        self, context: Path, rootfs: Path, build_args: dict[str, str], store_root: Path
    ) -> None:
        self.store_root = store_root
        self.python: str | None = None  # set by the first pip install
        self.pip_key = ""  # the hash of the pip installs so far (image_run)
        self.context = context
        self.rootfs = rootfs
        self.build_args = build_args
        self.global_args: dict[str, str] = {}
        self.args: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self.workdir = "/"
        self.user: str | None = None
        self.cmd: list[str] = []
        self.entrypoint: list[str] = []
        self.exposed: list[str] = []
        self.labels: dict[str, str] = {}
        self.runs: list[str] = []
        self.base = ""
        self.from_seen = False
        self.ignore = _DockerIgnore.load(context)

    def run(self, text: str) -> dict[str, Any]:
        instructions = parse_dockerfile(text)
        if not instructions:
            raise ImageBuildError("the Dockerfile cannot be empty")
        for ins in instructions:
            handler = getattr(self, f"_do_{ins.keyword.lower()}", None)
            if ins.keyword in _METADATA_ONLY:
                continue
            if handler is None:
                raise ImageBuildError(
                    f"Dockerfile line {ins.line}: {ins.keyword} is not supported by the "
                    "emulator's image builder"
                )
            if not self.from_seen and ins.keyword not in ("FROM", "ARG"):
                raise ImageBuildError(
                    f"Dockerfile line {ins.line}: no build stage in current context "
                    "(the first instruction must be FROM)"
                )
            handler(ins)
        if not self.from_seen:
            raise ImageBuildError("the Dockerfile has no FROM instruction")
        if not self.cmd and not self.entrypoint:
            raise ImageBuildError("the image has no CMD or ENTRYPOINT: nothing to run")
        return {
            "cmd": self.cmd,
            "entrypoint": self.entrypoint,
            "env": self.env,
            "workdir": self.workdir,
            "user": self.user,
            "exposedPorts": self.exposed,
            "labels": self.labels,
            "base": self.base,
            "runs": self.runs,
            "python": self.python,
        }

    # -- helpers
    def _vars(self) -> dict[str, str]:
        return {**self.args, **self.env}

    def _sub(self, text: str) -> str:
        return _substitute(text, self._vars())

    def _in_root(self, container_path: str, line: int) -> Path:
        path = PurePosixPath(self.workdir) / container_path
        parts: list[str] = []
        for part in path.parts[1:]:
            if part == "..":
                if parts:
                    parts.pop()
            elif part not in ("", "."):
                parts.append(part)
        return self.rootfs.joinpath(*parts)

    # -- instructions
    def _do_from(self, ins: _Instruction) -> None:
        if self.from_seen:
            raise ImageBuildError(
                f"Dockerfile line {ins.line}: multi-stage builds are not supported by the "
                "emulator's image builder"
            )
        words = [w for w in shlex.split(ins.rest) if not w.startswith("--platform")]
        if not words:
            raise ImageBuildError(f"Dockerfile line {ins.line}: FROM requires an image name")
        base = _substitute(words[0], self.global_args)
        if not _REFERENCE.match(base):
            raise ImageBuildError(
                f"Dockerfile line {ins.line}: failed to parse FROM {base!r}: invalid reference "
                "format"
            )
        self.base = base
        self.from_seen = True

    def _do_arg(self, ins: _Instruction) -> None:
        for word in shlex.split(ins.rest):
            name, sep, default = word.partition("=")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ImageBuildError(f"Dockerfile line {ins.line}: invalid ARG name {name!r}")
            if not self.from_seen:
                value = self.build_args.get(name, default if sep else "")
                self.global_args[name] = value
                continue
            if name in self.build_args:
                self.args[name] = self.build_args[name]
            elif sep:
                self.args[name] = self._sub(default)
            elif name in self.global_args:
                self.args[name] = self.global_args[name]
            else:
                self.args.setdefault(name, "")

    def _do_env(self, ins: _Instruction) -> None:
        rest = ins.rest
        first = rest.split(None, 1)[0] if rest else ""
        if "=" not in first:
            name, _, value = rest.partition(" ")
            if not name or not value.strip():
                raise ImageBuildError(f"Dockerfile line {ins.line}: ENV needs a name and value")
            self.env[name] = self._sub(value.strip())
            return
        for word in shlex.split(rest, posix=True):
            name, sep, value = word.partition("=")
            if not sep or not name:
                raise ImageBuildError(
                    f"Dockerfile line {ins.line}: ENV names can not be blank ({word!r})"
                )
            self.env[name] = self._sub(value)

    def _do_label(self, ins: _Instruction) -> None:
        for word in shlex.split(ins.rest):
            name, _, value = word.partition("=")
            self.labels[name] = self._sub(value)

    def _do_workdir(self, ins: _Instruction) -> None:
        target = self._sub(ins.rest.strip())
        if not target:
            raise ImageBuildError(f"Dockerfile line {ins.line}: WORKDIR requires a path")
        path = PurePosixPath(self.workdir) / target
        normal = "/" + "/".join(p for p in path.parts[1:] if p not in ("", "."))
        self.workdir = normal
        self._in_root(".", ins.line).mkdir(parents=True, exist_ok=True)

    def _do_user(self, ins: _Instruction) -> None:
        self.user = self._sub(ins.rest.strip()) or None

    def _do_expose(self, ins: _Instruction) -> None:
        for word in self._sub(ins.rest).split():
            if not re.fullmatch(r"\d{1,5}(/(tcp|udp|sctp))?", word):
                raise ImageBuildError(f"Dockerfile line {ins.line}: invalid port {word!r}")
            self.exposed.append(word)

    def _do_cmd(self, ins: _Instruction) -> None:
        self.cmd, _ = _json_or_shell(ins.rest)

    def _do_entrypoint(self, ins: _Instruction) -> None:
        self.entrypoint, exec_form = _json_or_shell(ins.rest)
        if not exec_form:
            self.cmd = []

    def _do_run(self, ins: _Instruction) -> None:
        argv, exec_form = _json_or_shell(ins.rest)
        self.runs.append(" ".join(argv) if exec_form else ins.rest)
        try:
            image_run.run_line(self, ins.rest, ins.line, argv if exec_form else None)
        except image_run.RunError as exc:
            raise ImageBuildError(str(exc)) from None

    def _do_copy(self, ins: _Instruction) -> None:
        self._copy(ins, add=False)

    def _do_add(self, ins: _Instruction) -> None:
        self._copy(ins, add=True)

    def _copy(self, ins: _Instruction, *, add: bool) -> None:
        words, chmod = self._copy_words(ins)
        if len(words) < 2:
            raise ImageBuildError(
                f"Dockerfile line {ins.line}: {ins.keyword} requires at least two arguments"
            )
        *sources, dest = [self._sub(w) for w in words]
        matched: list[Path] = []
        for src in sources:
            if add and re.match(r"[a-z][a-z0-9+.-]*://", src):
                raise ImageBuildError(
                    f"Dockerfile line {ins.line}: ADD from a URL is not supported by the "
                    "emulator's image builder"
                )
            found = self._match(src, ins.line)
            if add and any(p.is_file() and p.name.endswith(_ARCHIVE_SUFFIXES) for p in found):
                raise ImageBuildError(
                    f"Dockerfile line {ins.line}: ADD of a local archive is not supported by "
                    "the emulator's image builder; use COPY"
                )
            matched.extend(found)
        many = len(sources) > 1 or any(_has_glob(s) for s in sources)
        dest_is_dir = dest.endswith("/") or dest in (".", "..") or many
        if many and not dest.endswith("/"):
            raise ImageBuildError(
                f"Dockerfile line {ins.line}: When using {ins.keyword} with more than one "
                "source file, the destination must be a directory and end with a /"
            )
        target = self._in_root(dest, ins.line)
        for src_path in matched:
            if src_path.is_dir():
                self._copy_tree(src_path, target, chmod)
            else:
                out = target / src_path.name if dest_is_dir or target.is_dir() else target
                self._copy_file(src_path, out, chmod)

    def _copy_words(self, ins: _Instruction) -> tuple[list[str], int | None]:
        rest = ins.rest
        chmod: int | None = None
        words: list[str]
        flags: list[str] = []
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            flags.append(flag)
            rest = rest.lstrip()
        for flag in flags:
            name, _, value = flag.partition("=")
            if name == "--from":
                raise ImageBuildError(
                    f"Dockerfile line {ins.line}: COPY --from is not supported by the "
                    "emulator's image builder"
                )
            if name == "--chmod":
                try:
                    chmod = int(value, 8)
                except ValueError as exc:
                    raise ImageBuildError(
                        f"Dockerfile line {ins.line}: invalid --chmod {value!r}"
                    ) from exc
            elif name not in (
                "--chown",
                "--link",
                "--parents",
                "--exclude",
                "--checksum",
                "--keep-git-dir",
            ):
                raise ImageBuildError(f"Dockerfile line {ins.line}: unknown flag: {name}")
        if rest.startswith("["):
            try:
                value = json.loads(rest)
            except ValueError as exc:
                raise ImageBuildError(f"Dockerfile line {ins.line}: invalid JSON array") from exc
            words = [str(v) for v in value]
        else:
            words = shlex.split(rest)
        return words, chmod

    def _match(self, src: str, line: int) -> list[Path]:
        root = self.context.resolve()
        relative = src.lstrip("/")
        _context_path(self.context, relative, what="COPY source")
        if _has_glob(relative):
            hits = [
                p
                for p in sorted(self.context.glob(relative))
                if not self.ignore.excluded(p.relative_to(self.context).as_posix())
            ]
        else:
            path = (self.context / relative) if relative not in ("", ".") else self.context
            rel = PurePosixPath(relative).as_posix() if relative not in ("", ".") else ""
            hits = (
                [path]
                if (path.exists() or path.is_symlink()) and not (rel and self.ignore.excluded(rel))
                else []
            )
        for hit in hits:
            resolved = hit.resolve()
            if resolved != root and root not in resolved.parents:
                raise ImageBuildError(
                    f"Dockerfile line {line}: forbidden path outside the build context: {src}"
                )
        if not hits:
            raise ImageBuildError(
                f"Dockerfile line {line}: COPY failed: file not found in build context or "
                f"excluded by .dockerignore: stat {src}: file does not exist"
            )
        return hits

    def _copy_tree(self, src: Path, dest: Path, chmod: int | None) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        for dirpath, dirnames, filenames in os.walk(src):
            here = Path(dirpath)
            rel_dir = here.relative_to(self.context).as_posix()
            dirnames[:] = [
                d
                for d in sorted(dirnames)
                if not self.ignore.excluded(_join(rel_dir, d), directory=True)
                or self.ignore.has_exceptions
            ]
            out_dir = dest / here.relative_to(src)
            out_dir.mkdir(parents=True, exist_ok=True)
            for name in sorted(filenames):
                if self.ignore.excluded(_join(rel_dir, name)):
                    continue
                self._copy_file(here / name, out_dir / name, chmod)

    def _copy_file(self, src: Path, dest: Path, chmod: int | None) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_dir():
            dest = dest / src.name
        if src.is_symlink():
            target = os.readlink(src)
            if dest.exists() or dest.is_symlink():
                dest.unlink()
            os.symlink(target, dest)
            return
        shutil.copyfile(src, dest)
        mode = chmod if chmod is not None else stat.S_IMODE(src.stat().st_mode) & 0o777
        os.chmod(dest, mode | stat.S_IRUSR | stat.S_IWUSR)


def _join(directory: str, name: str) -> str:
    return name if directory in ("", ".") else f"{directory}/{name}"


def _has_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


class _DockerIgnore:
    """The .dockerignore rules: glob patterns, ``**``, and ``!`` exceptions; last match wins."""

    def __init__(self, rules: list[tuple[bool, re.Pattern[str]]]) -> None:
        self.rules = rules
        self.has_exceptions = any(negate for negate, _ in rules)

    @classmethod
    def load(cls, context: Path) -> _DockerIgnore:
        path = context / ".dockerignore"
        rules: list[tuple[bool, re.Pattern[str]]] = []
        if path.is_file():
            for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                negate = line.startswith("!")
                pattern = line[1:].strip() if negate else line
                pattern = "/".join(p for p in pattern.strip("/").split("/") if p not in ("", "."))
                if pattern:
                    rules.append((negate, _glob_regex(pattern)))
        return cls(rules)

    def excluded(self, rel_path: str, *, directory: bool = False) -> bool:
        result = False
        for negate, regex in self.rules:
            if regex.match(rel_path) or any(regex.match(prefix) for prefix in _prefixes(rel_path)):
                result = not negate
        return result


def _prefixes(rel_path: str) -> list[str]:
    parts = rel_path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            c = pattern[i]
            if c == "*":
                out.append("[^/]*")
            elif c == "?":
                out.append("[^/]")
            else:
                out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


# --------------------------------------------------------------------- digests


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
            rel_name = _join(rel, name)
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
