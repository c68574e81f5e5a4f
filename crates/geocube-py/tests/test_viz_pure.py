"""``geocube._viz.draw_state`` without the compiled package: synthetic
footprints and graticule, and the coastlines of the Rust crate's built-in
Natural Earth file projected here with pyproj, drawn with matplotlib's Agg
backend.

The module is loaded from its file, so these tests run (and must pass)
whether or not the ``geocube`` wheel is built.
"""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import geopandas as gpd  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from pyproj import Transformer  # noqa: E402
from shapely.geometry import box  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
VIZ = HERE.parent / "python" / "geocube" / "_viz.py"
BASEMAP = ROOT / "crates" / "geocube" / "data" / "ne_110m_coast.bin"

spec = importlib.util.spec_from_file_location("geocube_viz_pure", VIZ)
assert spec is not None and spec.loader is not None
viz = importlib.util.module_from_spec(spec)
spec.loader.exec_module(viz)

TO_POLAR = Transformer.from_crs("EPSG:4326", "EPSG:3413", always_xy=True)
NUUK = TO_POLAR.transform(-51.72, 64.18)


def read_basemap() -> dict[int, list[np.ndarray]]:
    """The layers of the crate's basemap file (format: tools/make_coastline.py)."""
    data = BASEMAP.read_bytes()
    assert data[:4] == b"GCBM"
    _version, n_layers = struct.unpack_from("<HH", data, 4)
    at, layers = 8, {}
    for _ in range(n_layers):
        kind, n_lines = struct.unpack_from("<B3xI", data, at)
        at += 8
        lines = []
        for _ in range(n_lines):
            (n,) = struct.unpack_from("<I", data, at)
            at += 4
            lines.append(np.frombuffer(data, dtype="<i4", count=2 * n, offset=at).reshape(-1, 2) / 1e6)
            at += 8 * n
        layers[kind] = lines
    return layers


def polar_lines(lines: list[np.ndarray]) -> list[np.ndarray]:
    """Northern lines in EPSG:3413 (what ``geocube::basemap`` would hand over)."""
    out = []
    for line in lines:
        north = line[line[:, 1] > 40]
        if len(north) >= 2:
            out.append(np.column_stack(TO_POLAR.transform(north[:, 0], north[:, 1])))
    return out


def polar_graticule() -> list[tuple[str, str, np.ndarray]]:
    out = []
    lats = np.linspace(45, 89.5, 200)
    for lon in range(-180, 180, 10):
        name = "0°" if lon == 0 else "180°" if lon == -180 else f"{abs(lon)}°{'E' if lon > 0 else 'W'}"
        out.append((name, "meridian", np.column_stack(TO_POLAR.transform(np.full_like(lats, lon), lats))))
    lons = np.linspace(-180, 180, 721)
    for lat in range(50, 90, 5):
        out.append((f"{lat}°N", "parallel", np.column_stack(TO_POLAR.transform(lons, np.full_like(lons, lat)))))
    return out


def footprints(n: int = 3) -> gpd.GeoDataFrame:
    x, y = (round(v / 100e3) * 100e3 for v in NUUK)
    boxes = [box(x + 100e3 * i, y, x + 100e3 * (i + 1), y + 100e3) for i in range(n)]
    ids = [f"tile_{i}" for i in range(n)]
    return gpd.GeoDataFrame({"id": ids, "title": ids}, geometry=boxes, crs="EPSG:3413")


@pytest.fixture(scope="module")
def basemap():
    layers = read_basemap()
    return polar_lines(layers[1]), polar_lines(layers[2])


def test_draws_a_titled_framed_map(basemap, tmp_path):
    coast, borders = basemap
    fp = footprints()
    fig = viz.draw_state(fp, coast, borders, polar_graticule(), "ArcticDEM32m", "EPSG:3413")
    assert isinstance(fig, plt.Figure)
    assert tuple(fig.get_size_inches()) == (10, 10)
    ax = fig.axes[0]
    assert ax.get_title() == "ArcticDEM32m: 3 patches loaded"
    assert ax.get_aspect() == 1.0
    # Framed to the footprints plus 2 000 km of context, Nuuk inside.
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    l, b, r, t = fp.total_bounds
    assert x0 < l and r < x1 and y0 < b and t < y1
    assert x1 - x0 == pytest.approx(2e6) and y1 - y0 == pytest.approx(2e6)
    assert x0 < NUUK[0] < x1 and y0 < NUUK[1] < y1
    # Labelled graticule, no axis tick labels.
    labels = {t.get_text() for t in ax.texts}
    assert {"65°N", "50°W", "EPSG:3413"} <= labels, labels
    assert not any(t.get_visible() and t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels())
    out = tmp_path / "state.png"
    fig.savefig(out, dpi=60)
    assert out.stat().st_size > 10_000
    assert plt.imread(out).shape[:2] == (600, 600)
    plt.close(fig)


def test_draws_into_given_axes_with_land_and_a_frame(basemap):
    coast, borders = basemap
    land = polar_lines(read_basemap()[1])
    fig, ax = plt.subplots()
    frame = (NUUK[0] - 1e6, NUUK[1] - 1e6, NUUK[0] + 1e6, NUUK[1] + 1e6)
    out = viz.draw_state(
        footprints(1), coast, borders, polar_graticule(), "T", "EPSG:3413", ax=ax, land=land, frame=frame
    )
    assert out is ax
    assert ax.get_title() == "T: 1 patch loaded"
    assert ax.get_xlim() == (frame[0], frame[2])
    plt.close(fig)


def test_an_empty_state_still_draws(basemap):
    coast, borders = basemap
    empty = gpd.GeoDataFrame({"id": []}, geometry=[], crs="EPSG:3413")
    extent = (-4e6, -3.4e6, 3.4e6, 4.1e6)
    fig = viz.draw_state(empty, coast, borders, polar_graticule(), "Empty", "EPSG:3413", cube_extent=extent)
    ax = fig.axes[0]
    assert ax.get_title() == "Empty: 0 patches loaded"
    assert ax.get_xlim()[1] - ax.get_xlim()[0] == pytest.approx(7.5e6)
    # Nothing at all: no frame, no failure.
    fig2 = viz.draw_state(empty, [], [], [], "Nothing", "EPSG:3413")
    assert fig2.axes[0].get_title() == "Nothing: 0 patches loaded"
    plt.close(fig)
    plt.close(fig2)


def test_frame_matches_the_rust_rule():
    # One 100 km patch in a continental cube: 2 000 km around it.
    f = viz.frame_for((0, 0, 100e3, 100e3), (-4e6, -4e6, 4e6, 4e6))
    assert f == pytest.approx((-950e3, -950e3, 1050e3, 1050e3))
    # Patches across the cube: their extent and a 15 % margin each side.
    f = viz.frame_for((-3e6, -1e6, 3e6, 1e6), (-4e6, -4e6, 4e6, 4e6))
    assert f[2] - f[0] == pytest.approx(7.8e6)
    # A small cube: framed to it.
    f = viz.frame_for((1000, 1000, 2000, 2000), (0, 0, 6400, 6400))
    assert f[2] - f[0] == pytest.approx(6400)
    assert viz.frame_for(None, None) is None
    assert viz.frame_for((0, 0, 1, 1), None, geographic=True)[2] == pytest.approx(10.5)
