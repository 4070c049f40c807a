"""An in-process emulator for the API tests, reset before each test."""

from __future__ import annotations

import pytest
import requests

from globalguide.cloud.clients import CloudClients
from globalguide.emulator.options import DEFAULT_PROJECT
from globalguide.emulator.server import Emulator, EmulatorConfig, EmulatorServer
from globalguide.emulator.session import bearer

ALL_APIS = (
    "run.googleapis.com",
    "compute.googleapis.com",
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "aiplatform.googleapis.com",
)


@pytest.fixture(scope="session")
def emulator_server(tmp_path_factory):
    config = EmulatorConfig(state_dir=tmp_path_factory.mktemp("emulator-state"))
    server = EmulatorServer(Emulator(config)).start()
    yield server
    server.stop()


@pytest.fixture
def emu(emulator_server):
    """The running emulator, with empty state and a clean request log."""
    emulator_server.emulator.reset()
    yield emulator_server.emulator
    emulator_server.emulator.reset()


@pytest.fixture
def endpoint(emu) -> str:
    return emu.base_url


@pytest.fixture
def project() -> str:
    return DEFAULT_PROJECT


@pytest.fixture
def clients(endpoint, project) -> CloudClients:
    return CloudClients(project, endpoint=endpoint)


@pytest.fixture
def enabled(clients, project):
    """The APIs a deployment needs, enabled through Service Usage as the CLI does."""
    from google.cloud import service_usage_v1

    op = clients.service_usage.batch_enable_services(
        service_usage_v1.BatchEnableServicesRequest(
            parent=f"projects/{project}", service_ids=list(ALL_APIS)
        )
    )
    op.result(timeout=30)
    return clients


def requests_log(endpoint: str) -> list[dict]:
    return requests.get(
        f"{endpoint}/_emulator/requests", headers=bearer(endpoint), timeout=5
    ).json()
