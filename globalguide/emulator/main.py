"""The emulator process: ``python -m globalguide.emulator.main`` (started by the CLI)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

from globalguide.emulator import session
from globalguide.emulator.daemon import RUNTIME_FILE
from globalguide.emulator.options import EmulatorConfig
from globalguide.emulator.server import Emulator, EmulatorServer


def main(argv: list[str] | None = None) -> int:
    config = EmulatorConfig.from_argv(argv)
    session.private_dir(config.state_dir)
    server = EmulatorServer(Emulator(config))
    runtime = config.state_dir / RUNTIME_FILE
    stopping = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown_listener, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    token_file = session.save_token(config.state_dir, server.emulator.token)
    tmp = runtime.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({"endpoint": server.endpoint, "project": config.project, "pid": os.getpid()})
    )
    tmp.replace(runtime)
    print(f"globalguide emulator listening on {server.endpoint}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.stop()
        runtime.unlink(missing_ok=True)
        token_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
