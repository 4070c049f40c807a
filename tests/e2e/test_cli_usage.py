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


# ------------------------------------------------------------ conventions (issue 15)

import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

WIDTHS = (80, 200)


def cli(*args: str, columns: int = 80, timeout: float = 120, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "globalguide", *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {}), "COLUMNS": str(columns)},
    )  # fmt: skip


def fits(text: str, columns: int) -> bool:
    return all(len(line) <= columns for line in text.splitlines())


@pytest.mark.parametrize("columns", WIDTHS)
def test_help_conventions(columns):
    top = cli("-h", columns=columns)
    assert top.returncode == 0 and "globalguide.toml" in top.stdout
    assert "--install-completion" in top.stdout
    deploy = cli("deploy", "-h", columns=columns).stdout
    assert "<bool>" not in deploy and "<str>" not in deploy
    assert "--regions REGIONS" in deploy and "--plan FILE" in deploy
    assert fits(deploy, columns)


@pytest.mark.parametrize("columns", WIDTHS)
def test_json_error_document_and_wrapped_errors(columns):
    proc = cli("deploy", "--local", "--regions", "moon-base1", "--json", columns=columns)
    assert proc.returncode == 2
    error = json.loads(proc.stdout)["error"]
    assert error["exit_code"] == 2 and "unknown region" in error["message"]
    assert fits(proc.stderr, columns)
    words = set(error["message"].split())
    assert all(w in words for line in proc.stderr.splitlines()[1:] for w in line.split()[:1]
               if w.isalpha())  # continuation lines start with whole words  # fmt: skip


@pytest.mark.parametrize(
    "args, fragment",
    [(["deploy", "--local", "--regions", ""], "--regions is empty"),
     (["deploy", "--local", "--name", ""], "--name is empty"),
     (["probe", "--local", "--map", "/no/such/dir/x.html"], "does not exist"),
     (["deploy", "--local", "--plan", "/no/such/plan.json"], "Cannot read the plan")],
)  # fmt: skip
def test_input_refused_before_any_call(args, fragment):
    proc = cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr
    assert daemon.find_running() is None


@pytest.mark.parametrize("columns", WIDTHS)
def test_local_commands_without_an_emulator_say_nothing_is_there(columns):
    teardown = cli("teardown", "--local", "--yes", columns=columns)
    assert teardown.returncode == 0 and "Nothing of local-guide to remove" in teardown.stdout
    status = cli("status", "--local", "--json", columns=columns)
    assert status.returncode == 0 and json.loads(status.stdout)["deployed"] is False
    probe = cli("probe", "--local", columns=columns)
    assert probe.returncode == 1 and "no load balancer" in probe.stderr
    assert daemon.find_running() is None


@pytest.fixture(scope="module")
def emulator():
    proc = cli("emulator", "start", "--json")
    assert proc.returncode == 0, proc.stderr
    yield json.loads(proc.stdout)
    cli("emulator", "stop")


