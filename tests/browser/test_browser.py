"""The guide in a real browser: Debian's Chromium, driven by Playwright, on the real service.

The service runs as ``python -m service`` against a fake Gemini with modelled timing; the
browser opens ``/`` as a person would and the page streams the answer from ``/stream``.
Screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import re
import time

import pytest

from globalguide.emulator.vertex.gemini import GEMS
from tests.browser.conftest import REGION

pytestmark = pytest.mark.timeout(120)

TOKYO_ANSWERS = {
    f"Welcome to Tokyo! For a hidden gem nearby, {gem}. Enjoy it like a local." for gem in GEMS
}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
_DURATION = re.compile(r"(\d+) ms|(\d+\.\d\d) s")


def milliseconds(shown: str) -> float:
    match = _DURATION.fullmatch(shown)
    assert match, f"not a duration: {shown!r}"
    return float(match.group(1)) if match.group(1) else float(match.group(2)) * 1000


def watch_stream(guide, timeout_s: float = 10.0) -> list[str]:
    """The answer's text each time it changed, until the page stops streaming."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state, text = guide.page.evaluate(
            "() => [document.body.dataset.state, document.getElementById('answer').textContent]"
        )
        if not seen or text != seen[-1]:
            seen.append(text)
        if state not in ("loading", "streaming"):
            return seen
        time.sleep(0.01)
    raise AssertionError(f"still streaming after {timeout_s} s: {seen}")


def test_the_answer_streams_in_order_then_region_location_and_timings(open_guide, fake):
    guide = open_guide(**DESKTOP)
    guide.open()
    seen = watch_stream(guide)
    assert guide.state() == "done"
    final = seen[-1]
    assert final in TOKYO_ANSWERS
    # Text appeared piece by piece, each view extending the one before, never reordered.
    growing = [text for text in seen if text]
    assert len(growing) >= 4, seen
    for before, after in zip(growing, growing[1:], strict=False):
        assert after.startswith(before) and len(after) > len(before), (before, after)
    assert guide.text("region") == REGION
    assert guide.text("location") == "Tokyo, JP"
    first, complete = milliseconds(guide.text("first")), milliseconds(guide.text("complete"))
    assert 200 <= first < complete, (first, complete)  # the fake's first token takes 250 ms
    assert complete - first >= 300  # five more chunks, about 125 ms apart
    for landmark in ("banner", "main", "contentinfo"):
        assert guide.page.get_by_role(landmark).count() == 1, landmark
    assert guide.page.get_attribute("#answer", "aria-busy") == "false"
    assert guide.page.get_attribute("#answer", "aria-live") == "polite"
    assert guide.page.locator("#error").is_hidden()
    # The page itself did not call the model: one streamed call for one page view.
    calls = fake.fake.calls
    assert len(calls) == 1 and calls[0]["stream"] is True
    assert calls[0]["caller_region"] == REGION
    guide.screenshot("guide-desktop.png")


def test_on_a_phone_it_fits_and_try_again_asks_again(open_guide, fake):
    guide = open_guide(**PHONE)
    guide.open()
    guide.wait_for("done")
    first_answer = guide.text("answer")
    assert first_answer in TOKYO_ANSWERS
    assert guide.page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), (
        "the page scrolls sideways on a phone"
    )
    guide.screenshot("guide.png")

    guide.page.get_by_role("button", name="Try again").click()
    assert guide.state() == "streaming"
    assert guide.text("complete") == "waiting"
    seen = watch_stream(guide)
    assert guide.state() == "done"
    assert seen[-1] == first_answer  # the same city, the same answer, streamed anew
    assert len([text for text in seen if text]) >= 3
    assert len(fake.fake.calls) == 2
    milliseconds(guide.text("complete"))


def test_model_unavailable_says_so_clearly_and_try_again_recovers(open_guide, fake):
    fake.fake.fail_next(503)
    guide = open_guide(**PHONE)
    guide.open()
    guide.wait_for("error")
    alert = guide.page.get_by_role("alert")
    assert alert.is_visible()
    assert "unavailable or busy" in (alert.text_content() or "")
    assert guide.text("answer") == ""
    assert guide.text("first") == "no answer"
    guide.screenshot("guide-unavailable.png")
    time.sleep(0.5)
    assert len(fake.fake.calls) == 1, "the browser must not reconnect and ask again by itself"

    guide.page.get_by_role("button", name="Try again").click()
    guide.wait_for("done")
    assert guide.text("answer") in TOKYO_ANSWERS
    assert alert.is_hidden()
    assert guide.text("region") == REGION
    assert len(fake.fake.calls) == 2


def test_an_error_mid_answer_keeps_the_text_and_says_why(open_guide, fake):
    # The first chunk comes quickly, the next would take longer than the service's 3 s
    # deadline: the service ends the stream with its own error event.
    fake.fake.ttft_ms, fake.fake.tokens_per_s = 50.0, 1.0
    guide = open_guide(**DESKTOP)
    guide.open()
    guide.wait_for("error", timeout_ms=15_000)
    partial = guide.text("answer")
    assert partial and "Welcome to Tokyo!".startswith(partial.strip()[:17])
    message = guide.page.get_by_role("alert").text_content() or ""
    assert "The answer stopped early: The guide took too long to answer." in message
    assert re.search(r"Request id: [0-9a-f]{32}\.", message), message
    assert guide.text("complete") == "not completed"


def test_a_hostile_answer_is_shown_as_text_and_never_runs(open_guide, fake):
    hostile = (
        'Welcome! <img src=x onerror="window.__pwned=1"> '
        "<script>window.__pwned=2</script> <b>bold</b> &lt;ok&gt;"
    )
    fake.fake.reply_override = hostile
    guide = open_guide(**DESKTOP)
    guide.open()
    guide.wait_for("done")
    assert guide.text("answer") == hostile
    assert guide.page.locator("img").count() == 0
    assert guide.page.locator("#answer *").count() == 0
    assert guide.page.locator("script").count() == 1  # the page's own
    assert guide.page.evaluate("() => window.__pwned") is None
    guide.screenshot("guide-hostile.png")
