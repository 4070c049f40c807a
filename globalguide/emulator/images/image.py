"""A built image: its filesystem root and the config a container runtime reads, and the
error a build that cannot produce one raises."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# ``python``, ``python3`` or ``pythonX.Y``, with or without a directory.
PYTHON = re.compile(r"(?:.*/)?python(?:3(?:\.\d+)?)?\Z")


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

    def argv(self, interpreter: str | None = None) -> list[str]:
        """``cmd`` with a leading ``python``, ``python3`` or ``pythonX.Y`` replaced."""
        argv = list(self.cmd)
        if argv and PYTHON.match(argv[0]):
            argv[0] = interpreter or sys.executable
        return argv


def image_from_meta(meta: dict[str, Any], rootfs: Path) -> Image:
    config = meta["config"]
    return Image(
        digest=meta["digest"],
        root=rootfs,
        cmd=effective_cmd(config["entrypoint"], config["cmd"]),
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


def effective_cmd(entrypoint: list[str], cmd: list[str]) -> list[str]:
    if not entrypoint:
        return list(cmd)
    if entrypoint[:2] == ["/bin/sh", "-c"]:
        return list(entrypoint)  # a shell-form ENTRYPOINT ignores CMD, as docker does
    return list(entrypoint) + list(cmd)
