"""Cloud Run through run_v2, with a stand-in data plane.

The data plane's own tests (real processes) live with the data plane; here a fake records
what the control plane asks of it and answers ready or failed as told.
"""

from __future__ import annotations

import pytest

from tests.emulator.fakes import FakeDataPlane


@pytest.fixture
def dataplane(emu, monkeypatch) -> FakeDataPlane:
    fake = FakeDataPlane()
    monkeypatch.setattr(emu, "dataplane", fake)
    return fake
