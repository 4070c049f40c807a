"""What a plan changes, field by field, as Terraform shows it; and saved plans.

A plan row gains ``changes``: for a create every owned field (``+``), for an update the
fields whose owned value differs (``~ old -> new``), for a delete every field the cloud
holds (``-``). Any other action (a ``repair``, or one added later) shows the fields that
differ, like an update. Counts: creates are "to add", deletes "to destroy", every other
changing action "to change".

A saved plan (``deploy --plan-out``) holds the spec and, per step, its action and the
owned fields of what existed when it was computed. ``deploy --plan`` plans again and
applies only when the new plan is the saved one, so what is applied is what was reviewed.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from globalguide.cloud.plan import ABSENT, CREATE, DELETE, UNCHANGED, Plan, Step
from globalguide.errors import CloudError, UsageError

PLAN_SCHEMA_VERSION = 1
MAX_PLAN_BYTES = 1_000_000

# The Cloud Run API's names for the owned fields people change most.
_FIELD_LABELS = {
    ("run-service", "min"): "minInstanceCount",
    ("run-service", "max"): "maxInstanceCount",
    ("run-service", "concurrency"): "maxInstanceRequestConcurrency",
    ("run-service", "account"): "serviceAccount",
}
MARKERS = {"add": "+", "change": "~", "remove": "-"}


def _plain(value: Any) -> Any:
    """A JSON-safe copy: protobuf maps and repeated fields become dicts and lists."""
    return json.loads(json.dumps(value, default=lambda v: dict(v) if hasattr(v, "items")
                                  else list(v) if hasattr(v, "__iter__") else str(v)))  # fmt: skip


def _flatten(owned: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in owned.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def current_owned(step: Step) -> dict[str, Any] | None:
    if step.current is None:
        return None
    try:
        return _plain(step.resource.owned(step.current))
    except (AttributeError, TypeError, ValueError, IndexError):
        return {}


def desired_owned(step: Step) -> dict[str, Any]:
    try:
        return _plain(step.resource.desired_owned())
    except (AttributeError, TypeError, ValueError, NotImplementedError):
        return {}


def field_changes(step: Step) -> list[dict[str, Any]]:
    """[{"op": "add"|"change"|"remove", "field", "old", "new"}] for one step."""
    kind = step.resource.kind

    def label(name: str) -> str:
        return _FIELD_LABELS.get((kind, name), name)

    if step.action in (UNCHANGED, ABSENT):
        return []
    if step.action == CREATE:
        new = _flatten(desired_owned(step))
        return [{"op": "add", "field": label(k), "old": None, "new": v} for k, v in new.items()]
    if step.action == DELETE:
        old = _flatten(current_owned(step) or {})
        return [{"op": "remove", "field": label(k), "old": v, "new": None} for k, v in old.items()]
    old, new = _flatten(current_owned(step) or {}), _flatten(desired_owned(step))
    changes = []
    for key in sorted(set(old) | set(new), key=lambda k: (k not in new, k)):
        if old.get(key) != new.get(key):
            op = "add" if key not in old else "remove" if key not in new else "change"
            changes.append({"op": op, "field": label(key), "old": old.get(key),
                            "new": new.get(key)})  # fmt: skip
    return changes


def counts(plan: Plan) -> dict[str, int]:
    add = sum(1 for s in plan.changes if s.action == CREATE)
    destroy = sum(1 for s in plan.changes if s.action == DELETE)
    return {"add": add, "change": len(plan.changes) - add - destroy, "destroy": destroy}


def counts_of_rows(rows: list[dict[str, Any]]) -> dict[str, int]:
    """The same counts from plan rows (as --json prints them)."""
    quiet = (UNCHANGED, ABSENT, "present")
    add = sum(1 for r in rows if r["action"] == CREATE)
    destroy = sum(1 for r in rows if r["action"] == DELETE)
    changed = sum(1 for r in rows if r["action"] not in quiet)
    return {"add": add, "change": changed - add - destroy, "destroy": destroy}


def summary_line(numbers: dict[str, int]) -> str:
    return (
        f"Plan: {numbers['add']} to add, {numbers['change']} to change, "
        f"{numbers['destroy']} to destroy."
    )


def rows_with_changes(plan: Plan) -> list[dict[str, Any]]:
    """plan.rows() with each row's field changes."""
    rows = []
    for step in plan.steps:
        if step.action == ABSENT:
            continue
        rows.append({**step.resource.row(step.action), "changes": field_changes(step)})
    return rows


def show_value(value: Any, limit: int = 60) -> str:
    text = "(none)" if value is None else json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


def change_lines(change: dict[str, Any]) -> str:
    """``~ maxInstanceCount 5 -> 7``, ``+ image uri``, ``- label x``."""
    marker = MARKERS.get(change["op"], "~")
    if change["op"] == "add":
        return f"{marker} {change['field']} {show_value(change['new'])}"
    if change["op"] == "remove":
        return f"{marker} {change['field']} {show_value(change['old'])}"
    return f"{marker} {change['field']} {show_value(change['old'])} -> {show_value(change['new'])}"


