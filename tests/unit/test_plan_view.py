"""Plans as Terraform shows them: field diffs, counts, saved plans, cost estimates."""

from __future__ import annotations

from dataclasses import replace

import pytest

from globalguide import prices
from globalguide.cloud import plan as planning
from globalguide.cloud import plan_view
from globalguide.cloud.source import make_context
from globalguide.errors import CloudError, UsageError
from globalguide.spec import DeploySpec
from tests.unit.test_plan import as_deployed, healthy, planner


@pytest.fixture
def context(tmp_path):
    (tmp_path / "app.py").write_text("print('hi')\n")
    return make_context(tmp_path)


@pytest.fixture
def spec():
    return DeploySpec(project="demo-project-1", model="gemini-3.8-flash")


def deployed_plan(spec, context, **changes):
    resources, _ = planning.desired_resources(spec, context)
    return planner(as_deployed(resources)).deploy(replace(spec, **changes), context)


def test_a_changed_setting_shows_the_field_with_old_and_new(spec, context):
    p = deployed_plan(spec, context, max_instances=7)
    rows = plan_view.rows_with_changes(p)
    services = [r for r in rows if r["kind"] == "run-service"]
    assert len(services) == 3
    for row in services:
        assert row["action"] == "update"
        assert row["changes"] == [{"op": "change", "field": "maxInstanceCount", "old": 5, "new": 7}]
        assert plan_view.change_lines(row["changes"][0]) == "~ maxInstanceCount 5 -> 7"
    counts = plan_view.counts(p)
    # bucket and image are missing in as_deployed: two creates.
    assert counts == {"add": 2, "change": 3, "destroy": 0}
    assert plan_view.counts_of_rows(rows) == counts
    assert plan_view.summary_line(counts) == "Plan: 2 to add, 3 to change, 0 to destroy."


def test_creates_list_every_field_and_deletes_what_the_cloud_holds(spec, context):
    p = planner({}).deploy(spec, context)
    service = next(s for s in p.steps if s.resource.kind == "run-service")
    changes = plan_view.field_changes(service)
    assert {"op": "add", "field": "maxInstanceCount", "old": None, "new": 5} in changes
    assert all(c["op"] == "add" for c in changes)
    service.action = planning.DELETE
    service.current = service.resource.desired()
    removed = plan_view.field_changes(service)
    assert removed and all(c["op"] == "remove" and c["new"] is None for c in removed)


def test_an_unknown_action_is_shown_as_it_is_and_counted_as_a_change(spec, context):
    p = deployed_plan(spec, context, min_instances=1)
    step = next(s for s in p.steps if s.resource.kind == "run-service")
    step.action = "repair"
    row = next(r for r in plan_view.rows_with_changes(p) if r["action"] == "repair")
    assert row["changes"][0]["field"] == "minInstanceCount"
    from globalguide.ui import plan_text

    text = plan_text("Plan", plan_view.rows_with_changes(p), None).plain
    assert "repair" in text and "~ minInstanceCount 0 -> 1" in text


def test_a_saved_plan_matches_itself_and_is_refused_after_a_change(spec, context, tmp_path):
    p = deployed_plan(spec, context, max_instances=7)
    path = tmp_path / "plan.json"
    plan_view.save_plan(path, p, "google-cloud/demo-project-1")
    saved = plan_view.load_plan(path)
    assert saved["schema_version"] == plan_view.PLAN_SCHEMA_VERSION
    assert saved["spec"]["max_instances"] == 7
    assert any(s["current"] and "max" in s["current"] for s in saved["steps"])
    again = deployed_plan(spec, context, max_instances=7)
    assert plan_view.differences(saved, again, "google-cloud/demo-project-1") == []
    # Someone set max instances to 3 in one region meanwhile.
    resources, _ = planning.desired_resources(replace(spec, max_instances=3), context)
    state = as_deployed(planning.desired_resources(spec, context)[0])
    for r in resources:
        if r.kind == "run-service" and r.region == "europe-west1":
            state[r.key] = healthy(r)
    changed = planner(state).deploy(replace(spec, max_instances=7), context)
    problems = plan_view.differences(saved, changed, "google-cloud/demo-project-1")
    assert problems == ["run-service/europe-west1/local-guide: max 5 -> 3"]
    error = plan_view.refuse_changed(path, problems)
    assert isinstance(error, CloudError) and "--plan-out" in error.hint
    assert plan_view.differences(saved, again, "emulator")  # another target


def test_a_file_that_is_not_a_plan_is_refused(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"schema_version": 99}')
    with pytest.raises(UsageError, match="schema version"):
        plan_view.load_plan(bad)
    bad.write_text("not json")
    with pytest.raises(UsageError, match="not JSON"):
        plan_view.load_plan(bad)
    with pytest.raises(UsageError, match="no such directory"):
        plan_view.check_plan_path(tmp_path / "missing" / "p.json")


def test_the_estimate_counts_forwarding_rules_and_minimum_instances(spec, context):
    cost = plan_view.plan_estimate(planner({}).deploy(replace(spec, min_instances=1), context))
    rule = 0.025 * 730
    instance = (0.000024 + 0.5 * 0.0000025) * 730 * 3600
    assert cost["monthly_fixed_usd"] == pytest.approx(rule + 3 * instance, abs=0.02)
    assert cost["resources"]["forwarding-rule/global/local-guide-http"]["monthly_usd"] == 18.25
    assert "https://cloud.google.com/load-balancing/pricing" in cost["sources"]
    assert "per million requests" in cost["traffic"] and cost["prices_read_on"]
    zero = plan_view.plan_estimate(planner({}).deploy(spec, context))
    assert zero["monthly_fixed_usd"] == 18.25  # scale to zero: only the forwarding rule
    assert all(p.source in prices.SOURCES for p in prices.PRICES.values())
