"""The Dockerfile interpreter of the emulator's image builder.

The Dockerfile is interpreted honestly for the subset that shapes the filesystem and the
config: FROM (recorded), ARG, ENV, WORKDIR, COPY/ADD from the context, USER, EXPOSE,
LABEL, CMD, ENTRYPOINT, plus metadata-only VOLUME, STOPSIGNAL, HEALTHCHECK, MAINTAINER.
RUN lines are interpreted by :mod:`run_steps`: ``pip install`` runs into the image's own
Python environment (a venv on this machine's interpreter), ``mkdir`` makes directories,
OS-level commands are recorded; the base image's OS is not recreated. Anything else
(another RUN command, SHELL, ONBUILD, multi-stage builds, ADD from a URL or of an archive)
fails the build with a message naming the line.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from globalguide.emulator.images import run_steps
from globalguide.emulator.images.context import context_path, join
from globalguide.emulator.images.dockerignore import DockerIgnore
from globalguide.emulator.images.image import ImageBuildError

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
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
# COPY/ADD flags that change nothing the emulator's image holds (ownership, layering).
_IGNORED_COPY_FLAGS = frozenset(
    {"--chown", "--link", "--parents", "--exclude", "--checksum", "--keep-git-dir"}
)
_METADATA_ONLY = {"VOLUME", "STOPSIGNAL", "HEALTHCHECK", "MAINTAINER"}

Log = Callable[[str], None]  # receives the build's output, one line at a time


def _discard(line: str) -> None:
    """The log of a build nobody reads."""


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


class Interpreter:
    """Runs a Dockerfile's instructions into a root filesystem; ``run`` returns the config."""

    def __init__(
        self,
        context: Path,
        rootfs: Path,
        build_args: dict[str, str],
        store_root: Path,
        log: Log | None = None,
    ) -> None:
        self.store_root = store_root
        self.log: Log = log or _discard
        self.python: str | None = None  # set by the first pip install
        self.pip_key = ""  # the hash of the pip installs so far (run_steps)
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
        self.ignore = DockerIgnore.load(context)

    def run(self, text: str) -> dict[str, Any]:
        instructions = parse_dockerfile(text)
        if not instructions:
            raise ImageBuildError("the Dockerfile cannot be empty")
        for number, ins in enumerate(instructions, start=1):
            # As docker's classic builder prints each instruction it runs.
            self.log(f"Step {number}/{len(instructions)} : {ins.keyword} {ins.rest}")
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

    def sub(self, text: str) -> str:
        return _substitute(text, self._vars())

    def in_root(self, container_path: str, line: int) -> Path:
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
                self.args[name] = self.sub(default)
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
            self.env[name] = self.sub(value.strip())
            return
        for word in shlex.split(rest, posix=True):
            name, sep, value = word.partition("=")
            if not sep or not name:
                raise ImageBuildError(
                    f"Dockerfile line {ins.line}: ENV names can not be blank ({word!r})"
                )
            self.env[name] = self.sub(value)

    def _do_label(self, ins: _Instruction) -> None:
        for word in shlex.split(ins.rest):
            name, _, value = word.partition("=")
            self.labels[name] = self.sub(value)

    def _do_workdir(self, ins: _Instruction) -> None:
        target = self.sub(ins.rest.strip())
        if not target:
            raise ImageBuildError(f"Dockerfile line {ins.line}: WORKDIR requires a path")
        path = PurePosixPath(self.workdir) / target
        normal = "/" + "/".join(p for p in path.parts[1:] if p not in ("", "."))
        self.workdir = normal
        self.in_root(".", ins.line).mkdir(parents=True, exist_ok=True)

    def _do_user(self, ins: _Instruction) -> None:
        self.user = self.sub(ins.rest.strip()) or None

    def _do_expose(self, ins: _Instruction) -> None:
        for word in self.sub(ins.rest).split():
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
            run_steps.run_line(self, ins.rest, ins.line, argv if exec_form else None)
        except run_steps.RunError as exc:
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
        *sources, dest = [self.sub(w) for w in words]
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
        target = self.in_root(dest, ins.line)
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
            elif name not in _IGNORED_COPY_FLAGS:
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
        context_path(self.context, relative, what="COPY source")
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
                if not self.ignore.excluded(join(rel_dir, d)) or self.ignore.has_exceptions
            ]
            out_dir = dest / here.relative_to(src)
            out_dir.mkdir(parents=True, exist_ok=True)
            for name in sorted(filenames):
                if self.ignore.excluded(join(rel_dir, name)):
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


def _has_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")
