"""Fixtures for the browser tests: the real service, a fake Gemini, and Debian's Chromium.

Playwright for Python drives the Chromium that Debian packages (``/usr/bin/chromium``):
Playwright's own browser download is not available where these tests run. Chromium is
started headless with the flags that keep it off the network (no background requests,
no component updates, no sync), and Playwright gives every run a new, empty profile
directory. Only loopback addresses are ever contacted.

In CI (``CI=true``) a missing browser is a failure, not a skip: ``.ci/run`` installs it.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from globalguide.emulator.vertex.gemini import FakeGemini
from globalguide.emulator.vertex.standalone import FakeGeminiServer, serve
from tests.service.conftest import service_env

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
REGION = "asia-northeast1"
# What the load balancer would add to every request from Tokyo.
TOKYO = {"X-Client-Geo-Location": "Tokyo,JP13,JP"}
START_TIMEOUT_S = 20
# Chromium's sandbox cannot start as root; the rest keep the browser off the network.
CHROMIUM_ARGS = [
    *(["--no-sandbox"] if os.geteuid() == 0 else []),
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--no-pings",
]
# Modelled model timing: a first token after 250 ms, then a chunk about every 125 ms, so
# the order in which text appears can be watched.
TTFT_MS = 250.0
TOKENS_PER_S = 40.0
CHUNKS = 6


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium and the playwright package, or a skip (a failure in CI)."""
    missing = []
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"{CHROMIUM} (Debian package chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[test]')")
    if missing:
        message = "browser tests need " + " and ".join(missing)
        if _in_ci():
            pytest.fail(message + "; .ci/run should have installed it", pytrace=False)
        pytest.skip(message)
    return str(CHROMIUM)


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGeminiServer]:
    server, _ = serve(FakeGemini(ttft_ms=TTFT_MS, tokens_per_s=TOKENS_PER_S, chunks=CHUNKS))
    yield server
    server.shutdown()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@pytest.fixture(scope="module")
def service_url(fake: FakeGeminiServer, tmp_path_factory) -> Iterator[str]:
    """``python -m service`` on a free loopback port, calling the fake Gemini."""
    port = _free_port()
    logs = tmp_path_factory.mktemp("browser-service")
    env = {
        **os.environ,
        **service_env(
            fake.base_url + f"_from/{REGION}/",
            SERVICE_REGION=REGION,
            VERTEX_LOCATION=REGION,
            GEMINI_TIMEOUT_S="3",
        ),
        "PORT": str(port),
        "BIND_HOST": "127.0.0.1",
        "GUNICORN_LOG_LEVEL": "warning",
    }
    with (logs / "stdout.log").open("wb") as out, (logs / "stderr.log").open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "service"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(port):
            assert process.poll() is None, (logs / "stderr.log").read_text()
            assert time.monotonic() < deadline, "the service did not start in time"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@dataclass
class Guide:
    """One browser page on the service, with what it asked for and what it complained of."""

    page: Any
    url: str
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self) -> None:
        self.page.goto(self.url)

    def state(self) -> str:
        return self.page.evaluate("() => document.body.dataset.state")

    def wait_for(self, state: str, timeout_ms: float = 10_000) -> None:
        self.page.wait_for_selector(f'body[data-state="{state}"]', timeout=timeout_ms)

    def text(self, element_id: str) -> str:
        return self.page.locator(f"#{element_id}").text_content() or ""

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def open_guide(browser: Any, service_url: str, fake: FakeGeminiServer) -> Iterator[Any]:
    """Make a page on the service (as the load balancer would reach it from Tokyo).

    At teardown: the page fetched nothing but the service's own origin, and the browser
    reported no script error and no Content-Security-Policy or Trusted Types violation.
    """
    contexts: list[Any] = []
    guides: list[Guide] = []

    def make(**context_options: Any) -> Guide:
        context = browser.new_context(extra_http_headers=TOKYO, **context_options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        guide = Guide(page=page, url=service_url)
        page.on("request", lambda request: guide.requests.append(request.url))
        page.on("console", lambda message: guide.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda exc: guide.errors.append(str(exc)))
        guides.append(guide)
        return guide

    try:
        yield make
    finally:
        for context in contexts:
            context.close()
        fake.fake.reset()
        fake.fake.ttft_ms, fake.fake.tokens_per_s = TTFT_MS, TOKENS_PER_S
    for guide in guides:
        outside = [u for u in guide.requests if not u.startswith((service_url, "data:"))]
        assert not outside, outside
        violations = [
            line
            for line in guide.console
            if "Content Security Policy" in line or "TrustedHTML" in line or "Trusted Type" in line
        ]
        assert not violations, violations
        assert not guide.errors, guide.errors