# ------------------------------------------------------------------------- saved plans


def _step_record(step: Step) -> dict[str, Any]:
    return {"key": step.key, "action": step.action, "current": current_owned(step)}


def plan_document(plan: Plan, target: str) -> dict[str, Any]:
    spec = asdict(plan.spec)
    spec["regions"] = list(plan.spec.regions)
    return {
        "schema_version": PLAN_SCHEMA_VERSION,
        "target": target,
        "spec": spec,
        "steps": [_step_record(s) for s in plan.steps if s.action != ABSENT],
    }


def save_plan(path: Path, plan: Plan, target: str) -> None:
    try:
        path.write_text(json.dumps(plan_document(plan, target), indent=1) + "\n")
    except OSError as exc:
        raise UsageError(f"Cannot write the plan to {path}: {exc.strerror}.") from None


def check_plan_path(path: Path) -> None:
    """Refuse a --plan-out path that cannot be written, before anything is read."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir() or not parent.is_dir():
        raise UsageError(f"Cannot write the plan to {path}: no such directory.")


def load_plan(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"Cannot read the plan {path}: {exc.strerror}.") from None
    if len(raw) > MAX_PLAN_BYTES:
        raise UsageError(f"{path} is too large to be a saved plan.")
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"{path} is not a saved plan (not JSON).") from None
    if not isinstance(document, dict) or document.get("schema_version") != PLAN_SCHEMA_VERSION:
        raise UsageError(
            f"{path} is not a saved plan of schema version {PLAN_SCHEMA_VERSION}.",
            hint="Save one with `globalguide deploy --dry-run --plan-out FILE`.",
        )
    if not isinstance(document.get("spec"), dict) or not isinstance(document.get("steps"), list):
        raise UsageError(f"{path} is not a saved plan: spec or steps missing.")
    return document


def spec_flags(document: dict[str, Any]) -> dict[str, Any]:
    """The saved spec as deploy flags (validated again by build_spec)."""
    spec = document["spec"]
    keys = ("project", "name", "regions", "model", "min_instances", "max_instances",
            "concurrency", "domain", "source", "image", "port", "cpu", "memory")  # fmt: skip
    flags = {k: spec.get(k) for k in keys}
    if isinstance(flags["regions"], list):
        flags["regions"] = ",".join(str(r) for r in flags["regions"])
    flags["env"] = [f"{k}={v}" for k, v in spec.get("env") or []]
    return flags


def differences(saved: dict[str, Any], plan: Plan, target: str) -> list[str]:
    """What differs between a saved plan and the plan computed now (empty: the same)."""
    now = plan_document(plan, target)
    problems = []
    if saved.get("target") != target:
        problems.append(f"the plan was made for {saved.get('target')}, not {target}")
    if _spec_key(saved["spec"]) != _spec_key(now["spec"]):
        problems.append("the settings differ")
    before = {s.get("key"): s for s in saved["steps"] if isinstance(s, dict)}
    after = {s["key"]: s for s in now["steps"]}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old is None:
            problems.append(f"{key} is new: {new['action']}")
        elif new is None:
            problems.append(f"{key} is no longer part of the plan")
        elif old.get("action") != new["action"]:
            problems.append(f"{key}: {old.get('action')} is now {new['action']}")
        elif old.get("current") != new["current"]:
            was = _flatten(old.get("current") or {})
            now_fields = _flatten(new["current"] or {})
            moved = [
                f"{f} {show_value(was.get(f), 20)} -> {show_value(now_fields.get(f), 20)}"
                for f in sorted(set(was) | set(now_fields))
                if was.get(f) != now_fields.get(f)
            ]
            problems.append(f"{key}: {', '.join(moved[:2]) or 'changed'}")
    return problems


def _spec_key(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, list | tuple) else v) for k, v in spec.items()}


def refuse_changed(path: Path, problems: list[str]) -> CloudError:
    shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
    return CloudError(
        f"What exists changed since {path} was saved ({shown}); nothing was applied.",
        hint=f"Review a new plan: `globalguide deploy --dry-run --plan-out {path}`, then "
        f"`globalguide deploy --plan {path}`.",
    )


def plan_estimate(plan: Plan, *, from_current: bool = False) -> dict[str, Any]:
    """The cost estimate of what the plan leaves in place (``from_current``: of what
    exists now, for `status`)."""
    from globalguide import prices

    items = []
    for step in plan.steps:
        if step.action in (ABSENT, DELETE):
            continue
        owned = (current_owned(step) if from_current else desired_owned(step)) or {}
        items.append((step.key, step.resource.kind, owned))
    return prices.estimate(items)
