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

from globalguide.emulator.vertex.gemini import GEMS, FakeGemini
from globalguide.emulator.vertex.standalone import serve, wsgi_app

MODEL = "gemini-3.8-flash"
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
        model="gemini-2.5-flash",
        contents=city_prompt("Lisbon"),
        config=types.GenerateContentConfig(
            system_instruction="be kind",
            max_output_tokens=200,
            thinking_config=types.ThinkingConfig(thinking_budget=0),
        ),
    )
    assert response.text.startswith("Welcome to Lisbon!")
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata.total_token_count > 0
    assert response.model_version == "gemini-2.5-flash"
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
        for c in client.models.generate_content_stream(model=MODEL, contents=city_prompt("Osaka"))
    ]
    assert len(chunks) == 4
    assert "".join(chunks).startswith("Welcome to Osaka!")
    assert fake_server.fake.calls[-1]["stream"] is True


def test_from_prefix_names_the_caller_region(fake_server):
    client = client_for(fake_server.base_url + "_from/asia-northeast1/")
    client.models.generate_content(model=MODEL, contents="hello")
    assert fake_server.fake.calls[-1]["caller_region"] == "asia-northeast1"


def test_reply_is_deterministic_and_depends_on_the_city(fake_server):
    client = client_for(fake_server.base_url)

    def ask(city):
        return client.models.generate_content(model=MODEL, contents=city_prompt(city)).text

    assert ask("Paris") == ask("Paris")
    assert ask("Paris") != ask("Tokyo")
    assert "traveller" in ask(None) and "Welcome to" not in ask(None)
    assert any(gem in ask("Nairobi") for gem in GEMS)
    # A prompt with the location object embedded in text is understood too.
    embedded = "Location: " + city_prompt("Quito") + " thanks"
    assert "Quito" in client.models.generate_content(model=MODEL, contents=embedded).text


def test_max_output_tokens_cuts_the_reply(fake_server):
    client = client_for(fake_server.base_url)
    response = client.models.generate_content(
        model=MODEL,
        contents=city_prompt("Paris"),
        config={"max_output_tokens": 3, "thinking_config": {"thinking_level": "MINIMAL"}},
    )
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert len(response.text) <= 12


def test_mark_unavailable_answers_404_like_vertex(fake_server):
    fake_server.fake.mark_unavailable("gemini-2.5-pro", "us-central1")
    client = client_for(fake_server.base_url, "us-central1")
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model="gemini-2.5-pro", contents="hi")
    assert info.value.code == 404 and info.value.status == "NOT_FOUND"
    assert (
        "Publisher Model `projects/p/locations/us-central1/publishers/google/models/"
        "gemini-2.5-pro` was not found" in info.value.message
    )
    # Other locations still serve it.
    other = client_for(fake_server.base_url, "global")
    assert other.models.generate_content(model="gemini-2.5-pro", contents="hi").text


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
            client.models.generate_content(model=MODEL, contents="hi")
        assert info.value.code == code and info.value.status == status
    assert client.models.generate_content(model=MODEL, contents="hi").text


def test_invalid_requests_are_rejected_like_vertex(fake_server):
    base = fake_server.base_url + "v1/" + PATH.format(loc="global", model=MODEL, verb="")
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
        + PATH.format(loc="global", model=MODEL, verb="streamGenerateContent")
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
        chunks = client.models.generate_content_stream(
            model="gemini-2.5-flash",
            contents=city_prompt("Rome"),
            config={"thinking_config": {"thinking_budget": 0}},
        )
        for _ in chunks:
            stamps.append(time.perf_counter() - started)
        assert stamps[0] >= 0.15  # rtt + time to first token
        assert stamps[-1] - stamps[0] >= 0.03  # the rest at 400 tokens/s
        assert seen == [("us-east1", "asia-northeast1")]
    finally:
        server.shutdown()


def test_thinking_takes_modelled_time_before_the_first_token():
    server, base_url = serve(FakeGemini(tokens_per_s=400))
    try:
        client = client_for(base_url, "us-central1")
        config = {"thinking_config": {"thinking_budget": 200}}
        started = time.perf_counter()
        chunks = client.models.generate_content_stream(
            model="gemini-2.5-flash", contents=city_prompt("Rome"), config=config
        )
        next(iter(chunks))
        assert time.perf_counter() - started >= 0.5  # 200 thinking tokens at 400 tokens/s
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


# -- models and locations (issue 10 item 9) ---------------------------------------------------


@pytest.mark.parametrize(
    ("model", "location"),
    [
        ("gemini-1.0-nonexistent", "global"),
        ("gemini-1.5-flash", "us-central1"),  # retired
        ("gemini-3.8-flash", "europe-west1"),  # served from the global endpoint only
        ("gemini-2.5-flash", "antarctica-south1"),
    ],
)
def test_a_model_vertex_does_not_serve_there_is_not_found(fake_server, model, location):
    client = client_for(fake_server.base_url, location)
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=model, contents="hi")
    assert info.value.code == 404 and info.value.status == "NOT_FOUND"
    assert info.value.message.startswith(
        f"Publisher Model `projects/p/locations/{location}/publishers/google/models/{model}` "
        "was not found or your project does not have access to it."
    )


