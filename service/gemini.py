"""Gemini on Vertex AI through google-genai: one client per process, errors by kind.

``google.genai`` is imported on first use, not at import time: it is most of the service's
start-up cost, and ``/healthz`` never needs it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.config import Settings

# The one place the default model is named. A current Flash model; the Gemini 3.x Flash
# models are served from the global endpoint, hence the default location below.
DEFAULT_MODEL = "gemini-3.8-flash"
DEFAULT_VERTEX_LOCATION = "global"

# The token the client sends when GEMINI_BASE_URL points it at a local endpoint: the one
# the emulator gives its revisions in GEMINI_ACCESS_TOKEN, else a placeholder for a local
# fake that checks none.
STATIC_TOKEN = "emulator"  # noqa: S105 - not a secret: the local fake accepts any token
TOKEN_ENV = "GEMINI_ACCESS_TOKEN"  # noqa: S105 - the variable's name


class ModelError(Exception):
    """The model did not answer. ``kind`` says why, in words fit for a status code.

    The exception text is for logs only; clients are told a fixed sentence per kind.
    """

    def __init__(self, kind: str, *, upstream_status: int | None = None, cause: str = "") -> None:
        super().__init__(f"{kind} (upstream {upstream_status}) {cause}".strip())
        self.kind = kind
        self.upstream_status = upstream_status
        self.cause = cause


# Kinds of ModelError.
QUOTA = "quota"  # upstream 429 RESOURCE_EXHAUSTED
TIMEOUT = "timeout"  # no answer within the deadline, or upstream 504
UNAVAILABLE = "unavailable"  # upstream 503, or the endpoint could not be reached
FAILED = "failed"  # anything else: upstream 4xx/5xx, an empty answer
CUT = "cut"  # the output limit ran out (finish reason MAX_TOKENS): the answer is incomplete

_MAX_TOKENS = "MAX_TOKENS"


@dataclass
class Answer:
    text: str
    model_ms: float


class Gemini:
    """The model as the app uses it. The google-genai client is built once, on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None
        self._config: Any = None
        # (system instruction, the request config with it): built once, not per call.
        self._configured: tuple[str, Any] | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Build the client in a background thread, so the first request does not pay for
        importing google-genai. A failure here is left for the first request to report."""

        def build() -> None:
            try:
                self._ensure_client()
            except Exception:  # noqa: S110 - the first real call raises it again, mapped
                pass

        threading.Thread(target=build, name="gemini-warm-up", daemon=True).start()

    def _ensure_client(self) -> tuple[Any, Any]:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client, self._config = _build_client(self.settings)
        return self._client, self._config

    def _client_and_config(self, system_instruction: str) -> tuple[Any, Any]:
        """The client, and the request config carrying ``system_instruction``."""
        client, config = self._ensure_client()
        configured = self._configured
        if configured is None or configured[0] != system_instruction:
            configured = (
                system_instruction,
                config.model_copy(update={"system_instruction": system_instruction}),
            )
            self._configured = configured
        return client, configured[1]

    def generate(self, system_instruction: str, contents: str) -> Answer:
        started = time.perf_counter()
        client, config = self._client_and_config(system_instruction)
        try:
            response = client.models.generate_content(
                model=self.settings.model, contents=contents, config=config
            )
            text = response.text
        except Exception as exc:
            raise classify(exc) from exc
        if _finish_reason(response) == _MAX_TOKENS:
            raise ModelError(CUT, cause=_usage_note(response))
        if not text or not text.strip():
            raise ModelError(FAILED, cause="empty answer")
        return Answer(text=text.strip(), model_ms=(time.perf_counter() - started) * 1000)

    def stream(self, system_instruction: str, contents: str) -> Iterator[str]:
        """Text chunks as the model produces them; the whole stream keeps one deadline.

        The request is sent on the first ``next()``, so an error before the first chunk
        surfaces there, before the caller has sent anything to its own client.
        """
        client, config = self._client_and_config(system_instruction)
        deadline = time.monotonic() + self.settings.timeout_s
        produced = False
        finish = None
        last = None
        try:
            chunks = client.models.generate_content_stream(
                model=self.settings.model, contents=contents, config=config
            )
            for chunk in chunks:
                if time.monotonic() > deadline:
                    raise ModelError(TIMEOUT, cause="stream deadline")
                last = chunk
                finish = _finish_reason(chunk) or finish
                text = chunk.text
                if text:
                    produced = True
                    yield text
        except ModelError:
            raise
        except Exception as exc:
            raise classify(exc) from exc
        if finish == _MAX_TOKENS:
            raise ModelError(CUT, cause=_usage_note(last))
        if not produced:
            raise ModelError(FAILED, cause="empty answer")


def _finish_reason(response: Any) -> str | None:
    candidates = getattr(response, "candidates", None) or []
    reason = getattr(candidates[0], "finish_reason", None) if candidates else None
    return getattr(reason, "value", reason)


def _usage_note(response: Any) -> str:
    """For the log: where the output limit went (thinking models spend it on thoughts)."""
    usage = getattr(response, "usage_metadata", None)
    thoughts = getattr(usage, "thoughts_token_count", None) or 0
    answer = getattr(usage, "candidates_token_count", None) or 0
    return f"MAX_TOKENS after {thoughts} thinking and {answer} answer tokens"


def _build_client(settings: Settings) -> tuple[Any, Any]:
    """The google-genai client and the request config every call starts from."""
    from google import genai
    from google.genai import types

    timeout_ms = int(settings.timeout_s * 1000)
    credentials = None
    http_options = types.HttpOptions(timeout=timeout_ms)
    if settings.base_url:
        from google.oauth2.credentials import Credentials

        credentials = Credentials(token=os.environ.get(TOKEN_ENV) or STATIC_TOKEN)
        http_options = types.HttpOptions(base_url=settings.base_url, timeout=timeout_ms)
    client = genai.Client(
        vertexai=True,
        project=settings.project,
        location=settings.vertex_location,
        credentials=credentials,
        http_options=http_options,
    )
    thinking = None
    if settings.thinking_level is not None:
        thinking = types.ThinkingConfig(thinking_level=settings.thinking_level)
    elif settings.thinking_budget is not None:
        thinking = types.ThinkingConfig(thinking_budget=settings.thinking_budget)
    config = types.GenerateContentConfig(
        max_output_tokens=settings.max_output_tokens,
        temperature=settings.temperature,
        thinking_config=thinking,
    )
    return client, config


def classify(exc: BaseException) -> ModelError:
    """Map whatever google-genai or its HTTP stack raised to a :class:`ModelError`."""
    code = getattr(exc, "code", None)
    status = getattr(exc, "status", None)
    if isinstance(code, int) and 400 <= code < 600:
        if code == 429 or status == "RESOURCE_EXHAUSTED":
            return ModelError(QUOTA, upstream_status=code, cause=type(exc).__name__)
        if code in (408, 504) or status == "DEADLINE_EXCEEDED":
            return ModelError(TIMEOUT, upstream_status=code, cause=type(exc).__name__)
        if code == 503 or status == "UNAVAILABLE":
            return ModelError(UNAVAILABLE, upstream_status=code, cause=type(exc).__name__)
        return ModelError(FAILED, upstream_status=code, cause=type(exc).__name__)
    names = {cls.__name__ for cls in type(exc).__mro__}
    # httpx/httpx2 TimeoutException, requests' Timeout, the builtin TimeoutError.
    if names & {"TimeoutException", "Timeout", "TimeoutError"}:
        return ModelError(TIMEOUT, cause=type(exc).__name__)
    if names & {"ConnectError", "ConnectionError", "NetworkError", "RemoteProtocolError"}:
        return ModelError(UNAVAILABLE, cause=type(exc).__name__)
    return ModelError(FAILED, cause=type(exc).__name__)
