"""AIP-158 paging by offset: the page token is the index of the next item."""

from __future__ import annotations

from typing import Any


def offset_page(
    items: list[Any], offset: int, size: int, key: str, *, always: bool = False
) -> dict[str, Any]:
    """The page of ``items`` from ``offset``, under ``key`` (left out when empty unless
    ``always``), with ``nextPageToken`` when more follow."""
    page = items[offset : offset + size]
    out: dict[str, Any] = {}
    if page or always:
        out[key] = page
    if offset + size < len(items):
        out["nextPageToken"] = str(offset + size)
    return out
