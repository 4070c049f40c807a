"""The same deploy, probe and teardown checks on the emulator and, given
GLOBALGUIDE_TEST_PROJECT, on a real Google Cloud project (docs/emulator.md, "Running the
tests against a real project")."""

from __future__ import annotations

import pytest

from tests.e2e.targets import CLOUD, deployed, target  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e

REGIONS = {"asia-northeast1", "europe-west1", "us-central1"}


def test_deploy_serves_every_region_behind_one_url(deployed):  # noqa: F811
    t, document = deployed
    assert document["target"] == ("emulator" if t.kind != CLOUD else "google-cloud")
    kinds = [r["kind"] for r in document["resources"]]
    assert kinds.count("run-service") == 3 and kinds.count("neg") == 3
    assert {r["region"] for r in document["regions"]} == REGIONS
    assert document["served_from_region"] in REGIONS


def test_status_shows_every_region_answering(deployed):  # noqa: F811
    t, document = deployed
    status = t.json("status")
    assert status["url"] == document["url"]
    assert sorted(r["region"] for r in status["regions"]) == sorted(REGIONS)
    assert [r["answers"] for r in status["regions"]] == [True, True, True]


def test_a_second_deploy_changes_nothing(deployed):  # noqa: F811
    t, _ = deployed
    again = t.json("deploy", "--yes")
    assert {r["action"] for r in again["resources"]} == {"unchanged"}


def test_tokyo_is_served_from_tokyo(deployed):  # noqa: F811
    t, _ = deployed
    via = ["--via", "vm"] if t.kind == CLOUD else []
    document = t.json("probe", "--as-city", "Tokyo", *via)
    (probe,) = document["probes"]
    assert probe["status"] == "ok", probe
    assert probe["served_from_region"] == "asia-northeast1"


def test_teardown_leaves_nothing(deployed):  # noqa: F811
    t, _ = deployed
    assert t.json("teardown", "--yes")["left"] == 0
    assert t.json("status")["deployed"] is False
