"""The Local Guide: a Flask app that greets each user by the city the load balancer saw.

Routes: ``GET|POST /`` (JSON answer; a browser that prefers HTML gets the page from
:mod:`service.page` instead), ``GET /stream`` (the answer as server-sent events),
``GET /healthz``. ``create_app`` does no I/O: the model client is built on first use.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from service.config import Settings
from service.gemini import CUT, FAILED, QUOTA, TIMEOUT, UNAVAILABLE, Gemini, ModelError
from service.guide import HEADER, SYSTEM_INSTRUCTION, Location, parse_location, user_content
from service.page import page, wants_html

# What clients are told: short, fixed, never an upstream message or exception text.
MODEL_ERRORS: dict[str, tuple[int, str]] = {
    QUOTA: (429, "the guide is busy, try again shortly"),
    UNAVAILABLE: (503, "the guide is unavailable, try again shortly"),
    TIMEOUT: (504, "the guide took too long to answer"),
    FAILED: (502, "the guide could not answer"),
    CUT: (502, "the guide's answer was cut short, try again"),
}
RETRY_AFTER_S = 5
HTTP_ERRORS = {
    400: "bad request",
    404: "not found",
    405: "method not allowed",
    413: "request too large",
    414: "request too large",
    431: "request too large",
}
INTERNAL_ERROR = "internal error"
# A revision deployed with this variable set to 1 answers every request with 503: the
# failure `globalguide drill` sends one region's traffic to on Google Cloud.
FAILURE_DRILL_ENV = "FAILURE_DRILL"

JSON_CSP = "default-src 'none'; frame-ancestors 'none'"
# On every answer, replacing any value a route set.
ALWAYS_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
)
_TRACE_CONTEXT = re.compile(r"([0-9a-fA-F]{32})(?:/[0-9]{0,20})?(?:;o=[0-9])?")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_MAX_USER_AGENT = 256
# Built once: json.dumps with options builds a new encoder on every call.
_BODY_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_LOG_JSON = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=str)

_log_lock = threading.Lock()


def create_app(config: Settings | Mapping[str, str] | None = None) -> Flask:
    """The WSGI app. ``config``: Settings, or an env-like mapping, or None for os.environ."""
    if isinstance(config, Settings):
        settings = config
    else:
        settings = Settings.from_env(config)
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes)
    gemini = Gemini(settings)
    app.extensions["service.settings"] = settings
    app.extensions["service.gemini"] = gemini
    env = config if isinstance(config, Mapping) else os.environ
    failing = env.get(FAILURE_DRILL_ENV, "") == "1"

    # Each hook reads the request and g through their proxies once: a proxy lookup costs
    # about as much as the work done with it.
    @app.before_request
    def _start() -> Response | None:
        call = g._get_current_object()
        call.started = time.perf_counter()
        call.request_id, call.trace_id = _request_ids(request.environ)
        call.log = {}
        if failing:
            return _error(503, "failure drill: this revision answers 503")
        if (request.content_length or 0) > settings.max_body_bytes:
            return _error(413, HTTP_ERRORS[413])
        return None

    @app.after_request
    def _finish(response: Response) -> Response:
        call = g._get_current_object()
        current = request._get_current_object()
        _secure(response, current)
        headers = response.headers
        headers["X-Request-Id"] = call.get("request_id", "")
        # The contract every deployed service keeps (docs/service.md): name the region.
        headers["X-Served-Region"] = settings.service_region
        state = _request_state(settings, current, call)
        if response.is_streamed:
            # Logged when the stream ends, so the line carries the whole latency and any
            # error met mid-stream.
            # (close() covers a stream whose client left before it started.)
            done = _once(lambda: _log_request(state, response.status_code))
            call.log["_done"] = done
            response.call_on_close(done)
        else:
            _log_request(state, response.status_code)
        return response

    @app.route("/", methods=["GET", "POST"])
    def answer() -> Response:
        current = request._get_current_object()
        method = current.method
        if method != "POST" and wants_html(current.accept_mimetypes):
            # The page never calls the model itself: its script opens /stream.
            return _page()
        # The request body, if any, is not read: the answer depends on the location only.
        if method == "HEAD":  # no model call (and no cost) for a body nobody reads
            return _json({})
        location = parse_location(current.headers.get(HEADER))
        reply = gemini.generate(SYSTEM_INSTRUCTION, user_content(location))
        call = g._get_current_object()
        call.log["model_ms"] = round(reply.model_ms, 1)
        meta = _meta_factory(settings, location, call)()
        return _json({"ai_response": reply.text, "meta": meta})

    @app.route("/stream", methods=["GET"])
    def stream() -> Response:
        if request.method == "HEAD":
            return Response(mimetype="text/event-stream")
        location = parse_location(request.headers.get(HEADER))
        chunks = gemini.stream(SYSTEM_INSTRUCTION, user_content(location))
        # Pull the first chunk now: an error before it is an ordinary error response.
        first = next(chunks)
        call = g._get_current_object()
        meta_now = _meta_factory(settings, location, call)
        log = call.log
        request_id = call.request_id
        return Response(
            _events(first, chunks, meta_now, log, request_id),
            mimetype="text/event-stream",
            headers={"X-Accel-Buffering": "no"},
        )

    @app.route("/healthz", methods=["GET"])
    def healthz() -> Response:
        return _json({"status": "ok"})

    @app.errorhandler(ModelError)
    def _model_error(exc: ModelError) -> Response:
        status, text = MODEL_ERRORS.get(exc.kind, MODEL_ERRORS[FAILED])
        g.log.update(error=exc.kind, upstream_status=exc.upstream_status, cause=exc.cause)
        response = _error(status, text)
        if status in (429, 503):
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        response = _error(status, HTTP_ERRORS.get(status, "request failed"))
        if status == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if "log" in g:
            g.log.update(error="internal", cause=type(exc).__name__)
        return _error(500, INTERNAL_ERROR)

    return app


def _events(
    first: str,
    chunks: Iterator[str],
    meta_now: Callable[[], dict[str, Any]],
    log: dict[str, Any],
    request_id: str,
) -> Iterator[str]:
    """The SSE body: one ``data:`` event per text chunk, then ``event: meta`` (or error)."""
    count = 1
    try:
        yield _sse({"text": first})
        try:
            for text in chunks:
                count += 1
                yield _sse({"text": text})
        except ModelError as exc:
            log.update(error=exc.kind, upstream_status=exc.upstream_status, cause=exc.cause)
            _, message = MODEL_ERRORS.get(exc.kind, MODEL_ERRORS[FAILED])
            yield _sse({"error": message, "request_id": request_id}, event="error")
            return
        except Exception as exc:  # never a traceback on the wire
            log.update(error="internal", cause=type(exc).__name__)
            yield _sse({"error": INTERNAL_ERROR, "request_id": request_id}, event="error")
            return
        yield _sse(meta_now(), event="meta")
    finally:
        log["chunks"] = count
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        done = log.pop("_done", None)
        if done is not None:
            done()


def _once(func: Any) -> Any:
    lock = threading.Lock()
    called = False

    def call() -> None:
        nonlocal called
        with lock:
            if called:
                return
            called = True
        func()

    return call


def _sse(payload: Mapping[str, Any], event: str | None = None) -> str:
    data = _BODY_JSON.encode(payload)
    return (f"event: {event}\n" if event else "") + f"data: {data}\n\n"


def _meta_factory(
    settings: Settings, location: Location, call: Any
) -> Callable[[], dict[str, Any]]:
    """The ``meta`` object, computed when called (for a stream: when it ends). ``call``:
    this request's ``g``."""
    request_id, started = call.request_id, call.started

    def meta_now() -> dict[str, Any]:
        return {
            "served_from_region": settings.service_region,
            "user_detected_location": location.display,
            "model": settings.model,
            "vertex_location": settings.vertex_location,
            "request_id": request_id,
            "server_ms": round((time.perf_counter() - started) * 1000, 1),
        }

    return meta_now


