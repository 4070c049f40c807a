"""Build steps: what a step asks for, in the subset the emulator's builder runs.

Supported: the docker builder's ``build`` (``-t``, ``-f``, ``--build-arg``, a context
directory) and ``push``. Anything else is kept as an unsupported step, which fails the build
when it is reached, as a step that exits non-zero does.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from globalguide.emulator.images import ImageBuildError

DOCKER_BUILDER = "gcr.io/cloud-builders/docker"
# Flags of docker build that take a value (in the next argument or after "=").
_VALUE_FLAGS = (
    "-t",
    "--tag",
    "-f",
    "--file",
    "--build-arg",
    "--platform",
    "--cache-from",
    "--network",
    "--target",
    "--label",
)
_PLAIN_FLAGS = ("--pull", "--no-cache", "-q", "--quiet")


@dataclass
class Step:
    kind: str  # "build", "push" or "unsupported"
    tags: list[str] = field(default_factory=list)
    dockerfile: str | None = None
    context: str = "."
    build_args: dict[str, str] = field(default_factory=dict)
    image: str = ""
    problem: str = ""


def tagged(name: str) -> str:
    """An image name with the implied ``:latest`` made explicit."""
    last = name.rsplit("/", 1)[-1]
    return name if (":" in last or "@" in name) else f"{name}:latest"


def parse_step(step: dict[str, Any]) -> Step:
    """What a build step asks for, in the emulator's supported subset."""
    name = step.get("name", "")
    args = list(step.get("args", []))
    if step.get("entrypoint") or step.get("script") or name.split(":")[0] != DOCKER_BUILDER:
        return Step("unsupported", problem=f"step {name!r} is not a docker build or push")
    if not args or args[0] not in ("build", "push"):
        return Step("unsupported", problem=f"docker {' '.join(args[:1])} is not supported")
    if args[0] == "push":
        images = [a for a in args[1:] if not a.startswith("-")]
        if len(images) != 1:
            return Step("unsupported", problem="docker push takes exactly one image")
        return Step("push", image=images[0])
    out = Step("build")
    positional: list[str] = []
    i = 1
    while i < len(args):
        arg = args[i]
        flag, eq, inline = arg.partition("=")
        takes_value = flag in _VALUE_FLAGS
        value = inline if eq else (args[i + 1] if takes_value and i + 1 < len(args) else "")
        if takes_value and not eq:
            i += 1
        if flag in ("-t", "--tag"):
            out.tags.append(value)
        elif flag in ("-f", "--file"):
            out.dockerfile = value
        elif flag == "--build-arg":
            key, _, val = value.partition("=")
            out.build_args[key] = val
        elif flag == "--target":
            return Step("unsupported", problem="docker build --target is not supported")
        elif arg.startswith("-"):
            if not takes_value and arg not in _PLAIN_FLAGS:
                return Step("unsupported", problem=f"docker build {arg} is not supported")
        else:
            positional.append(arg)
        i += 1
    if len(positional) != 1:
        return Step("unsupported", problem="docker build needs exactly one context path")
    out.context = positional[0]
    return out


def subcontext(source: bytes, directory: str) -> bytes:
    """A gzipped tarball of ``directory`` inside the ``source`` tarball."""
    prefix = PurePosixPath(directory)
    if str(prefix) in (".", ""):
        return source
    if prefix.is_absolute() or ".." in prefix.parts:
        raise ImageBuildError(f'unable to prepare context: path "{directory}" not found')
    out = io.BytesIO()
    found = False
    with (
        tarfile.open(fileobj=io.BytesIO(source), mode="r:gz") as src,
        tarfile.open(fileobj=out, mode="w:gz") as dst,
    ):
        for member in src:
            path = PurePosixPath(member.name.removeprefix("./"))
            try:
                rel = path.relative_to(prefix)
            except ValueError:
                continue
            found = True
            if str(rel) == ".":
                continue
            member.name = str(rel)
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    if not found:
        raise ImageBuildError(f'unable to prepare context: path "{directory}" not found')
    return out.getvalue()


def dockerfile_in_context(step: Step) -> str:
    """The Dockerfile's path relative to the step's context directory."""
    context = PurePosixPath(step.context)
    if not step.dockerfile:
        return "Dockerfile"
    path = PurePosixPath(step.dockerfile)
    try:
        return str(path.relative_to(context)) if str(context) != "." else str(path)
    except ValueError as exc:
        raise ImageBuildError(
            f"the Dockerfile ({step.dockerfile}) must be inside the build context "
            f"({step.context}) for the emulator's builder"
        ) from exc
