"""Repository rules: ids, locations, formats and modes at create, what an update may change
(artifactregistry_v1 ``CreateRepositoryRequest``, ``Repository`` and
``UpdateRepositoryRequest`` docstrings)."""

from __future__ import annotations

import re
from typing import Any

from globalguide.emulator.core.labels import check_labels
from globalguide.emulator.core.routing import bad_request
from globalguide.emulator.core.schema import canonical, validate_body

MULTI_REGIONS = ("us", "europe", "asia")
FORMATS = ("DOCKER", "MAVEN", "NPM", "APT", "YUM", "PYTHON", "KFP", "GO", "GENERIC", "RUBY")
MAX_DESCRIPTION_CHARS = 2048
# The fields an update mask may name.
UPDATABLE = frozenset(
    {"description", "labels", "cleanupPolicies", "cleanupPolicyDryRun", "dockerConfig"}
)
# The fields of a create request kept on the repository as sent.
_KEPT_AT_CREATE = (
    "description",
    "labels",
    "dockerConfig",
    "mavenConfig",
    "kmsKeyName",
    "cleanupPolicies",
    "cleanupPolicyDryRun",
    "remoteRepositoryConfig",
    "virtualRepositoryConfig",
)
_REPO_ID = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")


def repository_name(project: str, location: str, repo_id: str) -> str:
    return f"projects/{project}/locations/{location}/repositories/{repo_id}"


def check_location(location: str) -> None:
    from globalguide import geo

    if location not in set(geo.REGIONS) | set(MULTI_REGIONS):
        raise bad_request(f"Invalid location: {location!r} is not an Artifact Registry location.")


def check_repository_id(repo_id: str) -> None:
    if not repo_id:
        raise bad_request("repository_id is required.")
    if not _REPO_ID.match(repo_id):
        raise bad_request(
            f"Invalid repository id {repo_id!r}: it must start with a lowercase letter, "
            "contain only lowercase letters, digits and hyphens, end with a letter or "
            "digit, and be at most 63 characters long."
        )


def checked_body(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` checked against the ``Repository`` message, in its canonical JSON."""
    from google.cloud import artifactregistry_v1

    validate_body(body, artifactregistry_v1.Repository, resource="repository")
    return canonical(body, artifactregistry_v1.Repository)


def new_repository(
    project: str, location: str, repo_id: str, body: dict[str, Any], now: str
) -> dict[str, Any]:
    """The repository a create request with the canonical ``body`` makes."""
    fmt = body.get("format", "FORMAT_UNSPECIFIED")
    if fmt not in FORMATS:
        raise bad_request("Repository format must be specified.")
    mode = body.get("mode", "MODE_UNSPECIFIED")
    if mode == "MODE_UNSPECIFIED":
        mode = "STANDARD_REPOSITORY"
    if mode == "REMOTE_REPOSITORY" and "remoteRepositoryConfig" not in body:
        raise bad_request("remote_repository_config is required for a remote repository.")
    if mode == "VIRTUAL_REPOSITORY" and "virtualRepositoryConfig" not in body:
        raise bad_request("virtual_repository_config is required for a virtual repository.")
    check_labels(body.get("labels"))
    if len(body.get("description", "")) > MAX_DESCRIPTION_CHARS:
        raise bad_request(
            f"The description must be at most {MAX_DESCRIPTION_CHARS} characters long."
        )
    resource: dict[str, Any] = {
        "name": repository_name(project, location, repo_id),
        "format": fmt,
        "mode": mode,
    }
    resource.update({key: body[key] for key in _KEPT_AT_CREATE if key in body})
    resource.update(
        {
            "createTime": now,
            "updateTime": now,
            "satisfiesPzi": True,
            "vulnerabilityScanningConfig": {
                "enablementState": "SCANNING_DISABLED",
                "enablementStateReason": "API containerscanning.googleapis.com is not enabled.",
                "lastEnableTime": now,
            },
        }
    )
    if fmt == "DOCKER":
        resource["registryUri"] = f"{location}-docker.pkg.dev/{project}/{repo_id}"
    return resource


def update_paths(body: dict[str, Any], mask: list[str]) -> list[str]:
    """The paths an update changes: the mask's, or without one the updatable fields sent."""
    paths = mask or [k for k in body if k in UPDATABLE]
    for path in paths:
        if path.split(".")[0] not in UPDATABLE:
            raise bad_request(f"Invalid update_mask path: {path!r}.")
    check_labels(body.get("labels"))
    return paths


def apply_update(stored: dict[str, Any], body: dict[str, Any], paths: list[str], now: str) -> None:
    """A masked field absent from ``body`` is cleared."""
    for path in paths:
        key = path.split(".")[0]
        if key in body:
            stored[key] = body[key]
        else:
            stored.pop(key, None)
    stored["updateTime"] = now
