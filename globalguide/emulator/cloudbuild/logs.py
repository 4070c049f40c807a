"""The build log: what a build prints, and where Cloud Build writes it.

With a ``logsBucket`` of the user's and a logging mode that stores logs in Cloud Storage
(LEGACY, GCS_ONLY, or none given), the log is the object ``log-{build id}.txt`` under the
bucket path (``gs://bucket`` or ``gs://bucket/dir``), written before the build is marked
complete. The build's account must be able to create that object; otherwise the build fails
with LOGGING_FAILURE before any step runs. The default logs bucket is Google's, outside the
project, and is not modelled: nothing is written for a build that names none.
"""

from __future__ import annotations

import re
from typing import Any

from globalguide.emulator.core.routing import bad_request

CREATE_OBJECT = "storage.objects.create"
# Logging modes that store the log in Cloud Storage (LEGACY also in Cloud Logging).
_STORAGE_MODES = ("LOGGING_UNSPECIFIED", "LEGACY", "GCS_ONLY")
_GOOGLE_OWNED = ".cloudbuild-logs.googleusercontent.com"
_LOGS_BUCKET = re.compile(r"gs://([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])(?:/(.*))?\Z")


def default_logs_bucket(number: str) -> str:
    """The Google-created bucket a build's log goes to when it names none."""
    return f"gs://{number}{_GOOGLE_OWNED}"


def check_logs_bucket(build: dict[str, Any]) -> None:
    """A ``logsBucket`` the build names is ``gs://BUCKET[/PATH]``, or the real 400."""
    value = build.get("logsBucket")
    if value and _LOGS_BUCKET.fullmatch(value) is None:
        raise bad_request(f'invalid logs bucket "{value}"')


def log_location(build: dict[str, Any]) -> tuple[str, str] | None:
    """(bucket, object name) the log is written to, or None when it goes to no bucket of
    the project (no ``logsBucket`` given, or a mode without Cloud Storage)."""
    given = build.get("logsBucket")
    mode = (build.get("options") or {}).get("logging", "LOGGING_UNSPECIFIED")
    match = _LOGS_BUCKET.fullmatch(given or "")
    if match is None or mode not in _STORAGE_MODES or match.group(1).endswith(_GOOGLE_OWNED):
        return None
    directory = (match.group(2) or "").strip("/")
    prefix = f"{directory}/" if directory else ""
    return match.group(1), f"{prefix}log-{build['id']}.txt"


def logging_failure(account: str, *, bucket_exists: bool) -> str:
    """The statusDetail of a build whose log object cannot be created."""
    if not bucket_exists:
        cause = "googleapi: Error 404: The specified bucket does not exist., notFound"
    else:
        cause = (
            f"googleapi: Error 403: {account} does not have {CREATE_OBJECT} access to the "
            "Google Cloud Storage object., forbidden"
        )
    return (
        "Failure setting up GCS logging: failed to create GCS logging client: error creating "
        f"logfile: {cause}"
    )


def opening(build: dict[str, Any]) -> list[str]:
    """The log's first lines: the build starting and its source being fetched."""
    lines = [f'starting build "{build["id"]}"', "", "FETCHSOURCE"]
    resolved = (build.get("sourceProvenance") or {}).get("resolvedStorageSource")
    if resolved:
        lines.append(
            f"Fetching storage object: gs://{resolved['bucket']}/{resolved['object']}"
            f"#{resolved['generation']}"
        )
    return lines


def closing(failure: tuple[str, str, int | None] | None, steps: list[dict[str, Any]]) -> list[str]:
    """The log's last lines: DONE, or ERROR and why."""
    if failure is None:
        return ["DONE"]
    kind, detail, step_index = failure
    if kind == "USER_BUILD_STEP" and step_index is not None:
        name = steps[step_index]["name"]
        detail = f'build step {step_index} "{name}" failed: step exited with non-zero status: 1'
    return ["ERROR", f"ERROR: {detail}"]
