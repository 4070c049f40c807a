"""`globalguide deploy --local` end to end: it serves, it is idempotent, teardown is total."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import requests

from globalguide.emulator.session import bearer
from tests.e2e.conftest import clear_requests, emulator_requests, run_cli, run_json

pytestmark = pytest.mark.e2e

CITIES = {
    "Tokyo": "asia-northeast1",
    "Paris": "europe-west1",
    "Chicago": "us-central1",
    "Seoul": "asia-northeast1",
    "Madrid": "europe-west1",
    "Mexico City": "us-central1",
    "Nairobi": "europe-west1",
}


@pytest.fixture(scope="module")
def deployed(local_emulator):
    document = run_json("deploy", "--local", "--yes")
    yield document
    run_cli("teardown", "--local", "--yes", check=False)


def test_a_model_vertex_does_not_have_stops_deploy_before_anything_is_created(local_emulator):
    endpoint = local_emulator["endpoint"]
    clear_requests(endpoint)
    proc = run_cli("deploy", "--local", "--yes", "--model", "gemini-1.0-nonexistent", check=False)
    assert proc.returncode == 2, proc.stderr
    assert "gemini-1.0-nonexistent does not answer in Vertex AI location global (404)" in (
        proc.stderr
    )
    assert "Traceback" not in proc.stderr
    created = {e["api"] for e in emulator_requests(endpoint) if e["mutating"] and e["status"] < 400}
    assert created <= {"serviceusage"}


def ask(url: str, **headers) -> requests.Response:
    return requests.get(url, headers={"Accept": "application/json", **headers}, timeout=30)


def test_deploy_reports_every_resource_and_a_serving_url(deployed):
    assert deployed["target"] == "emulator"
    assert deployed["url"].startswith("http://127.0.0.1:")
    kinds = [r["kind"] for r in deployed["resources"]]
    assert kinds.count("run-service") == 3 and kinds.count("neg") == 3
    assert {r["action"] for r in deployed["resources"]} <= {"created", "updated", "unchanged"}
    assert {r["region"] for r in deployed["regions"]} == set(CITIES.values())
    assert deployed["served_from_region"] in CITIES.values()


@pytest.mark.parametrize("city, region", sorted(CITIES.items()))
def test_each_city_is_served_by_its_nearest_region(deployed, city, region):
    response = ask(deployed["url"], **{"X-Emulator-Client-City": city})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["meta"]["served_from_region"] == region
    assert city.split()[0] in body["meta"]["user_detected_location"]
    assert city.split()[0] in body["ai_response"]


def test_a_client_cannot_supply_its_own_location(deployed):
    response = ask(
        deployed["url"],
        **{"X-Emulator-Client-City": "Tokyo", "X-Client-Geo-Location": "Atlantis,XX,ZZ"},
    )
    body = response.json()
    assert "Atlantis" not in response.text
    assert "Tokyo" in body["meta"]["user_detected_location"]


def test_regional_services_are_not_reachable_directly(deployed):
    status = run_json("status", "--local")
    uris = [r["uri"] for r in status["regions"]]
    assert len(uris) == 3
    for uri in uris:
        assert uri.startswith("http://127.0.0.1:")
        direct = requests.get(uri, timeout=10)
        assert direct.status_code == 404
        assert "ai_response" not in direct.text


def test_status_shows_every_region_answering(deployed):
    status = run_json("status", "--local")
    assert status["url"] == deployed["url"]
    assert [r["answers"] for r in status["regions"]] == [True, True, True]


def test_second_deploy_changes_nothing(deployed, local_emulator):
    endpoint = local_emulator["endpoint"]
    clear_requests(endpoint)
    again = run_json("deploy", "--local", "--yes")
    assert {r["action"] for r in again["resources"]} == {"unchanged"}
    mutating = [r for r in emulator_requests(endpoint) if r["mutating"]]
    assert mutating == []


def test_dry_run_changes_nothing(deployed, local_emulator):
    endpoint = local_emulator["endpoint"]
    clear_requests(endpoint)
    plan = run_json("deploy", "--local", "--dry-run", "--regions", "us-central1,europe-west1")
    actions = {(r["kind"], r["region"]): r["action"] for r in plan["resources"]}
    assert actions[("run-service", "asia-northeast1")] == "delete"
    assert actions[("backend-service", None)] == "update"
    assert [r for r in emulator_requests(endpoint) if r["mutating"]] == []


def test_without_yes_and_without_a_terminal_deploy_refuses(deployed, local_emulator):
    endpoint = local_emulator["endpoint"]
    clear_requests(endpoint)
    proc = run_cli("deploy", "--local", "--max-instances", "7", check=False)
    assert proc.returncode == 2
    assert "--yes" in proc.stderr
    assert [r for r in emulator_requests(endpoint) if r["mutating"]] == []


def test_dropping_a_region_sweeps_it_and_adding_it_back_restores_it(deployed):
    two = run_json("deploy", "--local", "--yes", "--regions", "us-central1,europe-west1")
    actions = {(r["kind"], r["region"]): r["action"] for r in two["resources"]}
    assert actions[("run-service", "asia-northeast1")] == "deleted"
    assert actions[("neg", "asia-northeast1")] == "deleted"
    assert actions[("backend-service", None)] == "updated"
    tokyo = ask(two["url"], **{"X-Emulator-Client-City": "Tokyo"}).json()
    assert tokyo["meta"]["served_from_region"] in ("us-central1", "europe-west1")
    three = run_json("deploy", "--local", "--yes")
    actions = {(r["kind"], r["region"]): r["action"] for r in three["resources"]}
    assert actions[("run-service", "asia-northeast1")] == "created"
    assert actions[("backend-service", None)] == "updated"
    tokyo = ask(three["url"], **{"X-Emulator-Client-City": "Tokyo"}).json()
    assert tokyo["meta"]["served_from_region"] == "asia-northeast1"


def test_a_changed_setting_updates_only_what_it_touches(deployed):
    changed = run_json("deploy", "--local", "--yes", "--max-instances", "3")
    updated = {(r["kind"], r["region"]) for r in changed["resources"] if r["action"] != "unchanged"}
    assert updated == {("run-service", region) for region in set(CITIES.values())}
    run_json("deploy", "--local", "--yes")


def test_services_run_as_their_own_least_privilege_account(deployed, local_emulator):
    state = requests.get(
        f"{local_emulator['endpoint']}/_emulator/state",
        headers=bearer(local_emulator["endpoint"]),
        timeout=10,
    ).json()
    project = local_emulator["project"]
    account = f"local-guide-run@{project}.iam.gserviceaccount.com"
    builder = f"local-guide-build@{project}.iam.gserviceaccount.com"
    assert sorted(a["email"] for a in state["iam"]["serviceAccounts"]) == [builder, account]
    services = state["run"]["services"]
    assert len(services) == 3
    assert {s["template"]["serviceAccount"] for s in services} == {account}
    bindings = state["resourcemanager"]["policy"]["bindings"]
    roles = {b["role"] for b in bindings if f"serviceAccount:{account}" in b["members"]}
    assert roles == {"roles/aiplatform.user", "roles/logging.logWriter"}
    # Teardown (below) must remove both: /_emulator/resources counts the account and any
    # binding beyond the project's initial ones.


def service_pids(endpoint: str) -> list[int]:
    state = requests.get(f"{endpoint}/_emulator/state", headers=bearer(endpoint), timeout=10).json()
    return [
        revision["pid"]
        for service in state["dataplane"]["services"]
        for revision in service["revisions"]
        if revision.get("pid")
    ]


def test_status_says_how_to_connect_and_the_token_is_needed(deployed, local_emulator):
    status = run_json("emulator", "status")
    assert status["endpoint"] == local_emulator["endpoint"]
    token_path = Path(status["tokenPath"])
    assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_path.parent.stat().st_mode) == 0o700
    token = token_path.read_text().strip()
    url = f"{status['endpoint']}/_emulator/resources"
    assert requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).ok
    assert requests.get(url, timeout=10).status_code == 401
    # GLOBALGUIDE_EMULATOR with the token from the environment reaches the same emulator.
    env = {"GLOBALGUIDE_EMULATOR": status["endpoint"], "GLOBALGUIDE_EMULATOR_TOKEN": token}
    assert run_cli("status", "--local", "--json", env=env).returncode == 0
    wrong = {**env, "GLOBALGUIDE_EMULATOR_TOKEN": "wrong"}
    refused = run_cli("status", "--local", env=wrong, check=False)
    assert refused.returncode == 1 and "refused the session token" in refused.stderr


def test_teardown_leaves_nothing(deployed, local_emulator):
    endpoint = local_emulator["endpoint"]
    pids = service_pids(endpoint)
    assert len(pids) >= 3
    result = run_json("teardown", "--local", "--yes")
    assert result["left"] == 0
    assert requests.get(
        f"{endpoint}/_emulator/resources", headers=bearer(endpoint), timeout=10
    ).json() == {"count": 0}
    state = requests.get(f"{endpoint}/_emulator/state", headers=bearer(endpoint), timeout=10).json()
    assert state["dataplane"]["services"] == [] and state["dataplane"]["edges"] == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    again = run_json("teardown", "--local", "--yes")
    assert again["resources"] == []
    assert run_json("status", "--local")["deployed"] is False
