"""What `globalguide emulator ...` does: checks the options, then starts or runs it."""

from __future__ import annotations

from dataclasses import dataclass

from globalguide.emulator.daemon import RunningEmulator, find_running, start_background
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


def start(options: StartOptions) -> tuple[RunningEmulator, bool]:
    """Start it unless one runs; returns (emulator, was it already running)."""
    options.validate()
    running = find_running()
    if running is not None:
        return running, True
    try:
        return start_background(options.argv()), False
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
