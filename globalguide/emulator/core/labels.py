"""Google Cloud label rules (https://cloud.google.com/compute/docs/labeling-resources):
at most 64 labels; keys start with a lowercase letter; keys and values hold only lowercase
letters, digits, underscores and dashes, at most 63 characters (international letters too)."""

from __future__ import annotations

import re
from typing import Any

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
