"""Upstream failures map to fixed, short answers; nothing of the upstream leaks."""

from __future__ import annotations

import json

import pytest

from service.app import MODEL_ERRORS
from tests.service.conftest import MODEL, VERTEX_LOCATION

PARIS = {"X-Client-Geo-Location": "Paris,FRIDF,FR"}
# Words of the fake's (Vertex's) error messages and of Python internals.
LEAKS = ("Resource exhausted", "Internal error", "Publisher Model", "Traceback", "Error(", "http")


def assert_no_leak(text: str) -> None:
    for word in LEAKS:
        assert word not in text, word


@pytest.mark.parametrize(
    ("upstream", "status", "retry_after"),
    [(500, 502, False), (429, 429, True), (503, 503, True), (504, 504, False), (400, 502, False)],
)
def test_upstream_errors_map_to_fixed_bodies(client, gemini, upstream, status, retry_after):
    gemini.fake.fail_next(upstream)
    response = client.get("/", headers=PARIS)
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"error", "request_id"}
    assert body["error"] in {text for _, text in MODEL_ERRORS.values()}
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert ("Retry-After" in response.headers) is retry_after
    assert_no_leak(response.get_data(as_text=True))
    # The next call is fine again.
    assert client.get("/", headers=PARIS).status_code == 200


def test_model_not_served_in_location_is_502(client, gemini):
    gemini.fake.mark_unavailable(MODEL, VERTEX_LOCATION)
    response = client.get("/", headers=PARIS)
    assert response.status_code == 502
    assert response.get_json()["error"] == "the guide could not answer"
    assert_no_leak(response.get_data(as_text=True))


def test_upstream_too_slow_is_504(make_app, start_fake):
    slow = start_fake(ttft_ms=3000)
    client = make_app(base_url=slow.base_url, GEMINI_TIMEOUT_S="0.3").test_client()
    response = client.get("/", headers=PARIS)
    assert response.status_code == 504
    assert response.get_json()["error"] == "the guide took too long to answer"


def test_unreachable_model_endpoint_is_503(make_app):
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_app(base_url=f"http://127.0.0.1:{port}/").test_client()
    response = client.get("/", headers=PARIS)
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()


def test_upstream_error_is_logged_without_its_message(client, gemini, capsys):
    gemini.fake.fail_next(429)
    capsys.readouterr()
    client.get("/", headers=PARIS)
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert line["error"] == "quota" and line["upstream_status"] == 429
    assert line["severity"] == "WARNING"
    assert "Resource exhausted" not in json.dumps(line)


def test_stream_error_before_first_chunk_is_an_http_status(client, gemini):
    gemini.fake.fail_next(429)
    response = client.get("/stream", headers=PARIS)
    assert response.status_code == 429
    assert response.mimetype == "application/json"
    assert_no_leak(response.get_data(as_text=True))


def test_unexpected_exception_is_500_without_details(app, monkeypatch):
    gemini = app.extensions["service.gemini"]

    def boom(*args, **kwargs):
        raise RuntimeError("secret internal detail /etc/passwd")

    monkeypatch.setattr(gemini, "generate", boom)
    response = app.test_client().get("/", headers=PARIS)
    assert response.status_code == 500
    assert response.get_json()["error"] == "internal error"
    assert "secret" not in response.get_data(as_text=True)
