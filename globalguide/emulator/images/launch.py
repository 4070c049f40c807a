"""How a built image's command runs on this machine: ``python`` is the image's own
interpreter (its environment made by ``RUN pip install``), else this machine's."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from globalguide.emulator.images.image import PYTHON
from globalguide.emulator.images.run_steps import ENV_PATH


def image_python(image: Any) -> Path | None:
    """The image's own interpreter (its environment's), if it has one."""
    if not getattr(image, "python", None):
        return None
    path = image.root / image.python.lstrip("/")
    return path if path.exists() else None


def _python_script(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return b"python" in f.readline(256)
    except OSError:
        return False


def resolve_argv(image: Any, argv: list[str]) -> list[str]:
    """``argv`` as this machine runs it: ``python`` is the image's interpreter (else this
    machine's); a console script (``uvicorn``, ``gunicorn``) found in the image's
    environment or beside this machine's interpreter runs under the image's interpreter."""
    if not argv:
        return argv
    python = str(image_python(image) or sys.executable)
    if PYTHON.match(argv[0]):
        return [python, *argv[1:]]
    if "/" not in argv[0]:
        for bin_dir in (image.root / ENV_PATH.lstrip("/") / "bin", Path(sys.executable).parent):
            script = bin_dir / argv[0]
            if script.is_file() and _python_script(script):
                return [python, str(script), *argv[1:]]
    return argv


def search_path(image: Any, path: str) -> str:
    """PATH for a shell-form command: the image's environment, then this interpreter's."""
    dirs = [str(Path(sys.executable).parent), path]
    if image_python(image) is not None:
        dirs.insert(0, str(image.root / ENV_PATH.lstrip("/") / "bin"))
    return os.pathsep.join(dirs)
