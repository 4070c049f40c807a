"""Vertex AI in the emulator, through google-genai as the service calls it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests
from google import genai
from google.genai import errors, types

from globalguide import geo
from globalguide.cloud.clients import emulator_credentials
from globalguide.emulator.core.project import project_number
from globalguide.emulator.session import bearer
from globalguide.emulator.vertex import latency
from globalguide.emulator.vertex.api import API
from globalguide.emulator.vertex.latency import SAME_REGION_RTT_MS, modelled_rtt_ms

MODEL = "gemini-2.5-flash"
PROMPT = '{"location": {"city": "Paris", "country": "FR"}}'


def client(endpoint: str, project: str, location: str = "europe-west1", region: str | None = None):
    base = f"{endpoint}/_from/{region}/" if region else f"{endpoint}/"
    return genai.Client(
        vertexai=True,
        project=project,
        location=location,
        credentials=emulator_credentials(endpoint),
        http_options=types.HttpOptions(base_url=base),
    )


def test_generate_and_stream_from_a_region(enabled, endpoint, project):
    gemini = client(endpoint, project, region="europe-west1")
    reply = gemini.models.generate_content(model=MODEL, contents=PROMPT)
    assert "Paris" in reply.text
    chunks = list(gemini.models.generate_content_stream(model=MODEL, contents=PROMPT))
    assert len(chunks) > 1 and "Paris" in "".join(c.text for c in chunks)
    calls = requests.get(
        f"{endpoint}/_emulator/vertex/calls", headers=bearer(endpoint), timeout=5
    ).json()
    assert [(c["caller_region"], c["location"], c["stream"]) for c in calls] == [
        ("europe-west1", "europe-west1", False),
        ("europe-west1", "europe-west1", True),
    ]
    log = requests.get(f"{endpoint}/_emulator/requests", headers=bearer(endpoint), timeout=5).json()
    assert {(e["api"], e["mutating"]) for e in log if "generateContent" in e["path"]} == {
        ("aiplatform", False)
    }


def test_the_project_number_is_accepted_too(enabled, endpoint, project):
    gemini = client(endpoint, project_number(project))  # kept: a dropped client closes
    assert gemini.models.generate_content(model=MODEL, contents=PROMPT).text


def test_a_disabled_api_answers_403_service_disabled(emu, endpoint, project):
    gemini = client(endpoint, project)
    with pytest.raises(errors.ClientError) as caught:
        gemini.models.generate_content(model=MODEL, contents=PROMPT)
    assert caught.value.code == 403
    assert "aiplatform.googleapis.com" in caught.value.message
    assert caught.value.status == "PERMISSION_DENIED"


def test_another_project_is_refused(enabled, endpoint):
    gemini = client(endpoint, "someone-elses")
    with pytest.raises(errors.ClientError) as caught:
        gemini.models.generate_content(model=MODEL, contents=PROMPT)
    assert caught.value.code == 403


def test_controls_mark_a_model_unavailable_and_inject_failures(enabled, endpoint, project):
    gemini = client(endpoint, project)
    url = f"{endpoint}/_emulator/vertex"
    r = requests.post(
        f"{url}/unavailable",
        headers=bearer(endpoint),
        json={"model": MODEL, "location": "europe-west1"},
    )
    assert r.status_code == 200
    with pytest.raises(errors.ClientError) as caught:
        gemini.models.generate_content(model=MODEL, contents=PROMPT)
    assert caught.value.code == 404
    other = client(endpoint, project, location="global")
    assert (
        requests.post(
            f"{url}/fail", headers=bearer(endpoint), json={"code": 429, "count": 1}
        ).status_code
        == 200
    )
    with pytest.raises(errors.ClientError) as caught:
        other.models.generate_content(model=MODEL, contents=PROMPT)
    assert caught.value.code == 429
    assert other.models.generate_content(model=MODEL, contents=PROMPT).text
    assert requests.post(f"{url}/reset", headers=bearer(endpoint)).status_code == 200
    assert gemini.models.generate_content(model=MODEL, contents=PROMPT).text


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("fail", {"code": 200}),
        ("fail", {"code": 503, "count": 0}),
        ("unavailable", {"model": MODEL}),
    ],
)
def test_bad_control_requests_are_400(emu, endpoint, name, body):
    r = requests.post(
        f"{endpoint}/_emulator/vertex/{name}", headers=bearer(endpoint), json=body, timeout=5
    )
    assert r.status_code == 400


def test_unknown_controls_are_404(emu, endpoint):
    assert (
        requests.get(
            f"{endpoint}/_emulator/vertex/nope", headers=bearer(endpoint), timeout=5
        ).status_code
        == 404
    )


def test_modelled_round_trips():
    assert modelled_rtt_ms("europe-west1", "europe-west1") == SAME_REGION_RTT_MS
    assert modelled_rtt_ms(None, "us-central1") == 0.0
    far = modelled_rtt_ms("asia-northeast1", "us-central1")
    assert 120 < far < 250
    # global: the nearest Gemini region, i.e. the caller's own when it serves Gemini.
    assert modelled_rtt_ms("asia-northeast1", "global") == SAME_REGION_RTT_MS
    assert modelled_rtt_ms("asia-northeast2", "global") == pytest.approx(
        latency.region_rtt_ms("asia-northeast2", "asia-northeast1")
    )
    assert modelled_rtt_ms("asia-northeast1", "eu") == min(
        latency.region_rtt_ms("asia-northeast1", r)
        for r in latency.GEMINI_REGIONS
        if r.startswith("europe-")
    )
    assert all(r in geo.REGIONS for r in latency.GEMINI_REGIONS)


def test_timing_is_modelled_only_under_latency_model():
    def api(latency: str) -> API:
        return API(SimpleNamespace(config=SimpleNamespace(latency=latency)))

    off, on = api("off").fake, api("model").fake
    assert (off.ttft_ms, off.tokens_per_s, off.rtt_ms) == (0.0, None, None)
    assert on.ttft_ms > 0 and on.tokens_per_s and on.rtt_ms is modelled_rtt_ms


def test_a_model_vertex_does_not_have_answers_404_through_the_emulator(enabled, endpoint, project):
    gemini = client(endpoint, project, location="global")
    with pytest.raises(errors.ClientError) as caught:
        gemini.models.generate_content(model="gemini-1.0-nonexistent", contents=PROMPT)
    assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"
    assert caught.value.message.startswith(
        f"Publisher Model `projects/{project}/locations/global/publishers/google/models/"
        "gemini-1.0-nonexistent` was not found or your project does not have access to it."
    )


def test_a_global_only_model_is_not_found_in_a_region(enabled, endpoint, project):
    gemini = client(endpoint, project, location="europe-west1")
    with pytest.raises(errors.ClientError) as caught:
        gemini.models.generate_content(model="gemini-3.8-flash", contents=PROMPT)
    assert caught.value.code == 404
    global_gemini = client(endpoint, project, location="global")  # kept: a dropped client closes
    reply = global_gemini.models.generate_content(
        model="gemini-3.8-flash",
        contents=PROMPT,
        config={"thinking_config": {"thinking_level": "MINIMAL"}},
    )
    assert "Paris" in reply.text


def test_thinking_spends_the_output_limit_through_the_emulator(enabled, endpoint, project):
    gemini = client(endpoint, project, location="global")
    reply = gemini.models.generate_content(
        model="gemini-3.8-flash", contents=PROMPT, config={"max_output_tokens": 300}
    )
    assert reply.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert reply.text is None and reply.usage_metadata.thoughts_token_count == 300
