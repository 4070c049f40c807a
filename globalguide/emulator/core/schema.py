"""Request bodies checked against the client libraries' own proto schemas.

The real APIs reject a body with a field the resource does not have (``labels`` on a
backend service, say) or a value of the wrong type, with a 400 that names the field.
The same proto descriptors the client libraries are generated from tell us both.
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf import json_format

from globalguide.emulator.core.routing import ApiError

_UNKNOWN_FIELD = re.compile(r'has no field named "([^"]+)" at "([^"]+)"')


def _pb_class(message_cls: Any) -> Any:
    # proto-plus classes expose the raw protobuf class through .pb(); raw ones are used as-is.
    pb = getattr(message_cls, "pb", None)
    return pb() if callable(pb) else message_cls


def validate_body(body: dict[str, Any], message_cls: Any, *, resource: str = "resource") -> None:
    """Raise a 400 the way the API does if ``body`` does not fit ``message_cls``."""
    try:
        json_format.ParseDict(body, _pb_class(message_cls)(), ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        text = str(exc).split("\n", 1)[0]
        unknown = _UNKNOWN_FIELD.search(text)
        if unknown:
            message = (
                f'Invalid JSON payload received. Unknown name "{unknown.group(1)}" '
                f"at '{resource}': Cannot find field."
            )
        else:
            message = f"Invalid value at '{resource}': {text}"
        raise ApiError(400, message, reason="invalid", status="INVALID_ARGUMENT") from exc


def enum_names(enum_cls: Any) -> set[str]:
    """The value names of a proto-plus enum, without the UNDEFINED_* placeholder."""
    return {m.name for m in enum_cls if not m.name.startswith("UNDEFINED_")}


def canonical(body: dict[str, Any], message_cls: Any) -> dict[str, Any]:
    """``body`` re-encoded as the API's canonical JSON: enum names (clients send numbers),
    int64 as strings, default values dropped. Call after :func:`validate_body`."""
    message = json_format.ParseDict(body, _pb_class(message_cls)(), ignore_unknown_fields=False)
    return json_format.MessageToDict(message)