def _json(payload: Mapping[str, Any], status: int = 200) -> Response:
    body = _BODY_JSON.encode(payload)
    return Response(body, status=status, mimetype="application/json")


def _error(status: int, text: str) -> Response:
    return _json({"error": text, "request_id": g.get("request_id")}, status)


def _secure(response: Response, current: Any) -> None:
    """The headers every answer carries. ``current``: the request being answered."""
    headers = response.headers
    # One pass over what the response has, instead of one per header set.
    present = {name.lower() for name, _ in headers}
    for name, value in ALWAYS_HEADERS:
        if name.lower() in present:
            headers[name] = value
        else:
            headers.add(name, value)
    if response.mimetype in ("application/json", "text/event-stream"):
        headers.setdefault("Content-Security-Policy", JSON_CSP)
    if current.path == "/" and current.method in ("GET", "HEAD"):
        # GET / answers JSON or the page depending on Accept; caches must key on it.
        if "vary" in present:
            response.vary.add("Accept")
        else:
            headers["Vary"] = "Accept"  # what vary.add writes, without parsing a header


def _page() -> Response:
    """The browser page, with its own policy (the JSON one would forbid its script)."""
    built = page()
    g.log["view"] = "page"
    response = Response(built.body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = built.csp
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    return response


def _request_ids(environ: Mapping[str, Any]) -> tuple[str, str | None]:
    """(request id, trace id): the trace id of the incoming trace header, else a new id."""
    match = _TRACE_CONTEXT.fullmatch(environ.get("HTTP_X_CLOUD_TRACE_CONTEXT", "").strip())
    if match is None:
        match = _TRACEPARENT.fullmatch(environ.get("HTTP_TRACEPARENT", "").strip())
    if match is not None and match.group(1).strip("0"):
        trace_id = match.group(1).lower()
        return trace_id, trace_id
    return secrets.token_hex(16), None


def _request_state(settings: Settings, current: Any, call: Any) -> dict[str, Any]:
    """What the log line needs, captured while the request context is still there.
    ``current``: the request; ``call``: its ``g``."""
    user_agent = current.environ.get("HTTP_USER_AGENT", "")
    return {
        "settings": settings,
        "method": current.method,
        "path": current.path,
        "user_agent": user_agent[:_MAX_USER_AGENT],
        "started": call.get("started", time.perf_counter()),
        "request_id": call.get("request_id"),
        "trace_id": call.get("trace_id"),
        "extra": call.get("log", {}),
    }


def _log_request(state: dict[str, Any], status: int) -> None:
    """One structured line per request, in Cloud Logging's format, on stdout."""
    settings: Settings = state["settings"]
    latency = time.perf_counter() - state["started"]
    extra = {
        key: value
        for key, value in state["extra"].items()
        if value not in (None, "") and not key.startswith("_")
    }
    if "error" in extra and status < 400:
        status_word = "stream error"
    else:
        status_word = str(status)
    if status >= 500 or (status < 400 and "error" in extra):
        severity = "ERROR"
    elif status >= 400:
        severity = "WARNING"
    else:
        severity = "INFO"
    entry: dict[str, Any] = {
        "severity": severity,
        "message": f"{state['method']} {state['path']} {status_word}",
        "httpRequest": {
            "requestMethod": state["method"],
            "requestUrl": state["path"],
            "status": status,
            "latency": f"{latency:.3f}s",
            "userAgent": state["user_agent"],
        },
        "region": settings.service_region,
        "request_id": state["request_id"],
        **extra,
    }
    if state["trace_id"] and settings.project:
        entry["logging.googleapis.com/trace"] = (
            f"projects/{settings.project}/traces/{state['trace_id']}"
        )
    line = _LOG_JSON.encode(entry)
    with _log_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
