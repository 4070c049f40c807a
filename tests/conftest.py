"""Hermetic tests: no user state, no real project, no emulator but the ones tests start."""

from __future__ import annotations

import os

import pytest

# The environment as the developer set it, before the isolation below: only the tests that
# run against a real project (GLOBALGUIDE_TEST_PROJECT, tests/e2e/targets.py) hand it on.
HOST_ENVIRONMENT = dict(os.environ)

_HOST_VARIABLES = (
    "GLOBALGUIDE_EMULATOR",
    "GOOGLE_CLOUD_PROJECT",
    "CLOUDSDK_CORE_PROJECT",
    "GOOGLE_APPLICATION_CREDENTIALS",
)


@pytest.fixture(scope="session", autouse=True)
def _isolated_state(tmp_path_factory):
    """A private state directory (so a developer's own emulator is never touched), and an
    emulator started by any test is stopped with everything it started."""
    from globalguide.emulator import daemon

    saved = {k: os.environ.pop(k) for k in _HOST_VARIABLES if k in os.environ}
    state = tmp_path_factory.mktemp("globalguide-state")
    os.environ[daemon.STATE_DIR_ENV] = str(state)
    os.environ["CLOUDSDK_CONFIG"] = str(state / "gcloud")
    # google.auth would otherwise probe the metadata server, which is not on loopback.
    os.environ["NO_GCE_CHECK"] = "true"
    yield state
    daemon.stop(state)
    os.environ.update(saved)
