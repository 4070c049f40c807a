"""One in-process emulator for the reliability tests; each test resets it."""

from __future__ import annotations

import pytest

from globalguide.emulator.server import Emulator, EmulatorConfig, EmulatorServer


@pytest.fixture(scope="module")
def emulator_server(tmp_path_factory):
    config = EmulatorConfig(state_dir=tmp_path_factory.mktemp("reliability-emulator"))
    server = EmulatorServer(Emulator(config)).start()
    yield server
    server.stop()
