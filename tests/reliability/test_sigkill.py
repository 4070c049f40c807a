"""`globalguide deploy` and `teardown` killed with SIGKILL part way through a realistic-
profile run: the next deploy converges, and teardown leaves nothing, from the cloud's own
state alone (no local record is needed, none is kept).

Kill points are chosen from the emulator's request log (the first call of a given kind
seen), not from a clock, so they land at the same stage on a slow or a fast machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from globalguide.emulator import daemon, session
from globalguide.emulator.session import bearer
from tests.reliability.support import control, resources_left, serves_every_region

pytestmark = pytest.mark.slow

TIME_SCALE = "0.03"
WAIT_S = 120.0


@pytest.fixture(scope="module")
def realistic(tmp_path_factory):
    """A background emulator with the realistic timing profile, in a private state dir."""
    state = tmp_path_factory.mktemp("sigkill-emulator")
    running = daemon.start_background(
        ["--profile", "realistic", "--time-scale", TIME_SCALE], directory=state
    )
    # This process did not start it in-process: tell the test's own requests its token.
    session.remember(running.endpoint, running.token)
    yield running, state
    session.forget(running.endpoint)
    daemon.stop(state)


def cli(state, *args: str) -> subprocess.Popen:
    env = {**os.environ, daemon.STATE_DIR_ENV: str(state), "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "globalguide", *args, "--local", "--yes", "--json"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, err.decode()[-3000:]
    import json

    return json.loads(out)


def kill_when_seen(endpoint: str, proc: subprocess.Popen, method: str, fragment: str) -> None:
    """SIGKILL ``proc`` as soon as the emulator has logged METHOD on a path containing
    FRAGMENT ("$" marks the end of the path; bounded: at most WAIT_S)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        log = requests.get(
            f"{endpoint}/_emulator/requests", headers=bearer(endpoint), timeout=10
        ).json()
        if any(e["method"] == method and fragment in e["path"] + "$" for e in log):
            break
        assert proc.poll() is None, "the command finished before the kill point"
        time.sleep(0.02)
    else:
        proc.kill()
        pytest.fail(f"{method} {fragment} never came")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


# Stages of a deploy: APIs being enabled, the Cloud Run services (image built, load
# balancer chain half made), and the last resource.
DEPLOY_KILL_POINTS = [
    ("POST", ":batchEnable"),
    ("POST", "/services$"),
    ("POST", "/global/forwardingRules"),
]


@pytest.fixture
def fresh(realistic):
    running, state = realistic
    control(running.endpoint, "reset", {})
    return running.endpoint, state


@pytest.mark.parametrize("method, fragment", DEPLOY_KILL_POINTS)
def test_killed_deploy_then_deploy_converges_and_teardown_leaves_nothing(fresh, method, fragment):
    endpoint, state = fresh
    kill_when_seen(endpoint, cli(state, "deploy"), method, fragment)
    document = finish(cli(state, "deploy"))
    assert serves_every_region(document["url"], [r["region"] for r in document["regions"]])
    finish(cli(state, "teardown"))
    assert resources_left(endpoint) == 0


@pytest.mark.parametrize("method, fragment", [("POST", "/builds"), ("POST", "/global/urlMaps")])
def test_teardown_of_a_half_built_deployment_leaves_nothing(fresh, method, fragment):
    endpoint, state = fresh
    kill_when_seen(endpoint, cli(state, "deploy"), method, fragment)
    result = finish(cli(state, "teardown"))
    assert result["left"] == 0
    assert resources_left(endpoint) == 0


@pytest.mark.parametrize("fragment", ["/forwardingRules/", "/services/"])
def test_teardown_killed_half_way_then_rerun_leaves_nothing(fresh, fragment):
    endpoint, state = fresh
    finish(cli(state, "deploy"))
    kill_when_seen(endpoint, cli(state, "teardown"), "DELETE", fragment)
    result = finish(cli(state, "teardown"))
    assert result["left"] == 0
    assert resources_left(endpoint) == 0
