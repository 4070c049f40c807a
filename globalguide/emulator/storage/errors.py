"""Cloud Storage's error answers: a code, a message and the classic ``reason``."""

from __future__ import annotations

from globalguide.emulator.core.routing import ApiError


def storage_error(code: int, message: str, reason: str) -> ApiError:
    return ApiError(code, message, reason=reason)


def required() -> ApiError:
    return storage_error(400, "Required", "required")


def invalid(message: str) -> ApiError:
    return storage_error(400, message, "invalid")


def precondition_failed() -> ApiError:
    return storage_error(
        412, "At least one of the pre-conditions you specified did not hold.", "conditionNotMet"
    )
