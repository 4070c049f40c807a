"""`--regions suggest:K` in the deploy spec, and the constraints of `regions suggest`."""

from __future__ import annotations

import pytest

from globalguide import demand, geo, placement, suggest
from globalguide.errors import UsageError
from globalguide.gemini_catalog import MODELS
from globalguide.spec import build_spec


def _spec(tmp_path, flags=None, env=None, toml=None):
    path = tmp_path / "globalguide.toml"
    if toml is not None:
        path.write_text(toml)
    return build_spec(
        {"project": "my-project-1", **(flags or {})}, local=False, env=env or {},
        settings_path=path,
    )  # fmt: skip


def test_suggest_k_from_flag_environment_or_file_is_the_best_k(tmp_path):
    points = demand.population(suggest.DEFAULT_CITIES_TOP).points
    for k, where in ((3, "flag"), (2, "env"), (4, "file")):
        flags = {"regions": f"suggest:{k}"} if where == "flag" else {}
        env = {"GLOBALGUIDE_REGIONS": f"suggest:{k}"} if where == "env" else {}
        toml = f'regions = "suggest:{k}"\n' if where == "file" else None
        s = _spec(tmp_path, flags, env, toml)
        best = placement.choose(k, points, sorted(geo.REGIONS))
        assert s.regions == best.regions and s.region_choice.regions == best.regions
        assert s.region_choice.k == k and s.region_choice.gap == 0
        assert f"suggest:{k} chose {', '.join(best.regions)}" in s.region_choice.reason()
        assert s.region_choice.to_dict()["mean_rtt_ms"] == round(best.mean_rtt_ms, 2)


def test_suggest_k_with_weights(tmp_path):
    weights = tmp_path / "weights.csv"
    weights.write_text("city,weight\nLima,10\nBogotá,8\nMadrid,1\n", encoding="utf-8")
    s = _spec(tmp_path, {"regions": "suggest:1", "weights": weights})
    assert s.regions == ("southamerica-west1",)
    assert s.region_choice.basis == "weights.csv: 3 rows, 3 places"
    weights.write_text("city,weight\nLima,10\nAtlantis of the Sea,8\n", encoding="utf-8")
    with pytest.raises(UsageError, match="weights.csv line 3: No known city matches"):
        _spec(tmp_path, {"regions": "suggest:1", "weights": weights})


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"regions": "suggest:0"}, "needs K between 1 and 10"),
        ({"regions": "suggest:11"}, "needs K between 1 and 10"),
        ({"regions": "suggest"}, "needs K between 1 and 10"),
        ({"regions": "us-east1", "weights": "w.csv"}, "--weights applies only"),
        ({"weights": "w.csv"}, "--weights applies only"),
    ],
)
def test_suggest_k_bad_input(tmp_path, flags, message):
    with pytest.raises(UsageError, match=message):
        _spec(tmp_path, flags)


def test_a_list_of_regions_has_no_choice(tmp_path):
    s = _spec(tmp_path, {"regions": "us-east1,europe-west1"})
    assert s.regions == ("us-east1", "europe-west1") and s.region_choice is None


def test_constraints():
    rules = suggest.constraints("gemini-2.5-flash", ("Europe-West1",), ("us-east1",))
    served = MODELS["gemini-2.5-flash"].regions & set(geo.REGIONS)
    assert set(rules.candidates) == served - {"us-east1"}
    assert rules.required == ("europe-west1",) and rules.excluded == ("us-east1",)
    assert len(suggest.constraints().candidates) == len(geo.REGIONS)
    for args, message in [
        (("gemini-3.8-flash", (), ()), "served in-region nowhere"),
        ((None, ("moon-base1",), ()), "--require: unknown region"),
        ((None, (), ("moon-base1",)), "--exclude: unknown region"),
        ((None, ("us-east1",), ("us-east1",)), "both required and excluded"),
        (("gemini-2.5-flash", ("asia-northeast2",), ()), "not served in that region"),
        ((None, (), tuple(geo.REGIONS)), "No candidate region is left"),
    ]:
        with pytest.raises(UsageError, match=message):
            suggest.constraints(*args)


def test_ladder_and_document():
    points = demand.population(50)
    rules = suggest.constraints(None, ("us-central1",), ())
    with pytest.raises(UsageError, match="-k must be between 1 and 10"):
        suggest.ladder(11, points, suggest.constraints())
    choices = suggest.ladder(3, points, rules)
    assert [len(c.regions) for c in choices] == [1, 2, 3]
    assert all("us-central1" in c.regions for c in choices)
    doc = suggest.document(points, rules, choices, ["us-east1", "europe-west1"])
    assert doc["current"]["regions"] == ["europe-west1", "us-east1"]
    mean, p95 = placement.evaluate(["europe-west1", "us-east1"], points.points)
    assert doc["current"]["mean_rtt_ms"] == round(mean, 2)
    assert doc["current"]["p95_rtt_ms"] == round(p95, 2)
    assert doc["best"][1]["gain_ms"] == round(choices[0].mean_rtt_ms - choices[1].mean_rtt_ms, 2)
    assert "current" not in suggest.document(points, rules, choices, None)
