"""The emulator's one project: its number, and the check each API makes on entry."""

from __future__ import annotations

import hashlib

from globalguide.emulator.core.routing import ApiError


def project_number(project_id: str) -> str:
    """A stable 12-digit project number for ``project_id`` (real projects have one too)."""
    digest = int(hashlib.sha256(project_id.encode()).hexdigest(), 16)
    return str(100_000_000_000 + digest % 900_000_000_000)


def check_project(
    held: str, project: str, *, style: str = "google", by_number: bool = False
) -> None:
    """The emulator holds one project (``held``); others do not exist for the caller.
    ``by_number``: the API also takes the project's number in its paths."""
    if project == held or (by_number and project == project_number(held)):
        return
    if style == "compute":
        raise ApiError(404, f"The resource 'projects/{project}' was not found", reason="notFound")
    raise ApiError(
        403,
        f"Permission denied on resource project {project}.",
        reason="forbidden",
        status="PERMISSION_DENIED",
    )