def test_emulator_start_with_other_options_is_refused_then_restarted(emulator):
    same = cli("emulator", "start")
    assert same.returncode == 0 and "already running" in same.stderr
    other = cli("emulator", "start", "--profile", "realistic")
    assert other.returncode == 2
    assert "--profile instant" in other.stderr and "--restart --profile realistic" in other.stderr
    again = cli("emulator", "start", "--restart", "--profile", "instant", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["pid"] != emulator["pid"]


@pytest.mark.parametrize("columns", WIDTHS)
def test_plan_shows_fields_counts_cost_and_applies_exactly(emulator, tmp_path, columns):
    first = cli("deploy", "--local", "--yes", columns=columns, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "0.0s" not in first.stderr or "done" in first.stderr
    plan = tmp_path / "plan.json"
    dry = cli("deploy", "--local", "--dry-run", "--max-instances", "7", "--plan-out", str(plan),
              columns=columns)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("~ maxInstanceCount 5 -> 7") == 3
    assert "Plan: 0 to add, 3 to change, 0 to destroy." in dry.stdout
    assert "Estimated cost: $18.25 a month" in dry.stdout
    assert "https://cloud.google.com/load-balancing/pricing" in dry.stdout
    assert fits(dry.stdout, columns) and fits(dry.stderr, columns)
    as_json = json.loads(cli("deploy", "--local", "--dry-run", "--max-instances", "7",
                             "--json").stdout)  # fmt: skip
    assert as_json["summary"] == {"add": 0, "change": 3, "destroy": 0}
    assert as_json["cost"]["monthly_fixed_usd"] == 18.25
    service = next(r for r in as_json["resources"] if r["kind"] == "run-service")
    assert service["changes"] == [{"op": "change", "field": "maxInstanceCount", "old": 5,
                                   "new": 7}]  # fmt: skip
    applied = cli("deploy", "--plan", str(plan), columns=columns, timeout=300)
    assert applied.returncode == 0, applied.stderr
    # The cloud changes under a saved plan: it is refused, nothing applied.
    stale = tmp_path / "stale.json"
    assert cli("deploy", "--local", "--dry-run", "--min-instances", "1",
               "--plan-out", str(stale)).returncode == 0  # fmt: skip
    assert cli("deploy", "--local", "--yes", "--max-instances", "5", timeout=300).returncode == 0
    refused = cli("deploy", "--plan", str(stale), columns=columns)
    assert refused.returncode == 1
    assert "changed since" in refused.stderr and "max 7 -> 5" in refused.stderr.replace("\n", " ")
    assert "--plan-out" in refused.stderr and fits(refused.stderr, columns)
    status = cli("status", "--local", "--json")
    services = [r for r in json.loads(status.stdout)["resources"] if r["kind"] == "run-service"]
    assert services  # unchanged by the refused plan: still the 5-instance deploy


@pytest.mark.parametrize("columns", WIDTHS)
def test_status_probe_regions_fit_and_keep_region_names(emulator, columns):
    assert cli("deploy", "--local", "--yes", timeout=300).returncode == 0
    for args in (
        ["status", "--local"],
        [
            "probe",
            "--local",
            "--as-city",
            "Chicago",
            "--as-city",
            "Paris, FR",
            "--as-city",
            "Tokyo",
        ],
        ["regions"],
    ):
        proc = cli(*args, columns=columns, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert fits(proc.stdout, columns), (args, proc.stdout)
        for region in ("asia-northeast1", "europe-west1", "us-central1"):
            assert region in proc.stdout, (args, region)
    regions = cli("regions", columns=columns).stdout
    assert "australia-southeast1" in regions and "australia-southeast2" in regions
    status = cli("status", "--local", columns=columns).stdout
    assert "Estimated cost:" in status and "Sources:" in status
    assert "1 probes" not in cli("probe", "--local", columns=columns).stderr


def test_status_says_when_a_deployment_is_incomplete(emulator):
    from tests.e2e.conftest import run_json

    assert cli("deploy", "--local", "--yes", timeout=300).returncode == 0
    # The emulator the deploy just used (the one the state directory names).
    running = run_json("emulator", "status")
    endpoint, project = running["endpoint"], running["project"]
    from globalguide.cloud.clients import CloudClients

    rules = CloudClients(project, endpoint=endpoint).global_forwarding_rules
    rules.delete(project=project, forwarding_rule="local-guide-http").result(timeout=60)
    document = run_json("status", "--local")
    assert document["complete"] is False
    assert "forwarding-rule/global/local-guide-http" in document["missing"]
    human = cli("status", "--local").stdout.replace("\n", " ")
    assert "incomplete" in human and "globalguide deploy --local" in human


@pytest.mark.parametrize("columns", WIDTHS)
def test_teardown_then_teardown_of_nothing(emulator, columns):
    assert cli("deploy", "--local", "--yes", timeout=300).returncode == 0
    gone = cli("teardown", "--local", "--yes", columns=columns, timeout=300)
    assert gone.returncode == 0 and fits(gone.stdout, columns)
    again = cli("teardown", "--local", "--yes", columns=columns)
    assert again.returncode == 0
    assert "Nothing of local-guide to remove" in again.stdout and "┏" not in again.stdout


def test_ctrl_c_during_deploy_says_what_it_waits_for_and_exits_130(emulator, tmp_path):
    assert cli("emulator", "start", "--restart", "--profile", "realistic",
               "--time-scale", "0.05").returncode == 0  # fmt: skip
    try:
        cli("teardown", "--local", "--yes", timeout=300)
        proc = subprocess.Popen(
            [sys.executable, "-m", "globalguide", "deploy", "--local", "--yes"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "COLUMNS": "80"}, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            if ": done in" in line or not line:
                break
        assert proc.poll() is None, "".join(lines)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            _, rest = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, rest = proc.communicate(timeout=30)
            raise AssertionError("".join(lines) + rest) from None
        assert proc.returncode == 130, rest
        assert "Interrupted" in rest and "globalguide deploy --local" in rest.replace("\n", " ")
        assert time.monotonic() - sent < 120
    finally:
        cli("emulator", "start", "--restart", "--profile", "instant")
