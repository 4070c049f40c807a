"""What the Service Usage methods accept: list filters and pages, batch sizes, names."""

from __future__ import annotations

from typing import Any

from globalguide.emulator.core.routing import bad_request

MAX_BATCH_ENABLE = 20  # BatchEnableServicesRequest.service_ids docstring
MAX_BATCH_GET = 30  # BatchGetServicesRequest.names docstring
MAX_PAGE_SIZE = 200  # ListServicesRequest.page_size docstring
DEFAULT_PAGE_SIZE = 50

_STATES_BY_FILTER = {
    "": ("ENABLED", "DISABLED"),
    "state:ENABLED": ("ENABLED",),
    "state:DISABLED": ("DISABLED",),
}


def listed_states(flt: str) -> tuple[str, ...]:
    """The service states a list ``filter`` asks for."""
    if flt not in _STATES_BY_FILTER:
        raise bad_request(
            f"Invalid filter: {flt!r}. Allowed filters are state:ENABLED and state:DISABLED."
        )
    return _STATES_BY_FILTER[flt]


def page_size(raw: str | None) -> int:
    if raw in (None, ""):
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError as exc:
        raise bad_request(f"Invalid value at 'page_size' (TYPE_INT32), \"{raw}\"") from exc
    if size < 0 or size > MAX_PAGE_SIZE:
        raise bad_request(f"Requested page size cannot exceed {MAX_PAGE_SIZE}.")
    return size or DEFAULT_PAGE_SIZE


def page_token(raw: str | None) -> int:
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError as exc:
        raise bad_request("Invalid page token.") from exc
    if value < 0:
        raise bad_request("Invalid page token.")
    return value


def batch_get_services(names: list[str], parents: tuple[str, ...]) -> list[str]:
    """The service ids of batchGet's ``names``, each ``projects/P/services/S`` with P one
    of ``parents`` (the request's parent, by id or by number)."""
    if len(names) > MAX_BATCH_GET:
        raise bad_request(
            f"A single request can get a maximum of {MAX_BATCH_GET} services at a time."
        )
    services = []
    for name in names:
        parts = name.split("/")
        if len(parts) != 4 or parts[0] != "projects" or parts[2] != "services":
            raise bad_request(f"Invalid service name: {name!r}.")
        if parts[1] not in parents:
            raise bad_request(f"The parent of service {name!r} must match the request parent.")
        services.append(parts[3])
    return services


def batch_enable_ids(body: dict[str, Any]) -> list[str]:
    """The ``serviceIds`` of a batchEnable body (at most 20, all or nothing)."""
    unknown_fields = set(body) - {"serviceIds", "parent"}
    if unknown_fields:
        field = sorted(unknown_fields)[0]
        raise bad_request(
            f'Invalid JSON payload received. Unknown name "{field}": Cannot find field.'
        )
    ids = body.get("serviceIds") or []
    if not isinstance(ids, list) or not all(isinstance(s, str) for s in ids):
        raise bad_request("Invalid value at 'service_ids': expected a list of strings.")
    if not ids:
        raise bad_request("At least one service must be specified.")
    if len(ids) > MAX_BATCH_ENABLE:
        raise bad_request(
            f"A single request can enable a maximum of {MAX_BATCH_ENABLE} services at a "
            f"time; {len(ids)} were given."
        )
    return ids
