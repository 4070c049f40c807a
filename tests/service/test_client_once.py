"""The google-genai client is built once per app (one app per worker process), not per request."""

from __future__ import annotations

import threading

import pytest
from google import genai

PARIS = {"X-Client-Geo-Location": "Paris,FRIDF,FR"}


@pytest.fixture
def constructions(monkeypatch) -> list[dict]:
    made: list[dict] = []
    real = genai.Client

    class CountingClient(real):  # type: ignore[misc, valid-type]
        def __init__(self, **kwargs):
            made.append(kwargs)
            super().__init__(**kwargs)

    monkeypatch.setattr(genai, "Client", CountingClient)
    return made


def test_no_client_is_built_before_the_first_model_call(make_app, constructions):
    app = make_app()
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert constructions == []


def test_client_built_once_under_concurrent_first_requests(make_app, constructions):
    app = make_app()
    barrier = threading.Barrier(12)
    statuses: list[int] = []

    def worker() -> None:
        client = app.test_client()
        barrier.wait()
        for path in ("/", "/stream", "/"):
            statuses.append(client.get(path, headers=PARIS).status_code)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert statuses == [200] * 36
    assert len(constructions) == 1
    (kwargs,) = constructions
    assert kwargs["vertexai"] is True
    assert kwargs["location"] == "europe-west1"
    assert kwargs["credentials"].token == "emulator"
    assert kwargs["http_options"].timeout == 5000


def test_without_base_url_the_client_uses_default_credentials(constructions, monkeypatch):
    from service.config import Settings
    from service.gemini import Gemini

    settings = Settings.from_env(
        {"GOOGLE_CLOUD_PROJECT": "p", "VERTEX_LOCATION": "asia-northeast1"}
    )
    gemini = Gemini(settings)
    gemini._ensure_client()
    gemini._ensure_client()
    (kwargs,) = constructions
    assert kwargs["credentials"] is None
    assert kwargs["http_options"].base_url is None
    assert kwargs["location"] == "asia-northeast1" and kwargs["project"] == "p"
