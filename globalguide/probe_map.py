"""``probe --map FILE``: a world map of the probed cities by serving region, as a
standalone HTML page (``FILE.html``) or SVG picture (``FILE.svg``).

Equirectangular projection. The land is Natural Earth's 1:110m outline shipped in
``globalguide/data`` (public domain; see NATURAL_EARTH.txt), so nothing is fetched. Each
probed city is a dot coloured by the region that served it, joined by a thin line to that
region; each deployed region is a labelled square; the slowest cities are labelled with
their time. Hovering shows the measured time and the modelled RTT.
"""

from __future__ import annotations

import functools
import json
import os
from html import escape
from pathlib import Path
from typing import Any

from globalguide import geo
from globalguide.errors import UsageError

LAND_FILE = Path(__file__).parent / "data" / "land-110m.json"
SLOWEST_LABELLED = 5
SUFFIXES = (".html", ".htm", ".svg")

WIDTH, HEIGHT = 1000, 500
PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
           "#1f78b4", "#b2df8a", "#fb9a99")  # fmt: skip
FAILED = "#888888"


def _xy(lat: float, lon: float) -> tuple[float, float]:
    return (lon + 180) / 360 * WIDTH, (90 - lat) / 180 * HEIGHT


@functools.lru_cache(maxsize=1)
def land_paths() -> tuple[str, ...]:
    """One SVG path per land ring, in map coordinates."""
    rings = json.loads(LAND_FILE.read_text())["rings"]
    paths = []
    for flat in rings:
        points = [_xy(flat[i + 1], flat[i]) for i in range(0, len(flat), 2)]
        paths.append("M" + "L".join(f"{x:.1f} {y:.1f}" for x, y in points) + "Z")
    return tuple(paths)


def _time_ms(probe: dict[str, Any]) -> float | None:
    measured = (probe.get("measured") or {}).get("total_ms")
    if measured is not None:
        return float(measured)
    served = probe.get("served_from_region") or ""
    modelled = (probe.get("modelled") or {}).get("rtt_ms_by_region", {}).get(served)
    return None if modelled is None else float(modelled)


def slowest(probes: list[dict[str, Any]], n: int = SLOWEST_LABELLED) -> list[dict[str, Any]]:
    timed = [p for p in probes if p.get("city") and _time_ms(p) is not None]
    return sorted(timed, key=lambda p: -(_time_ms(p) or 0.0))[:n]


def _label_at(right_of: float, left_of: float) -> str:
    """A label right of its point, or left of it near the east edge (so it is not cut)."""
    if right_of > WIDTH - 130:
        return f'x="{left_of:.1f}" text-anchor="end"'
    return f'x="{right_of:.1f}"'


def svg(document: dict[str, Any]) -> str:
    """The map as one standalone SVG element."""
    deployed = list(document.get("deployed_regions") or [])
    colours = {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(deployed)}
    parts = [
        "<style>.grid{stroke:#c8d6e5;stroke-width:0.5}.land{fill:#dfe6d8;stroke:#9aa68f;"
        "stroke-width:0.5}text{font-family:system-ui,sans-serif;font-size:11px;"
        "paint-order:stroke;stroke:#fff;stroke-width:3px}.region-label{font-weight:bold}"
        "</style>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#eef4fb"/>',
        *(f'<path class="land" d="{d}"/>' for d in land_paths()),
    ]
    for lon in range(-180, 181, 30):
        x, _ = _xy(0, lon)
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{HEIGHT}" class="grid"/>')
    for lat in range(-90, 91, 30):
        _, y = _xy(lat, 0)
        parts.append(f'<line x1="0" y1="{y:.1f}" x2="{WIDTH}" y2="{y:.1f}" class="grid"/>')
    for probe in document.get("probes", []):
        city = probe.get("city")
        if not city:
            continue
        x, y = _xy(city["lat"], city["lon"])
        served = probe.get("served_from_region")
        colour = colours.get(served or "", FAILED)
        region = geo.REGIONS.get(served or "")
        if region is not None:
            rx, ry = _xy(region.lat, region.lon)
            parts.append(
                f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{rx:.1f}" y2="{ry:.1f}" '
                f'stroke="{colour}" stroke-opacity="0.35"/>'
            )
        modelled = (probe.get("modelled") or {}).get("rtt_ms_by_region", {}).get(served or "")
        measured = (probe.get("measured") or {}).get("total_ms")
        title = (
            f"{city['name']}, {city['country']}: served from {served or 'no region'}; "
            f"measured {measured if measured is not None else '-'} ms; modelled RTT "
            f"{modelled if modelled is not None else '-'} ms"
        )
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
            f"<title>{escape(title)}</title></circle>"
        )
    for name in deployed:
        region = geo.REGIONS.get(name)
        if region is None:
            continue
        x, y = _xy(region.lat, region.lon)
        parts.append(
            f'<rect x="{x - 6:.1f}" y="{y - 6:.1f}" width="12" height="12" '
            f'fill="{colours[name]}" stroke="#000"><title>{escape(name)} '
            f"({escape(region.city)})</title></rect>"
        )
        parts.append(
            f'<text class="region-label" {_label_at(x + 9, x - 9)} y="{y + 4:.1f}" '
            f'fill="{colours[name]}">{escape(name)}</text>'
        )
    for probe in slowest(document.get("probes", [])):
        city = probe["city"]
        x, y = _xy(city["lat"], city["lon"])
        label = f"{city['name']} {_time_ms(probe):.0f} ms"
        parts.append(f'<text class="city-label" {_label_at(x + 6, x - 6)} y="{y - 6:.1f}">'
                     f"{escape(label)}</text>")  # fmt: skip
    parts.append(
        f'<text x="6" y="{HEIGHT - 6}" font-size="9">Land: Natural Earth 1:110m (public '
        "domain)</text>"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="Probed cities by serving region">{"".join(parts)}</svg>'
    )


def render(document: dict[str, Any]) -> str:
    """The map as a standalone HTML page."""
    deployed = list(document.get("deployed_regions") or [])
    colours = {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(deployed)}
    legend = "".join(
        f'<li><span style="background:{c}"></span>{escape(r)}</li>' for r, c in colours.items()
    )
    url = escape(str(document.get("url", "")))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>globalguide probe map</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1rem; }}
svg {{ width: 100%; max-width: {WIDTH}px; height: auto; border: 1px solid #ccc; }}
ul {{ list-style: none; padding: 0; display: flex; gap: 1rem; }}
li span {{ display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.3em; }}
</style></head><body>
<h1>Which region answers each city</h1>
<p>{len(document.get("probes", []))} probes of {url} ({escape(str(document.get("via")))}).
Dots: cities, coloured by the serving region (grey: failed). Squares: deployed regions.
The {SLOWEST_LABELLED} slowest cities are labelled. Hover for the measured time and the
<em>modelled</em> RTT.</p>
<ul>{legend}<li><span style="background:{FAILED}"></span>failed</li></ul>
{svg(document)}
</body></html>
"""


def check_map_path(path: Path) -> None:
    """Refuse a map path that cannot be written, before anything is probed."""
    if path.is_dir():
        raise UsageError(f"--map {path} is a directory; give a file name.")
    if path.suffix.lower() not in SUFFIXES:
        raise UsageError(f"--map {path}: the file must end in .html or .svg.")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"Cannot write the map to {path}: {parent} does not exist.")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"Cannot write the map to {path}: {parent} is not writable.")


def write_map(path: Path, document: dict[str, Any]) -> None:
    text = svg(document) + "\n" if path.suffix.lower() == ".svg" else render(document)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"Cannot write the map to {path}: {exc.strerror}.") from None
