"""geocube is a drop-in for smart-geocubes: the same script, run once with
``smart_geocubes`` and once with ``geocube`` on the same fixtures and ROIs
(fresh cubes each), gives identical Datasets, except where smart-geocubes
leaves holes, and there ours holds the source's values.

The script (:func:`script`) creates a cube, reads ``created`` and
``current_state()``, loads one ROI, and reads ``loaded_patches()`` and
``current_state()`` again. smart-geocubes runs for real (``_sgc``: its
``simple`` backend, its endpoints redirected to the fixture server); each of
its runs is shared by the tests of this module.

The ROIs, on the ``tiny`` mosaic (3 x 3 tiles of 16 km around the
antimeridian, EPSG:3413 x -1600000..-1552000, y 1552000..1600000):

===========================  =======================================================
``3413-box-1tile``           a Geometry inside one tile, on the pixel lattice
``3413-box-4tiles``          a Geometry across a tile corner, off the lattice
                             (partial pixels at its edges)
``3413-geobox-aligned``      a 32 m GeoBox on the cube's lattice across four tiles
``3413-geobox-100m``         a 100 m GeoBox off the lattice: only its extent counts
``3413-triangle-bbox-only``  a triangle whose bounding box covers a fourth tile
                             (``355_158``) that the triangle itself misses:
                             smart-geocubes leaves that tile's part of the box
                             NaN; geocube loads it
``4326-box-east``            a lon/lat box east of the antimeridian (its
                             reprojected edges curve)
``4326-geobox``              a lon/lat GeoBox west of the antimeridian, partly
                             outside the mosaic (NaN there in both)
``4326-box-antimeridian``    a lon/lat box from 179.8 to 180.2 E across the
                             antimeridian: a diamond in EPSG:3413 whose box
                             covers all nine tiles, of which it touches five
===========================  =======================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.geom import Geometry, box, polygon

from _cogs import assert_equals_cogs, expected_from_cogs
from _sgc import sgc_accessor
from conftest import copy_aux

pytestmark = pytest.mark.slow  # smart-geocubes takes 2-10 s per ROI (blosc zstd 9 on 3600² chunks)


@dataclass(frozen=True)
class Roi:
    id: str
    aoi: Geometry | GeoBox
    #: smart-geocubes leaves part of the box empty (a patch touches only the box).
    holes: bool = False


ROIS = [
    Roi("3413-box-1tile", box(-1580000, 1572000, -1572000, 1580000, "EPSG:3413")),
    Roi("3413-box-4tiles", box(-1590000, 1575000, -1578000, 1590000, "EPSG:3413")),
    Roi(
        "3413-geobox-aligned",
        GeoBox.from_bbox((-1577600, 1561600, -1560000, 1574400), "EPSG:3413", resolution=32),
    ),
    Roi(
        "3413-geobox-100m",
        GeoBox.from_bbox((-1575010, 1563000, -1562990, 1575000), "EPSG:3413", resolution=100),
    ),
    Roi(
        "3413-triangle-bbox-only",
        polygon([(-1595000, 1595000), (-1576000, 1595000), (-1595000, 1576000), (-1595000, 1595000)], "EPSG:3413"),
        holes=True,
    ),
    Roi("4326-box-east", box(179.3, 69.6, 179.6, 69.68, "EPSG:4326")),
    Roi("4326-geobox", GeoBox.from_bbox((-179.7, 69.45, -179.4, 69.55), "EPSG:4326", resolution=0.002)),
    Roi("4326-box-antimeridian", box(179.8, 69.6, 180.2, 69.7, "EPSG:4326"), holes=True),
]
BY_ID = {r.id: r for r in ROIS}
ROI_IDS = [r.id for r in ROIS]
ROIS_3413 = [r.id for r in ROIS if r.id.startswith("3413")]


def script(accessor, aoi) -> dict:
    """What a user does, for either library."""
    out = {"created_before": accessor.created}
    accessor.create()
    out["created"] = accessor.created
    out["state_empty"] = accessor.current_state()
    out["ds"] = accessor.load(aoi)
    out["loaded"] = accessor.loaded_patches()
    out["state"] = accessor.current_state()
    out["accessor"] = accessor
    return out


@dataclass
class Runs:
    """Runs of the script, each on a fresh cube, computed once per module."""

    server: object
    fixtures: object
    tmp: Path
    make_geocube: object
    _cache: dict

    def _fresh(self, name: str) -> Path:
        d = self.tmp / f"{name}-{len(self._cache)}"
        d.mkdir()
        return d

    def theirs(self, roi_id: str) -> dict:
        key = ("sgc", roi_id)
        if key not in self._cache:
            d = self._fresh("sgc")
            acc = sgc_accessor(
                "ArcticDEM32m", d / "cube.icechunk", self.server.item_url, d / "aux", index_dir=self.fixtures.dir
            )
            self._cache[key] = script(acc, BY_ID[roi_id].aoi)
        return self._cache[key]

    def ours(self, roi_id: str, backend: str = "threaded") -> dict:
        key = ("geocube", roi_id, backend)
        if key not in self._cache:
            d = self._fresh("gc")
            acc = self.make_geocube(d / "cube.icechunk", d / "aux", backend=backend)
            self._cache[key] = script(acc, BY_ID[roi_id].aoi)
        return self._cache[key]


@pytest.fixture(scope="module")
def runs(geocube, server, fixtures, tmp_path_factory):
    mp = pytest.MonkeyPatch()  # _sgc's endpoint patches, undone after the module

    def make_geocube(path: Path, aux: Path, **kw):
        return geocube.ArcticDEM32m(
            str(path), stac_url=server.stac_url, aux_dir=str(copy_aux(fixtures, aux)), **kw
        )

    r = Runs(server, fixtures, tmp_path_factory.mktemp("parity"), make_geocube, {})
    import smart_geocubes.datasets.arcticdem as ad

    mp.setattr(ad, "_get_stac_url", ad._get_stac_url)  # restore the originals afterwards
    mp.setattr(ad, "_download_arcticdem_extent", ad._download_arcticdem_extent)
    yield r
    mp.undo()


def _same_attrs(a: dict, b: dict) -> bool:
    """Attribute dicts equal, NaN equal to NaN (``_FillValue: nan``)."""
    from xarray.core.utils import equivalent

    return a.keys() == b.keys() and all(equivalent(a[k], b[k]) for k in a)


def _ids_sorted(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with its ``loaded_patches`` attribute sorted: for the tests whose
    subject is not the order of the ids (test_loaded_patches_and_attrs_match
    and the identity test check it)."""
    out = ds.copy(deep=False)
    out.attrs = {**ds.attrs, "loaded_patches": sorted(ds.attrs["loaded_patches"])}
    return out


