"""Regenerate globalguide/data/land-110m.json, the coastlines `probe --map` draws.

Source: the npm package world-atlas (https://github.com/topojson/world-atlas, ISC), whose
land-110m.json is Natural Earth's 1:110m land (public domain) as TopoJSON. Fetch it with
the ordinary npm client, outside this program:

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python tools/land_outline.py package/land-110m.json

Output: {"rings": [[lon, lat, lon, lat, ...], ...]} with coordinates rounded to 0.1
degree and consecutive duplicates removed; rings of fewer than 4 points are dropped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "globalguide" / "data" / "land-110m.json"
DECIMALS = 1


def decode_arcs(topology: dict) -> list[list[tuple[float, float]]]:
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:  # quantized and delta-encoded
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring(arcs: list, indices: list[int]) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for index in indices:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc[1:] if points else arc)
    return points


def rings_of(topology: dict) -> list[list[float]]:
    arcs = decode_arcs(topology)
    out = []
    for geometry in topology["objects"]["land"]["geometries"]:
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        for polygon in polygons:
            for indices in polygon:
                flat: list[float] = []
                for lon, lat in ring(arcs, indices):
                    point = [round(lon, DECIMALS), round(lat, DECIMALS)]
                    if flat[-2:] != point:
                        flat += point
                if len(flat) >= 8:
                    out.append(flat)
    return out


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python tools/land_outline.py PATH/TO/land-110m.json")
    topology = json.loads(Path(argv[0]).read_text())
    document = {
        "source": "Natural Earth 1:110m land, via world-atlas 2.0.2 (land-110m.json)",
        "rings": rings_of(topology),
    }
    OUT.write_text(json.dumps(document, separators=(",", ":")) + "\n")
    print(f"{OUT}: {len(document['rings'])} rings, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
