"""Bad input: one clear line, exit 2, nothing started or changed, no traceback."""

from __future__ import annotations

import pytest

from globalguide.emulator import daemon
from tests.e2e.conftest import run_cli


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["deploy", "--local", "--regions", "moon-base1"], "unknown region"),
        (["deploy", "--local", "--name", "Not_Valid"], "Invalid name"),
        (["deploy", "--local", "--min-instances", "9", "--max-instances", "2"], "more than"),
        (["deploy", "--local", "--concurrency", "lots"], "--concurrency"),
        (["deploy", "--local", "--domain", "bad domain"], "Invalid domain"),
        (["deploy"], "No project"),
        (["deploy", "--bogus-flag"], "bogus"),
        (["emulator", "start", "--client-city", "Xyzzyville"], "client-city"),
        (["emulator", "start", "--profile", "slow"], "profile"),
        (["status"], "No project"),
        (["deploy", "--project", "real-project-123", "--yes"], "credentials"),
    ],
)
def test_usage_errors_exit_2_and_start_nothing(args, fragment):
    proc = run_cli(*args, check=False, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert fragment.lower() in proc.stderr.lower()
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert daemon.find_running() is None


def test_version_and_help():
    assert run_cli("--version").stdout.startswith("globalguide ")
    for command in ("deploy", "status", "teardown", "emulator"):
        assert "Usage" in run_cli(command, "--help").stdout


def test_emulator_status_exits_1_when_not_running():
    proc = run_cli("emulator", "status", "--json", check=False)
    assert proc.returncode == 1
