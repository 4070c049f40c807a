"""What every IAM policy shares, on a project or on one resource (google/iam/v1/policy.proto):
a version of 1 or 3, a list of bindings, role names, and an etag that changes on every write.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from globalguide.emulator.core.routing import bad_request

ROLE = re.compile(r"(roles/[A-Za-z0-9_.]+|(projects|organizations)/[^/]+/roles/[A-Za-z0-9_.]+)\Z")


def etag(resource: str, revision: int) -> str:
    """The etag of ``resource``'s policy after ``revision`` writes."""
    seed = f"{resource}|{revision}".encode()
    return base64.b64encode(b"\x07" + hashlib.sha256(seed).digest()[:7]).decode()


def version_and_bindings(policy: Any) -> tuple[int, list[Any]]:
    """The version and the (unchecked) bindings of a policy sent to setIamPolicy."""
    if not isinstance(policy, dict):
        raise bad_request("policy is required.")
    version = policy.get("version", 1) or 1
    if version not in (1, 3):
        raise bad_request(f"Invalid policy version {version}: use 1 or 3.")
    bindings = policy.get("bindings") or []
    if not isinstance(bindings, list):
        raise bad_request("bindings must be a list.")
    return version, bindings
