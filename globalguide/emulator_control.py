"""What `globalguide emulator ...` does: checks the options, then starts or runs it."""

from __future__ import annotations

import json

from globalguide.emulator.daemon import (
    RunningEmulator,
    find_running,
    start_background,
    state_dir,
    stop,
)
from globalguide.emulator.options import EmulatorConfig, flag
from globalguide.errors import CloudError, UsageError

OPTIONS_FILE = "start-options.json"


def _running_options() -> dict[str, object]:
    """The options the running emulator was started with (defaults when unrecorded)."""
    try:
        recorded = json.loads((state_dir() / OPTIONS_FILE).read_text())
    except (OSError, ValueError):
        recorded = {}
    return EmulatorConfig.from_json(recorded).to_json()


def start(
    options: EmulatorConfig, *, given: set[str] = frozenset(), restart: bool = False
) -> tuple[RunningEmulator, bool]:
    """Start it unless one runs; returns (emulator, was it already running).

    When one runs and an option in ``given`` (those typed on the command line) differs
    from what it was started with, it is restarted if ``restart``, else refused: keeping
    the old profile silently would make every later measurement wrong."""
    options.check()
    running = find_running()
    if running is not None:
        now = _running_options()
        wanted = options.to_json()
        differ = [n for n in sorted(given) if n in wanted and now.get(n) != wanted[n]]
        if not differ and not restart:
            return running, True
        if not restart:
            shown = ", ".join(f"{flag(n)} {now.get(n)}" for n in differ)
            asked = " ".join(f"{flag(n)} {wanted[n]}" for n in differ)
            raise UsageError(
                f"The emulator is already running with {shown}; nothing was changed.",
                hint=f"Restart it with: `globalguide emulator start --restart {asked}` "
                "(local deployments are lost).",
            )
        stop()
    try:
        started = start_background(options.argv())
        try:
            (state_dir() / OPTIONS_FILE).write_text(json.dumps(options.to_json()))
        except OSError:
            pass  # only the "different options" check reads it
        return started, False
    except RuntimeError as exc:
        raise CloudError(
            f"Could not start the emulator: {exc}.",
            hint="Check that the port is free, or run `globalguide emulator start --foreground`.",
        ) from None


def run_foreground(options: EmulatorConfig) -> None:
    from globalguide.emulator import main as emulator_main

    options.check()
    emulator_main.main(["--state-dir", str(state_dir()), *options.argv()])
