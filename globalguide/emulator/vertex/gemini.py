"""A fake Gemini on Vertex AI: ``generateContent`` and ``streamGenerateContent``.

It answers on the Vertex REST paths google-genai uses (``/v1`` and ``/v1beta1``)::

    /v1beta1/projects/<p>/locations/<loc>/publishers/google/models/<model>:generateContent
    /v1beta1/projects/<p>/locations/<loc>/publishers/google/models/<model>:streamGenerateContent?alt=sse

and the same paths under ``/_from/<caller_region>/``, so that a regional service whose
``GEMINI_BASE_URL`` is ``http://127.0.0.1:PORT/_from/us-central1/`` tells the fake where it
calls from (google-genai appends ``v1beta1/projects/...`` to the base URL's path).

It knows which models exist and where (:mod:`globalguide.gemini_catalog`): any other model, or a
model in a location that does not serve it, answers 404 NOT_FOUND as Vertex does. Thinking
models spend thinking tokens before they answer, from the same ``maxOutputTokens`` as the
answer (python-genai issue #2062): when the limit runs out the answer is cut, or empty, with
finish reason MAX_TOKENS and ``usageMetadata.thoughtsTokenCount`` saying where it went.

The reply is deterministic: it greets the city found in the JSON location object of the
user turn (or greets without a city) and suggests a "hidden gem" picked from a hash of the
city. Timing is modelled: time to first token, a token rate, and an optional round trip
between the caller's region and the Vertex location. Responses and errors have the real
Vertex JSON shapes, so google-genai parses them as it parses Google's.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from werkzeug.wrappers import Request, Response

from globalguide import gemini_catalog
from globalguide.emulator.core.routing import ApiError, Route, bad_request, json_response, read_json

API = "aiplatform"
_MODEL_PATH = "projects/<project>/locations/<location>/publishers/google/models/<model>"
_VERSIONS = ("v1", "v1beta1")
# Vertex accepts maxOutputTokens in [1, 65537) and temperature in [0, 2.0001).
_MAX_OUTPUT_TOKENS_LIMIT = 65537
_CHARS_PER_TOKEN = 4
# Without maxOutputTokens a model may produce up to its output ceiling (65,535 tokens for the
# 2.5 and 3.x models on Vertex).
_DEFAULT_MAX_OUTPUT_TOKENS = 65535
# How many thinking tokens the fake spends on its one short task, by thinking level, and with
# an automatic budget. A real model's spend varies from call to call; measured on
# gemini-3.6-flash with no thinking configuration, 478 of 500 tokens went to thinking.
THOUGHTS_BY_LEVEL = {"MINIMAL": 0, "LOW": 192, "MEDIUM": 480, "HIGH": 960}
AUTOMATIC_THOUGHTS = 960
_LEARN_MORE = "https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini"
# The call record keeps the most recent calls only, so a long-running emulator stays small.
MAX_RECORDED_CALLS = 10_000

GEMS = (
    "find the small covered market a few streets from the centre and eat what the "
    "stallholders eat for lunch",
    "walk the old riverside path at dusk, when the lamps come on one by one",
    "climb to the quiet viewpoint behind the old church for the best free panorama in town",
    "look for the tiny museum most visitors walk straight past; the curator loves questions",
    "take a seat in the courtyard cafe tucked behind the public library",
    "follow the locals to the evening food stalls near the main station",
    "visit the botanical garden's glasshouse on a weekday morning, when it is nearly empty",
    "browse the second-hand bookshops in the old quarter and ask for a local poet",
)

_FAILURE_MESSAGES = {
    400: "Request contains an invalid argument.",
    403: "Permission denied on resource project.",
    429: (
        "Resource exhausted. Please try again later. Please refer to "
        "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
    ),
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "Deadline expired before operation could complete.",
}

RttModel = Callable[[str | None, str], float]


class FakeGemini:
    """State and behaviour of the fake; :meth:`routes` exposes it over HTTP.

    ``ttft_ms``: modelled time to the first token; ``tokens_per_s``: modelled generation
    rate (None: instant); ``rtt_ms(caller_region, vertex_location)``: a modelled network
    round trip added before the first byte (None: none); ``chunks``: how many stream
    chunks a reply is cut into.
    """

    def __init__(
        self,
        *,
        ttft_ms: float = 0.0,
        tokens_per_s: float | None = None,
        rtt_ms: RttModel | None = None,
        chunks: int = 4,
    ) -> None:
        if chunks < 1:
            raise ValueError("chunks must be at least 1")
        self.ttft_ms = ttft_ms
        self.tokens_per_s = tokens_per_s
        self.rtt_ms = rtt_ms
        self.chunks = chunks
        # Test hook: when set, every answer is this text instead of the greeting (for tests
        # of how clients render what a model says, e.g. an answer that holds markup).
        self.reply_override: str | None = None
        self._lock = threading.Lock()
        self._calls: deque[dict[str, Any]] = deque(maxlen=MAX_RECORDED_CALLS)
        self._unavailable: set[tuple[str, str]] = set()
        self._failures: list[int] = []
        self._closed = threading.Event()

    # -- test controls -------------------------------------------------------------------

    @property
    def calls(self) -> list[dict[str, Any]]:
        """A snapshot of the calls received (the latest MAX_RECORDED_CALLS), oldest first."""
        with self._lock:
            return [dict(call) for call in self._calls]

    def mark_unavailable(self, model: str, location: str) -> None:
        """From now on ``model`` in ``location`` answers 404, as Vertex does."""
        with self._lock:
            self._unavailable.add((model, location))

    def fail_next(self, code: int, count: int = 1) -> None:
        """The next ``count`` calls answer HTTP ``code`` in Vertex's error shape."""
        if not 400 <= code < 600:
            raise ValueError("code must be an HTTP error status")
        with self._lock:
            self._failures.extend([code] * count)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._unavailable.clear()
            self._failures.clear()
            self.reply_override = None

    def close(self) -> None:
        """Wake every modelled delay now; later delays are skipped."""
        self._closed.set()

    # -- HTTP ----------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        routes = []
        for prefix in ("", "/_from/<caller_region>"):
            for version in _VERSIONS:
                for verb, stream in (("generateContent", False), ("streamGenerateContent", True)):
                    routes.append(
                        Route(
                            method="POST",
                            pattern=f"{prefix}/{version}/{_MODEL_PATH}:{verb}",
                            handler=partial(self._handle, stream=stream, api_version=version),
                            api=API,
                            endpoint=f"vertex.{version}.{verb}{'.from' if prefix else ''}",
                        )
                    )
        return routes

    def _handle(
        self,
        request: Request,
        *,
        project: str,
        location: str,
        model: str,
        stream: bool,
        api_version: str,
        caller_region: str | None = None,
    ) -> Response:
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            raise ApiError(
                401,
                "Request is missing required authentication credential. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential.",
                status="UNAUTHENTICATED",
            )
        body = read_json(request)
        known = gemini_catalog.model(model)
        call = {
            "model": model,
            "location": location,
            "project": project,
            "caller_region": caller_region,
            "stream": stream,
            "api_version": api_version,
            "max_output_tokens": _get(body, "generationConfig", "maxOutputTokens"),
            "thinking_config": _thinking_config(body),
            "system_instruction": _text_of(body.get("systemInstruction")),
            "contents": body.get("contents"),
        }
        with self._lock:
            self._calls.append(call)
            failure = self._failures.pop(0) if self._failures else None
            unavailable = (model, location) in self._unavailable
        if failure is not None:
            raise ApiError(failure, _FAILURE_MESSAGES.get(failure, "Request failed."))
        if unavailable or known is None or not known.serves(location):
            raise ApiError(
                404,
                f"Publisher Model `projects/{project}/locations/{location}/publishers/google/"
                f"models/{model}` was not found or your project does not have access to it. "
                "Please ensure you are using a valid model version. For more information, see: "
                "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions",
                status="NOT_FOUND",
            )
        max_tokens = _validate(body)
        thoughts = min(_thoughts(body, known), max_tokens)
        if self.reply_override is not None:
            text = self.reply_override
        else:
            text = _reply(_location_city(body.get("contents")))
        text, finish = _cut(text, max_tokens - thoughts)
        pieces = _split(text, self.chunks if stream else 1)
        prompt_tokens = _tokens(json.dumps(body.get("contents"))) + _tokens(
            call["system_instruction"] or ""
        )
        meta = {
            "modelVersion": model,
            "createTime": _dt.datetime.now(_dt.UTC).isoformat().replace("+00:00", "Z"),
            "responseId": uuid.uuid4().hex[:22],
        }
        rtt_ms = self.rtt_ms(caller_region, location) if self.rtt_ms else 0.0
        first_delay_s = (self.ttft_ms + rtt_ms) / 1000.0 + self._thinking_s(thoughts)
        usage = (prompt_tokens, thoughts)
        if not stream:
            self._sleep(first_delay_s + self._generation_s(text))
            return json_response(_chunk(text, finish, usage, meta, final=True))
        if request.args.get("alt") != "sse":
            # Without alt=sse Vertex streams a JSON array; sent whole here.
            self._sleep(first_delay_s + self._generation_s(text))
            documents = [
                _chunk(piece, finish, usage, meta, final=i == len(pieces) - 1)
                for i, piece in enumerate(pieces)
            ]
            return json_response(documents)
        return Response(
            self._sse(pieces, finish, usage, meta, first_delay_s),
            mimetype="text/event-stream",
        )

    def _sse(
        self,
        pieces: list[str],
        finish: str,
        usage: tuple[int, int],
        meta: dict[str, Any],
        first_delay_s: float,
    ) -> Iterator[bytes]:
        self._sleep(first_delay_s)
        for i, piece in enumerate(pieces):
            if i:
                self._sleep(self._generation_s(piece))
            document = _chunk(piece, finish, usage, meta, final=i == len(pieces) - 1)
            yield f"data: {json.dumps(document, separators=(',', ':'))}\r\n\r\n".encode()

    def _generation_s(self, text: str) -> float:
        return self._thinking_s(_tokens(text)) if text else 0.0

    def _thinking_s(self, tokens: int) -> float:
        return tokens / self.tokens_per_s if self.tokens_per_s else 0.0

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._closed.wait(seconds)


