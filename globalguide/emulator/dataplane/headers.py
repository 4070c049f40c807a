"""Header transformations of the global external Application Load Balancer.

Custom header values may hold variables in braces that the load balancer fills per request
(``{client_city}``, ``{client_region}``, ...); ``{{`` and ``}}`` stand for literal braces, and
a variable the load balancer cannot determine is empty
(https://cloud.google.com/load-balancing/docs/https/custom-headers-global).

Header values travel as bytes: a client's value is passed on byte for byte, and a value
the load balancer writes (a city such as "Zürich") is UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

HeaderList = list[tuple[str, bytes]]

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z0-9_]+)\}")


def expand(template: str, values: Mapping[str, str]) -> str:
    """``template`` with ``{name}`` replaced by its value.

    A variable without a value here is empty: the CDN, TLS, mTLS, device and user-agent
    variables have no source in the emulator, as a value the load balancer cannot
    determine is empty.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)[0]  # "{{" -> "{", "}}" -> "}"
        return values.get(name, "")

    return _TOKEN.sub(replace, template)


def has_variable(template: str) -> bool:
    return any(m.group(1) for m in _TOKEN.finditer(template))


def split_custom_header(entry: str) -> tuple[str, str]:
    """``"Name:value"`` (a backend service's customRequestHeaders entry) as (name, value)."""
    name, _, value = entry.partition(":")
    return name.strip(), value.strip()


def encode(value: str) -> bytes:
    return value.encode("utf-8")


def remove(headers: HeaderList, names: Iterable[str]) -> HeaderList:
    drop = {n.lower() for n in names}
    if not drop:
        return headers
    return [(n, v) for n, v in headers if n.lower() not in drop]


def add(headers: HeaderList, name: str, value: bytes, *, replace: bool) -> HeaderList:
    """Append ``name: value``; with ``replace``, existing values of ``name`` go first."""
    if replace:
        headers = remove(headers, [name])
    return [*headers, (name, value)]


def get(headers: HeaderList, name: str) -> bytes | None:
    lowered = name.lower()
    values = [v for n, v in headers if n.lower() == lowered]
    return b",".join(values) if values else None


def header_option_replace(option: Mapping[str, Any]) -> bool:
    """An HttpHeaderOption's ``replace``: as given, else true unless the value has a variable
    (compute_v1 HttpHeaderOption.replace docstring)."""
    if "replace" in option and option["replace"] is not None:
        return bool(option["replace"])
    return not has_variable(str(option.get("headerValue", "")))
