"""The emulator's options, declared once: defaults, checks, and the argv and JSON round trips
that carry them from `emulator start` to the emulator process and its state directory."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from globalguide import cli
from globalguide.emulator.options import DEFAULTS, OPTION_NAMES, EmulatorConfig
from globalguide.errors import UsageError

CHOSEN = EmulatorConfig(
    port=8123, project="other-local", profile="realistic", time_scale=0.25, fault_rate=0.1,
    fault_seed=7, latency="model", client_city="Tokyo, JP", state_dir=Path("gg-state"),
)  # fmt: skip


def test_argv_round_trips_every_option():
    parsed = EmulatorConfig.from_argv(["--state-dir", "gg-state", *CHOSEN.argv()])
    assert parsed == CHOSEN
    assert "--time-scale" in CHOSEN.argv() and "--client-city" in CHOSEN.argv()


def test_argv_never_carries_the_session_token():
    secret = EmulatorConfig(token="s3cret-token")
    assert "s3cret-token" not in " ".join(secret.argv())


def test_the_process_defaults_are_the_declared_ones():
    parsed = EmulatorConfig.from_argv(["--state-dir", "gg-state"])
    assert parsed == EmulatorConfig(state_dir=Path("gg-state"))
    assert parsed.client_city == "Chicago" and parsed.profile == "instant"


@pytest.mark.parametrize("argv", [[], ["--state-dir", "d", "--profile", "slow"],
                                  ["--state-dir", "d", "--latency", "real"]])  # fmt: skip
def test_the_process_refuses_bad_arguments(argv):
    with pytest.raises(SystemExit):
        EmulatorConfig.from_argv(argv)


def test_json_round_trips_and_fills_in_defaults():
    assert EmulatorConfig.from_json(CHOSEN.to_json()).to_json() == CHOSEN.to_json()
    partial = EmulatorConfig.from_json({"profile": "realistic", "unknown": 1})
    assert partial.profile == "realistic" and partial.port == DEFAULTS.port
    assert EmulatorConfig.from_json(["not", "a", "dict"]) == EmulatorConfig()
    assert set(CHOSEN.to_json()) == set(OPTION_NAMES)


@pytest.mark.parametrize(
    "changes, fragment",
    [({"profile": "slow"}, "--profile"), ({"latency": "real"}, "--latency"),
     ({"client_city": "Nowhere-on-earth-xyz"}, "--client-city")],
)  # fmt: skip
def test_check_names_the_bad_option(changes, fragment):
    with pytest.raises(UsageError, match=fragment):
        EmulatorConfig(**changes).check()
    EmulatorConfig().check()


def test_the_emulator_listens_on_loopback_only():
    with pytest.raises(ValueError, match="loopback"):
        EmulatorConfig(host="0.0.0.0")  # noqa: S104


def test_emulator_start_takes_its_defaults_from_the_options():
    group = typer.main.get_command(cli.app)
    start = group.commands["emulator"].commands["start"]  # type: ignore[attr-defined]
    defaults = {p.name: p.default for p in start.params}
    shared = [name for name in OPTION_NAMES if name in defaults]
    assert len(shared) == 7
    for name in shared:
        assert defaults[name] == getattr(DEFAULTS, name), name
