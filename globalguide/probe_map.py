"""``probe --map FILE``: a standalone HTML page with an inline SVG world map.

Equirectangular projection on a graticule (no coastline data ships with the package, and
the page loads nothing from outside): each probed city is a dot coloured by the region
that served it, joined by a thin line to that region's location; each deployed region is
a square. Hovering shows the measured time and the modelled RTT.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from globalguide import geo
from globalguide.errors import UsageError

WIDTH, HEIGHT = 1000, 500
PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
           "#1f78b4", "#b2df8a", "#fb9a99")  # fmt: skip
FAILED = "#888888"


def _xy(lat: float, lon: float) -> tuple[float, float]:
    return (lon + 180) / 360 * WIDTH, (90 - lat) / 180 * HEIGHT


def render(document: dict[str, Any]) -> str:
    deployed = list(document.get("deployed_regions") or [])
    colours = {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(deployed)}
    parts = [f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#eef4fb"/>']
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
    legend = "".join(
        f'<li><span style="background:{c}"></span>{escape(r)}</li>' for r, c in colours.items()
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="Probed cities by serving region">{"".join(parts)}</svg>'
    )
    url = escape(str(document.get("url", "")))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>globalguide probe map</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1rem; }}
svg {{ width: 100%; max-width: {WIDTH}px; border: 1px solid #ccc; }}
.grid {{ stroke: #c8d6e5; stroke-width: 0.5; }}
ul {{ list-style: none; padding: 0; display: flex; gap: 1rem; }}
li span {{ display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.3em; }}
</style></head><body>
<h1>Which region answers each city</h1>
<p>{len(document.get("probes", []))} probes of {url} ({escape(str(document.get("via")))}).
Dots: cities, coloured by the serving region (grey: failed). Squares: deployed regions.
Hover for the measured time and the <em>modelled</em> RTT.</p>
<ul>{legend}<li><span style="background:{FAILED}"></span>failed</li></ul>
{svg}
</body></html>
"""


def write_map(path: Path, document: dict[str, Any]) -> None:
    try:
        path.write_text(render(document), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"Cannot write the map to {path}: {exc.strerror}.") from None
