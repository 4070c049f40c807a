"""The emulator's session token: made at start, kept where only this user can read it.

Every request to the emulator's API carries it as ``Authorization: Bearer TOKEN``; a
process that cannot read the state directory cannot call the API (and so cannot start
revisions, which run the code they are given). The token is found, for an endpoint, in:

1. the emulators this process itself runs (tests and benchmarks start them in-process);
2. ``GLOBALGUIDE_EMULATOR_TOKEN``, for an emulator named by ``GLOBALGUIDE_EMULATOR``;
3. the state directory of the emulator this user runs in the background, when its
   runtime file names that endpoint (``<state dir>/token``, mode 0600, directory 0700).

Revisions get a second token, accepted only by the emulated Vertex AI, so that the code a
revision runs cannot call the rest of the API.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import threading
import urllib.request
from pathlib import Path

# Names of where tokens are kept, not tokens.
TOKEN_FILE = "token"  # noqa: S105
TOKEN_ENV = "GLOBALGUIDE_EMULATOR_TOKEN"  # noqa: S105
# What a revision finds its Vertex AI token in (read by service/gemini.py).
REVISION_TOKEN_ENV = "GEMINI_ACCESS_TOKEN"  # noqa: S105

_known: dict[str, str] = {}
_known_lock = threading.Lock()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def private_dir(directory: Path) -> Path:
    """``directory``, created if need be, readable by this user alone."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    return directory


def save_token(directory: Path, token: str) -> Path:
    """Write ``token`` to ``directory/token`` (0600, in a 0700 directory); its path."""
    path = private_dir(directory) / TOKEN_FILE
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token)
    os.replace(tmp, path)
    return path


def load_token(directory: Path) -> str | None:
    try:
        token = (directory / TOKEN_FILE).read_text().strip()
    except OSError:
        return None
    return token or None


def remember(endpoint: str, token: str) -> None:
    """An emulator this process runs: clients built here find its token by endpoint."""
    with _known_lock:
        _known[endpoint.rstrip("/")] = token


def forget(endpoint: str) -> None:
    with _known_lock:
        _known.pop(endpoint.rstrip("/"), None)


def token_for(endpoint: str) -> str | None:
    """The token of the emulator at ``endpoint``, if this user can know it."""
    endpoint = endpoint.rstrip("/")
    with _known_lock:
        token = _known.get(endpoint)
    if token:
        return token
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    if from_env:
        return from_env
    from globalguide.emulator.daemon import RUNTIME_FILE, state_dir

    directory = state_dir()
    try:
        running = json.loads((directory / RUNTIME_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(running, dict) or str(running.get("endpoint", "")).rstrip("/") != endpoint:
        return None
    return load_token(directory)


def bearer(endpoint: str, token: str | None = None) -> dict[str, str]:
    """The Authorization header for a request to the emulator at ``endpoint``."""
    token = token or token_for(endpoint)
    return {"Authorization": f"Bearer {token}"} if token else {}


def matches(presented: str | None, expected: str) -> bool:
    """Whether an ``Authorization`` header value carries ``expected`` as a bearer token."""
    if not presented or not expected:
        return False
    scheme, _, value = presented.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), expected.encode())


def control_request(
    endpoint: str,
    name: str,
    *,
    token: str | None = None,
    body: object = None,
    method: str | None = None,
) -> urllib.request.Request:
    """An authenticated ``urllib`` request for the test control ``/_emulator/NAME``."""
    headers = bearer(endpoint, token)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    url = f"{endpoint.rstrip('/')}/_emulator/{name}"
    return urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
