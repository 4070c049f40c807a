"""Where the emulated load balancer believes a client is.

The real load balancer derives a client's location from its IP address. Every client of the
emulator is on loopback, so it takes the location from an emulator-only request header
instead, and removes that header before the request goes on:

- ``X-Emulator-Client-City: Tokyo`` (or ``Tokyo, JP``): a city, resolved with the offline
  city table;
- ``X-Emulator-Client-LatLng: 35.68,139.69``: a point; the city fields are those of the
  nearest known city within 50 km, else empty (the point itself is ``client_city_lat_long``).

Without either header the emulator's ``--client-city`` applies. ``LatLng`` wins over
``City`` when both are sent.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from globalguide import geo
from globalguide.wire.guide_request import CITY_HEADER, LATLNG_HEADER

EMULATOR_HEADERS = (CITY_HEADER, LATLNG_HEADER)
NEAREST_CITY_MAX_KM = 50.0
_MAX_HEADER_CHARS = 200


class BadClientLocation(ValueError):
    """The emulator-only location header cannot be understood; the message says why."""


@dataclass(frozen=True)
class ClientLocation:
    lat: float
    lon: float
    city: str = ""
    region: str = ""  # the CLDR region (country) code, e.g. "FR"
    subdivision: str = ""  # e.g. "USCA"

    @property
    def lat_long(self) -> str:
        return f"{self.lat:.6f},{self.lon:.6f}"


def locate(
    city_header: bytes | None, latlng_header: bytes | None, default_city: str
) -> ClientLocation:
    if latlng_header is not None:
        return _from_latlng(_text(latlng_header, LATLNG_HEADER))
    if city_header is not None:
        return _from_city(_text(city_header, CITY_HEADER), CITY_HEADER)
    return _from_city(default_city, "--client-city")


def _text(raw: bytes, header: str) -> str:
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise BadClientLocation(f"{header} is not valid UTF-8") from None
    if not text or len(text) > _MAX_HEADER_CHARS:
        raise BadClientLocation(f"{header} must be 1 to {_MAX_HEADER_CHARS} characters")
    return text


@functools.lru_cache(maxsize=1024)
def _from_city(query: str, source: str) -> ClientLocation:
    try:
        city = geo.find_city(query)
    except (geo.CityNotFound, geo.AmbiguousCity) as exc:
        raise BadClientLocation(f"{source}: {exc}") from None
    return ClientLocation(city.lat, city.lon, city.name, city.country, city.subdivision)


def _from_latlng(text: str) -> ClientLocation:
    try:
        lat_text, lon_text = text.split(",")
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise BadClientLocation(
            f"{LATLNG_HEADER} must be 'latitude,longitude', e.g. '35.68,139.69'"
        ) from None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise BadClientLocation(f"{LATLNG_HEADER} is outside -90..90, -180..180")
    return _near(round(lat, 6), round(lon, 6))


@functools.lru_cache(maxsize=1024)
def _near(lat: float, lon: float) -> ClientLocation:
    city = geo.city_at(lat, lon, max_km=NEAREST_CITY_MAX_KM)
    if city is None:
        return ClientLocation(lat, lon)
    return ClientLocation(lat, lon, city.name, city.country, city.subdivision)


def warm_up() -> None:
    """Load the city table ahead of the first request (it takes a moment)."""
    try:
        geo.find_city("Paris")
    except ValueError:
        pass
