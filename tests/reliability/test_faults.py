"""Seeded fault injection: at a fault rate of 0.2 every deploy converges and serves, and
every teardown leaves nothing. The same seed injects the same faults."""

from __future__ import annotations

import pytest
import requests

from globalguide.emulator.session import bearer
from tests.reliability.support import control, deploy_then_teardown

pytestmark = pytest.mark.slow

SEEDS = range(1, 21)
RATE = 0.2


@pytest.mark.parametrize("seed", SEEDS)
def test_deploy_converges_and_teardown_leaves_nothing(emulator_server, seed):
    emu = emulator_server.emulator
    outcome = deploy_then_teardown(emulator_server.endpoint, emu.project, seed, RATE)
    assert outcome["served"]
    assert outcome["left"] == 0
    assert outcome["faults"] > 0  # the run really was disturbed


def test_faults_can_be_reconfigured_and_are_deterministic(emulator_server):
    endpoint = emulator_server.endpoint
    control(endpoint, "faults", {"rate": 1.0, "seed": 7})
    url = f"{endpoint}/compute/v1/projects/{emulator_server.emulator.project}/global/addresses"
    first = [
        requests.post(url, headers=bearer(endpoint), json={"name": "x"}, timeout=10).status_code
        for _ in range(3)
    ]
    control(endpoint, "faults", {"rate": 1.0, "seed": 7})
    again = [
        requests.post(url, headers=bearer(endpoint), json={"name": "x"}, timeout=10).status_code
        for _ in range(3)
    ]
    assert first == again and all(code in (200, 429, 503) for code in first)
    assert control(endpoint, "faults")["rate"] == 1.0
    control(endpoint, "faults", {"rate": 0.0, "seed": 0})
    assert (
        requests.post(
            f"{endpoint}/_emulator/faults", headers=bearer(endpoint), json={"rate": 2}
        ).status_code
        == 400
    )
    assert (
        requests.post(
            f"{endpoint}/_emulator/faults",
            headers={**bearer(endpoint), "Content-Type": "application/json"},
            data="x",
        ).status_code
        == 400
    )