@pytest.mark.parametrize(
    ("model", "location"),
    [
        ("gemini-2.5-flash", "europe-west1"),
        ("gemini-2.5-pro", "us"),
        ("gemini-3.6-flash", "global"),
    ],
)
def test_a_served_model_answers(fake_server, model, location):
    client = client_for(fake_server.base_url, location)
    assert client.models.generate_content(model=model, contents=city_prompt("Oslo")).text


# -- thinking (issue 10 item 5) ----------------------------------------------------------------


def test_default_thinking_uses_up_a_small_output_limit(fake_server):
    """The measured failure: thinking ate the limit, finish MAX_TOKENS and no text."""
    client = client_for(fake_server.base_url)
    response = client.models.generate_content(
        model="gemini-3.6-flash", contents=city_prompt("Paris"), config={"max_output_tokens": 500}
    )
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert response.text is None
    assert response.usage_metadata.thoughts_token_count == 500
    assert response.usage_metadata.candidates_token_count is None
    assert response.usage_metadata.total_token_count == (
        response.usage_metadata.prompt_token_count + 500
    )


def test_thinking_tokens_count_against_the_limit_and_cut_the_answer(fake_server):
    client = client_for(fake_server.base_url)
    full = client.models.generate_content(
        model="gemini-2.5-flash",
        contents=city_prompt("Paris"),
        config={"thinking_config": {"thinking_budget": 0}},
    )
    answer_tokens = full.usage_metadata.candidates_token_count
    assert full.usage_metadata.thoughts_token_count is None
    budget = 100
    cut = client.models.generate_content(
        model="gemini-2.5-flash",
        contents=city_prompt("Paris"),
        config={
            "max_output_tokens": budget + answer_tokens // 2,
            "thinking_config": {"thinking_budget": budget},
        },
    )
    assert cut.usage_metadata.thoughts_token_count == budget
    assert cut.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert full.text.startswith(cut.text) and len(cut.text) < len(full.text)


def test_minimal_thinking_leaves_the_limit_to_the_answer(fake_server):
    client = client_for(fake_server.base_url)
    response = client.models.generate_content(
        model="gemini-3.8-flash",
        contents=city_prompt("Paris"),
        config={"max_output_tokens": 200, "thinking_config": {"thinking_level": "MINIMAL"}},
    )
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert "Paris" in response.text


def test_a_stream_that_thinks_past_the_limit_ends_with_max_tokens_and_no_text(fake_server):
    client = client_for(fake_server.base_url)
    chunks = list(
        client.models.generate_content_stream(
            model="gemini-2.5-flash", contents=city_prompt("Rome"), config={"max_output_tokens": 64}
        )
    )
    assert not any(chunk.text for chunk in chunks)
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert chunks[-1].usage_metadata.thoughts_token_count == 64


@pytest.mark.parametrize(
    ("model", "thinking", "message"),
    [
        (
            "gemini-3.8-flash",
            {"thinking_budget": 512, "thinking_level": "LOW"},
            "You can only set only one of thinking budget and thinking level.",
        ),
        ("gemini-2.5-flash", {"thinking_budget": 24577}, "integers from 1 to 24576"),
        ("gemini-2.5-pro", {"thinking_budget": 0}, "integers from 128 to 32768"),
        ("gemini-2.5-pro", {"thinking_budget": 64}, "integers from 128 to 32768"),
        ("gemini-2.5-flash-lite", {"thinking_budget": 100}, "integers from 512 to 24576"),
        ("gemini-3.6-flash", {"thinking_budget": 0}, "thinking_budget is out of range"),
        ("gemini-2.5-flash", {"thinking_level": "LOW"}, "thinking_level is not supported"),
        ("gemini-3.8-flash", {"thinking_level": "XHIGH"}, "thinking_level XHIGH is not supported"),
    ],
)
def test_invalid_thinking_configs_are_rejected_like_vertex(fake_server, model, thinking, message):
    client = client_for(fake_server.base_url)
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(
            model=model, contents="hi", config={"thinking_config": thinking}
        )
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert message in info.value.message


@pytest.mark.parametrize(
    ("model", "thinking"),
    [
        ("gemini-2.5-flash", {"thinking_budget": 0}),
        ("gemini-2.5-flash", {"thinking_budget": -1}),
        ("gemini-2.5-pro", {"thinking_budget": 128}),
        ("gemini-2.5-flash-lite", {"thinking_budget": 0}),
        ("gemini-3.8-flash", {"thinking_level": "HIGH"}),
        ("gemini-3.8-flash", {"thinking_budget": 1024}),
    ],
)
def test_valid_thinking_configs_are_taken(fake_server, model, thinking):
    client = client_for(fake_server.base_url)
    response = client.models.generate_content(
        model=model, contents="hi", config={"thinking_config": thinking}
    )
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
