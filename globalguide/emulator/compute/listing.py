"""List pages and the subset of compute's list ``filter`` syntax the emulator understands.

Supported: ``field = value``, ``field != value`` (exact, ``*`` as a wildcard), ``field eq
regex`` and ``field ne regex`` (full match), on dotted fields such as ``labels.env``,
combined by juxtaposition, parentheses or ``AND``
(https://cloud.google.com/compute/docs/reference/rest/v1/addresses/list, ``filter``).
Anything else is refused with 400 rather than silently ignored.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from globalguide.emulator.compute.errors import invalid_value

MAX_RESULTS = 500
_TERM = re.compile(
    r"\s*\(?\s*(?P<field>[A-Za-z_][\w.]*)\s*(?P<op>!=|=|\beq\b|\bne\b)\s*"
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s()]+)\s*\)?\s*(?:\bAND\b)?"
)


def parse_filter(text: str | None) -> list[tuple[str, str, str]]:
    if not text or not text.strip():
        return []
    terms, pos = [], 0
    while pos < len(text):
        match = _TERM.match(text, pos)
        if match is None or match.end() == pos:
            raise invalid_value("filter", text, "Invalid list filter expression.")
        value = match.group("value")
        if value[:1] in "\"'":
            value = value[1:-1]
        terms.append((match.group("field"), match.group("op"), value))
        pos = match.end()
    return terms


def _lookup(resource: dict[str, Any], field: str) -> str | None:
    value: Any = resource
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if isinstance(value, dict | list) else str(value)


def matches(resource: dict[str, Any], terms: list[tuple[str, str, str]]) -> bool:
    for field, op, pattern in terms:
        value = _lookup(resource, field)
        if op in ("=", "!="):
            hit = value is not None and fnmatch.fnmatchcase(value, pattern)
        else:
            try:
                hit = value is not None and re.fullmatch(pattern, value) is not None
            except re.error:
                raise invalid_value("filter", pattern, "Invalid regular expression.") from None
        if hit != (op in ("=", "eq")):
            return False
    return True


def page(items: list[Any], max_results: str | None, token: str | None) -> tuple[list[Any], str]:
    """One page and the next page token ("" when this is the last page)."""
    try:
        size = int(max_results) if max_results else MAX_RESULTS
        offset = int(token) if token else 0
    except ValueError:
        raise invalid_value("pageToken", token or max_results, "Invalid page token.") from None
    if not 0 <= size <= MAX_RESULTS:
        raise invalid_value(
            "maxResults", max_results, f"Must be between 0 and {MAX_RESULTS}, inclusive."
        )
    size = size or MAX_RESULTS
    chunk = items[offset : offset + size]
    return chunk, str(offset + size) if offset + size < len(items) else ""
