"""Google Cloud label rules (https://cloud.google.com/compute/docs/labeling-resources):
at most 64 labels; keys start with a lowercase letter; keys and values hold only lowercase
letters, digits, underscores and dashes, at most 63 characters (international letters too).

:func:`check_labels` words a breach as the AIP-style APIs (Artifact Registry, Cloud Run) do;
compute words it its own way (``compute.validate``)."""

from __future__ import annotations

import re
from typing import Any

from globalguide.emulator.core.routing import bad_request

MAX_LABELS = 64
_LABEL_KEY = re.compile(r"[\w-]{1,63}\Z")
_LABEL_VALUE = re.compile(r"[\w-]{0,63}\Z")


def key_ok(key: Any) -> bool:
    return (
        isinstance(key, str)
        and bool(_LABEL_KEY.match(key))
        and key[0].isalpha()
        and key == key.lower()
    )


def value_ok(value: Any) -> bool:
    return isinstance(value, str) and bool(_LABEL_VALUE.match(value)) and value == value.lower()


def check_labels(labels: Any, *, field_name: str = "labels") -> None:
    """A 400 in the AIP-style APIs' words when ``labels`` breaks the rules above."""
    if labels is None:
        return
    if not isinstance(labels, dict):
        raise bad_request(f"Invalid value at '{field_name}': expected a map.")
    if len(labels) > MAX_LABELS:
        raise bad_request(f"Invalid {field_name}: at most {MAX_LABELS} labels are allowed.")
    for key, value in labels.items():
        if not key_ok(key) or not value_ok(value):
            raise bad_request(
                f"Invalid {field_name} {key!r}: {value!r}. Label keys must start with a "
                "lowercase letter; keys and values may contain only lowercase letters, "
                "digits, underscores and dashes, and be at most 63 characters long."
            )
