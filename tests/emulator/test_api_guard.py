"""Who may call the emulator's API: the session token, its own Host and Origin, JSON bodies.

The attack: one POST creating a Cloud Run service whose container command writes a file.
Accepted, the emulator runs it (the control case shows it does); refused, nothing runs.
"""

from __future__ import annotations

import json
import os
import stat
import time

import pytest
import requests

from globalguide.emulator import session
from globalguide.emulator.guard import INVALID_CREDENTIAL, MISSING_CREDENTIAL
from tests.emulator.dataplane_support import wait_for
from tests.emulator.run.support import publish

REGION = "us-central1"
FORBIDDEN_NAMES = ("python", "werkzeug", "gunicorn", "http.server", "basehttp")


def _attack(endpoint: str, project: str, image: str, marker: str, service_id: str):
    url = f"{endpoint}/v2/projects/{project}/locations/{REGION}/services?serviceId={service_id}"
    body = {
        "template": {
            "containers": [{"image": image, "command": ["/bin/sh", "-c", f"id > {marker}"]}]
        }
    }
    return url, json.dumps(body)


@pytest.fixture
def image(enabled, emu, project):
    return publish(enabled, emu, project)


def _no_framework_named(response: requests.Response) -> None:
    raw = " ".join(f"{k}: {v}" for k, v in response.headers.items()) + response.text
    assert not any(name in raw.lower() for name in FORBIDDEN_NAMES), raw


