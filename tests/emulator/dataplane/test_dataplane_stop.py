"""Stopping leaves nothing behind: no service process, no listening port.

``emulator stop`` sends SIGTERM to the background emulator, which stops its data plane;
if the emulator itself was killed, ``emulator stop`` ends the process groups it recorded.
"""

from __future__ import annotations

import json
import os
import signal

import requests
from google.cloud import service_usage_v1

from globalguide.cloud.clients import CloudClients
from globalguide.emulator import daemon
from globalguide.emulator.dataplane import DataPlane
from globalguide.emulator.dataplane.runner import CHILDREN_FILE
from globalguide.emulator.server import EmulatorConfig
from globalguide.emulator.session import bearer
from tests.emulator.dataplane_support import (
    FakeEmulator,
    pid_alive,
    port_listening,
    tiny_image,
    wait_for,
)
from tests.emulator.fakes import APIS
from tests.emulator.lb_chain import (
    build_service_image,
    frontend,
    global_address,
    run_service,
    serverless_neg,
)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_emulator_stop_ends_every_process_and_closes_every_port(tmp_path):
    state_dir = tmp_path / "state"
    running = daemon.start_background([], directory=state_dir)
    try:
        c = CloudClients(running.project, endpoint=running.endpoint, token=running.token)
        c.service_usage.batch_enable_services(
            service_usage_v1.BatchEnableServicesRequest(
                parent=f"projects/{running.project}", service_ids=list(APIS)
            )
        ).result(timeout=30)
        image = build_service_image(c, running.project)
        service = run_service(c, running.project, "europe-west1", image)
        neg = serverless_neg(c, running.project, "europe-west1")
        address = global_address(c, running.project)
        edge = frontend(c, running.project, "lg", [neg], address, "80", outlier=False)
        plane = requests.get(
            f"{running.endpoint}/_emulator/state",
            headers=bearer(running.endpoint, running.token),
            timeout=10,
        ).json()["dataplane"]
        pids = [r["pid"] for s in plane["services"] for r in s["revisions"]]
        assert len(pids) == 1 and pid_alive(pids[0])
        assert json.loads((state_dir / CHILDREN_FILE).read_text()) == pids
        ports = [_port(running.endpoint), _port(edge["url"]), _port(service.uri)]
        assert all(port_listening(port) for port in ports)
    finally:
        assert daemon.stop(state_dir)
    assert not pid_alive(running.pid)
    assert not any(pid_alive(pid) for pid in pids)
    assert not any(port_listening(port) for port in ports)
    assert not (state_dir / CHILDREN_FILE).exists()


def test_emulator_stop_ends_the_recorded_groups_of_an_emulator_that_died(tmp_path):
    state_dir = tmp_path / "state"
    plane = DataPlane(FakeEmulator(EmulatorConfig(state_dir=state_dir)))
    handle = plane.start_revision(
        service="projects/p/locations/us-central1/services/tiny",
        region="us-central1",
        revision="tiny-00001",
        image=tiny_image(tmp_path / "image"),
        env={},
        ingress="INGRESS_TRAFFIC_ALL",
    )
    try:
        assert wait_for(lambda: handle.status == "ready", 20), handle.error
        # The emulator is gone without stopping anything: only the record is left.
        assert json.loads((state_dir / CHILDREN_FILE).read_text()) == [handle.pid]
        daemon.stop(state_dir)
        assert wait_for(lambda: not pid_alive(handle.pid), 5)
    finally:
        plane.stop_all()
        if pid_alive(handle.pid):
            os.killpg(handle.pid, signal.SIGKILL)
