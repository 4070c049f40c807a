"""Thinking: the service sends a thinking configuration fit for a 50-word answer and valid
for its model's family, and says so clearly when the output limit runs out."""

from __future__ import annotations

import json

import pytest

from service.app import MODEL_ERRORS
from service.config import ConfigError, Settings
from service.gemini import CUT

PARIS = {"X-Client-Geo-Location": "Paris,FRIDF,FR"}


@pytest.mark.parametrize(
    ("model", "location", "sent"),
    [
        ("gemini-2.5-flash", "europe-west1", {"thinking_budget": 0}),
        ("gemini-2.5-flash-lite", "europe-west1", {"thinking_budget": 0}),
        ("gemini-2.5-pro", "europe-west1", {"thinking_budget": 128}),
        ("gemini-3.8-flash", "global", {"thinking_level": "MINIMAL"}),
        ("gemini-3.6-flash", "global", {"thinking_level": "MINIMAL"}),
    ],
)
def test_each_family_gets_a_thinking_config_it_accepts(make_app, gemini, model, location, sent):
    client = make_app(GEMINI_MODEL=model, VERTEX_LOCATION=location).test_client()
    response = client.get("/", headers=PARIS)
    assert response.status_code == 200, response.get_json()
    assert "Paris" in response.get_json()["ai_response"]
    assert gemini.fake.calls[-1]["thinking_config"] == sent


def test_an_answer_cut_by_the_output_limit_is_a_clear_error(make_app, gemini):
    """Thinking can use the whole limit (python-genai #2062): no empty greeting is served."""
    client = make_app(
        GEMINI_MODEL="gemini-3.8-flash",
        VERTEX_LOCATION="global",
        GEMINI_THINKING_LEVEL="HIGH",
        GEMINI_MAX_OUTPUT_TOKENS="500",
    ).test_client()
    response = client.get("/", headers=PARIS)
    assert response.status_code == 502
    assert response.get_json()["error"] == MODEL_ERRORS[CUT][1]


def test_a_stream_cut_by_the_output_limit_ends_with_an_error_event(make_app, gemini):
    client = make_app(GEMINI_MAX_OUTPUT_TOKENS="16").test_client()
    response = client.get("/stream", headers=PARIS)
    events = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "event: error" in events and "event: meta" not in events
    assert json.dumps(MODEL_ERRORS[CUT][1]) in events


@pytest.mark.parametrize(
    "env",
    [
        {"GEMINI_THINKING_LEVEL": "LOW", "GEMINI_THINKING_BUDGET": "128"},
        {"GEMINI_MODEL": "gemini-2.5-flash", "GEMINI_THINKING_LEVEL": "LOW"},
        {"GEMINI_THINKING_BUDGET": "1024", "GEMINI_MAX_OUTPUT_TOKENS": "1024"},
        {"GEMINI_THINKING_BUDGET": "lots"},
    ],
)
def test_thinking_settings_that_cannot_work_are_refused_at_start(env):
    with pytest.raises(ConfigError):
        Settings.from_env(env)


def test_an_explicit_budget_with_room_is_kept():
    settings = Settings.from_env(
        {"GEMINI_MODEL": "gemini-2.5-flash", "GEMINI_THINKING_BUDGET": "512"}
    )
    assert (settings.thinking_budget, settings.thinking_level) == (512, None)
    assert settings.max_output_tokens >= 512 + 256
