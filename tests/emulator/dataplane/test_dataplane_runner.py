"""Revisions as processes, and the service URL that honours ingress (a tiny image, no APIs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from globalguide.emulator.dataplane import DataPlane, RevisionStatus
from globalguide.emulator.dataplane.runner import CHILDREN_FILE
from globalguide.emulator.server import EmulatorConfig
from tests.emulator.dataplane_support import (
    FakeEmulator,
    echo,
    http_get,
    listening_tcp_ports,
    pid_alive,
    port_listening,
    socket_get,
    tiny_image,
    wait_for,
)

SERVICE = "projects/p/locations/europe-west1/services/tiny"


@pytest.fixture
def plane(tmp_path):
    emulator = FakeEmulator(EmulatorConfig(state_dir=tmp_path / "state"))
    emulator.base_url = "http://127.0.0.1:4567"
    plane = DataPlane(emulator)
    yield plane
    plane.stop_all()


@pytest.fixture
def image(tmp_path):
    return tiny_image(tmp_path / "image", env={"GREETING": "from-image"})


def start(
    plane, image, *, revision="tiny-00001-abc", env=None, ingress="INGRESS_TRAFFIC_ALL", **kw
):
    return plane.start_revision(
        service=SERVICE,
        region="europe-west1",
        revision=revision,
        image=image,
        env={"SERVICE_REGION": "europe-west1", **(env or {})},
        ingress=ingress,
        template=kw.get("template", {}),
    )


def ready(handle, timeout=20.0):
    assert wait_for(lambda: handle.status != RevisionStatus.STARTING, timeout)
    assert handle.status == "ready", handle.error
    return handle


def test_start_is_non_blocking_and_the_revision_gets_cloud_runs_environment(plane, image):
    handle = start(plane, image, env={"GREETING": "from-revision"})
    assert handle.status == "starting"
    assert handle.uri.startswith("http://127.0.0.1:")
    ready(handle)
    status, _, body = http_get(handle.uri, "/echo?x=1")
    assert status == 200
    got = echo(body)
    env = got["env"]
    # Cloud Run gives the container port (8080); revisions here share one machine, so each
    # gets a loopback port of its own (docs/emulator.md, known differences).
    assert env["PORT"] == str(handle.port) and env["BIND_UNIX"] == handle.socket_path
    assert env["K_SERVICE"] == "tiny" and env["K_CONFIGURATION"] == "tiny"
    assert env["K_REVISION"] == "tiny-00001-abc"
    # The revision's env wins over the image's; the fake Vertex is reached per region.
    assert env["GREETING"] == "from-revision"
    assert env["GEMINI_BASE_URL"] == "http://127.0.0.1:4567/_from/europe-west1/"
    assert Path(got["cwd"]) == image.root / "app"
    assert got["path"] == "/echo?x=1"


def test_revision_env_may_set_its_own_gemini_base_url(plane, image):
    handle = ready(start(plane, image, env={"GEMINI_BASE_URL": "http://127.0.0.1:1/x/"}))
    _, _, body = http_get(handle.uri, "/")
    assert echo(body)["env"]["GEMINI_BASE_URL"] == "http://127.0.0.1:1/x/"


@pytest.mark.parametrize(
    "ingress",
    [
        "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
        "INGRESS_TRAFFIC_INTERNAL_ONLY",
        "INGRESS_TRAFFIC_NONE",
    ],
)
def test_restricted_ingress_answers_googles_404_and_never_reaches_the_app(plane, image, ingress):
    handle = ready(start(plane, image, ingress=ingress))
    status, headers, body = http_get(handle.uri, "/secret", {"X-Client-Geo-Location": "forged"})
    assert status == 404
    assert headers["Content-Type"].startswith("text/html")
    assert b"Error 404 (Not Found)!!1" in body
    assert b"<code>/secret</code> was not found on this server" in body
    _, count = socket_get(handle.socket_path, "/_count")
    assert json.loads(count)["count"] == 0


@pytest.mark.parametrize("path", ["/healthz", "/eventlog", "/_ah/warmup"])
def test_paths_cloud_run_reserves_never_reach_the_app(plane, image, path):
    handle = ready(start(plane, image))
    status, _, body = http_get(handle.uri, path)
    assert status == 404 and b"Error 404 (Not Found)!!1" in body
    _, count = socket_get(handle.socket_path, "/_count")
    assert json.loads(count)["count"] == 0


def test_set_ingress_applies_to_the_running_service(plane, image):
    handle = ready(start(plane, image, ingress="INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"))
    assert http_get(handle.uri, "/")[0] == 404
    plane.set_ingress(SERVICE, "INGRESS_TRAFFIC_ALL")
    assert http_get(handle.uri, "/")[0] == 200


def test_a_new_ready_revision_takes_traffic_and_the_old_process_stops(plane, image):
    first = ready(start(plane, image, env={"GREETING": "one"}))
    second = ready(start(plane, image, revision="tiny-00002-def", env={"GREETING": "two"}))
    assert second.uri == first.uri  # the service URL is stable across revisions
    assert echo(http_get(second.uri, "/")[2])["env"]["GREETING"] == "two"
    assert wait_for(lambda: not pid_alive(first.pid), 10)
    assert first.status == "stopped"


def test_a_container_that_exits_fails_the_revision_saying_so(plane, image):
    handle = start(plane, image, env={"TINY_MODE": "exit"})
    assert wait_for(lambda: handle.status != "starting", 20)
    assert handle.status == "failed"
    assert handle.error.startswith("Container called exit(3).")
    assert str(handle.log_path) in handle.error
    assert "exiting as asked" in handle.log_path.read_text()


def test_a_container_that_never_listens_fails_at_the_startup_probe_deadline(plane, image):
    probe = {"tcpSocket": {"port": 8080}, "periodSeconds": 1, "failureThreshold": 1}
    handle = start(
        plane,
        image,
        env={"TINY_MODE": "silent"},
        template={"containers": [{"startupProbe": probe}]},
    )
    assert wait_for(lambda: handle.status != "starting", 10)
    assert handle.status == "failed"
    assert handle.error.startswith(
        "STARTUP TCP probe failed 1 time consecutively on port 8080. The instance was not started."
    )
    assert wait_for(lambda: not pid_alive(handle.pid), 10)


def test_an_http_startup_probe_waits_for_its_path(plane, image):
    probe = {"httpGet": {"path": "/status/503"}, "periodSeconds": 1, "failureThreshold": 1}
    failing = start(plane, image, template={"containers": [{"startupProbe": probe}]})
    assert wait_for(lambda: failing.status != "starting", 10)
    assert failing.status == "failed"
    probe = {"httpGet": {"path": "/healthz"}, "periodSeconds": 5, "failureThreshold": 2}
    ready(
        start(
            plane, image, revision="tiny-00002", template={"containers": [{"startupProbe": probe}]}
        )
    )


def test_a_failed_new_revision_leaves_the_old_one_serving(plane, image):
    first = ready(start(plane, image, env={"GREETING": "one"}))
    second = start(plane, image, revision="tiny-00002", env={"TINY_MODE": "exit"})
    assert wait_for(lambda: second.status == "failed", 20)
    assert echo(http_get(first.uri, "/")[2])["env"]["GREETING"] == "one"


def test_remove_service_closes_its_url_and_stops_its_processes(plane, image):
    handle = ready(start(plane, image))
    port = int(handle.uri.rsplit(":", 1)[1])
    plane.remove_service(SERVICE)
    assert not port_listening(port)
    assert wait_for(lambda: not pid_alive(handle.pid), 10)


def test_stop_all_leaves_no_process_no_port_and_an_empty_children_file(plane, image, tmp_path):
    handles = [ready(start(plane, image))]
    other = plane.start_revision(
        service="projects/p/locations/us-central1/services/tiny",
        region="us-central1",
        revision="tiny-00001-xyz",
        image=image,
        env={},
        ingress="INGRESS_TRAFFIC_ALL",
    )
    handles.append(ready(other))
    children = tmp_path / "state" / CHILDREN_FILE
    assert sorted(json.loads(children.read_text())) == sorted(h.pid for h in handles)
    ports = [int(h.uri.rsplit(":", 1)[1]) for h in handles]
    plane.stop_all()
    for handle in handles:
        assert not pid_alive(handle.pid)
        assert not Path(handle.socket_path).parent.exists()
    for port in ports:
        assert not port_listening(port)
    assert json.loads(children.read_text()) == []
    assert plane.snapshot()["services"] == []


def test_snapshot_lists_revisions_with_status_pid_socket_and_uri(plane, image):
    handle = ready(start(plane, image))
    (service,) = plane.snapshot()["services"]
    assert service["uri"] == handle.uri and service["serving"] == "tiny-00001-abc"
    (revision,) = service["revisions"]
    assert revision["status"] == "ready"
    assert revision["pid"] == handle.pid and revision["socket"] == handle.socket_path


def test_the_revision_is_reachable_only_through_its_front(plane, image):
    """No TCP listener of its own, and its socket sits in a directory only this user may
    enter: a request that skips the front (and its ingress check) has nowhere to go."""
    handle = ready(start(plane, image, ingress="INGRESS_TRAFFIC_INTERNAL_ONLY"))
    assert listening_tcp_ports(handle.pid) == set()
    directory = Path(handle.socket_path).parent
    assert directory.stat().st_mode & 0o777 == 0o700
    assert http_get(handle.uri, "/", {"X-Client-Geo-Location": "Atlantis,,ZZ"})[0] == 404
    _, count = socket_get(handle.socket_path, "/_count")
    assert json.loads(count)["count"] == 0
