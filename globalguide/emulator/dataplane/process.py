"""Process groups and their output: what the runner needs from the operating system.

Each revision runs in a process group of its own (its leader's pid is the group id), so a
signal reaches the server and every worker it forked. :class:`ProcessGroups` keeps the
groups still alive in ``children.json`` in the state directory; ``emulator stop`` reads it
to end whatever an emulator that died without cleaning up left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import IO

CHILDREN_FILE = "children.json"
LOG_MAX_BYTES = 1024 * 1024  # per log file; one rotated file is kept
LOG_LINE_MAX = 64 * 1024


class ProcessGroups:
    """Every process group the runner started and has not seen end, mirrored to disk."""

    def __init__(self, state_dir: Path) -> None:
        self._path = state_dir / CHILDREN_FILE
        self._lock = threading.Lock()
        self._groups: set[int] = set()

    def add(self, pgid: int) -> None:
        with self._lock:
            self._groups.add(pgid)
            self._write()

    def discard(self, pgid: int) -> None:
        with self._lock:
            self._groups.discard(pgid)
            self._write()

    def snapshot(self) -> set[int]:
        with self._lock:
            return set(self._groups)

    def _write(self) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._path.with_suffix(".tmp")
            tmp.write_text(json.dumps(sorted(self._groups)))
            tmp.replace(self._path)
        except OSError:
            pass


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class LogPump:
    """Copies a process's output to a size-bounded log file (one rotated file kept)."""

    def __init__(self, stream: IO[bytes] | None, path: Path) -> None:
        self.path = path
        self._stream = stream
        self._thread = threading.Thread(target=self._pump, name=f"log:{path.name}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        if self._stream is None:
            return
        out = self.path.open("ab")
        written = out.tell()
        try:
            for line in iter(lambda: self._stream.readline(LOG_LINE_MAX), b""):
                if written + len(line) > LOG_MAX_BYTES:
                    out.close()
                    os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                    out = self.path.open("ab")
                    written = 0
                out.write(line)
                out.flush()
                written += len(line)
        except (OSError, ValueError):
            pass
        finally:
            out.close()
            with contextlib.suppress(OSError):
                self._stream.close()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