def _validate(body: dict[str, Any]) -> int:
    """Reject what Vertex rejects; the output limit (maxOutputTokens or the model's)."""
    contents = body.get("contents")
    if not contents or not isinstance(contents, list):
        raise bad_request(
            "Unable to submit request because it must have at least one contents field, "
            "which describes the prompt input."
        )
    for content in contents:
        if not isinstance(content, dict) or not content.get("parts"):
            raise bad_request(
                "Unable to submit request because it must include at least one parts field, "
                "which describes the prompt input."
            )
        if content.get("role", "user") not in ("user", "model"):
            raise bad_request("Please use a valid role: user, model.")
    config = body.get("generationConfig") or {}
    if not isinstance(config, dict):
        raise bad_request('Invalid JSON payload received. Unknown name "generationConfig".')
    max_tokens = config.get("maxOutputTokens")
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or not 1 <= max_tokens < _MAX_OUTPUT_TOKENS_LIMIT:
            raise bad_request(
                "Unable to submit request because it has a maxOutputTokens value of "
                f"{max_tokens} but the supported range is from 1 (inclusive) to "
                f"{_MAX_OUTPUT_TOKENS_LIMIT} (exclusive). Update the value and try again."
            )
    temperature = config.get("temperature")
    if temperature is not None:
        if not isinstance(temperature, int | float) or not 0 <= temperature < 2.0001:
            raise bad_request(
                f"Unable to submit request because it has a temperature value of {temperature} "
                "but the supported range is from 0 (inclusive) to 2.0001 (exclusive). "
                "Update the value and try again."
            )
    return _DEFAULT_MAX_OUTPUT_TOKENS if max_tokens is None else max_tokens


