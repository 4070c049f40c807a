"""Helpers for the data-plane tests: a tiny image to run, a stand-in emulator and compute API.

The tiny app echoes what it received (method, path, headers, env) as JSON, streams
server-sent events on /stream, answers any status on /status/<code>, sleeps on
/sleep/<seconds>, and counts requests (GET /_count). ``TINY_MODE=exit`` makes it exit at
start, ``TINY_MODE=silent`` makes it never listen, and ``TINY_FAIL=<code>`` makes every
request but /healthz and /_count answer that status.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from globalguide.emulator.images import Image
from globalguide.emulator.server import EmulatorConfig

TINY_APP = r"""
import json, os, socketserver, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = os.environ.get("TINY_MODE", "")
if MODE == "exit":
    print("tiny app: exiting as asked", flush=True)
    sys.exit(3)
if MODE == "silent":
    time.sleep(3600)

COUNT = 0
LOCK = threading.Lock()
REGION = {"region": os.environ.get("SERVICE_REGION")}
ENV_KEYS = ("PORT", "BIND_HOST", "BIND_UNIX", "K_SERVICE", "K_REVISION", "K_CONFIGURATION",
            "GEMINI_BASE_URL", "SERVICE_REGION", "GREETING", "HOME", "PYTHONPATH")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, payload, ctype="application/json"):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Tiny", "1")
        self.end_headers()
        self.wfile.write(data)

    def _handle(self):
        global COUNT
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0]
        if path == "/healthz":
            return self._send(200, b"ok", "text/plain")
        if path == "/_count":
            return self._send(200, {"count": COUNT})
        with LOCK:
            COUNT += 1
        if os.environ.get("TINY_FAIL"):
            return self._send(int(os.environ["TINY_FAIL"]), REGION)
        if path.startswith("/status/"):
            return self._send(int(path.rsplit("/", 1)[1]), REGION)
        if path.startswith("/sleep/"):
            time.sleep(float(path.rsplit("/", 1)[1]))
            return self._send(200, {"slept": True})
        if path == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(4):
                event = f"data: {json.dumps({'i': i, 't': time.time()})}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
                time.sleep(0.25)
            self.wfile.write(b"0\r\n\r\n")
            return
        headers = [
            [k, v.encode("latin-1").decode("utf-8", "replace")] for k, v in self.headers.items()
        ]
        self._send(200, {
            "region": os.environ.get("SERVICE_REGION"),
            "method": self.command,
            "path": self.path,
            "headers": headers,
            "body": body.decode("utf-8", "replace"),
            "env": {k: os.environ.get(k) for k in ENV_KEYS},
            "cwd": os.getcwd(),
        })

    do_GET = do_POST = do_PUT = do_DELETE = _handle


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if os.environ.get("BIND_UNIX"):
    server = UnixServer(os.environ["BIND_UNIX"], Handler)
else:
    address = (os.environ.get("BIND_HOST", "0.0.0.0"), int(os.environ["PORT"]))
    server = ThreadingHTTPServer(address, Handler)
    server.daemon_threads = True
print("tiny app listening", flush=True)
server.serve_forever()
"""


def tiny_image(root: Path, env: dict[str, str] | None = None) -> Image:
    """An image whose filesystem holds the tiny app in /app, run as ``python tiny.py``."""
    app = root / "app"
    app.mkdir(parents=True, exist_ok=True)
    (app / "tiny.py").write_text(TINY_APP)
    digest = "sha256:" + hashlib.sha256(TINY_APP.encode()).hexdigest()
    return Image(
        digest=digest,
        root=root,
        cmd=["python", "tiny.py"],
        env={"PORT": "8080", **(env or {})},
        workdir="/app",
        user=None,
        docker_cmd=["python", "tiny.py"],
    )


class FakeCompute:
    """Compute's data-plane accessors over a dict: ``get(kind, link)`` and ``list(kind)``."""

    def __init__(self) -> None:
        self.resources: dict[str, dict[str, dict[str, Any]]] = {}

    def put(self, kind: str, resource: dict[str, Any]) -> dict[str, Any]:
        self.resources.setdefault(kind, {})[resource["selfLink"]] = resource
        return resource

    def delete(self, kind: str, link: str) -> None:
        self.resources.get(kind, {}).pop(link, None)

    def get(self, kind: str, link: str) -> dict[str, Any] | None:
        return self.resources.get(kind, {}).get(link)

    def list(self, kind: str) -> list[dict[str, Any]]:
        return list(self.resources.get(kind, {}).values())


@dataclass
class FakeEmulator:
    """What the data plane reads from the emulator."""

    config: EmulatorConfig
    base_url: str = "http://127.0.0.1:9"
    compute: Any = None


def wait_for(predicate: Any, timeout: float = 20.0, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())


def http_get(
    url: str, path: str = "/", headers: dict[str, str] | None = None, timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def socket_get(socket_path: str, path: str = "/") -> tuple[int, bytes]:
    """GET straight from a revision's Unix socket (as only its front, or this user, can)."""
    from globalguide.emulator.dataplane.proxy import UnixHTTPConnection

    conn = UnixHTTPConnection(socket_path, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def listening_tcp_ports(pid: int) -> set[int]:
    """The TCP ports the process listens on (Linux /proc: its sockets in LISTEN state)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not a live process
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def port_listening(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def echo(body: bytes) -> dict[str, Any]:
    return json.loads(body)


def header_values(echoed: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in echoed["headers"] if k.lower() == name.lower()]
