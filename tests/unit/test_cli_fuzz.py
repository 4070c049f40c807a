"""Fuzzed command lines and globalguide.toml files, run in-process through `main`:
never a traceback or an unexpected error; bad input exits 2 before anything is touched
(no emulator started, no credentials looked up, so no request can be made)."""

from __future__ import annotations

import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from globalguide import cli, emulator_control
from globalguide.cloud import clients as cloud_clients
from globalguide.emulator import daemon


class Touched(Exception):
    """Raised where the CLI would start the emulator or reach for the cloud."""


COMMANDS = [["deploy"], ["status"], ["teardown"], ["probe"], ["emulator", "start"]]
FLAGS = [
    "--name", "--project", "--regions", "--model", "--min-instances", "--max-instances",
    "--concurrency", "--domain", "--local", "--dry-run", "--no-wait", "--yes", "-y", "--json",
    "--keep-images", "--as-city", "--cities-top", "--via", "--count", "--profile",
    "--time-scale", "--fault-rate", "--port", "--client-city", "--bogus", "--", "-",
]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(["", "0", "-1", "1e9", "nan", "us-central1", "moon-base1", "a,b,,c",
                     "local-guide", "X" * 300, "Paris", "edge", "vm", "instant", "\x00"]),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
            max_size=40),
    st.integers(-(10**12), 10**12).map(str),
)  # fmt: skip
argv = st.lists(st.one_of(st.sampled_from(FLAGS), VALUES), max_size=8)

SETTING_KEYS = ["project", "name", "regions", "model", "min_instances", "max_instances",
                "concurrency", "domain", "unknown", "deploy"]  # fmt: skip
TOML_VALUES = st.sampled_from(
    ['"x"', '""', "0", "-5", "1000", "3.5", "true", '["us-central1"]', "[1, 2]", '"a,b"',
     "{a = 1}", '"europe-west1,europe-west1"', '"Bad_Name"', '"\\u0000"', "[]"]
)  # fmt: skip
toml_text = st.one_of(
    st.text(max_size=200),
    st.lists(st.tuples(st.sampled_from(SETTING_KEYS), TOML_VALUES), max_size=5).map(
        lambda pairs: "\n".join(f"{k} = {v}" for k, v in dict(pairs).items())
    ),
    st.lists(st.tuples(st.sampled_from(SETTING_KEYS), TOML_VALUES), max_size=5).map(
        lambda pairs: "[deploy]\n" + "\n".join(f"{k} = {v}" for k, v in dict(pairs).items())
    ),
)


@pytest.fixture
def guarded(monkeypatch, tmp_path):
    touched: list[str] = []

    def start(*args, **kwargs):
        touched.append("emulator")
        raise Touched

    def credentials(*args, **kwargs):
        touched.append("credentials")
        raise Touched

    monkeypatch.setattr(emulator_control, "start", start)
    monkeypatch.setattr(cloud_clients, "google_cloud_credentials", credentials)
    monkeypatch.setattr(daemon, "start_background", start)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "120")
    return touched, tmp_path


def run_main(monkeypatch, capsys, args: list[str]) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["globalguide", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 0), out + err


def _check(touched: list[str], code: int, output: str) -> None:
    assert "Traceback" not in output, output
    if touched:  # valid input got as far as the target: fine, nothing was really started
        touched.clear()
        return
    assert "Unexpected error" not in output, output
    assert code in (0, 1, 2), output
    if code == 1:  # only `status` / `probe` without a running emulator may say "not running"
        assert "not running" in output or "no load balancer" in output.lower(), output


FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(command=st.sampled_from(COMMANDS), args=argv)
def test_fuzzed_flags_never_crash_and_bad_ones_touch_nothing(
    guarded, monkeypatch, capsys, command, args
):
    touched, _ = guarded
    code, output = run_main(monkeypatch, capsys, [*command, *args])
    _check(touched, code, output)
    assert daemon.find_running() is None


@FUZZ
@given(content=toml_text, local=st.booleans())
def test_fuzzed_settings_files_never_crash_and_bad_ones_touch_nothing(
    guarded, monkeypatch, capsys, content, local
):
    touched, directory = guarded
    (directory / "globalguide.toml").write_text(content, encoding="utf-8", errors="replace")
    args = ["deploy", "--dry-run", "--yes"] + (["--local"] if local else ["--project", "p-12345"])
    code, output = run_main(monkeypatch, capsys, args)
    _check(touched, code, output)
    assert daemon.find_running() is None


@pytest.mark.parametrize(
    "content",
    ['regions = "moon-base1"', "max_instances = -3", "name = 5", "unknown = 1", "[deploy", "\x00"],
)
def test_bad_settings_exit_2_before_anything_is_touched(guarded, monkeypatch, capsys, content):
    touched, directory = guarded
    (directory / "globalguide.toml").write_text(content)
    code, output = run_main(monkeypatch, capsys, ["deploy", "--local", "--yes"])
    assert code == 2, output
    assert touched == []
    assert output.startswith("Error:") and len(output.strip().splitlines()) <= 3, output