def test_control_the_attack_with_the_token_runs_its_command(
    emu, endpoint, project, image, tmp_path
):
    """Proof that the marker would appear: the API runs the code it is given, as Cloud Run."""
    marker = tmp_path / "proof"
    url, body = _attack(endpoint, project, image, marker, "control")
    headers = {**session.bearer(endpoint), "Content-Type": "application/json"}
    response = requests.post(url, data=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert wait_for(marker.exists, 20)


def _host(endpoint: str) -> str:
    return endpoint.removeprefix("http://")


ATTACKS = {
    # name: (headers with the token?, extra headers, content type, status, google status)
    "no token": (False, {}, "application/json", 401, "UNAUTHENTICATED"),
    "wrong token": (None, {}, "application/json", 401, "UNAUTHENTICATED"),
    "foreign host": (True, {"Host": "evil.example"}, "application/json", 403, "PERMISSION_DENIED"),
    "rebound host": (True, {"Host": "evil.example:{port}"}, "application/json", 403, None),
    "cross-site origin": (
        True,
        {"Origin": "http://evil.example"},
        "application/json",
        403,
        "PERMISSION_DENIED",
    ),
    "null origin": (True, {"Origin": "null"}, "application/json", 403, "PERMISSION_DENIED"),
    "text/plain body": (True, {}, "text/plain", 415, None),
    "form body": (True, {}, "application/x-www-form-urlencoded", 415, None),
    "the request as reported": (
        False,
        {"Host": "evil.example", "Origin": "http://evil.example"},
        "text/plain",
        403,
        "PERMISSION_DENIED",
    ),
}


@pytest.mark.parametrize("case", list(ATTACKS))
def test_the_attack_is_refused_and_runs_nothing(emu, endpoint, project, image, tmp_path, case):
    with_token, extra, content_type, status, google_status = ATTACKS[case]
    marker = tmp_path / "proof"
    url, body = _attack(endpoint, project, image, marker, "pwned")
    headers = {"Content-Type": content_type}
    if with_token:
        headers.update(session.bearer(endpoint))
    elif with_token is None:
        headers["Authorization"] = "Bearer not-the-token"
    port = endpoint.rsplit(":", 1)[1]
    headers.update({k: v.format(port=port) for k, v in extra.items()})
    response = requests.post(url, data=body, headers=headers, timeout=10)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == status and isinstance(error["message"], str) and error["status"]
    if google_status:
        assert error["status"] == google_status
    _no_framework_named(response)
    time.sleep(1.0)  # the control case writes its marker well within this
    assert not marker.exists()
    assert emu.run.snapshot().get("services", {}) in ({}, [])
    assert not [e for e in requests_log_of(emu) if e["api"] == "run"]


def requests_log_of(emu) -> list[dict]:
    with emu._log_lock:
        return [e.to_dict() for e in emu._log]


def test_googles_credential_messages(endpoint):
    missing = requests.get(f"{endpoint}/_emulator/health", timeout=5)
    assert missing.status_code == 401
    assert missing.json()["error"]["message"] == MISSING_CREDENTIAL
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = requests.get(
        f"{endpoint}/_emulator/health", headers={"Authorization": "Bearer x"}, timeout=5
    )
    assert wrong.json()["error"] == {
        "code": 401,
        "message": INVALID_CREDENTIAL,
        "status": "UNAUTHENTICATED",
    }


def test_the_api_names_no_framework(endpoint):
    ok = requests.get(f"{endpoint}/_emulator/health", headers=session.bearer(endpoint), timeout=5)
    assert ok.status_code == 200
    assert ok.headers["Server"] == "ESF"
    _no_framework_named(ok)
    _no_framework_named(requests.get(f"{endpoint}/nowhere", timeout=5))


def test_every_loopback_name_for_the_port_is_the_emulators_own(endpoint):
    port = endpoint.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        headers = {**session.bearer(endpoint), "Host": host, "Origin": f"http://{host}"}
        assert requests.get(f"{endpoint}/_emulator/health", headers=headers, timeout=5).ok
    other_port = {**session.bearer(endpoint), "Host": "127.0.0.1:1"}
    assert (
        requests.get(f"{endpoint}/_emulator/health", headers=other_port, timeout=5).status_code
        == 403
    )


def test_storage_uploads_keep_their_own_media_types(enabled, emu):
    """The upload endpoint takes the object's type (uploadType=media) through the client."""
    bucket = enabled.storage.create_bucket("gg-media")
    bucket.blob("notes.txt").upload_from_string(b"hello", content_type="text/plain")
    assert bucket.blob("notes.txt").download_as_bytes() == b"hello"
    assert enabled.storage.bucket("gg-media").get_blob("notes.txt").content_type == "text/plain"


def test_a_revisions_token_calls_vertex_only(enabled, emu, endpoint, project):
    revision = {"Authorization": f"Bearer {emu.revision_token}"}
    generate = (
        f"{endpoint}/_from/{REGION}/v1/projects/{project}/locations/{REGION}"
        "/publishers/google/models/gemini-2.5-flash:generateContent"
    )
    prompt = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
    assert requests.post(generate, json=prompt, headers=revision, timeout=10).status_code == 200
    for method, path in (
        ("GET", f"/v2/projects/{project}/locations/{REGION}/services"),
        ("GET", "/_emulator/state"),
        ("POST", "/_emulator/reset"),
    ):
        response = requests.request(method, f"{endpoint}{path}", headers=revision, timeout=5)
        assert response.status_code == 403, path
        assert response.json()["error"]["status"] == "PERMISSION_DENIED"


def test_the_token_file_is_the_users_alone(tmp_path, monkeypatch):
    directory = tmp_path / "state"
    path = session.save_token(directory, "s3cret")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert session.load_token(directory) == "s3cret"


def test_the_token_is_found_for_the_users_background_emulator(tmp_path, monkeypatch):
    from globalguide.emulator.daemon import RUNTIME_FILE, STATE_DIR_ENV

    directory = tmp_path / "state"
    session.save_token(directory, "from-the-file")
    (directory / RUNTIME_FILE).write_text(json.dumps({"endpoint": "http://127.0.0.1:9"}))
    monkeypatch.setenv(STATE_DIR_ENV, str(directory))
    monkeypatch.delenv(session.TOKEN_ENV, raising=False)
    assert session.token_for("http://127.0.0.1:9") == "from-the-file"
    assert session.token_for("http://127.0.0.1:10") is None
    monkeypatch.setenv(session.TOKEN_ENV, "from-the-environment")
    assert session.token_for("http://127.0.0.1:10") == "from-the-environment"
