"""Derive geocube's basemap (crates/geocube/data/ne_110m_coast.bin) from
Natural Earth 1:110m admin-0 countries (public domain).

Not run by the build: the output is committed. Run it again only to change
the data or its format, with the test venv's Python (pyogrio, shapely):

    /work/main/target/pyenv/bin/python crates/geocube/tools/make_coastline.py \
        [path/to/naturalearth_lowres.shp] [crates/geocube/data/ne_110m_coast.bin]

The default input is the copy of Natural Earth 1:110m countries that pyogrio
ships as a test fixture (`naturalearth_lowres`).

Coastlines are the polygon edges that belong to exactly one country, land
borders the edges two countries share (vertices compared at one
micro-degree). Edges on the antimeridian (both ends at longitude +-180) and
along the south pole (both ends at latitude -90) are seams of the
dataset, not coast; they are kept in the land rings (so the rings close and
can be filled) and the reader leaves them out of the coastlines.

Output format (little-endian), read by `crates/geocube/src/basemap/data.rs`:

    b"GCBM"           magic
    u16 version       1
    u16 layer count
    per layer:
      u8  kind        1 = land rings (closed, first point repeated last),
                      2 = land borders (open polylines)
      u8[3]           zero
      u32 line count
      per line:
        u32 point count
        point count x (i32 longitude, i32 latitude) in micro-degrees
"""

import struct
import sys
from collections import defaultdict
from pathlib import Path

import pyogrio
import shapely

HERE = Path(__file__).resolve().parent
DEFAULT_SHP = (
    "/work/main/target/pyenv/lib/python3.12/site-packages/pyogrio/tests/fixtures/"
    "naturalearth_lowres/naturalearth_lowres.shp"
)
DEFAULT_OUT = HERE.parent / "data" / "ne_110m_coast.bin"

LAND, BORDERS = 1, 2
EDGE_LON = 180_000_000
POLE_LAT = -90_000_000


def micro(coords):
    """A ring's vertices as integer micro-degrees, repeated points dropped."""
    out = []
    for x, y in coords:
        p = (round(x * 1e6), round(y * 1e6))
        p = (max(-EDGE_LON, min(EDGE_LON, p[0])), p[1])
        if not out or out[-1] != p:
            out.append(p)
    return out


def is_seam(a, b):
    """An edge of the dataset's frame rather than of land: the antimeridian cut or the pole."""
    return (abs(a[0]) == EDGE_LON and abs(b[0]) == EDGE_LON) or (a[1] == POLE_LAT and b[1] == POLE_LAT)


def rings_of(geometries):
    for geom in geometries:
        polys = geom.geoms if geom.geom_type == "MultiPolygon" else [geom]
        for poly in polys:
            yield micro(poly.exterior.coords)
            for hole in poly.interiors:
                yield micro(hole.coords)


def main():
    shp = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SHP
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_OUT
    geometries = shapely.from_wkb(pyogrio.read_dataframe(shp, read_geometry=True).geometry.to_wkb())
    rings = [r for r in rings_of(geometries) if len(r) >= 4]

    # How many countries hold each undirected edge.
    count = defaultdict(int)
    for ring in rings:
        for a, b in zip(ring, ring[1:]):
            count[frozenset((a, b))] += 1
    multi = sum(1 for c in count.values() if c > 2)
    if multi:
        print(f"warning: {multi} edges in more than two countries (treated as borders)")

    # Land rings: the directed coast and seam edges, walked into cycles.
    # Even-odd filling depends on the edges only, so which way a walk turns
    # at a vertex where two coasts touch does not matter.
    out_edges = defaultdict(list)
    for ring in rings:
        for a, b in zip(ring, ring[1:]):
            if count[frozenset((a, b))] == 1:
                out_edges[a].append(b)
    land = []
    for start in list(out_edges):
        while out_edges[start]:
            line = [start]
            here = start
            while out_edges[here]:
                here = out_edges[here].pop()
                line.append(here)
                if here == start:
                    break
            if line[-1] != start:
                print(f"warning: open coast chain of {len(line)} points at {start}")
            land.append(line)

    # Borders: runs of shared edges along each ring, each edge taken once.
    taken = set()
    borders = []
    for ring in rings:
        runs = []
        run = []
        for a, b in zip(ring, ring[1:]):
            e = frozenset((a, b))
            if count[e] >= 2 and e not in taken:
                taken.add(e)
                if not run:
                    run = [a]
                run.append(b)
            elif run:
                runs.append(run)
                run = []
        if run:
            runs.append(run)
        # A run through the ring's first vertex was cut in two: join it.
        if len(runs) > 1 and runs[-1][-1] == ring[0] and runs[0][0] == ring[0]:
            runs[0] = runs.pop() + runs[0][1:]
        borders.extend(runs)

    def layer(kind, lines):
        body = struct.pack("<B3xI", kind, len(lines))
        for line in lines:
            body += struct.pack("<I", len(line))
            body += b"".join(struct.pack("<ii", x, y) for x, y in line)
        return body

    data = b"GCBM" + struct.pack("<HH", 1, 2) + layer(LAND, land) + layer(BORDERS, borders)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    seams = sum(1 for line in land for a, b in zip(line, line[1:]) if is_seam(a, b))
    print(
        f"{out}: {len(data)} bytes; {len(land)} land rings ({sum(map(len, land))} points, "
        f"{seams} seam edges), {len(borders)} border lines ({sum(map(len, borders))} points)"
    )


if __name__ == "__main__":
    main()
