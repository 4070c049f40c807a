"""gunicorn settings for the service, from the environment.

Threaded workers (gthread): one process, several threads, which suits an I/O-bound app
that mostly waits on the model. ``PORT`` is set by Cloud Run; ``BIND_HOST`` lets a local
runner bind to loopback only; ``BIND_UNIX`` (set by the emulator) names a Unix socket to
listen on instead, so that only the emulator's front for the service can reach it.
"""

import os

if os.environ.get("BIND_UNIX"):
    bind = f"unix:{os.environ['BIND_UNIX']}"
else:
    bind = f"{os.environ.get('BIND_HOST', '0.0.0.0')}:{int(os.environ.get('PORT', '8080'))}"
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS") or os.environ.get("WEB_CONCURRENCY") or 1)
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# 0 = no worker timeout: Cloud Run enforces the request timeout, and a gthread worker's
# main loop keeps beating while its threads wait on the model.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "0"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "8"))
keepalive = 5
# The app writes one structured log line per request; gunicorn's access log would double it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Room for an 8 KiB header value, so oversized headers reach the app and get its answer.
limit_request_field_size = 16384
preload_app = False
# No runtime control socket: several regional services may share one machine locally.
control_socket_disable = True
reload = False


def post_worker_init(worker):
    """Once a worker is up, build its model client in the background: the first request
    then does not wait for google-genai to import."""
    extensions = getattr(worker.wsgi, "extensions", None) or {}
    gemini = extensions.get("service.gemini")
    if gemini is not None:
        gemini.warm_up()
