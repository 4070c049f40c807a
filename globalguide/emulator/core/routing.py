"""The pieces every emulated API is built from: routes, API errors, JSON responses.

An API module exposes ``routes()``: a list of :class:`Route`. The server matches the
request path against every route, records the call, and calls the handler with the
werkzeug ``Request`` and the path parameters. A handler returns a JSON-able value, a
``werkzeug.Response``, or raises :class:`ApiError`, which is rendered in the wire shape
of the API it belongs to.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

# google.rpc.Code names by HTTP status, as the Google APIs render them.
_STATUS_BY_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# The compute API's classic error reasons by HTTP status.
_REASON_BY_CODE = {
    400: "invalid",
    403: "forbidden",
    404: "notFound",
    409: "alreadyExists",
    412: "conditionNotMet",
    429: "rateLimitExceeded",
    500: "backendError",
    503: "backendError",
}


class ApiError(Exception):
    """An error the emulated API answers with, carrying the real HTTP code and reason."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        status: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASON_BY_CODE.get(code, "invalid")
        self.status = status or _STATUS_BY_CODE.get(code, "UNKNOWN")

    def body(self, style: str = "google") -> dict[str, Any]:
        """The error document. ``compute`` uses the errors[] list; the others use status."""
        if style in ("compute", "storage"):  # the classic errors[] shape
            return {
                "error": {
                    "code": self.code,
                    "message": self.message,
                    "errors": [
                        {"domain": "global", "reason": self.reason, "message": self.message}
                    ],
                }
            }
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def not_found(what: str, *, style: str = "google") -> ApiError:
    if style == "compute":
        return ApiError(404, f"The resource '{what}' was not found", reason="notFound")
    return ApiError(404, f"Resource '{what}' was not found", status="NOT_FOUND")


def already_exists(what: str, *, style: str = "google") -> ApiError:
    if style == "compute":
        return ApiError(409, f"The resource '{what}' already exists", reason="alreadyExists")
    return ApiError(409, f"Resource '{what}' already exists", status="ALREADY_EXISTS")


def bad_request(message: str, *, reason: str = "invalid") -> ApiError:
    return ApiError(400, message, reason=reason, status="INVALID_ARGUMENT")


Handler = Callable[..., Any]


@dataclass(frozen=True)
class Route:
    """One REST method of an emulated API.

    ``pattern`` is a werkzeug rule (``/compute/v1/projects/<project>/global/addresses``);
    ``api`` names the API in the request log; ``style`` picks the error body shape.
    ``mutating`` marks calls that change state (they are the ones faults are injected in).
    """

    method: str
    pattern: str
    handler: Handler
    api: str
    mutating: bool = False
    style: str = "google"
    endpoint: str = field(default="")


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(payload, separators=(",", ":")),
        status=status,
        mimetype="application/json",
    )


def raw_path(request: Request) -> str:
    """The request path as sent, ``%2F`` inside a segment kept ("" if the server lost it)."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    return urlsplit(raw).path if raw else ""


def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; a 400 in the API's words when it is not one."""
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request("Invalid JSON payload received.", reason="parseError") from exc
    if not isinstance(value, dict):
        raise bad_request("Invalid JSON payload received. Expected an object.", reason="parseError")
    return value
