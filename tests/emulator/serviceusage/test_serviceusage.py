"""Service Usage v1 through service_usage_v1, and the SERVICE_DISABLED error every API raises."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import artifactregistry_v1, service_usage_v1

from globalguide.emulator.core.project import project_number
from globalguide.emulator.serviceusage.catalog import ENABLED_BY_DEFAULT, SERVICE_TITLES
from globalguide.emulator.serviceusage.errors import ServiceDisabled
from globalguide.emulator.session import bearer
from tests.emulator.fakes import running_emulator

ENABLED = service_usage_v1.State.ENABLED
DISABLED = service_usage_v1.State.DISABLED


def _enabled_names(clients, project) -> set[str]:
    pager = clients.service_usage.list_services(
        request=service_usage_v1.ListServicesRequest(
            parent=f"projects/{project}", filter="state:ENABLED"
        )
    )
    return {s.config.name for s in pager}


def test_a_new_project_has_the_default_services_and_nothing_else(emu, clients, project):
    assert _enabled_names(clients, project) == set(ENABLED_BY_DEFAULT)
    assert "storage.googleapis.com" in ENABLED_BY_DEFAULT
    for api in ("run.googleapis.com", "compute.googleapis.com", "cloudbuild.googleapis.com"):
        service = clients.service_usage.get_service(
            request={"name": f"projects/{project}/services/{api}"}
        )
        assert service.state == DISABLED
        assert service.config.title == SERVICE_TITLES[api]
        assert service.parent == f"projects/{project_number(project)}"


def test_disabled_filter_and_paging(emu, clients, project):
    pager = clients.service_usage.list_services(
        request=service_usage_v1.ListServicesRequest(
            parent=f"projects/{project}", filter="state:DISABLED", page_size=3
        )
    )
    names = [s.config.name for s in pager]
    assert names == sorted(set(SERVICE_TITLES) - set(ENABLED_BY_DEFAULT))
    with pytest.raises(gexc.BadRequest):
        list(
            clients.service_usage.list_services(
                request=service_usage_v1.ListServicesRequest(
                    parent=f"projects/{project}", filter="state:ON"
                )
            )
        )
    with pytest.raises(gexc.BadRequest, match="cannot exceed 200"):
        list(
            clients.service_usage.list_services(
                request=service_usage_v1.ListServicesRequest(
                    parent=f"projects/{project}", page_size=201
                )
            )
        )


def test_enable_and_disable_are_operations(emu, clients, project):
    name = f"projects/{project}/services/run.googleapis.com"
    op = clients.service_usage.enable_service(request={"name": name})
    assert op.operation.name.startswith("operations/acf.p2-")
    result = op.result(timeout=10)
    assert result.service.state == ENABLED
    assert clients.service_usage.get_service(request={"name": name}).state == ENABLED
    raw = requests.get(
        f"{emu.base_url}/v1/{op.operation.name}", headers=bearer(emu.base_url), timeout=5
    ).json()
    assert raw["done"] is True
    assert raw["response"]["@type"].endswith("EnableServiceResponse")

    clients.service_usage.disable_service(request={"name": name}).result(timeout=10)
    assert clients.service_usage.get_service(request={"name": name}).state == DISABLED


def test_batch_enable_enables_all_at_once(emu, clients, project):
    op = clients.service_usage.batch_enable_services(
        request=service_usage_v1.BatchEnableServicesRequest(
            parent=f"projects/{project}",
            service_ids=["run.googleapis.com", "compute.googleapis.com"],
        )
    )
    response = op.result(timeout=10)
    assert {s.config.name for s in response.services} == {
        "run.googleapis.com",
        "compute.googleapis.com",
    }
    assert {"run.googleapis.com", "compute.googleapis.com"} <= _enabled_names(clients, project)


def test_batch_enable_refuses_more_than_twenty_and_changes_nothing(emu, clients, project):
    candidates = sorted(set(SERVICE_TITLES) - set(ENABLED_BY_DEFAULT))
    assert len(candidates) >= 21
    before = _enabled_names(clients, project)
    with pytest.raises(gexc.BadRequest, match="maximum of 20"):
        clients.service_usage.batch_enable_services(
            request=service_usage_v1.BatchEnableServicesRequest(
                parent=f"projects/{project}", service_ids=candidates[:21]
            )
        )
    assert _enabled_names(clients, project) == before


def test_unknown_services_are_refused_as_not_found_or_permission_denied(emu, clients, project):
    before = _enabled_names(clients, project)
    with pytest.raises(gexc.Forbidden) as info:
        clients.service_usage.batch_enable_services(
            request=service_usage_v1.BatchEnableServicesRequest(
                parent=f"projects/{project}",
                service_ids=["run.googleapis.com", "nope.googleapis.com"],
            )
        )
    assert "Not found or permission denied for service(s): nope.googleapis.com" in str(info.value)
    assert info.value.reason == "SERVICE_CONFIG_NOT_FOUND_OR_PERMISSION_DENIED"
    assert _enabled_names(clients, project) == before
    with pytest.raises(gexc.Forbidden):
        clients.service_usage.enable_service(
            request={"name": f"projects/{project}/services/x.example.com"}
        )


def test_batch_enable_supports_only_projects(emu, clients):
    with pytest.raises(gexc.BadRequest, match="only supports projects"):
        clients.service_usage.batch_enable_services(
            request=service_usage_v1.BatchEnableServicesRequest(
                parent="folders/123", service_ids=["run.googleapis.com"]
            )
        )


def test_batch_get_and_its_limit(emu, clients, project):
    names = [
        f"projects/{project}/services/{s}" for s in ("run.googleapis.com", "storage.googleapis.com")
    ]
    response = clients.service_usage.batch_get_services(
        request=service_usage_v1.BatchGetServicesRequest(parent=f"projects/{project}", names=names)
    )
    assert [(s.config.name, s.state) for s in response.services] == [
        ("run.googleapis.com", DISABLED),
        ("storage.googleapis.com", ENABLED),
    ]
    with pytest.raises(gexc.BadRequest, match="maximum of 30"):
        clients.service_usage.batch_get_services(
            request=service_usage_v1.BatchGetServicesRequest(
                parent=f"projects/{project}", names=names * 16
            )
        )


def test_the_project_number_is_a_valid_parent_and_other_projects_are_denied(emu, clients, project):
    number = project_number(project)
    service = clients.service_usage.get_service(
        request={"name": f"projects/{number}/services/run.googleapis.com"}
    )
    assert service.name == f"projects/{number}/services/run.googleapis.com"
    with pytest.raises(gexc.Forbidden):
        clients.service_usage.get_service(
            request={"name": "projects/someone-else/services/run.googleapis.com"}
        )


def test_a_disabled_api_answers_service_disabled(emu, clients, project):
    with pytest.raises(gexc.Forbidden) as info:
        list(
            clients.artifact_registry.list_repositories(
                parent=f"projects/{project}/locations/us-central1"
            )
        )
    error = info.value
    number = project_number(project)
    assert error.reason == "SERVICE_DISABLED"
    assert error.domain == "googleapis.com"
    assert error.metadata["service"] == "artifactregistry.googleapis.com"
    assert error.metadata["consumer"] == f"projects/{number}"
    assert (
        f"Artifact Registry API has not been used in project {number} before or it is "
        "disabled. Enable it by visiting https://console.developers.google.com/apis/api/"
        f"artifactregistry.googleapis.com/overview?project={number} then retry."
    ) in error.message


def test_enabling_lifts_the_service_disabled_error(enabled, project):
    repos = enabled.artifact_registry.list_repositories(
        request=artifactregistry_v1.ListRepositoriesRequest(
            parent=f"projects/{project}/locations/us-central1"
        )
    )
    assert list(repos) == []


def test_service_disabled_body_in_each_error_style():
    error = ServiceDisabled("compute.googleapis.com", "123456789012")
    google = error.body("google")["error"]
    assert google["status"] == "PERMISSION_DENIED"
    assert google["details"][0]["reason"] == "SERVICE_DISABLED"
    assert "errors" not in google
    compute = error.body("compute")["error"]
    assert compute["code"] == 403
    assert compute["errors"][0]["reason"] == "accessNotConfigured"
    assert compute["errors"][0]["domain"] == "usageLimits"
    assert compute["message"].startswith("Compute Engine API has not been used in project")


def test_enabling_takes_time_under_the_realistic_profile(tmp_path):
    with running_emulator(tmp_path, profile="realistic", time_scale=0.01) as (emu, clients):
        name = f"projects/{emu.project}/services/iam.googleapis.com"
        op = clients.service_usage.enable_service(request={"name": name})
        assert not op.done()
        assert clients.service_usage.get_service(request={"name": name}).state == DISABLED
        assert op.result(timeout=10).service.state == ENABLED
        assert clients.service_usage.get_service(request={"name": name}).state == ENABLED


def test_faults_fail_enabling_and_change_nothing(tmp_path):
    with running_emulator(tmp_path, fault_rate=1.0, fault_seed=3) as (emu, clients):
        name = f"projects/{emu.project}/services/iam.googleapis.com"
        for _ in range(4):
            with pytest.raises(gexc.GoogleAPICallError) as info:
                clients.service_usage.enable_service(request={"name": name}).result(timeout=10)
            assert info.value.code in (429, 503) or "transient" in str(info.value)
        assert clients.service_usage.get_service(request={"name": name}).state == DISABLED
        assert emu.faults.injected


# ---------------------------------------------------------------- propagation after enable

SCALE = 0.1  # realistic profile: enable 2 s, then 4.5 s before the API itself agrees


def _until(predicate, timeout: float = 10.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_a_just_enabled_api_answers_service_disabled_for_a_while(tmp_path):
    with running_emulator(tmp_path, profile="realistic", time_scale=SCALE) as (emu, clients):
        emu.serviceusage.set_enabled(["artifactregistry.googleapis.com"], False)
        project = emu.project
        op = clients.service_usage.batch_enable_services(
            service_usage_v1.BatchEnableServicesRequest(
                parent=f"projects/{project}", service_ids=["artifactregistry.googleapis.com"]
            )
        )
        op.result(timeout=30)
        state = clients.service_usage.get_service(
            request={"name": f"projects/{project}/services/artifactregistry.googleapis.com"}
        ).state
        assert state == ENABLED  # Service Usage says so at once ...
        parent = f"projects/{project}/locations/us-central1"
        with pytest.raises(gexc.Forbidden) as info:  # ... the API does not yet
            clients.artifact_registry.list_repositories(parent=parent)
        assert info.value.reason == "SERVICE_DISABLED"
        assert info.value.domain == "googleapis.com"
        assert info.value.metadata["service"] == "artifactregistry.googleapis.com"
        assert "If you enabled this API recently" in info.value.message

        def usable():
            try:
                clients.artifact_registry.list_repositories(parent=parent)
            except gexc.Forbidden:
                return False
            return True

        _until(usable)


def test_the_instant_profile_has_no_propagation_window(emu, clients, project):
    op = clients.service_usage.batch_enable_services(
        service_usage_v1.BatchEnableServicesRequest(
            parent=f"projects/{project}", service_ids=["artifactregistry.googleapis.com"]
        )
    )
    op.result(timeout=30)
    clients.artifact_registry.list_repositories(parent=f"projects/{project}/locations/us-central1")


def test_enabling_what_is_enabled_is_a_done_noop_operation(emu, clients, project, endpoint):
    op = clients.service_usage.batch_enable_services(
        service_usage_v1.BatchEnableServicesRequest(
            parent=f"projects/{project}", service_ids=["storage.googleapis.com"]
        )
    )
    assert op.operation.name == "operations/noop.DONE_OPERATION" and op.done()
    assert [s.config.name for s in op.result().services] == ["storage.googleapis.com"]
    single = requests.post(
        f"{endpoint}/v1/projects/{project}/services/logging.googleapis.com:enable",
        headers=bearer(endpoint),
        json={},
        timeout=5,
    ).json()
    assert single["name"] == "operations/noop.DONE_OPERATION" and single["done"] is True
    polled = requests.get(
        f"{endpoint}/v1/operations/noop.DONE_OPERATION", headers=bearer(endpoint), timeout=5
    )
    assert polled.status_code == 400
