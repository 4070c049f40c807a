"""A plain WSGI service, no framework and no Dockerfile: globalguide generates one
(gunicorn serving ``app:app``). It answers in plain text with the caller's city and adds
X-Served-Region naming the region that served it."""

import os

REGION = os.environ.get("SERVICE_REGION", "unknown")


def app(environ, start_response):
    raw = environ.get("HTTP_X_CLIENT_GEO_LOCATION", "")[:512]
    # WSGI hands header bytes over as latin-1; the load balancer writes UTF-8.
    text = raw.encode("latin-1", errors="replace").decode("utf-8", errors="replace")
    city = text.split(",", 1)[0].strip() or "somewhere"
    body = f"city={city}\nregion={REGION}\n".encode()
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("X-Served-Region", REGION),
        ],
    )
    return [body]