def _holes(theirs: xr.Dataset, fixtures) -> np.ndarray:
    """Where smart-geocubes' result is NaN but the source has data."""
    want = expected_from_cogs(theirs, fixtures)
    return np.isnan(theirs["dem"].values) & ~np.isnan(want["dem"])


# ---------------------------------------------------------------- the grid


@pytest.mark.parametrize("roi_id", ROI_IDS)
def test_load_returns_the_grid_smart_geocubes_returns(runs, roi_id):
    """Same call, same grid: an equal ``.odc.geobox``, dims, sizes and x/y/spatial_ref coordinates."""
    theirs = runs.theirs(roi_id)["ds"]
    ours = runs.ours(roi_id)["ds"]
    assert ours.odc.geobox == theirs.odc.geobox, f"{roi_id}: ours {ours.odc.geobox!r} != theirs {theirs.odc.geobox!r}"
    assert dict(ours.sizes) == dict(theirs.sizes)
    for c in ("x", "y", "spatial_ref"):
        xr.testing.assert_identical(ours[c], theirs[c])


# ---------------------------------------------------------------- the values


@pytest.mark.parametrize("backend", ["threaded", "simple"])
@pytest.mark.parametrize("roi_id", ROI_IDS)
def test_load_is_identical_to_smart_geocubes_or_equals_the_cogs(runs, fixtures, roi_id, backend):
    """``assert_identical(ours, theirs)`` where both return the same grid and
    smart-geocubes loads every patch of the box; where it leaves holes
    (patches touching only the bounding box), ours equals theirs with the
    holes filled from the source, and loads those patches too. Everywhere
    ours equals the source COGs bit for bit (nodata -9999 kept, NaN and False
    outside the mosaic)."""
    roi = BY_ID[roi_id]
    t = runs.theirs(roi_id)
    o = runs.ours(roi_id, backend)
    theirs, ours = t["ds"], o["ds"]
    touched = assert_equals_cogs(ours, fixtures, f"geocube {roi_id}")
    holes = _holes(theirs, fixtures)
    assert holes.any() == roi.holes, f"{roi_id}: smart-geocubes left {int(holes.sum())} px empty"
    if ours.odc.geobox != theirs.odc.geobox:
        # Different grids (test_load_returns_the_grid_smart_geocubes_returns
        # says how): ours is exact on its own grid, checked above.
        pytest.fail(f"{roi_id}: grids differ, only checked against the COGs: {ours.odc.geobox!r}")
    if not roi.holes:
        xr.testing.assert_identical(ours, theirs)
        assert o["loaded"] == t["loaded"]
        assert sorted(o["loaded"]) == sorted(touched)
        return
    # smart-geocubes' holes are exactly the pixels of the patches it skipped.
    skipped = sorted(set(touched) - set(t["loaded"]))
    assert skipped, f"{roi_id}: holes but no skipped patch"
    assert sorted(o["loaded"]) == sorted(touched), "geocube loads every patch touching the box"
    assert set(t["loaded"]) < set(o["loaded"])
    filled = theirs.copy(deep=True)
    filled["dem"] = theirs["dem"].where(~xr.DataArray(holes, dims=("y", "x")), ours["dem"])
    filled["datamask"] = theirs["datamask"] | (ours["datamask"] & xr.DataArray(holes, dims=("y", "x")))
    for v in ("dem", "datamask"):
        filled[v].attrs = theirs[v].attrs
        filled[v].encoding = theirs[v].encoding
    filled.attrs = {**theirs.attrs, "loaded_patches": o["loaded"]}
    xr.testing.assert_identical(ours, filled)


