"""Fixtures: a fake Gemini on a loopback port, and the service app pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from globalguide.emulator.vertex.gemini import FakeGemini
from globalguide.emulator.vertex.standalone import FakeGeminiServer, serve
from service.app import create_app

REGION = "europe-west1"
PROJECT = "test-project"
MODEL = "gemini-2.5-flash"
VERTEX_LOCATION = "europe-west1"


def service_env(base_url: str, **overrides: str) -> dict[str, str]:
    env = {
        "SERVICE_REGION": REGION,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "VERTEX_LOCATION": VERTEX_LOCATION,
        "GEMINI_MODEL": MODEL,
        "GEMINI_BASE_URL": base_url,
        "GEMINI_TIMEOUT_S": "5",
    }
    env.update(overrides)
    return env


@pytest.fixture
def start_fake() -> Iterator[Callable[..., FakeGeminiServer]]:
    """Start fake Gemini servers with the given timing; all stopped at teardown."""
    servers: list[FakeGeminiServer] = []

    def start(**kwargs: object) -> FakeGeminiServer:
        server, _ = serve(FakeGemini(**kwargs))  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture
def gemini(start_fake: Callable[..., FakeGeminiServer]) -> FakeGeminiServer:
    """A zero-delay fake Gemini."""
    return start_fake()


@pytest.fixture
def make_app(gemini: FakeGeminiServer) -> Callable[..., Flask]:
    """The app against ``gemini`` (or ``base_url``), with env overrides."""

    def make(base_url: str | None = None, **overrides: str) -> Flask:
        return create_app(service_env(base_url or gemini.base_url, **overrides))

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask):
    return app.test_client()
