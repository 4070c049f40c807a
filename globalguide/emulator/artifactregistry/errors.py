"""Artifact Registry's error answers, worded as the API words them."""

from __future__ import annotations

from globalguide.emulator.core.routing import ApiError


def not_found() -> ApiError:
    return ApiError(404, "Requested entity was not found.", status="NOT_FOUND")


def already_exists() -> ApiError:
    return ApiError(409, "the repository already exists", status="ALREADY_EXISTS")
