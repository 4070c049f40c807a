"""Running the emulator in the background: start, find, stop.

The emulator process writes its session token (``token``, mode 0600, see :mod:`session`)
and then ``emulator.json`` (endpoint, project, pid) into the state directory (mode 0700)
once it listens, and removes both when it stops. ``stop`` sends SIGTERM, which
makes the emulator stop every process it started; if it does not exit in time, its
whole process group and every recorded child group are killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_DIR_ENV = "GLOBALGUIDE_STATE_DIR"
RUNTIME_FILE = "emulator.json"
CHILDREN_FILE = "children.json"
LOG_FILE = "emulator.log"


def state_dir() -> Path:
    """Per-user state: $GLOBALGUIDE_STATE_DIR, else under $XDG_STATE_HOME or ~/.local/state."""
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "globalguide" / "emulator"


@dataclass(frozen=True)
class RunningEmulator:
    endpoint: str
    project: str
    pid: int
    token_path: Path
    token: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        """How to connect: the token itself stays in its file."""
        return {
            "endpoint": self.endpoint,
            "project": self.project,
            "pid": self.pid,
            "tokenPath": str(self.token_path),
        }


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def healthy(endpoint: str, token: str, timeout: float = 1.0) -> bool:
    from globalguide.emulator.session import control_request

    request = control_request(endpoint, "health", token=token)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 (loopback)
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def find_running(directory: Path | None = None) -> RunningEmulator | None:
    """The emulator this user runs, if its runtime file names a live, answering process."""
    from globalguide.emulator.session import TOKEN_FILE, load_token

    directory = directory or state_dir()
    try:
        data = json.loads((directory / RUNTIME_FILE).read_text())
        endpoint, project, pid = str(data["endpoint"]), str(data["project"]), int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    token = load_token(directory)
    if token is None or not _pid_alive(pid) or not healthy(endpoint, token):
        return None
    return RunningEmulator(endpoint, project, pid, directory / TOKEN_FILE, token)


def start_background(
    args: list[str], *, directory: Path | None = None, timeout: float = 30.0
) -> RunningEmulator:
    """Start ``python -m globalguide.emulator.main ARGS`` detached; return once it answers."""
    from globalguide.emulator.session import private_dir

    directory = private_dir(directory or state_dir())
    (directory / RUNTIME_FILE).unlink(missing_ok=True)
    log = open(directory / LOG_FILE, "ab")  # noqa: SIM115 (handed to the child)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "globalguide.emulator.main", "--state-dir", str(directory)]
            + args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"the emulator exited at start (code {proc.returncode}); see {directory / LOG_FILE}"
            )
        running = find_running(directory)
        if running is not None and running.pid == proc.pid:
            return running
        time.sleep(0.05)
    _kill_group(proc.pid)
    raise RuntimeError(f"the emulator did not answer within {timeout:.0f} s")


def _kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _recorded_children(directory: Path) -> list[int]:
    try:
        data = json.loads((directory / CHILDREN_FILE).read_text())
        return [int(pid) for pid in data]
    except (OSError, ValueError, TypeError):
        return []


def stop(directory: Path | None = None, *, timeout: float = 15.0) -> bool:
    """Stop the emulator and everything it started. False if none was running."""
    directory = directory or state_dir()
    path = directory / RUNTIME_FILE
    try:
        pid = int(json.loads(path.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        pid = None
    was_running = pid is not None and _pid_alive(pid)
    if was_running:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.05)
        if _pid_alive(pid):
            _kill_group(pid)
    # Whatever the emulator could not end itself: its children's process groups.
    for child in _recorded_children(directory):
        _kill_group(child)
    from globalguide.emulator.session import TOKEN_FILE

    (directory / CHILDREN_FILE).unlink(missing_ok=True)
    (directory / TOKEN_FILE).unlink(missing_ok=True)
    path.unlink(missing_ok=True)
    return was_running
