"""The build runner: fetches the source and executes the steps, off the emulator's lock.

It runs in a worker thread started when the build is created; the build's operation
completes once it is done. Each step either builds an image into the local image store or
records a push for the end of the build.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable

from globalguide.emulator.cloudbuild import logs
from globalguide.emulator.cloudbuild.state import Outcome, Record
from globalguide.emulator.cloudbuild.steps import (
    Step,
    dockerfile_in_context,
    subcontext,
    tagged,
)
from globalguide.emulator.iam.permissions import READ_OBJECT
from globalguide.emulator.images import Image, ImageBuildError, ImageStore
from globalguide.emulator.images.dockerfile import Log


def run(
    record: Record,
    source: bytes | None,
    images: ImageStore,
    may_read: Callable[[], bool],
    log_problem: Callable[[], str | None],
) -> None:
    """Run ``record``'s steps on ``source``; ``may_read`` says whether the build's account
    may read the source object, ``log_problem`` why its log cannot be written (None when it
    can). Sets the record's outcome, with the log's lines, and its done event."""
    outcome = Outcome(log=logs.opening(record.build))
    started = time.time()
    try:
        problem = log_problem()
        if problem is not None:
            outcome.failure = ("LOGGING_FAILURE", problem, None)
            return
        if source is not None:
            outcome.failure = _fetch_failure(record, source, may_read)
            if outcome.failure is not None:
                return
        outcome.fetch_s = time.time() - started
        outcome.log.append("BUILD")
        for index, step in enumerate(record.steps):
            outcome.log.append(f"Starting Step #{index}")
            outcome.failure = _run_step(index, step, source, images, outcome)
            outcome.log.append(f"Finished Step #{index}")
            if outcome.failure is not None:
                return
    except Exception as exc:  # noqa: BLE001 - a crash must end the build, not hang it
        outcome.failure = ("USER_BUILD_STEP", f"internal error: {exc}", None)
    finally:
        record.outcome = outcome
        record.done_event.set()


def _run_step(
    index: int, step: Step, source: bytes | None, images: ImageStore, outcome: Outcome
) -> tuple[str, str, int] | None:
    """Run one step, its output in the log as Cloud Build prints it ("Step #N: ...")."""

    def log(text: str) -> None:
        outcome.log.extend(f"Step #{index}: {line}" for line in text.splitlines() or [""])

    problem = step.problem
    if step.kind == "push":
        if tagged(step.image) in outcome.built:
            outcome.pushes.append((index, step.image))
            log(f"The push refers to repository [{step.image}]")
            return None
        problem = f"An image does not exist locally with the tag: {step.image}"
    elif step.kind == "build":
        try:
            image = _docker_build(step, source, images, log)
        except ImageBuildError as exc:
            problem = str(exc)
        else:
            for tag in step.tags:
                outcome.built[tagged(tag)] = image
                log(f"Successfully tagged {tagged(tag)}")
            return None
    log(problem)
    return ("USER_BUILD_STEP", problem, index)


def _fetch_failure(
    record: Record, source: bytes, may_read: Callable[[], bool]
) -> tuple[str, str, None] | None:
    """Why the source cannot be fetched (the account may not read it, or it is not a
    gzipped tarball), or None."""
    if not may_read():
        storage_source = record.build["source"]["storageSource"]
        bucket, obj = storage_source["bucket"], storage_source["object"]
        return (
            "FETCH_SOURCE_FAILED",
            f"AccessDeniedException: 403 {record.account} does not have "
            f"{READ_OBJECT} access to the Google Cloud Storage object "
            f"gs://{bucket}/{obj}. Permission '{READ_OBJECT}' denied on resource "
            "(or it may not exist).",
            None,
        )
    try:
        with tarfile.open(fileobj=io.BytesIO(source), mode="r:gz") as tar:
            tar.getmembers()
    except (tarfile.TarError, OSError, EOFError):
        return (
            "FETCH_SOURCE_FAILED",
            "failed to fetch source: the storage object is not a gzipped tarball (.tar.gz)",
            None,
        )
    return None


def _docker_build(step: Step, source: bytes | None, images: ImageStore, log: Log) -> Image:
    if source is None:
        raise ImageBuildError(
            'unable to prepare context: path "." not found (the build has no source)'
        )
    return images.build(
        subcontext(source, step.context), dockerfile_in_context(step), step.build_args, log
    )
