"""A revision that listens on ``PORT`` instead of ``BIND_UNIX``, joined to its front.

Cloud Run's contract is "listen on $PORT"; a service written for it (a user's own
Dockerfile, ``gunicorn --bind 0.0.0.0:$PORT``) knows nothing of the emulator's Unix
socket. When such a container opens its TCP port, the runner puts a :class:`SocketBridge`
on the revision's socket path, so its front, its startup probe and everything else reach it
as they reach any revision. Unlike a revision that honours ``BIND_UNIX``, its TCP port can
be reached around the front (docs/emulator.md, known differences).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading

CHUNK = 64 * 1024
CONNECT_TIMEOUT_S = 5.0


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tcp_open(port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts connections on loopback ``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


class SocketBridge:
    """Accepts on a Unix socket and relays each connection to a loopback TCP port."""

    def __init__(self, socket_path: str, port: int) -> None:
        self.socket_path, self.port = socket_path, port
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(socket_path)
        os.chmod(socket_path, 0o600)
        self._server.listen(128)
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="bridge", daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.port), CONNECT_TIMEOUT_S)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        back.start()
        _pump(client, upstream)
        back.join()
        upstream.close()
        client.close()


def _pump(source: socket.socket, target: socket.socket) -> None:
    """Copy ``source`` to ``target`` until ``source`` ends; then half-close ``target``."""
    try:
        while chunk := source.recv(CHUNK):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            source.shutdown(socket.SHUT_RD)
