"""CLI conventions without a cloud: tables that fit, plurals, input refused before any
call, city lookup by clear population dominance."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from globalguide import geo
from globalguide.errors import UsageError
from globalguide.probe_map import check_map_path
from globalguide.spec import build_spec
from globalguide.ui import UI, plural

LONG = "australia-southeast1"


def render(table, width: int) -> list[str]:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(table)
    return console.file.getvalue().splitlines()


@pytest.mark.parametrize("width", [80, 200])
def test_tables_fit_and_never_cut_a_region_name(width):
    rows = [[LONG, "Sydney", "AU", "-33.87", "151.21", "a, b, c"],
            ["australia-southeast2", "Melbourne", "AU", "-37.81", "144.96", "a, b, c"]]  # fmt: skip
    table = UI.table("Regions", ["region", "location", "country", "lat", "lon", "zones"], rows,
                     keep=("region",), optional=("lat", "lon"), width=width)  # fmt: skip
    lines = render(table, width)
    assert all(len(line) <= width for line in lines)
    text = "\n".join(lines)
    assert LONG in text and "australia-southeast2" in text
    if width == 200:
        assert "151.21" in text  # nothing dropped when there is room


def test_plural():
    assert plural(1, "request") == "1 request"
    assert plural(2, "probe") == "2 probes"
    assert plural(0, "resource") == "0 resources"


@pytest.mark.parametrize(
    "flags, fragment",
    [({"regions": ""}, "--regions is empty"), ({"name": ""}, "--name is empty"),
     ({"regions": " , "}, "--regions is empty"), ({"regions": "us-central1,MOON-1"}, "unknown")],
)  # fmt: skip
def test_empty_or_bad_values_are_refused(flags, fragment, tmp_path):
    with pytest.raises(UsageError, match=fragment):
        build_spec(flags, local=True, local_project="p-local", env={},
                   settings_path=tmp_path / "none.toml")  # fmt: skip


def test_regions_are_lower_cased(tmp_path):
    spec = build_spec({"regions": "US-CENTRAL1, Europe-West1"}, local=True,
                      local_project="p-local", env={}, settings_path=tmp_path / "x")  # fmt: skip
    assert spec.regions == ("us-central1", "europe-west1")


def test_st_petersburg_is_the_city_of_five_million():
    city = geo.find_city("St. Petersburg")
    assert (city.name, city.country) == ("Saint Petersburg", "RU")
    assert geo.find_city("St. Petersburg, FL").country == "US"
    # No clear winner (under AMBIGUITY_RATIO): the candidates are listed.
    with pytest.raises(geo.AmbiguousCity) as info:
        geo.find_city("Springfield")
    assert len(info.value.candidates) > 1


def test_the_map_path_is_checked_first(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        check_map_path(tmp_path / "no" / "such" / "x.html")
    with pytest.raises(UsageError, match=".html or .svg"):
        check_map_path(tmp_path / "map.png")
    with pytest.raises(UsageError, match="directory"):
        check_map_path(tmp_path)
    check_map_path(tmp_path / "map.svg")
