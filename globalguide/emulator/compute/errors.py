"""Compute's error answers, worded as the API words them."""

from __future__ import annotations

import json
from typing import Any

from globalguide.emulator.core.routing import ApiError, already_exists, not_found


def invalid_value(field: str, value: Any, detail: str) -> ApiError:
    """``Invalid value for field 'F': 'V'. Detail`` (400 invalid), compute's usual shape."""
    return ApiError(400, f"Invalid value for field '{field}': '{_shown(value)}'. {detail}")


def required(field: str) -> ApiError:
    return ApiError(400, f"Required field '{field}' not specified", reason="required")


def malformed(field: str, value: Any) -> ApiError:
    return invalid_value(field, value, "The URL is malformed.")


def missing(path: str) -> ApiError:
    """404 notFound: also what a reference to a resource that does not exist gets."""
    return not_found(path, style="compute")


def exists(path: str) -> ApiError:
    return already_exists(path, style="compute")


def in_use(snake: str, path: str, user_path: str) -> ApiError:
    return ApiError(
        400,
        f"The {snake} resource '{path}' is already being used by '{user_path}'",
        reason="resourceInUseByAnotherResource",
    )


def not_ready(path: str) -> ApiError:
    return ApiError(400, f"The resource '{path}' is not ready", reason="resourceNotReady")


def precondition(message: str) -> ApiError:
    return ApiError(412, message, reason="conditionNotMet", status="FAILED_PRECONDITION")


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        text = json.dumps(value, separators=(", ", ": "))
        return text if len(text) <= 70 else text[:67] + "..."
    return str(value)
