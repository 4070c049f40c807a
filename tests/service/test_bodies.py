"""Hostile request bodies, methods and headers (beyond the location header): never a 5xx,
never a traceback, and memory that stays bounded over many requests."""

from __future__ import annotations

import gc
import os
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from globalguide.emulator.vertex.gemini import FakeGemini
from globalguide.emulator.vertex.standalone import serve
from service.app import create_app
from tests.service.conftest import service_env

CONTENT_TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "multipart/form-data",
    "text/plain; charset=utf-8",
    "application/json; charset=utf-16",
    "application/octet-stream",
    "",
]
HEADER_NAMES = [
    "Accept",
    "Accept-Encoding",
    "Content-Encoding",
    "Cookie",
    "X-Cloud-Trace-Context",
    "Traceparent",
    "X-Forwarded-For",
    "X-Request-Id",
    "Host",
    "User-Agent",
    "Transfer-Encoding",
    "Range",
]
SECRETS = ("Traceback", 'File "', "GOOGLE_CLOUD_PROJECT", "test-project")

bodies = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=500).map(str.encode),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
        max_leaves=20,
    ).map(lambda v: repr(v).encode()),
    st.just(b"{" * 5000),
    st.just(b"a=" + b"b" * 100_000),
)
header_values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=300
).filter(lambda v: v == v.strip())


@pytest.fixture(scope="module")
def client() -> Iterator:
    server, base_url = serve(FakeGemini())
    app = create_app(service_env(base_url))
    yield app.test_client()
    server.shutdown()


def _check(response) -> None:
    assert response.status_code < 500, response.get_data()[:500]
    text = response.get_data(as_text=True)
    for secret in SECRETS:
        assert secret not in text


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
    path=st.sampled_from(["/", "/stream", "/healthz", "/nope", "//", "/%2e%2e/", "/?x=1"]),
    body=bodies,
    content_type=st.sampled_from(CONTENT_TYPES),
    extra=st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=4),
)
def test_no_body_method_or_header_makes_a_5xx(client, method, path, body, content_type, extra):
    headers = {k: v for k, v in extra.items() if k not in ("Transfer-Encoding", "Content-Encoding")}
    if content_type:
        headers["Content-Type"] = content_type
    response = client.open(path, method=method, data=body, headers=headers)
    _check(response)


@pytest.mark.slow
def test_memory_stays_bounded_over_many_requests(client):
    """800 requests with large, varied bodies: memory the service still holds afterwards
    does not grow with the number of requests (no per-request leak). Only allocations made
    from the service's own code path are counted: the fake Gemini in this process keeps a
    record of every call it answered, by design."""

    def burst(n: int) -> None:
        for i in range(n):
            body = (b"x" * (i % 50_000)) if i % 3 else b'{"q": "' + b"y" * 10_000 + b'"}'
            _check(client.post("/", data=body, headers={"Content-Type": "application/json"}))
            _check(client.get("/", headers={"X-Client-Geo-Location": f"City{i},ST,XX"}))

    only_service = [
        tracemalloc.Filter(True, f"{os.sep}service{os.sep}*", all_frames=True),
        tracemalloc.Filter(False, f"*{os.sep}emulator{os.sep}*", all_frames=True),
    ]

    def held() -> int:
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(only_service)
        return sum(stat.size for stat in snapshot.statistics("filename"))

    burst(100)  # warm caches, imports and pools
    tracemalloc.start(15)
    try:
        burst(50)
        after_few = held()
        burst(250)
        after_many = held()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after_many - after_few < 500_000, (after_few, after_many)
    assert peak < 64_000_000
