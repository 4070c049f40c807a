"""Demand from a weights file: every way to name a place, and every bad row exit 2 with its
line."""

import pytest

from globalguide import demand, geo
from globalguide.errors import UsageError


def _parse(text):
    return demand.parse(text, "weights.csv")


def test_each_way_of_naming_a_place():
    got = _parse(
        "City,Country,Lat,Lon,Weight\n"
        "Tokyo,,,,10\n"
        "Paris,US,,,0\n"  # weight 0: resolved, contributes nothing
        '"Springfield, MO, US",,,,4\n'
        ",,48.85,2.35,6\n"
        ",Japan,,,20\n"
    )
    tokyo = geo.find_city("Tokyo")
    by_place = {(p.lat, p.lon): p.weight for p in got.points}
    japan = geo.cities_in("JP", demand.COUNTRY_SPREAD_CITIES)
    share = 20 * tokyo.population / sum(c.population for c in japan)
    # Tokyo's own row and its share of Japan's are summed into one place.
    assert by_place[(tokyo.lat, tokyo.lon)] == pytest.approx(10 + share)
    missouri = geo.find_city("Springfield, MO, US")
    assert by_place[(missouri.lat, missouri.lon)] == 4
    assert by_place[(48.85, 2.35)] == 6
    assert sum(by_place.values()) == pytest.approx(40)
    assert len(got.points) == len(japan) + 2
    assert got.source == "weights" and got.basis == f"weights.csv: 5 rows, {len(got.points)} places"


def test_columns_in_any_order_and_lat_lon_only():
    got = _parse("weight,lon,lat\n5,139.65,35.68\n\n7,-0.13,51.51\n")
    assert [(p.lat, p.lon, p.weight) for p in got.points] == [(35.68, 139.65, 5), (51.51, -0.13, 7)]


def test_countries_by_code_alpha3_or_name():
    for name in ("BR", "bra", "Brazil", "brazil"):
        got = _parse(f"country,weight\n{name},1\n")
        assert len(got.points) == demand.COUNTRY_SPREAD_CITIES
        assert {geo.city_at(p.lat, p.lon).country for p in got.points} == {"BR"}


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "city,weight\nTokyo,1\nXyzzyville,3\n",
            "weights.csv line 3: No known city matches 'Xyzzyville'",
        ),
        (
            "city,weight\nTokyo,1\n\nSpringfield,3\n",
            "weights.csv line 4: 'Springfield' matches several",
        ),
        ("city,country,weight\nParis,Atlantis,3\n", "weights.csv line 2: No known city matches"),
        ("country,weight\nTokyo,1\nAtlantis,2\n", "weights.csv line 2: unknown country 'Tokyo'"),
        ("city,weight\nTokyo,lots\n", "weights.csv line 2: weight must be a number, not 'lots'"),
        ("city,weight\nTokyo,-1\n", "weights.csv line 2: weight must not be negative"),
        ("city,weight\nTokyo,nan\n", "weights.csv line 2: weight must be a finite number"),
        ("lat,lon,weight\n91,0,1\n", "weights.csv line 2: lat must be in [-90, 90]"),
        ("lat,lon,weight\n10,,1\n", "weights.csv line 2: give both lat and lon"),
        ("city,country,weight\n,,1\n", "weights.csv line 2: give a city, a country"),
        ("city,weight\nTokyo,1,9\n", "weights.csv line 2: 3 cells, but the header has 2"),
        ('city,weight\n"Tokyo,1\n', "weights.csv line 2: not valid CSV"),
        ("town,weight\nTokyo,1\n", "weights.csv line 1: unknown column 'town'"),
        ("city,city,weight\n", "weights.csv line 1: column 'city' appears twice"),
        ("city\nTokyo\n", "weights.csv line 1: a weight column is needed"),
        ("lat,weight\n1,1\n", "weights.csv line 1: a city, country, or lat and lon column"),
        ("", "weights.csv is empty"),
        ("city,weight\nTokyo,0\n", "weights.csv has no row with a weight above zero"),
    ],
)
def test_bad_input_names_the_line(text, message):
    with pytest.raises(UsageError) as caught:
        _parse(text)
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith(message), caught.value.message


def test_bounds(tmp_path, monkeypatch):
    big = tmp_path / "big.csv"
    big.write_bytes(b"city,weight\n" + b"Tokyo,1\n" * (demand.MAX_FILE_BYTES // 8))
    with pytest.raises(UsageError, match="too large"):
        demand.from_file(big)
    monkeypatch.setattr(demand, "MAX_ROWS", 3)
    with pytest.raises(UsageError, match="more than 3 rows"):
        _parse("city,weight\n" + "Tokyo,1\n" * 4)
    monkeypatch.setattr(demand, "MAX_PLACES", 2)
    with pytest.raises(UsageError, match="weights.csv line 4: more than 2 distinct places"):
        _parse("lat,lon,weight\n1,1,1\n2,2,1\n3,3,1\n")
    with pytest.raises(UsageError, match="Cannot read"):
        demand.from_file(tmp_path / "missing.csv")
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"city,weight\n\xff\xfe,1\n")
    with pytest.raises(UsageError, match="not UTF-8"):
        demand.from_file(binary)


def test_population():
    got = demand.population(10)
    assert len(got.points) == 10 and got.source == "population"
    assert [p.weight for p in got.points] == [c.population for c in geo.largest_cities(10)]


def test_country_helpers():
    assert geo.country_code("Deutschland") in (None, "DE")
    assert geo.country_code("DEU") == geo.country_code("germany") == "DE"
    assert geo.country_code("Atlantis") is None and geo.country_code("x" * 10_000) is None
    top = geo.cities_in("FR", 3)
    assert [c.name for c in top][0] == "Paris" and all(c.country == "FR" for c in top)
