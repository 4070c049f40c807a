"""The emulator's options, declared once: their defaults, their checks, and their round trips
through a command line (``emulator start`` -> ``python -m globalguide.emulator.main``) and
through JSON (what a running emulator was started with, in its state directory).

``globalguide emulator start`` takes its option defaults from here, the emulator process
parses its arguments with :meth:`EmulatorConfig.from_argv`, and the server runs with the
resulting :class:`EmulatorConfig`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from globalguide.errors import UsageError

DEFAULT_PROJECT = "globalguide-local"
PROFILES = ("instant", "realistic")  # operation timing: none, or the real medians
LATENCY_MODES = ("model", "off")  # modelled network delays, or none
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_PORT = 65535
MAX_TIME_SCALE = 100.0
MAX_FAULT_RATE = 1.0
# The options a command line carries: never the session token (a secret) nor the state
# directory (the daemon names it), nor the host (always loopback).
OPTION_NAMES = (
    "port", "project", "profile", "time_scale", "fault_rate", "fault_seed", "latency",
    "client_city",
)  # fmt: skip
_CHOICES = {"profile": PROFILES, "latency": LATENCY_MODES}


@dataclass
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port
    project: str = DEFAULT_PROJECT
    profile: str = "instant"
    time_scale: float = 1.0  # multiplies the realistic durations
    fault_rate: float = 0.0  # the fraction of mutating calls that fail
    fault_seed: int = 0  # same seed, same faults
    latency: str = "off"
    # Where a request without an emulator location header comes from.
    client_city: str = "Chicago"
    state_dir: Path = field(default_factory=lambda: Path("."))
    token: str = ""  # the session token; a new one when empty

    def __post_init__(self) -> None:
        if self.host not in LOOPBACK_HOSTS:
            raise ValueError("the emulator listens on loopback only")

    def check(self) -> None:
        """UsageError (exit 2) naming the first option that cannot be used."""
        from globalguide import geo

        if self.profile not in PROFILES:
            raise UsageError(f"--profile must be instant or realistic, not {self.profile!r}.")
        if self.latency not in LATENCY_MODES:
            raise UsageError(f"--latency must be model or off, not {self.latency!r}.")
        try:
            geo.find_city(self.client_city)
        except ValueError as exc:
            raise UsageError(f"--client-city: {exc}") from None

    # ------------------------------------------------------------ round trips
    def argv(self) -> list[str]:
        """The options as the emulator process's arguments (see :meth:`from_argv`)."""
        return [part for name in OPTION_NAMES for part in (flag(name), str(getattr(self, name)))]

    @classmethod
    def from_argv(cls, argv: list[str] | None = None) -> EmulatorConfig:
        """The emulator process's arguments: ``--state-dir DIR`` and any of :meth:`argv`."""
        defaults = cls()
        parser = argparse.ArgumentParser(prog="globalguide-emulator")
        parser.add_argument("--state-dir", type=Path, required=True)
        for name in OPTION_NAMES:
            default = getattr(defaults, name)
            parser.add_argument(
                flag(name), type=type(default), default=default, choices=_CHOICES.get(name)
            )
        args = parser.parse_args(argv)
        return cls(state_dir=args.state_dir, **{name: getattr(args, name) for name in OPTION_NAMES})

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in OPTION_NAMES}

    @classmethod
    def from_json(cls, recorded: Any) -> EmulatorConfig:
        """The options in a recorded document; defaults for what it lacks or is not a dict."""
        known = recorded if isinstance(recorded, dict) else {}
        return cls(**{name: known[name] for name in OPTION_NAMES if name in known})


DEFAULTS = EmulatorConfig()


def flag(name: str) -> str:
    """The command-line flag of an option: time_scale -> --time-scale."""
    return "--" + name.replace("_", "-")
