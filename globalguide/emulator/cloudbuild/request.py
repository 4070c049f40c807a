"""The rules a build request must meet before a build is created, and how it is named.

The 400s here are the real API's: a build needs steps with names, valid image names, a
service account given as a full resource name of an existing account, and, with a
user-specified account, a choice of where its logs go.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from globalguide.emulator.core.routing import bad_request

_IMAGE_NAME = re.compile(
    r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?\Z"
)
_SUBSTITUTION = re.compile(r"\$(?:\{([A-Z_][A-Z0-9_]*)\}|([A-Z_][A-Z0-9_]*))")
_FILTER_TERM = re.compile(r'\s*(\w+)\s*=\s*"([^"]*)"\s*')
ACCOUNT_NAME = re.compile(r"projects/([^/]+)/serviceAccounts/([^/]+)\Z")
# Logging choices that do not need the default (Google-owned) logs bucket.
_OWN_LOGGING = ("CLOUD_LOGGING_ONLY", "STACKDRIVER_ONLY", "NONE")
SERVICE_ACCOUNT_LOGGING = (
    "if 'build.service_account' is specified, the build must either (a) specify "
    "'build.logs_bucket', (b) use the REGIONAL_USER_OWNED_BUCKET "
    "build.options.default_logs_bucket_behavior option, or (c) use either CLOUD_LOGGING_ONLY / "
    "NONE logging options: invalid argument"
)


def default_service_account(number: str) -> str:
    """The Compute Engine default service account, which builds run as by default."""
    return f"{number}-compute@developer.gserviceaccount.com"


def build_cls() -> Any:
    from google.cloud.devtools import cloudbuild_v1

    return cloudbuild_v1.Build


def check_steps(build: dict[str, Any]) -> None:
    """Steps with names and images with valid names, or the real 400."""
    steps = build.get("steps") or []
    if not steps:
        raise bad_request("invalid build: the build must have at least one step")
    for index, step in enumerate(steps):
        if not step.get("name"):
            raise bad_request(f"invalid build: step {index} must specify a name")
    for image in build.get("images", []):
        if not _IMAGE_NAME.match(image):
            raise bad_request(f'invalid build: invalid image name "{image}"')


def check_account_form(build: dict[str, Any]) -> re.Match[str] | None:
    """The user-specified account's name parts (None when the build names none); the real
    400s for a malformed name and for an account with no logging choice."""
    given = build.get("serviceAccount")
    if not given:
        return None
    match = ACCOUNT_NAME.fullmatch(given)
    if match is None:
        raise bad_request(
            f"invalid build: invalid service account {given!r}: it must be of the format "
            "projects/{PROJECT_ID}/serviceAccounts/{ACCOUNT}: invalid argument"
        )
    options = build.get("options") or {}
    if not (
        build.get("logsBucket")
        or options.get("logging") in _OWN_LOGGING
        or options.get("defaultLogsBucketBehavior") == "REGIONAL_USER_OWNED_BUCKET"
    ):
        raise bad_request(SERVICE_ACCOUNT_LOGGING)
    return match


def substitute(
    body: dict[str, Any], project: str, number: str, build_id: str, location: str
) -> dict[str, Any]:
    """``body`` with the built-in and user substitutions applied to step args and images."""
    values = {
        "PROJECT_ID": project,
        "PROJECT_NUMBER": number,
        "BUILD_ID": build_id,
        "LOCATION": location,
        **{k: v for k, v in body.get("substitutions", {}).items() if k.startswith("_")},
    }

    def sub(text: str) -> str:
        return _SUBSTITUTION.sub(lambda m: values.get(m.group(1) or m.group(2), m.group(0)), text)

    out = dict(body)
    out["steps"] = [
        {**s, "args": [sub(a) for a in s.get("args", [])]} for s in body.get("steps", [])
    ]
    if "images" in body:
        out["images"] = [sub(i) for i in body["images"]]
    return out


def operation_name(project: str, location: str, build_id: str) -> str:
    """The operation a build runs under, global or regional."""
    encoded = base64.urlsafe_b64encode(build_id.encode()).decode().rstrip("=")
    if location == "global":
        return f"operations/build/{project}/{encoded}"
    return f"projects/{project}/locations/{location}/operations/{encoded}"


def log_url(number: str, location: str, build_id: str) -> str:
    """The console page of the build, which the build's ``logUrl`` names."""
    base = "https://console.cloud.google.com/cloud-build/builds"
    if location == "global":
        return f"{base}/{build_id}?project={number}"
    return f"{base};region={location}/{build_id}?project={number}"


def parse_filter(text: str) -> list[tuple[str, str]]:
    """The ``key="value"`` terms of a list filter joined by AND; 400 for anything else."""
    text = text.strip()
    if not text:
        return []
    terms = []
    for part in re.split(r"\s+AND\s+", text):
        match = _FILTER_TERM.fullmatch(part)
        if match is None or match.group(1) not in ("id", "status", "images", "tags"):
            raise bad_request(f"Invalid filter: {text!r}")
        terms.append((match.group(1), match.group(2)))
    return terms


def matches(build: dict[str, Any], key: str, value: str) -> bool:
    if key in ("images", "tags"):
        return value in build.get(key, [])
    return str(build.get(key, "")) == value
