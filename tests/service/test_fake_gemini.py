"""The fake Gemini, through google-genai itself and over raw HTTP."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from globalguide.emulator.vertex import GEMS, FakeGemini, serve, wsgi_app

PATH = "projects/p/locations/{loc}/publishers/google/models/{model}:{verb}"


@pytest.fixture
def fake_server():
    server, _ = serve(FakeGemini())
    yield server
    server.shutdown()


def client_for(base_url: str, location: str = "global", api_version: str | None = None):
    return genai.Client(
        vertexai=True,
        project="p",
        location=location,
        credentials=Credentials(token="t"),
        http_options=types.HttpOptions(base_url=base_url, api_version=api_version, timeout=5000),
    )


def city_prompt(city: str | None) -> str:
    return json.dumps({"location": {"city": city, "subdivision": None, "country": None}})


def post(url: str, body: object, token: str | None = "t") -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("api_version", ["v1", "v1beta1"])
def test_generate_content_through_google_genai(fake_server, api_version):
    client = client_for(fake_server.base_url, "europe-west4", api_version)
    response = client.models.generate_content(
        model="gemini-x-flash",
        contents=city_prompt("Lisbon"),
        config=types.GenerateContentConfig(system_instruction="be kind", max_output_tokens=200),
    )
    assert response.text.startswith("Welcome to Lisbon!")
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata.total_token_count > 0
    assert response.model_version == "gemini-x-flash"
    (call,) = fake_server.fake.calls
    assert call["location"] == "europe-west4" and call["project"] == "p"
    assert call["api_version"] == api_version
    assert call["system_instruction"] == "be kind"
    assert call["max_output_tokens"] == 200
    assert call["caller_region"] is None


def test_stream_through_google_genai_in_several_chunks(fake_server):
    client = client_for(fake_server.base_url)
    chunks = [
        c.text
        for c in client.models.generate_content_stream(model="m", contents=city_prompt("Osaka"))
    ]
    assert len(chunks) == 4
    assert "".join(chunks).startswith("Welcome to Osaka!")
    assert fake_server.fake.calls[-1]["stream"] is True


def test_from_prefix_names_the_caller_region(fake_server):
    client = client_for(fake_server.base_url + "_from/asia-northeast1/")
    client.models.generate_content(model="m", contents="hello")
    assert fake_server.fake.calls[-1]["caller_region"] == "asia-northeast1"


def test_reply_is_deterministic_and_depends_on_the_city(fake_server):
    client = client_for(fake_server.base_url)

    def ask(city):
        return client.models.generate_content(model="m", contents=city_prompt(city)).text

    assert ask("Paris") == ask("Paris")
    assert ask("Paris") != ask("Tokyo")
    assert "traveller" in ask(None) and "Welcome to" not in ask(None)
    assert any(gem in ask("Nairobi") for gem in GEMS)
    # A prompt with the location object embedded in text is understood too.
    embedded = "Location: " + city_prompt("Quito") + " thanks"
    assert "Quito" in client.models.generate_content(model="m", contents=embedded).text


def test_max_output_tokens_cuts_the_reply(fake_server):
    client = client_for(fake_server.base_url)
    response = client.models.generate_content(
        model="m", contents=city_prompt("Paris"), config={"max_output_tokens": 3}
    )
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert len(response.text) <= 12


def test_mark_unavailable_answers_404_like_vertex(fake_server):
    fake_server.fake.mark_unavailable("gemini-old", "us-central1")
    client = client_for(fake_server.base_url, "us-central1")
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model="gemini-old", contents="hi")
    assert info.value.code == 404 and info.value.status == "NOT_FOUND"
    assert (
        "Publisher Model `projects/p/locations/us-central1/publishers/google/models/"
        "gemini-old` was not found" in info.value.message
    )
    # Other locations still serve it.
    other = client_for(fake_server.base_url, "global")
    assert other.models.generate_content(model="gemini-old", contents="hi").text


@pytest.mark.parametrize(
    ("code", "status", "error_type"),
    [
        (429, "RESOURCE_EXHAUSTED", errors.ClientError),
        (500, "INTERNAL", errors.ServerError),
        (503, "UNAVAILABLE", errors.ServerError),
    ],
)
def test_fail_next_answers_in_vertex_error_shape(fake_server, code, status, error_type):
    fake_server.fake.fail_next(code, count=2)
    client = client_for(fake_server.base_url)
    for _ in range(2):
        with pytest.raises(error_type) as info:
            client.models.generate_content(model="m", contents="hi")
        assert info.value.code == code and info.value.status == status
    assert client.models.generate_content(model="m", contents="hi").text


def test_invalid_requests_are_rejected_like_vertex(fake_server):
    base = fake_server.base_url + "v1/" + PATH.format(loc="global", model="m", verb="")
    url = base + "generateContent"
    assert post(url, {})[0] == 400
    status, body = post(url, {"contents": []})
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    assert post(url, {"contents": [{"role": "user"}]})[0] == 400
    assert post(url, {"contents": [{"role": "system", "parts": [{"text": "x"}]}]})[0] == 400
    ok = {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}
    for bad in (0, 65537, "10", 1.5):
        status, body = post(url, {**ok, "generationConfig": {"maxOutputTokens": bad}})
        assert status == 400 and "maxOutputTokens" in body["error"]["message"]
    assert post(url, {**ok, "generationConfig": {"temperature": 3}})[0] == 400
    assert post(url, {**ok, "generationConfig": {"maxOutputTokens": 65536}})[0] == 200
    status, body = post(url, ok, token=None)
    assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED"
    status, body = post(fake_server.base_url + "v1/nowhere", ok)
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"


def test_stream_without_alt_sse_is_a_json_array(fake_server):
    url = (
        fake_server.base_url
        + "v1beta1/"
        + PATH.format(loc="global", model="m", verb="streamGenerateContent")
    )
    status, body = post(url, {"contents": [{"role": "user", "parts": [{"text": "x"}]}]})
    assert status == 200 and isinstance(body, list) and len(body) == 4
    assert body[-1]["candidates"][0]["finishReason"] == "STOP"


def test_modelled_timing_and_rtt():
    seen = []

    def rtt(caller, location):
        seen.append((caller, location))
        return 100.0

    server, base_url = serve(FakeGemini(ttft_ms=50, tokens_per_s=400, rtt_ms=rtt))
    try:
        client = client_for(base_url + "_from/us-east1/", "asia-northeast1")
        started = time.perf_counter()
        stamps = []
        for _ in client.models.generate_content_stream(model="m", contents=city_prompt("Rome")):
            stamps.append(time.perf_counter() - started)
        assert stamps[0] >= 0.15  # rtt + time to first token
        assert stamps[-1] - stamps[0] >= 0.03  # the rest at 400 tokens/s
        assert seen == [("us-east1", "asia-northeast1")]
    finally:
        server.shutdown()


def test_routes_fit_the_emulator_route_shape():
    fake = FakeGemini()
    routes = fake.routes()
    assert len(routes) == 8
    assert all(route.method == "POST" and route.api == "aiplatform" for route in routes)
    assert {route.pattern.split(":")[-1] for route in routes} == {
        "generateContent",
        "streamGenerateContent",
    }
    assert callable(wsgi_app(routes))


def test_serve_refuses_non_loopback_hosts():
    with pytest.raises(ValueError):
        serve(FakeGemini(), host="0.0.0.0")