@pytest.mark.parametrize("roi_id", ROI_IDS)
def test_loaded_patches_and_attrs_match(runs, roi_id):
    """``loaded_patches()`` after the load, in order (one load on a fresh cube:
    smart-geocubes lists the patches in the mosaic index's order), and the
    root attributes the Dataset carries (``title``, ``loaded_patches``)."""
    t, o = runs.theirs(roi_id), runs.ours(roi_id)
    if BY_ID[roi_id].holes:
        assert set(t["loaded"]) < set(o["loaded"])
    else:
        assert o["loaded"] == t["loaded"]
    assert o["ds"].attrs == {"title": "ArcticDEM32m", "loaded_patches": o["loaded"]}
    assert t["ds"].attrs == {"title": "ArcticDEM32m", "loaded_patches": t["loaded"]}
    for v in ("dem", "datamask"):
        assert _same_attrs(o["ds"][v].attrs, t["ds"][v].attrs), (v, o["ds"][v].attrs, t["ds"][v].attrs)
        assert o["ds"][v].dtype == t["ds"][v].dtype, v


# ---------------------------------------------------------------- the other methods


def test_created_and_current_state_match(runs):
    """``created`` before and after ``create()``, ``current_state()`` None on an
    empty cube and a GeoDataFrame in EPSG:4326 with one row per loaded patch
    (the footprints cover the tiles) after a load."""
    t, o = runs.theirs("3413-box-4tiles"), runs.ours("3413-box-4tiles")
    assert (o["created_before"], o["created"]) == (t["created_before"], t["created"]) == (False, True)
    assert t["state_empty"] is None and o["state_empty"] is None
    for name, r in (("smart-geocubes", t), ("geocube", o)):
        st = r["state"]
        assert isinstance(st, gpd.GeoDataFrame), name
        assert st.crs.to_epsg() == 4326, name
        assert len(st) == len(r["loaded"]) == 4, name
        # Four 16 km tiles (antimeridian-split footprints reassemble in EPSG:3413).
        area = st.to_crs(3413).geometry.union_all().area
        assert abs(area - 4 * 16000.0**2) / (4 * 16000.0**2) < 0.01, (name, area)
    assert sorted(o["state"]["title"]) == sorted(o["loaded"])


@pytest.mark.parametrize("roi_id", ROIS_3413)
def test_adjacent_patches_match(runs, fixtures, roi_id):
    """``adjacent_patches(aoi, None)`` gives objects with ``.id``: the ids
    smart-geocubes gives, the patches the AOI itself intersects (EPSG:3413
    AOIs only: smart-geocubes' ArcticDEM compares the AOI's coordinates with
    the index's EPSG:3413 footprints without reprojecting). For the triangle
    that is three patches, though ``load`` fills its box from four."""
    aoi = BY_ID[roi_id].aoi
    theirs = [p.id for p in runs.theirs(roi_id)["accessor"].adjacent_patches(aoi, None)]
    ours = [p.id for p in runs.ours(roi_id)["accessor"].adjacent_patches(aoi, None)]
    assert sorted(ours) == sorted(theirs)
    assert all(isinstance(i, str) for i in ours)


def test_load_like_loads_the_grid_of_a_reference(runs, geocube, server, aux_dir, new_cube_path):
    """``load_like(ref)`` is ``load(ref.odc.geobox)``: identical to smart-geocubes'
    load of that GeoBox (its own ``load_like`` reads ``ref.geobox``, which an
    xarray Dataset does not have in 0.1.2)."""
    theirs = runs.theirs("3413-geobox-aligned")["ds"]
    acc = geocube.ArcticDEM32m(str(new_cube_path("like")), stac_url=server.stac_url, aux_dir=str(aux_dir))
    acc.create()
    xr.testing.assert_identical(_ids_sorted(acc.load_like(theirs)), _ids_sorted(theirs))


