"""How a finished build reads: its timing, each step's status, the final status and why it
failed, and the last lines of its log."""

from __future__ import annotations

from globalguide.emulator.cloudbuild import logs
from globalguide.emulator.cloudbuild.state import (
    PUSH_FAILURES,
    Failure,
    Outcome,
    Record,
    step_status,
)
from globalguide.emulator.core.timestamps import rfc3339


def record_timing(record: Record, outcome: Outcome, now: float) -> None:
    """startTime and the FETCHSOURCE and BUILD phases, from the run's outcome."""
    started = record.created + record.queue_s
    fetched = started + outcome.fetch_s
    record.build["startTime"] = rfc3339(started)
    record.build["timing"] = {
        "FETCHSOURCE": {"startTime": rfc3339(started), "endTime": rfc3339(fetched)},
        "BUILD": {"startTime": rfc3339(fetched), "endTime": rfc3339(now)},
    }


def settle(record: Record, outcome: Outcome, failure: Failure | None, now: float) -> None:
    """The final status, step statuses and failure, and the log's closing lines."""
    build = record.build
    for index, step in enumerate(build["steps"]):
        step["status"] = step_status(index, failure)
    if (failure is None or failure[0] in PUSH_FAILURES) and build.get("images"):
        outcome.log.append("PUSH")
        outcome.log.extend(f"Pushing {image}" for image in build["images"])
    outcome.log.extend(logs.closing(failure, build["steps"]))
    build["finishTime"] = rfc3339(now)
    record.final = True
    if failure is None:
        build["status"] = "SUCCESS"
        return
    kind, detail, step_index = failure
    build["status"] = "FAILURE"
    if kind == "USER_BUILD_STEP" and step_index is not None:
        name = build["steps"][step_index]["name"]
        summary = (
            f'Build step failure: build step {step_index} "{name}" failed: step exited with '
            "non-zero status: 1"
        )
        detail = f"{summary} ({detail})"
    build["statusDetail"] = detail
    build["failureInfo"] = {"type": kind, "detail": detail}
