"""The service's settings, read once from the environment (the env contract)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from service.gemini import DEFAULT_MODEL, DEFAULT_VERTEX_LOCATION

_MODEL = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
_LOCATION = re.compile(r"[a-z][a-z0-9-]{0,62}")
_PROJECT = re.compile(r"[a-z][a-z0-9.:-]{0,99}")
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_THINKING_LEVELS = ("MINIMAL", "LOW", "MEDIUM", "HIGH")
_GEMINI_25 = re.compile(r"gemini-2\.5-")
_BEFORE_THINKING = re.compile(r"gemini-(1\.|2\.0-)")
# A 50-word answer is about 70 tokens; the output limit keeps at least this much beside an
# explicit thinking budget (thinking tokens count against max_output_tokens).
ANSWER_ROOM_TOKENS = 256


class ConfigError(ValueError):
    """An environment variable has a value the service cannot run with."""


@dataclass(frozen=True)
class Settings:
    service_region: str = "unknown"
    project: str | None = None
    vertex_location: str = DEFAULT_VERTEX_LOCATION
    model: str = DEFAULT_MODEL
    base_url: str | None = None
    timeout_s: float = 20.0
    max_output_tokens: int = 1024
    temperature: float = 0.7
    thinking_level: str | None = None
    thinking_budget: int | None = None
    max_body_bytes: int = 16 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``env`` (the process environment by default); bad values raise."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        settings = cls(
            service_region=_checked(get("SERVICE_REGION") or "unknown", _REGION, "SERVICE_REGION"),
            project=_checked(get("GOOGLE_CLOUD_PROJECT"), _PROJECT, "GOOGLE_CLOUD_PROJECT"),
            vertex_location=_checked(
                get("VERTEX_LOCATION") or DEFAULT_VERTEX_LOCATION, _LOCATION, "VERTEX_LOCATION"
            ),
            model=_checked(get("GEMINI_MODEL") or DEFAULT_MODEL, _MODEL, "GEMINI_MODEL"),
            base_url=_base_url(get("GEMINI_BASE_URL")),
            timeout_s=_number(get("GEMINI_TIMEOUT_S"), 20.0, 0.1, 300.0, "GEMINI_TIMEOUT_S"),
            max_output_tokens=int(
                _number(get("GEMINI_MAX_OUTPUT_TOKENS"), 1024, 16, 8192, "GEMINI_MAX_OUTPUT_TOKENS")
            ),
            temperature=_number(get("GEMINI_TEMPERATURE"), 0.7, 0.0, 2.0, "GEMINI_TEMPERATURE"),
        )
        level, budget = _thinking(
            settings.model, get("GEMINI_THINKING_LEVEL"), get("GEMINI_THINKING_BUDGET")
        )
        if (
            budget is not None
            and budget > 0
            and settings.max_output_tokens < budget + ANSWER_ROOM_TOKENS
        ):
            raise ConfigError(
                f"GEMINI_MAX_OUTPUT_TOKENS must be at least the thinking budget plus "
                f"{ANSWER_ROOM_TOKENS}: thinking tokens count against it"
            )
        if settings.base_url and not settings.project:
            raise ConfigError("GOOGLE_CLOUD_PROJECT must be set when GEMINI_BASE_URL is set")
        return replace(settings, thinking_level=level, thinking_budget=budget)


def _checked(value: str | None, pattern: re.Pattern[str], name: str) -> str | None:
    if value is None:
        return None
    if not pattern.fullmatch(value):
        raise ConfigError(f"{name} has an invalid value")
    return value


def _number(raw: str | None, default: float, low: float, high: float, name: str) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g}")
    return value


def _base_url(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", raw):
        raise ConfigError("GEMINI_BASE_URL must be an http(s) URL without query or fragment")
    return raw if raw.endswith("/") else raw + "/"


def default_thinking(model: str) -> tuple[str | None, int | None]:
    """(thinking level, thinking budget) fit for a 50-word answer, valid for ``model``'s
    family: Gemini 2.5 takes a token budget (0 turns thinking off, except on 2.5 Pro, whose
    floor is 128), Gemini 3 and later a level (MINIMAL on Flash; Pro models take LOW and
    HIGH only); models before 2.5 do not think."""
    if _BEFORE_THINKING.match(model):
        return None, None
    if _GEMINI_25.match(model):
        return None, (128 if model.startswith("gemini-2.5-pro") else 0)
    return ("MINIMAL" if "flash" in model else "LOW"), None


def _thinking(
    model: str, raw_level: str | None, raw_budget: str | None
) -> tuple[str | None, int | None]:
    if raw_level is not None and raw_budget is not None:
        raise ConfigError("set GEMINI_THINKING_LEVEL or GEMINI_THINKING_BUDGET, not both")
    if raw_level is None and raw_budget is None:
        return default_thinking(model)
    if raw_level is not None:
        level = raw_level.upper()
        if level not in _THINKING_LEVELS:
            raise ConfigError(f"GEMINI_THINKING_LEVEL must be one of {', '.join(_THINKING_LEVELS)}")
        if _GEMINI_25.match(model) or _BEFORE_THINKING.match(model):
            raise ConfigError(
                "GEMINI_THINKING_LEVEL is for Gemini 3 and later; use GEMINI_THINKING_BUDGET"
            )
        return level, None
    budget = int(_number(raw_budget, 0, -1, 32768, "GEMINI_THINKING_BUDGET"))
    return None, budget