def test_persist_false_is_lazy_and_equal(runs, geocube, server, aux_dir, new_cube_path):
    """``load(persist=False)`` downloads the same patches and returns a
    dask-backed Dataset that computes to smart-geocubes' result."""
    theirs = runs.theirs("3413-box-4tiles")["ds"]
    acc = geocube.ArcticDEM32m(str(new_cube_path("lazy")), stac_url=server.stac_url, aux_dir=str(aux_dir))
    acc.create()
    lazy = acc.load(BY_ID["3413-box-4tiles"].aoi, persist=False)
    assert lazy["dem"].chunks is not None and lazy["datamask"].chunks is not None, "not dask-backed"
    assert sorted(acc.loaded_patches()) == sorted(runs.theirs("3413-box-4tiles")["loaded"])
    xr.testing.assert_identical(_ids_sorted(lazy.compute()), _ids_sorted(theirs))


def test_open_xarray_and_open_zarr_match(runs):
    """The whole cube opened by either library: the same variables, dims,
    coordinates, chunking, attributes; the loaded window holds the same pixels."""
    t = runs.theirs("3413-box-4tiles")["accessor"]
    o = runs.ours("3413-box-4tiles")["accessor"]
    tx, ox = t.open_xarray(), o.open_xarray()
    assert set(ox.variables) == set(tx.variables)
    assert dict(ox.sizes) == dict(tx.sizes)
    assert _ids_sorted(ox).attrs == _ids_sorted(tx).attrs
    for c in ("x", "y", "spatial_ref"):
        xr.testing.assert_identical(ox[c], tx[c])
    for v in ("dem", "datamask"):
        assert ox[v].dims == tx[v].dims and ox[v].dtype == tx[v].dtype, v
        assert _same_attrs(ox[v].attrs, tx[v].attrs), (v, ox[v].attrs, tx[v].attrs)
        assert ox[v].encoding.get("chunks") == tx[v].encoding.get("chunks") == (3600, 3600), v
    window = runs.theirs("3413-box-4tiles")["ds"]
    sel = {"x": window["x"].values, "y": window["y"].values}
    xr.testing.assert_identical(_ids_sorted(ox.sel(sel).load()), _ids_sorted(tx.sel(sel).load()))

    tz, oz = t.open_zarr(), o.open_zarr()
    assert oz.attrs["title"] == tz.attrs["title"]
    assert sorted(oz.attrs["loaded_patches"]) == sorted(tz.attrs["loaded_patches"])
    assert sorted(oz.array_keys()) == sorted(tz.array_keys())
    for k in tz.array_keys():
        assert (oz[k].shape, oz[k].dtype, oz[k].chunks) == (tz[k].shape, tz[k].dtype, tz[k].chunks), k
        assert _same_attrs(dict(oz[k].attrs), dict(tz[k].attrs)), k


# ---------------------------------------------------------------- geocube's own AOI forms


def test_endpoints_from_the_environment(geocube, server, aux_dir, cube_path, fixtures, monkeypatch):
    """``GEOCUBE_STAC_URL`` and ``GEOCUBE_AUX_DIR`` stand for ``stac_url=`` and ``aux_dir=``."""
    monkeypatch.setenv("GEOCUBE_STAC_URL", server.stac_url)
    monkeypatch.setenv("GEOCUBE_AUX_DIR", str(aux_dir))
    acc = geocube.ArcticDEM32m(cube_path)  # a pathlib.Path, as smart-geocubes takes
    ds = acc.load(BY_ID["3413-box-1tile"].aoi, create=True)
    assert assert_equals_cogs(ds, fixtures, "env endpoints") == ["355_158_32m_v4.1"]
    assert acc.loaded_patches() == ["355_158_32m_v4.1"]


def test_shapely_with_crs_and_geodataframe_aois_load_like_a_geometry(runs):
    """A shapely geometry with ``crs=`` and a GeoDataFrame give what the
    equivalent odc-geo Geometry gives (no download: the cube has the patches)."""
    o = runs.ours("3413-box-4tiles")
    acc, want = o["accessor"], o["ds"]
    geom = BY_ID["3413-box-4tiles"].aoi
    xr.testing.assert_identical(acc.load(geom.geom, crs="EPSG:3413"), want)
    gdf = gpd.GeoDataFrame(geometry=[geom.geom], crs="EPSG:3413")
    xr.testing.assert_identical(acc.load(gdf), want)
