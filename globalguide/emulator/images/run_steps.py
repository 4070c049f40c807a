"""RUN steps of the emulator's image builder.

An image built from ``FROM python:*`` gets its own Python environment at ``/usr/local`` of
its filesystem (where the python images keep theirs): a venv made with this machine's
interpreter and ``--system-site-packages``, created by the first ``pip install``. So a
requirement this machine already has is "already satisfied" (no download), anything else is
installed into that image only. What a RUN line may hold, split at ``&&`` and ``;``:

- ``pip install ...`` (also ``pip3``, ``python -m pip``): run with this machine's pip into
  the image's environment; paths in it (``-r``, ``-c``, ``-e``, ``./x``) are image paths;
- ``mkdir``: the directories are made in the image;
- OS-level commands with no meaning for a process on this machine (package managers,
  users, permissions, removing files, byte-compiling, ``pip uninstall``): recorded only;
- anything else fails the build, naming the Dockerfile line.

The same inputs give the same environment, so a finished environment is kept under the
store's ``.pip`` directory by the hash of the commands and the requirement files that made
it, and copied into the next image built the same way.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from globalguide.emulator.images.image import PYTHON

PIP_TIMEOUT_S = 600
ENV_PATH = "/usr/local"  # the image's Python environment, inside its filesystem
_PIP = re.compile(r"(?:.*/)?pip(?:3(?:\.\d+)?)?\Z")
_SHELL_OPERATORS = re.compile(r"\|\||[|<>`]|\$\(")
# Commands that shape the operating system of a real image, not what this machine runs.
RECORDED_ONLY = frozenset(
    {"apt-get", "apt", "apk", "dnf", "yum", "microdnf", "useradd", "adduser", "groupadd",
     "addgroup", "usermod", "chown", "chmod", "chgrp", "rm", "true", ":", "echo", "ln",
     "update-ca-certificates", "ldconfig"}
)  # fmt: skip
_PATH_FLAGS = ("-r", "--requirement", "-c", "--constraint", "-e", "--editable")


class RunError(Exception):
    """A RUN step failed or cannot be interpreted; the message says which and why."""


def run_line(builder: Any, rest: str, line: int, exec_form_argv: list[str] | None) -> None:
    """Interpret one RUN instruction for ``builder`` (the Dockerfile interpreter)."""
    if exec_form_argv is not None:
        commands = [exec_form_argv]
    else:
        if _SHELL_OPERATORS.search(rest):
            raise RunError(
                f"Dockerfile line {line}: RUN {rest[:80]!r}: pipes, redirections and "
                "command substitution are not interpreted by the emulator's image builder"
            )
        try:
            words = shlex.split(rest.replace(";", " ; ").replace("&&", " && "))
        except ValueError as exc:
            raise RunError(f"Dockerfile line {line}: RUN cannot be parsed: {exc}") from None
        commands, current = [], []
        for word in words:
            if word in ("&&", ";"):
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(builder.sub(word))
        if current:
            commands.append(current)
    for argv in commands:
        _run_command(builder, argv, line)


def _pip_args(argv: list[str]) -> list[str] | None:
    """The arguments after ``install`` when ``argv`` is a pip install, else None."""
    if _PIP.match(argv[0]):
        rest = argv[1:]
    elif PYTHON.match(argv[0]) and argv[1:3] == ["-m", "pip"]:
        rest = argv[3:]
    else:
        return None
    return rest[1:] if rest[:1] == ["install"] else None


def _is_pip(argv: list[str]) -> bool:
    return bool(_PIP.match(argv[0])) or (PYTHON.match(argv[0]) and argv[1:3] == ["-m", "pip"])


def _run_command(builder: Any, argv: list[str], line: int) -> None:
    name = PurePosixPath(argv[0]).name
    install = _pip_args(argv)
    if install is not None:
        _pip_install(builder, install, line)
    elif name == "mkdir":
        for target in (a for a in argv[1:] if not a.startswith("-")):
            builder.in_root(target, line).mkdir(parents=True, exist_ok=True)
    elif name in RECORDED_ONLY or _is_pip(argv):
        return
    elif PYTHON.match(argv[0]) and argv[1:3] == ["-m", "compileall"]:
        return
    else:
        raise RunError(
            f"Dockerfile line {line}: RUN {shlex.join(argv)[:80]!r} cannot be interpreted by "
            "the emulator's image builder (it runs pip install and mkdir, and records "
            "package-manager, user and permission commands)"
        )


def _pip_install(builder: Any, args: list[str], line: int) -> None:
    env_dir = builder.in_root(ENV_PATH, line)
    rewritten: list[str] = []
    inputs = hashlib.sha256(f"{sys.executable}\n{builder.pip_key}\n".encode())
    cacheable = True
    expect_path = False
    for arg in args:
        flag, eq, value = arg.partition("=")
        if expect_path or (eq and flag in _PATH_FLAGS):
            path = value if eq else arg
            host = (
                builder.in_root(path, line)
                if path.startswith("/")
                else (builder.in_root(builder.workdir, line) / path)
            )
            if host.is_file():
                inputs.update(host.read_bytes())
            else:
                cacheable = False
            rewritten.append(f"{flag}={host}" if eq and not expect_path else str(host))
            inputs.update(f"{flag if eq else ''}{path}\n".encode())
            expect_path = False
            continue
        if arg in _PATH_FLAGS:
            expect_path = True
        elif arg.startswith((".", "/")):
            cacheable = False
            arg = (
                str(builder.in_root(arg, line))
                if arg.startswith("/")
                else str(builder.in_root(builder.workdir, line) / arg)
            )
        rewritten.append(arg)
        inputs.update(f"{arg}\n".encode())
    key = inputs.hexdigest()[:32]
    builder.pip_key = key
    cached = builder.store_root / ".pip" / key
    if cacheable and (cached / "pyvenv.cfg").is_file():
        shutil.copytree(cached, env_dir, symlinks=True, dirs_exist_ok=True)
        builder.log(" ---> Using cache")
        builder.python = f"{ENV_PATH}/bin/python"
        return
    if not (env_dir / "pyvenv.cfg").is_file():
        _make_env(env_dir, line)
    python = env_dir / "bin" / "python"
    env = {**os.environ, **builder.env, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(python), "install", *rewritten],
            cwd=builder.in_root(builder.workdir, line),
            env=env,
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise RunError(
            f"Dockerfile line {line}: RUN pip install did not finish in {PIP_TIMEOUT_S} s"
        ) from None
    for output in (done.stdout, done.stderr):
        for printed in (output or "").splitlines():
            if printed.strip():
                builder.log(printed)
    if done.returncode != 0:
        tail = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()][-5:]
        raise RunError(
            f"Dockerfile line {line}: RUN pip install {shlex.join(args)[:60]} exited "
            f"{done.returncode}: " + " | ".join(tail)
        )
    _portable_scripts(env_dir)
    builder.python = f"{ENV_PATH}/bin/python"
    if cacheable:
        tmp = cached.with_name(f".{key}.{uuid.uuid4().hex[:8]}")
        shutil.copytree(env_dir, tmp, symlinks=True)
        try:
            tmp.rename(cached)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another build kept the same one


def _make_env(env_dir: Path, line: int) -> None:
    env_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(env_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise RunError(
            f"Dockerfile line {line}: the image's Python environment could not be made: "
            + (done.stderr.strip().splitlines() or ["no output"])[-1]
        )


def _portable_scripts(env_dir: Path) -> None:
    """Scripts pip wrote name the environment's path at build time; the image moves, so
    they name ``python`` on the image's PATH instead."""
    bin_dir = env_dir / "bin"
    for script in bin_dir.iterdir() if bin_dir.is_dir() else []:
        if script.is_symlink() or not script.is_file():
            continue
        try:
            with script.open("rb") as f:
                head = f.readline(512)
                if not head.startswith(b"#!") or str(env_dir).encode() not in head:
                    continue
                rest = f.read()
        except OSError:
            continue
        script.write_bytes(b"#!/usr/bin/env python\n" + rest)
