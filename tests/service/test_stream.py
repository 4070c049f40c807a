"""``GET /stream``: text chunks as server-sent events as they arrive, then ``meta``."""

from __future__ import annotations

import json
import time

from service.gemini import TIMEOUT, ModelError
from tests.service.conftest import REGION

PARIS = {"X-Client-Geo-Location": "Paris,FRIDF,FR"}


def parse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        events.append((name, json.loads("\n".join(data))))
    return events


def test_stream_yields_chunks_then_meta(client, gemini):
    response = client.get("/stream", headers=PARIS)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-store"
    events = parse_events(response.get_data(as_text=True))
    names = [name for name, _ in events]
    assert names[-1] == "meta" and set(names[:-1]) == {"message"}
    assert len(events) - 1 == 4  # the fake cuts a reply into four chunks
    text = "".join(data["text"] for name, data in events if name == "message")
    assert text.startswith("Welcome to Paris!")
    meta = events[-1][1]
    assert meta["served_from_region"] == REGION
    assert meta["user_detected_location"] == "Paris, FR"
    assert meta["request_id"] == response.headers["X-Request-Id"]
    assert gemini.fake.calls[-1]["stream"] is True


def test_chunks_arrive_as_the_model_produces_them(make_app, start_fake):
    # About 40 ms of modelled generation between chunks.
    slow = start_fake(ttft_ms=50, tokens_per_s=200)
    client = make_app(base_url=slow.base_url).test_client()
    response = client.get("/stream", headers=PARIS, buffered=False)
    arrivals = []
    started = time.perf_counter()
    for piece in response.response:
        arrivals.append(time.perf_counter() - started)
        assert piece  # each event is sent on its own
    response.close()
    assert len(arrivals) == 5
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:4], strict=False)]
    assert all(gap > 0.015 for gap in gaps), gaps
    assert arrivals[3] - arrivals[0] > 0.06


def test_error_mid_stream_becomes_an_error_event(app, monkeypatch):
    gemini = app.extensions["service.gemini"]

    def stream(*args, **kwargs):
        yield "Welcome "
        raise ModelError(TIMEOUT, cause="Resource exhausted upstream text")

    monkeypatch.setattr(gemini, "stream", stream)
    response = app.test_client().get("/stream", headers=PARIS)
    assert response.status_code == 200
    events = parse_events(response.get_data(as_text=True))
    assert events[0] == ("message", {"text": "Welcome "})
    name, data = events[-1]
    assert name == "error"
    assert data == {
        "error": "the guide took too long to answer",
        "request_id": response.headers["X-Request-Id"],
    }
    assert "Resource" not in response.get_data(as_text=True)


def test_unexpected_exception_mid_stream_is_an_internal_error_event(app, monkeypatch):
    gemini = app.extensions["service.gemini"]

    def stream(*args, **kwargs):
        yield "Welcome "
        raise KeyError("secret")

    monkeypatch.setattr(gemini, "stream", stream)
    text = app.test_client().get("/stream", headers=PARIS).get_data(as_text=True)
    assert parse_events(text)[-1][0] == "error"
    assert "secret" not in text and "KeyError" not in text


def test_a_stream_slower_than_the_deadline_ends_with_an_error_event(make_app, start_fake):
    # Chunks 0.3 s apart, a 0.5 s deadline: the third chunk comes too late.
    slow = start_fake(tokens_per_s=30)
    client = make_app(base_url=slow.base_url, GEMINI_TIMEOUT_S="0.5").test_client()
    events = parse_events(client.get("/stream", headers=PARIS).get_data(as_text=True))
    assert events[0][0] == "message"
    assert events[-1] == (
        "error",
        {"error": "the guide took too long to answer", "request_id": events[-1][1]["request_id"]},
    )


def test_stream_is_logged_once_when_it_ends(client, capsys):
    capsys.readouterr()
    client.get("/stream", headers=PARIS).get_data()
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert len(lines) == 1
    assert lines[0]["httpRequest"]["requestUrl"] == "/stream"
    assert lines[0]["chunks"] == 4