def _thoughts(body: dict[str, Any], known: gemini_catalog.GeminiModel) -> int:
    """Check the thinking configuration as Vertex does; the thinking tokens it leads to."""
    config = _thinking_config(body) or {}
    if not isinstance(config, dict):
        raise bad_request('Invalid JSON payload received. Unknown name "thinkingConfig".')
    # Proto JSON takes the lowerCamel name or the proto field name (google-genai sends the
    # latter inside thinkingConfig).
    budget = _field(config, "thinkingBudget", "thinking_budget")
    level = _field(config, "thinkingLevel", "thinking_level")
    if level == "THINKING_LEVEL_UNSPECIFIED":
        level = None
    if budget is not None and level is not None:
        raise bad_request("You can only set only one of thinking budget and thinking level.")
    if level is not None:
        if not known.takes_levels:
            raise bad_request(
                f"Unable to submit request because thinking_level is not supported by "
                f"{known.name}; use thinking_budget instead. Learn more: {_LEARN_MORE}"
            )
        if level not in known.levels:
            raise bad_request(
                f"Unable to submit request because thinking_level {level} is not supported by "
                f"{known.name}; supported values are {', '.join(known.levels)}. "
                f"Learn more: {_LEARN_MORE}"
            )
        return THOUGHTS_BY_LEVEL[level]
    if budget is None or budget == gemini_catalog.DYNAMIC_BUDGET:
        if known.takes_levels:
            return THOUGHTS_BY_LEVEL[known.default_level or "HIGH"]
        return min(AUTOMATIC_THOUGHTS, gemini_catalog.AUTOMATIC_BUDGET_CAP)
    low, high = known.budget_range
    if not isinstance(budget, int) or isinstance(budget, bool):
        raise bad_request(
            "Invalid value at 'generation_config.thinking_config.thinking_budget' (TYPE_INT32)"
        )
    if budget == 0 and known.can_disable:
        return 0
    if not low <= budget <= high:
        raise bad_request(
            "Unable to submit request because thinking_budget is out of range; supported "
            f"values are integers from {low} to {high}. Learn more: {_LEARN_MORE}"
        )
    return min(budget, AUTOMATIC_THOUGHTS)


