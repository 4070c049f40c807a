"""Modelled Vertex timing: time to first token, token rate, and the round trip from the
calling region to where a Vertex location is served."""

from __future__ import annotations

from globalguide import geo
from globalguide.gemini_catalog import GEMINI_REGIONS

# Modelled Gemini Flash timing. Public measurements of Flash-class models on Vertex put the
# time to first token around a few hundred milliseconds and output at roughly 150-250
# tokens per second (e.g. the Artificial Analysis leaderboard); these are midpoints.
MODELLED_TTFT_MS = 350.0
MODELLED_TOKENS_PER_S = 180.0
SAME_REGION_RTT_MS = 1.0

_JURISDICTIONS = {
    "us": tuple(r for r in GEMINI_REGIONS if r.startswith("us-")),
    "eu": tuple(r for r in GEMINI_REGIONS if r.startswith("europe-")),
}


def region_rtt_ms(a: str, b: str) -> float:
    """Modelled round trip between two regions' data centres."""
    if a == b:
        return SAME_REGION_RTT_MS
    ra, rb = geo.REGIONS[a], geo.REGIONS[b]
    km = geo.great_circle_km(ra.lat, ra.lon, rb.lat, rb.lon)
    return 2 * km * geo.ROUTE_INFLATION / geo.FIBRE_KM_PER_MS + SAME_REGION_RTT_MS


def modelled_rtt_ms(caller_region: str | None, location: str) -> float:
    """Modelled round trip from the calling region to where ``location`` is served."""
    if caller_region is None or caller_region not in geo.REGIONS:
        return 0.0
    if location in geo.REGIONS:
        return region_rtt_ms(caller_region, location)
    pool = GEMINI_REGIONS if location == "global" else _JURISDICTIONS.get(location)
    if not pool:
        return 0.0
    return min(region_rtt_ms(caller_region, region) for region in pool)
