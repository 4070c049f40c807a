"""What `globalguide emulator ...` does: checks the options, then starts or runs it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from globalguide.emulator.daemon import (
    RunningEmulator,
    find_running,
    start_background,
    state_dir,
    stop,
)
from globalguide.errors import CloudError, UsageError


@dataclass(frozen=True)
class StartOptions:
    port: int = 0
    profile: str = "instant"
    time_scale: float = 1.0
    fault_rate: float = 0.0
    fault_seed: int = 0
    latency: str = "off"
    client_city: str = "Chicago"

    def validate(self) -> None:
        from globalguide import geo

        if self.profile not in ("instant", "realistic"):
            raise UsageError(f"--profile must be instant or realistic, not {self.profile!r}.")
        if self.latency not in ("model", "off"):
            raise UsageError(f"--latency must be model or off, not {self.latency!r}.")
        try:
            geo.find_city(self.client_city)
        except ValueError as exc:
            raise UsageError(f"--client-city: {exc}") from None

    def argv(self) -> list[str]:
        return [
            "--port", str(self.port),
            "--profile", self.profile,
            "--time-scale", repr(self.time_scale),
            "--fault-rate", repr(self.fault_rate),
            "--fault-seed", str(self.fault_seed),
            "--latency", self.latency,
            "--client-city", self.client_city,
        ]  # fmt: skip


OPTIONS_FILE = "start-options.json"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _running_options() -> dict[str, object]:
    """The options the running emulator was started with (defaults when unrecorded)."""
    try:
        recorded = json.loads((state_dir() / OPTIONS_FILE).read_text())
    except (OSError, ValueError):
        recorded = {}
    return {**asdict(StartOptions()), **(recorded if isinstance(recorded, dict) else {})}


def start(
    options: StartOptions, *, given: set[str] = frozenset(), restart: bool = False
) -> tuple[RunningEmulator, bool]:
    """Start it unless one runs; returns (emulator, was it already running).

    When one runs and an option in ``given`` (those typed on the command line) differs
    from what it was started with, it is restarted if ``restart``, else refused: keeping
    the old profile silently would make every later measurement wrong."""
    options.validate()
    running = find_running()
    if running is not None:
        now = _running_options()
        wanted = asdict(options)
        differ = [n for n in sorted(given) if n in wanted and now.get(n) != wanted[n]]
        if not differ and not restart:
            return running, True
        if not restart:
            shown = ", ".join(f"{_flag(n)} {now.get(n)}" for n in differ)
            asked = " ".join(f"{_flag(n)} {wanted[n]}" for n in differ)
            raise UsageError(
                f"The emulator is already running with {shown}; nothing was changed.",
                hint=f"Restart it with: `globalguide emulator start --restart {asked}` "
                "(local deployments are lost).",
            )
        stop()
    try:
        started = start_background(options.argv())
        try:
            (state_dir() / OPTIONS_FILE).write_text(json.dumps(asdict(options)))
        except OSError:
            pass  # only the "different options" check reads it
        return started, False
    except RuntimeError as exc:
        raise CloudError(
            f"Could not start the emulator: {exc}.",
            hint="Check that the port is free, or run `globalguide emulator start --foreground`.",
        ) from None


def run_foreground(options: StartOptions) -> None:
    from globalguide.emulator import main as emulator_main
    from globalguide.emulator.daemon import state_dir

    options.validate()
    emulator_main.main(["--state-dir", str(state_dir()), *options.argv()])
