"""The emulator process: ``python -m globalguide.emulator.main`` (started by the CLI)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from globalguide.emulator import session
from globalguide.emulator.daemon import RUNTIME_FILE
from globalguide.emulator.server import DEFAULT_PROJECT, Emulator, EmulatorConfig, EmulatorServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="globalguide-emulator")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--project", default=DEFAULT_PROJECT)
    parser.add_argument("--profile", choices=("instant", "realistic"), default="instant")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--fault-seed", type=int, default=0)
    parser.add_argument("--latency", choices=("model", "off"), default="off")
    parser.add_argument("--client-city", default="Chicago")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    session.private_dir(args.state_dir)
    config = EmulatorConfig(
        port=args.port,
        project=args.project,
        profile=args.profile,
        time_scale=args.time_scale,
        fault_rate=args.fault_rate,
        fault_seed=args.fault_seed,
        latency=args.latency,
        client_city=args.client_city,
        state_dir=args.state_dir,
    )
    server = EmulatorServer(Emulator(config))
    runtime = args.state_dir / RUNTIME_FILE
    stopping = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown_listener, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    token_file = session.save_token(args.state_dir, server.emulator.token)
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
