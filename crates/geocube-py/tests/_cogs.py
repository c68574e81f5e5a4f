"""What a loaded region must hold, read from the fixture COGs with rasterio.

For the pixel centres of a loaded Dataset (its ``x``/``y`` coordinates, on
the cube's EPSG:3413 32 m lattice) each tile's COGs are read with rasterio at
the same pixels: ``dem`` float32 as stored (the source nodata -9999 stays
-9999, as smart-geocubes writes it) and ``datamask`` as bool (uint8 != 0).
Pixels no tile covers are what an unloaded cube holds: NaN and False.
"""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.windows import Window


def _indices(coords: np.ndarray, origin: float, step: float) -> np.ndarray:
    """Pixel index of each pixel-centre coordinate on a raster's lattice."""
    f = (coords - origin) / step - 0.5
    idx = np.round(f)
    assert np.abs(f - idx).max() < 1e-6, "coordinates off the COG's lattice"
    return idx.astype(np.int64)


def expected_from_cogs(ds, fixtures) -> dict[str, np.ndarray]:
    """``{"dem": float32 (y, x), "datamask": bool (y, x)}`` at the pixel centres
    of ``ds`` (any object with 1-D ``x`` and ``y`` coordinates), and
    ``"touched"``: the ids of the tiles that cover any of its pixels."""
    xs = np.asarray(ds["x"].values, dtype=np.float64)
    ys = np.asarray(ds["y"].values, dtype=np.float64)
    dem = np.full((ys.size, xs.size), np.nan, dtype=np.float32)
    mask = np.zeros((ys.size, xs.size), dtype=bool)
    covered = np.zeros((ys.size, xs.size), dtype=bool)
    touched = []
    for t in fixtures.tiles:
        for name, path in (("dem", t.dem), ("datamask", t.datamask)):
            with rasterio.open(path) as src:
                a = src.transform
                assert a.b == 0 and a.d == 0, "rotated COG"
                cols = _indices(xs, a.c, a.a)
                rows = _indices(ys, a.f, a.e)
                cin = (cols >= 0) & (cols < src.width)
                rin = (rows >= 0) & (rows < src.height)
                if not cin.any() or not rin.any():
                    break
                c0, c1 = cols[cin].min(), cols[cin].max() + 1
                r0, r1 = rows[rin].min(), rows[rin].max() + 1
                # Consecutive indices: the loaded grid is the COG's lattice.
                assert (np.diff(cols[cin]) == 1).all() and (np.diff(rows[rin]) == 1).all()
                block = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
            sel = np.ix_(rin, cin)
            if name == "dem":
                assert not covered[sel].any(), f"tile {t.id} overlaps another"
                covered[sel] = True
                assert block.dtype == np.float32
                dem[sel] = block
                touched.append(t.id)
            else:
                mask[sel] = block != 0
    return {"dem": dem, "datamask": mask, "touched": touched}


def assert_equals_cogs(ds, fixtures, what: str = "") -> list[str]:
    """Asserts that ``ds.dem`` and ``ds.datamask`` equal the COGs bit for bit
    (NaN where no tile); returns the ids of the tiles it covers."""
    want = expected_from_cogs(ds, fixtures)
    dem = ds["dem"].values
    assert dem.dtype == np.float32, f"{what}: dem dtype {dem.dtype}"
    assert ds["dem"].dims == ("y", "x"), f"{what}: dem dims {ds['dem'].dims}"
    got_bits = dem.view(np.uint32)
    want_bits = want["dem"].view(np.uint32)
    nan_both = np.isnan(dem) & np.isnan(want["dem"])
    bad = (got_bits != want_bits) & ~nan_both
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.size} dem pixels differ from the COGs; first at "
            f"(y={ds['y'].values[r]}, x={ds['x'].values[c]}): {dem[r, c]!r} != {want['dem'][r, c]!r}"
        )
    mask = ds["datamask"].values
    assert mask.dtype == np.bool_, f"{what}: datamask dtype {mask.dtype}"
    diff = mask != want["datamask"]
    if diff.any():
        r, c = np.argwhere(diff)[0]
        raise AssertionError(
            f"{what}: {int(diff.sum())} of {diff.size} datamask pixels differ from the COGs; first at "
            f"(y={ds['y'].values[r]}, x={ds['x'].values[c]}): {mask[r, c]!r} != {want['datamask'][r, c]!r}"
        )
    return want["touched"]
