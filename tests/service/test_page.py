"""``GET /`` for browsers: content negotiation, the page's policy, and the page itself."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from service.page import STATIC_DIR, build, content_security_policy

PARIS = {"X-Client-Geo-Location": "Paris,FRIDF,FR"}
BROWSERS = {
    "chromium": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
    "image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
    "firefox": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "safari": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "plain": "text/html",
}


def directives(policy: str) -> dict[str, list[str]]:
    out = {}
    for part in policy.split(";"):
        name, *values = part.split()
        assert name not in out, f"{name} twice"
        out[name] = values
    return out


def inline(body: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}>(.*?)</{tag}>", body, flags=re.S)


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@pytest.mark.parametrize("accept", BROWSERS.values(), ids=BROWSERS.keys())
def test_browsers_get_the_page_without_a_model_call(client, gemini, accept):
    response = client.get("/", headers={**PARIS, "Accept": accept})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<main>" in response.get_data(as_text=True)
    assert "Accept" in response.headers["Vary"]
    assert gemini.fake.calls == []  # the page's script asks /stream; the page costs nothing


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        "application/json",
        "application/json, text/html",  # a tie goes to JSON
        "text/html;q=0.5, application/json",
        "application/json, */*;q=0.5",  # httpie
        "text/plain",
        "not a media type;;,",
    ],
)
def test_api_clients_keep_the_json_contract(client, gemini, accept):
    headers = dict(PARIS)
    if accept is not None:
        headers["Accept"] = accept
    response = client.get("/", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert set(response.get_json()) == {"ai_response", "meta"}
    assert (
        response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    )
    assert "Accept" in response.headers["Vary"]
    assert len(gemini.fake.calls) == 1


def test_post_is_always_json(client):
    response = client.post("/", headers={**PARIS, "Accept": BROWSERS["firefox"]})
    assert response.mimetype == "application/json"
    assert "ai_response" in response.get_json()


def test_head_for_a_browser_is_the_page_without_a_model_call(client, gemini):
    response = client.head("/", headers={"Accept": BROWSERS["chromium"]})
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert gemini.fake.calls == []


def test_the_page_policy_is_strict_and_matches_its_inline_code(client):
    response = client.get("/", headers={"Accept": "text/html"})
    body = response.get_data(as_text=True)
    policy = directives(response.headers["Content-Security-Policy"])
    (script,) = inline(body, "script")
    (style,) = inline(body, "style")
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == [sha256_source(script)]
    assert policy["style-src"] == [sha256_source(style)]
    assert policy["connect-src"] == ["'self'"]
    assert policy["img-src"] == ["data:"]
    for name in ("base-uri", "form-action", "frame-ancestors"):
        assert policy[name] == ["'none'"], name
    assert policy["require-trusted-types-for"] == ["'script'"]
    assert policy["trusted-types"] == ["'none'"]
    everything = " ".join(value for values in policy.values() for value in values)
    for loose in ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "http:", "https:"):
        assert loose not in everything.split(), loose
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"


def test_the_page_is_small_self_contained_and_accessible(client):
    response = client.get("/", headers={"Accept": "text/html"})
    body = response.get_data(as_text=True)
    assert len(response.get_data()) < 12 * 1024
    # Nothing from anywhere else: no URLs, no external script, style, font or image.
    assert not re.search(r"https?:|//[a-z]", body, flags=re.I)
    assert not re.search(r"\b(src|srcset)=", body)
    assert re.findall(r'href="([^"]*)"', body) == ["data:,"]
    assert "@import" not in body and "url(" not in body
    # Structure a screen reader can use.
    assert '<html lang="en">' in body
    assert 'name="viewport"' in body
    for landmark in ("<header>", "<main>", "<footer>"):
        assert landmark in body
    assert re.search(r'<p id="answer" aria-live="polite"', body)
    assert 'role="alert"' in body and 'role="status"' in body
    assert '<svg class="mark" viewBox="0 0 24 24" aria-hidden="true"' in body


def test_the_script_inserts_network_text_as_text_only():
    script = (STATIC_DIR / "guide.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
    assert "new Function" not in script
    assert 'new EventSource("stream")' in script
    assert ".close()" in script  # no silent reconnects that would call the model again


def test_a_style_or_script_that_ends_its_own_element_is_refused(tmp_path):
    for name in ("guide.html", "guide.css", "guide.js"):
        (tmp_path / name).write_text((STATIC_DIR / name).read_text())
    assert build(tmp_path).body  # a copy builds
    (tmp_path / "guide.js").write_text("let a = '</script><script>alert(1)';")
    with pytest.raises(ValueError, match="end its own element"):
        build(tmp_path)


def test_policy_hashes_change_with_the_code():
    assert content_security_policy("a", "b") != content_security_policy("a", "c")


def test_the_page_ships_with_the_service_image():
    import gzip
    import io
    import tarfile

    from globalguide.cloud.source import make_context, service_dir

    data = gzip.decompress(make_context(service_dir()).data)
    names = set(tarfile.open(fileobj=io.BytesIO(data)).getnames())
    assert {"page.py", "static/guide.html", "static/guide.css", "static/guide.js"} <= names
