"""The bodies Google's serving infrastructure answers with when it, not the app, replies.

Only what a client of the real thing would see: no emulator internals, no exception text.
- Cloud Run's front end answers a request its ingress setting blocks with Google's 404 page.
- The Envoy-based global external Application Load Balancer answers its own failures with
  Envoy's short plain-text local replies ("no healthy upstream", "upstream request timeout").
- A load balancer whose configuration has not propagated yet answers with the Google Front
  End's 502 "Server Error" page.
"""

from __future__ import annotations

from html import escape

HTML = "text/html; charset=UTF-8"
TEXT = "text/plain"

# Envoy's local replies (source/common/router/router.cc and the upstream reset reasons).
NO_HEALTHY_UPSTREAM = "no healthy upstream"
UPSTREAM_TIMEOUT = "upstream request timeout"
UPSTREAM_CONNECT_FAILURE = (
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
)


def google_404(path: str) -> str:
    """Google's "Error 404 (Not Found)!!1" page (its style sheet left out)."""
    return (
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n"
        '  <meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">\n'
        "  <title>Error 404 (Not Found)!!1</title>\n"
        "  <a href=//www.google.com/><span id=logo aria-label=Google></span></a>\n"
        "  <p><b>404.</b> <ins>That\u2019s an error.</ins>\n"
        f"  <p>The requested URL <code>{escape(path)}</code> was not found on this server."
        "  <ins>That\u2019s all we know.</ins>\n"
    )


def gfe_502() -> str:
    """The Google Front End's 502 page, seen while a new load balancer propagates."""
    return (
        '<html><head>\n<meta http-equiv="content-type" content="text/html;charset=utf-8">\n'
        "<title>502 Server Error</title>\n</head>\n<body text=#000000 bgcolor=#ffffff>\n"
        "<h1>Error: Server Error</h1>\n"
        "<h2>The server encountered a temporary error and could not complete your request."
        "<p>Please try again in 30 seconds.</h2>\n<h2></h2>\n</body></html>\n"
    )
