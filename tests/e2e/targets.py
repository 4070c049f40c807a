"""Where the end-to-end tests deploy: the local emulator, or a real Google Cloud project.

With ``GLOBALGUIDE_TEST_PROJECT=<project>`` (and Application Default Credentials), the tests
parametrised on ``target`` also run the real deploy, probe and teardown in that project, as
moto's ``aws_verified`` does; without it that half is skipped before anything is started, so
nothing reaches the network. Each run deploys under a name of its own, so the project's
other resources are never touched, and teardown runs in the fixture's finaliser, even when a
test fails.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.conftest import HOST_ENVIRONMENT
from tests.e2e.conftest import run_cli, run_json

TEST_PROJECT_ENV = "GLOBALGUIDE_TEST_PROJECT"
EMULATOR, CLOUD = "emulator", "cloud"
DEPLOY_TIMEOUT_S = {EMULATOR: 300, CLOUD: 3600}


@dataclass
class Target:
    """One place to deploy to, and how to run the CLI against it."""

    kind: str
    flags: list[str]
    name: str = field(default_factory=lambda: f"e2e-{secrets.token_hex(3)}")
    env: dict[str, str] | None = None

    def cli(self, *args: str, check: bool = True):
        return run_cli(*args, *self.flags, "--name", self.name, check=check, env=self.env,
                       timeout=DEPLOY_TIMEOUT_S[self.kind])  # fmt: skip

    def json(self, *args: str) -> dict:
        return run_json(*args, *self.flags, "--name", self.name, env=self.env,
                        timeout=DEPLOY_TIMEOUT_S[self.kind])  # fmt: skip


def cloud_target() -> Target:
    project = os.environ.get(TEST_PROJECT_ENV, "").strip()
    if not project:
        pytest.skip(
            f"set {TEST_PROJECT_ENV}=<project> (and credentials) to run against Google Cloud"
        )
    # The developer's own credentials and gcloud configuration, which the hermetic test
    # setup hides from every other test; never an emulator.
    env = {k: v for k, v in HOST_ENVIRONMENT.items() if k != "GLOBALGUIDE_EMULATOR"}
    env.setdefault("CLOUDSDK_CONFIG", os.path.expanduser("~/.config/gcloud"))
    return Target(CLOUD, ["--project", project], env=env)


@pytest.fixture(
    scope="module", params=[EMULATOR, pytest.param(CLOUD, marks=pytest.mark.real_cloud)]
)
def target(request, tmp_path_factory) -> Iterator[Target]:
    """The local emulator (one of this module's own), or the real project when given."""
    if request.param == CLOUD:
        yield cloud_target()
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GLOBALGUIDE_STATE_DIR", str(tmp_path_factory.mktemp("target-state")))
        run_json("emulator", "start")
        try:
            yield Target(EMULATOR, ["--local"])
        finally:
            run_cli("emulator", "stop", check=False)


@pytest.fixture(scope="module")
def deployed(target) -> Iterator[tuple[Target, dict]]:
    """A deployment under the target's unique name; torn down afterwards whatever happened."""
    try:
        yield target, target.json("deploy", "--yes")
    finally:
        target.cli("teardown", "--yes", check=False)
