"""The guide in a browser: content negotiation and the one self-contained HTML page.

The page is static: nothing from the request goes into it, and it never calls the model
itself; its script opens ``/stream`` and inserts what arrives as text. It is assembled once
from ``service/static/`` (an HTML shell, one stylesheet, one script) into a single document
with the style and script inline, so a browser needs one round trip before it opens the
stream. Its Content-Security-Policy allows exactly that style and that script, by SHA-256
hash, and nothing from anywhere else.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from werkzeug.datastructures import MIMEAccept

STATIC_DIR = Path(__file__).with_name("static")
STYLE_SLOT = "<!--style-->"
SCRIPT_SLOT = "<!--script-->"

# The media types ``GET /`` can answer with, in order of preference on a tie: a client
# that accepts both equally (``*/*``, no Accept header, ``application/json, text/html``)
# gets JSON, so curl and API clients keep the JSON contract.
_OFFERS = ("application/json", "text/html")


def wants_html(accept: MIMEAccept) -> bool:
    """True when the client prefers ``text/html`` to JSON (as browsers' navigations do)."""
    return accept.best_match(_OFFERS) == "text/html"


@dataclass(frozen=True)
class Page:
    body: bytes
    csp: str


def _hash_source(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(style: str, script: str) -> str:
    """The page's policy: its own inline style and script by hash, same-origin fetches only.

    No ``'self'`` for scripts and styles, because the page loads no script or style file;
    Trusted Types make any assignment of a string to an HTML sink (``innerHTML`` and the
    like) throw, so text from the network can only ever be inserted as text.
    """
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {_hash_source(script)}",
            f"style-src {_hash_source(style)}",
            "connect-src 'self'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
            "trusted-types 'none'",
        )
    )


def build(static_dir: Path = STATIC_DIR) -> Page:
    """The page from ``static_dir``: the shell with its style and script put inline."""
    shell = (static_dir / "guide.html").read_text(encoding="utf-8")
    style = (static_dir / "guide.css").read_text(encoding="utf-8")
    script = (static_dir / "guide.js").read_text(encoding="utf-8")
    if "</style" in style.lower() or "</script" in script.lower():
        raise ValueError("the page's style or script would end its own element")
    for slot in (STYLE_SLOT, SCRIPT_SLOT):
        if shell.count(slot) != 1:
            raise ValueError(f"the page shell must hold {slot} exactly once")
    html = shell.replace(STYLE_SLOT, f"<style>{style}</style>").replace(
        SCRIPT_SLOT, f"<script>{script}</script>"
    )
    return Page(body=html.encode("utf-8"), csp=content_security_policy(style, script))


@lru_cache(maxsize=1)
def page() -> Page:
    """The page, built on first use (not at import) and kept for the process's life."""
    return build()
