"""Rules every compute resource shares: names, labels, enums, request ids, references."""

from __future__ import annotations

import re
import uuid
from typing import Any

from globalguide.emulator.compute import links
from globalguide.emulator.compute.errors import invalid_value, malformed, missing, required
from globalguide.emulator.compute.state import ComputeState
from globalguide.emulator.core.labels import MAX_LABELS, key_ok, value_ok
from globalguide.emulator.core.schema import enum_names

NAME_PATTERN = "(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)"
_NAME = re.compile(NAME_PATTERN + r"\Z")


def check_name(name: Any, field: str = "resource.name") -> str:
    """RFC 1035 names (https://cloud.google.com/compute/docs/naming-resources)."""
    if name in (None, ""):
        raise required(field)
    if not isinstance(name, str) or not _NAME.match(name):
        raise invalid_value(field, name, f"Must be a match of regex '{NAME_PATTERN}'")
    return name


def check_labels(labels: Any, field: str = "resource.labels") -> dict[str, str]:
    """The label rules of :mod:`core.labels`, in compute's words."""
    if labels is None:
        return {}
    if len(labels) > MAX_LABELS:
        raise invalid_value(field, "", f"A resource can have at most {MAX_LABELS} labels.")
    for key, value in labels.items():
        if not key_ok(key):
            raise invalid_value(
                field,
                key,
                f"Label key '{key}' violates format constraints. The key must start with a "
                "lowercase character, can only contain lowercase letters, numeric characters, "
                "underscores and dashes. The key can be at most 63 characters long. "
                "International characters are allowed.",
            )
        if not value_ok(value):
            raise invalid_value(
                field,
                value,
                f"Label value '{value}' violates format constraints. The value can only contain "
                "lowercase letters, numeric characters, underscores and dashes. The value can be "
                "at most 63 characters long. International characters are allowed.",
            )
    return dict(labels)


def check_enum(value: Any, enum_cls: Any, field: str, default: str | None = None) -> str | None:
    """Compute declares enums as strings; the service still refuses unknown values."""
    if value in (None, ""):
        return default
    allowed = enum_names(enum_cls)
    if value not in allowed:
        raise invalid_value(field, value, f"Value must be one of [{', '.join(sorted(allowed))}].")
    return value


def check_request_id(request_id: str | None) -> str | None:
    """The requestId is a UUID other than the zero UUID (compute_v1 Insert*Request docstring)."""
    if not request_id:
        return None
    try:
        parsed = uuid.UUID(request_id)
    except ValueError:
        parsed = None
    if parsed is None or parsed.int == 0:
        raise invalid_value(
            "requestId",
            request_id,
            "The request ID must be a valid UUID with the exception that zero UUID is not "
            "supported (00000000-0000-0000-0000-000000000000).",
        )
    return request_id


class References:
    """Turns references in a request into stored full links, or the API's error."""

    def __init__(self, state: ComputeState, project: str) -> None:
        self.state = state
        self.project = project

    def parse(
        self,
        field: str,
        value: Any,
        collections: tuple[str, ...],
        *,
        scope: tuple[str, str] | None = None,
    ) -> links.Ref:
        bare = collections[0] if len(collections) == 1 else None
        ref = links.parse(value, project=self.project, collection=bare, scope=scope)
        if ref is None or ref.collection not in collections:
            raise malformed(field, value)
        return ref

    def existing(
        self,
        field: str,
        value: Any,
        collections: tuple[str, ...],
        *,
        scope: tuple[str, str] | None = None,
    ) -> str:
        """The full link of an existing resource (404 notFound when it does not exist)."""
        ref = self.parse(field, value, collections, scope=scope)
        if ref.collection not in self.state.items or (
            self.state.get(ref.collection, ref.link) is None
        ):
            raise missing(ref.path)
        return ref.link

    def get(self, link: str) -> dict[str, Any] | None:
        found = self.state.find(link)
        return None if found is None else found[1]
