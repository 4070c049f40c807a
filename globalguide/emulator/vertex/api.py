"""Vertex AI in the emulator: the fake Gemini (:mod:`.gemini`) behind the API's checks.

Every call checks the project and that ``aiplatform.googleapis.com`` is enabled, as Vertex
does, before the fake answers. With ``--latency model`` the fake also waits a modelled
time to first token, a modelled token rate, and the modelled round trip between the
calling region (from the ``/_from/<region>/`` prefix the data plane puts in each service's
``GEMINI_BASE_URL``) and the Vertex location:

- the caller's own region: a small same-metro constant;
- another region: the great-circle fibre model of :mod:`globalguide.geo`;
- ``global``: the nearest region serving Gemini to the caller (Google routes global
  requests to an available region and does not say which; nearest is the model);
- ``us`` / ``eu``: the nearest Gemini region in that jurisdiction.

Test controls, under ``/_emulator/vertex/``: ``POST unavailable`` ``{"model", "location"}``
(that pair answers 404 from now on), ``POST fail`` ``{"code", "count"}`` (the next calls
fail), ``GET calls`` (what the fake received), ``POST reset``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from werkzeug.wrappers import Request, Response

from globalguide.emulator.core.routing import ApiError, Route, bad_request, json_response, read_json
from globalguide.emulator.vertex.gemini import FakeGemini
from globalguide.emulator.vertex.latency import (
    MODELLED_TOKENS_PER_S,
    MODELLED_TTFT_MS,
    modelled_rtt_ms,
)

SERVICE = "aiplatform.googleapis.com"


class API:
    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        modelled = emulator.config.latency == "model"
        self.fake = FakeGemini(
            ttft_ms=MODELLED_TTFT_MS if modelled else 0.0,
            tokens_per_s=MODELLED_TOKENS_PER_S if modelled else None,
            rtt_ms=modelled_rtt_ms if modelled else None,
        )

    def routes(self) -> list[Route]:
        return [
            Route(
                method=route.method,
                pattern=route.pattern,
                handler=partial(self._checked, route.handler),
                api="aiplatform",
                mutating=False,
                style="google",
                endpoint=route.endpoint,
            )
            for route in self.fake.routes()
        ]

    def _checked(self, handler: Any, request: Request, **params: str) -> Any:
        self.emulator.enter(params["project"], SERVICE, by_number=True)
        return handler(request, **params)

    # ------------------------------------------------------------- test controls
    def control(self, request: Request, name: str) -> Response:
        try:
            if name == "calls" and request.method == "GET":
                return json_response(self.fake.calls)
            if name == "unavailable" and request.method == "POST":
                body = read_json(request)
                model, location = body.get("model"), body.get("location")
                if not isinstance(model, str) or not isinstance(location, str):
                    raise bad_request("'model' and 'location' must be strings")
                self.fake.mark_unavailable(model, location)
                return json_response({})
            if name == "fail" and request.method == "POST":
                body = read_json(request)
                code, count = body.get("code"), body.get("count", 1)
                if not isinstance(code, int) or not isinstance(count, int) or count < 1:
                    raise bad_request("'code' must be an HTTP error status, 'count' at least 1")
                try:
                    self.fake.fail_next(code, count)
                except ValueError as exc:
                    raise bad_request(str(exc)) from None
                return json_response({})
            if name == "reset" and request.method == "POST":
                self.fake.reset()
                return json_response({})
        except ApiError as exc:
            return json_response(exc.body(), exc.code)
        return json_response({"error": {"code": 404, "message": "Not Found"}}, 404)

    # ------------------------------------------------------------------- state
    def snapshot(self) -> dict[str, Any]:
        return {"calls": len(self.fake.calls)}

    def reset(self) -> None:
        self.fake.reset()

    def resource_count(self) -> int:
        return 0
