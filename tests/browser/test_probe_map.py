"""`probe --map`: the world drawn in headless Chromium, with land, regions and the slowest
cities labelled; a screenshot goes to docs/images/probe-map.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from globalguide import geo
from globalguide.probe_map import SLOWEST_LABELLED, write_map

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = ["us-central1", "europe-west1", "asia-northeast1"]
CITIES = ["Chicago", "São Paulo", "Paris, FR", "Lagos", "Mumbai", "Tokyo", "Sydney, AU",
          "Mexico City", "Cairo", "Jakarta"]  # fmt: skip


def document() -> dict:
    probes = []
    for query in CITIES:
        city = geo.find_city(query)
        region, rtt = geo.nearest_region(city.lat, city.lon, DEPLOYED)
        probes.append({
            "city": {"name": city.name, "country": city.country, "lat": city.lat,
                     "lon": city.lon},
            "served_from_region": region,
            "measured": {"total_ms": round(rtt * 1.2, 1)},
            "modelled": {"rtt_ms_by_region": {region: round(rtt, 1)}},
        })  # fmt: skip
    return {"deployed_regions": DEPLOYED, "probes": probes, "url": "http://lb", "via": "edge"}


@pytest.mark.parametrize("suffix", [".html", ".svg"])
def test_the_map_shows_land_regions_and_labelled_cities(browser, tmp_path, suffix):
    path = tmp_path / f"map{suffix}"
    doc = document()
    write_map(path, doc)
    page = browser.new_page(viewport={"width": 1040, "height": 720 if suffix == ".html" else 520})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(path.as_uri())
        land = page.locator("path.land")
        assert land.count() > 100  # Natural Earth 1:110m land: 126 rings
        box = land.first.bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0
        labels = page.locator("text.region-label").all_text_contents()
        assert sorted(labels) == sorted(DEPLOYED)
        cities = page.locator("text.city-label").all_text_contents()
        assert len(cities) == SLOWEST_LABELLED
        slowest = max(doc["probes"], key=lambda p: p["measured"]["total_ms"])
        assert any(c.startswith(slowest["city"]["name"]) for c in cities)
        assert page.locator("circle").count() == len(CITIES)
        assert all(u.startswith("file://") for u in requests)  # nothing fetched
        if suffix == ".html":
            out = ROOT / "docs" / "images" / "probe-map.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            page.locator("svg").screenshot(path=str(out))
    finally:
        page.close()
