"""A small bounded load through the emulator's edge: many concurrent connections, a fixed
request count and a time cap, and not one error. No timing is asserted (bench/load.py
measures)."""

from __future__ import annotations

import http.client
import threading
import time
from urllib.parse import urlsplit

from globalguide.cloud import deployment
from globalguide.cloud.clients import CloudClients
from globalguide.spec import DeploySpec
from tests.reliability.support import control

CONNECTIONS = 16
REQUESTS = 400
MAX_SECONDS = 60.0


def test_concurrent_load_through_the_edge_has_no_errors(emulator_server):
    endpoint = emulator_server.endpoint
    control(endpoint, "reset", {})
    project = emulator_server.emulator.project
    clients = CloudClients(project, endpoint=endpoint)
    spec = DeploySpec(project=project, local=True).validated()
    url = urlsplit(deployment.apply_deploy(deployment.make_plan(spec, clients), clients)["url"])

    lock = threading.Lock()
    left = [REQUESTS]
    answered: list[int] = []
    failures: list[str] = []
    deadline = time.monotonic() + MAX_SECONDS

    def worker() -> None:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        try:
            while True:
                with lock:
                    if left[0] <= 0 or time.monotonic() >= deadline:
                        return
                    left[0] -= 1
                try:
                    conn.request("GET", "/", headers={"Accept": "application/json"})
                    response = conn.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    with lock:
                        failures.append(type(exc).__name__)
                    continue
                with lock:
                    answered.append(response.status)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(MAX_SECONDS + 30)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    assert len(answered) == REQUESTS and set(answered) == {200}

    plan = deployment.make_teardown_plan(spec, clients, keep_images=False)
    deployment.apply_teardown(plan, clients, keep_images=False)
