"""Who may call the emulator's API: checks made before any route runs.

A request is refused, in Google's error shape and before anything runs, when
- its ``Host`` is not the loopback address and port the emulator serves (403: a page that
  DNS rebinding pointed at the port sends its own host name);
- it carries an ``Origin`` that is not the emulator's own (403: a cross-site request);
- it carries no session token, or a wrong one (401, with the messages Google's APIs use);
- it has a body that is not JSON (415), except on the Cloud Storage upload endpoint,
  which takes the object's own media type (``uploadType=media``) or ``multipart/related``
  (https://cloud.google.com/storage/docs/uploading-objects, JSON API).
A revision's token (see :mod:`session`) is accepted by the Vertex AI routes only.
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from globalguide.emulator import session
from globalguide.emulator.core.routing import json_response

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
UPLOAD_PREFIX = "/upload/"
JSON_TYPES = frozenset({"application/json"})

# The messages Google's APIs answer a missing or a bad credential with.
MISSING_CREDENTIAL = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
INVALID_CREDENTIAL = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)

USER = "user"
REVISION = "revision"


def error(code: int, message: str, status: str) -> Response:
    response = json_response({"error": {"code": code, "message": message, "status": status}}, code)
    if code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
    return response


def own_hosts(port: int) -> frozenset[str]:
    return frozenset(f"{name}:{port}" for name in LOOPBACK_NAMES)


def refuse_origin_or_media(request: Request, port: int) -> Response | None:
    """403 for a foreign Host or Origin, 415 for a body that is not JSON; else None."""
    hosts = own_hosts(port)
    host = request.environ.get("HTTP_HOST", "")
    if host.lower() not in hosts:
        return error(403, "The request's Host is not this emulator's address.", "PERMISSION_DENIED")
    origin = request.environ.get("HTTP_ORIGIN")
    if origin is not None and origin.lower() not in {f"http://{h}" for h in hosts}:
        return error(403, "Cross-origin requests are not accepted.", "PERMISSION_DENIED")
    if _has_body(request) and not request.path.startswith(UPLOAD_PREFIX):
        if request.mimetype not in JSON_TYPES:
            return error(
                415,
                f"Unsupported media type {request.mimetype or '(none)'!r}: "
                "the request body must be application/json.",
                "INVALID_ARGUMENT",
            )
    return None


def caller(request: Request, token: str, revision_token: str) -> str | None:
    """USER for the session token, REVISION for a revision's token, None for anything else."""
    presented = request.headers.get("Authorization")
    if session.matches(presented, token):
        return USER
    if session.matches(presented, revision_token):
        return REVISION
    return None


def unauthenticated(request: Request) -> Response:
    missing = not request.headers.get("Authorization")
    return error(401, MISSING_CREDENTIAL if missing else INVALID_CREDENTIAL, "UNAUTHENTICATED")


def revision_not_allowed() -> Response:
    return error(403, "A revision's credential may call Vertex AI only.", "PERMISSION_DENIED")


def _has_body(request: Request) -> bool:
    length = request.content_length
    if length:
        return True
    return "chunked" in request.environ.get("HTTP_TRANSFER_ENCODING", "").lower()
