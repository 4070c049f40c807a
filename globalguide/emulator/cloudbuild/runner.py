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

from globalguide.emulator.cloudbuild.state import Outcome, Record
from globalguide.emulator.cloudbuild.steps import (
    Step,
    dockerfile_in_context,
    subcontext,
    tagged,
)
from globalguide.emulator.images import Image, ImageBuildError, ImageStore
from globalguide.emulator.permissions import READ_OBJECT


def run(record: Record, source: bytes | None, images: ImageStore, may_read: Callable[[], bool]):
    """Run ``record``'s steps on ``source``; ``may_read`` says whether the build's account
    may read the source object. Sets the record's outcome and its done event."""
    outcome = Outcome()
    started = time.time()
    try:
        if source is not None:
            outcome.failure = _fetch_failure(record, source, may_read)
            if outcome.failure is not None:
                return
        outcome.fetch_s = time.time() - started
        for index, step in enumerate(record.steps):
            if step.kind == "unsupported":
                outcome.failure = ("USER_BUILD_STEP", step.problem, index)
                return
            if step.kind == "push":
                if tagged(step.image) not in outcome.built:
                    outcome.failure = (
                        "USER_BUILD_STEP",
                        f"An image does not exist locally with the tag: {step.image}",
                        index,
                    )
                    return
                outcome.pushes.append((index, step.image))
                continue
            try:
                image = _docker_build(step, source, images)
            except ImageBuildError as exc:
                outcome.failure = ("USER_BUILD_STEP", str(exc), index)
                return
            for tag in step.tags:
                outcome.built[tagged(tag)] = image
    except Exception as exc:  # noqa: BLE001 - a crash must end the build, not hang it
        outcome.failure = ("USER_BUILD_STEP", f"internal error: {exc}", None)
    finally:
        record.outcome = outcome
        record.done_event.set()


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


def _docker_build(step: Step, source: bytes | None, images: ImageStore) -> Image:
    if source is None:
        raise ImageBuildError(
            'unable to prepare context: path "." not found (the build has no source)'
        )
    return images.build(
        subcontext(source, step.context), dockerfile_in_context(step), step.build_args
    )