def _field(obj: dict[str, Any], camel: str, snake: str) -> Any:
    return obj[camel] if camel in obj else obj.get(snake)


def _thinking_config(body: dict[str, Any]) -> Any:
    config = body.get("generationConfig")
    if not isinstance(config, dict):
        return None
    return _field(config, "thinkingConfig", "thinking_config")


def _reply(city: str | None) -> str:
    """The answer text: a greeting and a hidden gem picked from a hash of the city."""
    key = (city or "").casefold().encode("utf-8")
    gem = GEMS[int.from_bytes(hashlib.sha256(key).digest()[:4], "big") % len(GEMS)]
    if city:
        return f"Welcome to {city}! For a hidden gem nearby, {gem}. Enjoy it like a local."
    return f"Hello and welcome, traveller! For a hidden gem wherever you are, {gem}."


def _cut(text: str, room: int) -> tuple[str, str]:
    """``text`` and its finish reason, cut to ``room`` tokens like a real model."""
    if _tokens(text) > room:
        return text[: max(0, room) * _CHARS_PER_TOKEN], "MAX_TOKENS"
    return text, "STOP"


def _location_city(contents: Any) -> str | None:
    """The city in the JSON location object of the last user turn, if any."""
    if not isinstance(contents, list):
        return None
    for content in reversed(contents):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            return _city_in(_text_of(content))
    return None


def _city_in(text: str | None) -> str | None:
    if not text:
        return None
    value: Any = None
    try:
        value = json.loads(text)
    except ValueError:
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            try:
                value = json.loads(text[start : end + 1])
            except ValueError:
                value = None
    if not isinstance(value, dict):
        return None
    location = value.get("location", value)
    city = location.get("city") if isinstance(location, dict) else None
    return city if isinstance(city, str) and city.strip() else None


def _text_of(content: Any) -> str | None:
    """The text parts of a Content (or a bare string), joined."""
    if isinstance(content, str):
        return content
    if not isinstance(content, dict):
        return None
    parts = content.get("parts")
    if not isinstance(parts, list):
        return None
    texts = [part["text"] for part in parts if isinstance(part, dict) and "text" in part]
    return "".join(str(text) for text in texts) if texts else None


def _get(body: dict[str, Any], *keys: str) -> Any:
    value: Any = body
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _tokens(text: str) -> int:
    return max(1, -(-len(text) // _CHARS_PER_TOKEN))


def _split(text: str, count: int) -> list[str]:
    """``text`` cut at word boundaries into at most ``count`` pieces that join back to it."""
    words = text.split(" ")
    count = max(1, min(count, len(words)))
    size, extra = divmod(len(words), count)
    pieces, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        piece = " ".join(words[start:end])
        pieces.append(piece + (" " if end < len(words) else ""))
        start = end
    return pieces


def _chunk(
    text: str, finish: str, usage: tuple[int, int], meta: dict[str, Any], *, final: bool
) -> dict[str, Any]:
    """One response document. An empty answer has a content with no parts, as Vertex sends
    when thinking used up the output limit."""
    content: dict[str, Any] = {"role": "model"}
    if text:
        content["parts"] = [{"text": text}]
    candidate: dict[str, Any] = {"content": content}
    document: dict[str, Any] = {"candidates": [candidate], **meta}
    if final:
        prompt_tokens, thoughts = usage
        candidate["finishReason"] = finish
        output_tokens = _tokens(text) if text else 0
        metadata: dict[str, Any] = {
            "promptTokenCount": prompt_tokens,
            "totalTokenCount": prompt_tokens + output_tokens + thoughts,
            "trafficType": "ON_DEMAND",
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
        }
        if output_tokens:
            metadata["candidatesTokenCount"] = output_tokens
            metadata["candidatesTokensDetails"] = [
                {"modality": "TEXT", "tokenCount": output_tokens}
            ]
        if thoughts:
            metadata["thoughtsTokenCount"] = thoughts
        document["usageMetadata"] = metadata
    return document
