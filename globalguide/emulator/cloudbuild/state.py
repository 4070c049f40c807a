"""What the emulator holds of a build: the resource, its steps, and how its run ended."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from globalguide.emulator.cloudbuild.steps import Step
from globalguide.emulator.images import Image

FINAL = ("SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED")
PUSH_FAILURES = ("PUSH_FAILED", "PUSH_IMAGE_NOT_FOUND")

Failure = tuple[str, str, "int | None"]  # (failureInfo type, detail, failing step index)


@dataclass
class Outcome:
    built: dict[str, Image] = field(default_factory=dict)  # "name:tag" -> image
    pushes: list[tuple[int, str]] = field(default_factory=list)  # (step index, image)
    failure: Failure | None = None
    fetch_s: float = 0.0
    log: list[str] = field(default_factory=list)  # the build log's lines so far


@dataclass
class Record:
    build: dict[str, Any]
    location: str
    op_name: str
    created: float
    queue_s: float
    steps: list[Step]
    done_event: threading.Event = field(default_factory=threading.Event)
    outcome: Outcome | None = None
    final: bool = False
    cancelled: bool = False
    account: str = ""  # the email the build runs as


def step_status(index: int, failure: Failure | None) -> str:
    """A step's final status, given where (if anywhere) the build failed."""
    if failure is None or failure[0] in PUSH_FAILURES:
        return "SUCCESS"
    failed_at = failure[2]
    if failed_at is None or index > failed_at:
        return "QUEUED"  # never ran
    return "FAILURE" if index == failed_at else "SUCCESS"
