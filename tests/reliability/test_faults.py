"""Seeded fault injection at a fault rate of 0.2: a deploy either exits 0 with every region
serving its own area (asked per region, not just "got a 200") or fails naming what is not;
every teardown leaves nothing. The same seed injects the same faults."""

from __future__ import annotations

import pytest
import requests

from globalguide.emulator.session import bearer
from tests.reliability.support import assert_truthful, control, deploy_then_teardown

pytestmark = pytest.mark.slow

# A handful keeps the suite bounded; bench/reliability.py runs many more.
SEEDS = (1, 2, 3, 5, 8)
RATE = 0.2


@pytest.mark.parametrize("seed", SEEDS)
def test_deploy_converges_and_teardown_leaves_nothing(emulator_server, seed):
    emu = emulator_server.emulator
    outcome = deploy_then_teardown(emulator_server.endpoint, emu.project, seed, RATE)
    assert_truthful(outcome)
    assert outcome["left"] == 0
    assert outcome["faults"] > 0  # the run really was disturbed


def test_faults_can_be_reconfigured_and_are_deterministic(emulator_server):
    endpoint = emulator_server.endpoint
    control(endpoint, "faults", {"rate": 1.0, "seed": 7})
    url = f"{endpoint}/compute/v1/projects/{emulator_server.emulator.project}/global/addresses"
    first = [
        requests.post(url, headers=bearer(endpoint), json={"name": "x"}, timeout=10)
        for _ in range(3)
    ]
    kinds = [f["kind"] for f in control(endpoint, "faults")["injected"]]
    control(endpoint, "faults", {"rate": 1.0, "seed": 7})
    again = [
        requests.post(url, headers=bearer(endpoint), json={"name": "x"}, timeout=10)
        for _ in range(3)
    ]
    assert [r.status_code for r in first] == [r.status_code for r in again]
    # At rate 1 every call is faulted: an error answer, or (kind "operation") a 200 whose
    # operation ends in error; a plain success would be no fault at all.
    assert len(kinds) == 3
    for response, kind in zip(first, kinds, strict=True):
        if kind == "operation":
            assert response.status_code == 200
            done = requests.post(
                f"{response.json()['selfLink']}/wait", headers=bearer(endpoint), timeout=10
            ).json()
            assert done["status"] == "DONE" and done.get("error"), done
        else:
            assert response.status_code == int(kind)
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
