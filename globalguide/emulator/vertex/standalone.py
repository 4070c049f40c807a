"""The fake Gemini as a standalone loopback server, for tests of the service and benches."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from globalguide.emulator.core.routing import ApiError, Route, json_response
from globalguide.emulator.strict_http import ApiRequestHandler
from globalguide.emulator.vertex.gemini import FakeGemini


def wsgi_app(routes: list[Route]) -> Callable[..., Any]:
    """A WSGI app serving ``routes`` alone, with Google-shaped errors."""
    url_map = Map(
        [Rule(route.pattern, methods=[route.method], endpoint=i) for i, route in enumerate(routes)]
    )

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        style = "google"
        try:
            index, params = url_map.bind_to_environ(environ).match()
            route = routes[index]
            style = route.style
            result = route.handler(request, **params)
            response = result if isinstance(result, Response) else json_response(result)
        except ApiError as exc:
            response = json_response(exc.body(style), exc.code)
        except MethodNotAllowed:
            response = json_response(ApiError(405, "Method not allowed.").body(style), 405)
        except NotFound:
            error = ApiError(404, f"The requested URL {request.path} was not found on this server.")
            response = json_response(error.body(style), 404)
        except HTTPException as exc:
            code = exc.code or 400
            response = json_response(ApiError(code, "Bad request.").body(style), code)
        return response(environ, start_response)

    return app


class FakeGeminiServer:
    """A running loopback server for a :class:`FakeGemini`; ``shutdown()`` stops it."""

    def __init__(self, fake: FakeGemini, server: BaseWSGIServer) -> None:
        self.fake = fake
        self.server = server
        self.port = server.server_port
        self.base_url = f"http://{server.host}:{self.port}/"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def shutdown(self) -> None:
        self.fake.close()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def serve(fake: FakeGemini, host: str = "127.0.0.1", port: int = 0) -> tuple[FakeGeminiServer, str]:
    """Serve ``fake`` on a loopback port in a daemon thread: (server, base URL)."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("the fake Gemini listens on loopback only")
    server = make_server(
        host, port, wsgi_app(fake.routes()), threaded=True, request_handler=ApiRequestHandler
    )
    running = FakeGeminiServer(fake, server)
    return running, running.base_url


def main(argv: list[str] | None = None) -> None:
    """``python -m globalguide.emulator.vertex.standalone``: a fake Gemini until Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(description="A fake Gemini on Vertex AI, on loopback.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="modelled time to first token")
    parser.add_argument("--tokens-per-s", type=float, default=None, help="modelled token rate")
    args = parser.parse_args(argv)
    server, base_url = serve(
        FakeGemini(ttft_ms=args.ttft_ms, tokens_per_s=args.tokens_per_s), port=args.port
    )
    print(f"fake Gemini at {base_url} (set GEMINI_BASE_URL to it)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
