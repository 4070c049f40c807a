"""Helpers for the control-plane tests: build contexts, a stand-in data plane, own emulators."""

from __future__ import annotations

import contextlib
import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from globalguide.cloud.clients import CloudClients
from globalguide.emulator.server import Emulator, EmulatorConfig, EmulatorServer

APIS = (
    "run.googleapis.com",
    "compute.googleapis.com",
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "aiplatform.googleapis.com",
)

SIMPLE_DOCKERFILE = b"""FROM python:3.12-slim
WORKDIR /app
COPY . ./app
CMD ["python", "-m", "app"]
"""


def tarball(files: dict[str, bytes]) -> bytes:
    """A gzipped tarball holding ``files`` (name -> content)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def simple_context(marker: str = "hello") -> bytes:
    return tarball(
        {
            "Dockerfile": SIMPLE_DOCKERFILE,
            "__init__.py": b"",
            "__main__.py": f"print({marker!r})\n".encode(),
        }
    )


@dataclass
class FakeRevision:
    """What the data plane hands back: a status that moves on, an error, a uri."""

    service: str
    revision: str
    status: str = "starting"
    error: str = ""
    uri: str = ""


@dataclass
class FakeDataPlane:
    """Records the calls the control plane makes; revisions come up as told."""

    outcome: str = "ready"  # what start_revision's handle becomes: ready, failed, starting
    started: list[dict[str, Any]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    ingress: list[tuple[str, str]] = field(default_factory=list)
    handles: list[FakeRevision] = field(default_factory=list)

    def start_revision(self, **kwargs: Any) -> FakeRevision:
        self.started.append(kwargs)
        handle = FakeRevision(kwargs["service"], kwargs["revision"])
        if self.outcome == "ready":
            handle.status = "ready"
            handle.uri = f"http://127.0.0.1:{40000 + len(self.started)}"
        elif self.outcome == "failed":
            handle.status = "failed"
            handle.error = "process exited with status 1"
        self.handles.append(handle)
        return handle

    def remove_service(self, name: str) -> None:
        self.removed.append(name)

    def set_ingress(self, name: str, ingress: str) -> None:
        self.ingress.append((name, ingress))

    def stop_all(self) -> None:
        pass

    def snapshot(self) -> dict[str, Any]:
        return {}

    def edges(self) -> list[Any]:
        return []


@contextlib.contextmanager
def running_emulator(state_dir: Path, **config: Any) -> Iterator[tuple[Emulator, CloudClients]]:
    """An emulator of its own (another profile, faults...), with the deployment APIs on."""
    emulator = Emulator(EmulatorConfig(state_dir=state_dir, **config))
    emulator.serviceusage.set_enabled(list(APIS))
    server = EmulatorServer(emulator).start()
    try:
        yield emulator, CloudClients(emulator.project, endpoint=server.endpoint)
    finally:
        server.stop()
