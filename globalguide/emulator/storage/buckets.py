"""Bucket rules: names in the global namespace, locations, the fields insert and patch keep,
and the metageneration precondition.

Names follow https://cloud.google.com/storage/docs/buckets#naming; locations
https://cloud.google.com/storage/docs/locations.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from globalguide.emulator.core.routing import ApiError
from globalguide.emulator.storage.errors import (
    invalid,
    precondition_failed,
    required,
    storage_error,
)

MULTI_REGIONS = {"US", "EU", "ASIA"}
DUAL_REGIONS = {"NAM4", "EUR4", "EUR5", "EUR7", "EUR8", "ASIA1"}
DEFAULT_LOCATION = "US"
_NAME_CHARS = re.compile(r"[a-z0-9][a-z0-9._-]*[a-z0-9]\Z")
_GOOGLE_LIKE = ("google", "g00gle", "go0gle", "g0ogle", "googel", "gogle")
# The fields a bucket keeps as sent, at insert and at patch.
_KEPT_FIELDS = (
    "labels",
    "versioning",
    "lifecycle",
    "cors",
    "website",
    "logging",
    "defaultEventBasedHold",
    "retentionPolicy",
    "autoclass",
    "softDeletePolicy",
)


def bucket_name_error(name: str) -> ApiError | None:
    """The error the real API gives for an unacceptable bucket name, or None."""
    bad_name = invalid(f"Invalid bucket name: '{name}'")
    if not isinstance(name, str) or not _NAME_CHARS.match(name):
        return bad_name
    parts = name.split(".")
    if len(parts) == 1 and not 3 <= len(name) <= 63:
        return bad_name
    if len(parts) > 1 and (len(name) > 222 or any(not 1 <= len(p) <= 63 for p in parts)):
        return bad_name
    try:
        ipaddress.IPv4Address(name)
        return bad_name
    except ValueError:
        pass
    if name.startswith("goog") or any(word in name for word in _GOOGLE_LIKE):
        return bad_name
    if len(parts) > 1:
        # Dotted names are domain names; the emulator has no verified domains.
        return storage_error(
            403,
            "The bucket you tried to create requires domain ownership verification.",
            "forbidden",
        )
    return None


def check_bucket_name(name: Any) -> str:
    if not name:
        raise required()
    problem = bucket_name_error(name)
    if problem is not None:
        raise problem
    return name


def bucket_location(location: Any) -> tuple[str, str]:
    """(location, locationType) for the ``location`` an insert names (``US`` if none)."""
    from globalguide import geo

    location = str(location or DEFAULT_LOCATION).upper()
    if location in MULTI_REGIONS:
        return location, "multi-region"
    if location in DUAL_REGIONS:
        return location, "dual-region"
    if location.lower() in set(geo.REGIONS):
        return location, "region"
    raise invalid("The specified location constraint is not valid.")


def new_bucket(
    name: str,
    location: tuple[str, str],
    body: dict[str, Any],
    *,
    project_number: str,
    generation: int,
    self_link: str,
    now: str,
) -> dict[str, Any]:
    """The bucket an insert with ``body`` makes, at ``location`` (see :func:`bucket_location`)."""
    where, location_type = location
    resource = {
        "kind": "storage#bucket",
        "selfLink": self_link,
        "id": name,
        "name": name,
        "projectNumber": project_number,
        "generation": str(generation),
        "metageneration": "1",
        "location": where,
        "locationType": location_type,
        "storageClass": body.get("storageClass", "STANDARD"),
        "timeCreated": now,
        "updated": now,
        "softDeletePolicy": {"retentionDurationSeconds": "604800", "effectiveTime": now},
        "iamConfiguration": {
            "bucketPolicyOnly": {"enabled": False},
            "uniformBucketLevelAccess": {"enabled": False},
            "publicAccessPrevention": "inherited",
        },
        "etag": "CAE=",
    }
    if location_type != "region":
        resource["rpo"] = "DEFAULT"
    _apply_fields(resource, body)
    return resource


def patch_bucket(resource: dict[str, Any], body: dict[str, Any], now: str) -> None:
    _apply_fields(resource, body)
    resource["metageneration"] = str(int(resource["metageneration"]) + 1)
    resource["updated"] = now
    resource["etag"] = base64.b64encode(resource["metageneration"].encode()).decode()


def check_metageneration(args: Mapping[str, str], resource: dict[str, Any]) -> None:
    """``ifMetagenerationMatch``, on a bucket or an object."""
    wanted = args.get("ifMetagenerationMatch")
    if wanted not in (None, "") and wanted != resource["metageneration"]:
        raise precondition_failed()


def _apply_fields(resource: dict[str, Any], body: dict[str, Any]) -> None:
    """Patch semantics: given fields replace, ``labels`` merge (a null value removes)."""
    for key in _KEPT_FIELDS:
        if key not in body:
            continue
        if key == "labels":
            labels = dict(resource.get("labels") or {})
            for name, value in (body["labels"] or {}).items():
                if value is None:
                    labels.pop(name, None)
                else:
                    labels[name] = value
            resource["labels"] = labels
        else:
            resource[key] = body[key]
    iam = body.get("iamConfiguration")
    if isinstance(iam, dict):
        merged = dict(resource.get("iamConfiguration") or {})
        merged.update(iam)
        uniform = iam.get("uniformBucketLevelAccess") or iam.get("bucketPolicyOnly")
        if uniform is not None:
            merged["uniformBucketLevelAccess"] = dict(uniform)
            merged["bucketPolicyOnly"] = dict(uniform)
        resource["iamConfiguration"] = merged
