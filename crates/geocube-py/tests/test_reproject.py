"""``load(geobox=..., resampling=...)`` and ``load_like(ref, resampling=...)``:
the cube warped onto a grid the caller asks for, against GDAL.

One cube per module, filled with the whole ``tiny`` mosaic (3 x 3 tiles of
500² px at 32 m in EPSG:3413 around the antimeridian, with -9999 holes of
about 3 % per tile), over the loopback fixture server. Its crop on the cube
grid (bit for bit the COGs, see test_parity) is the source of the
references:

- ``rasterio.warp.reproject`` of the crop onto the same target, with the
  error threshold 0.125 (``tolerance``), fixed kernels (``XSCALE=1,
  YSCALE=1``, as odc-geo passes them) and ``src_nodata`` / ``dst_nodata``
  the channel's nodata (-9999 for ``dem``; ``datamask`` as 0/255 uint8,
  thresholded at > 127, as odc-geo warps booleans);
- odc-geo's ``.odc.reproject(geobox, resampling=...)`` of the crop (GDAL
  through rasterio too).

Tolerances (the issue's): nearest 100 % identical; bilinear and cubic
≥ 99.9 % identical with max |Δ| ≤ 2 ULP and equal nodata masks; average
equal away from source edges (destination pixels whose footprint is more
than 2 source pixels from a nodata hole). The measured figures are printed
(``identical``, ``max ULP``, ``max |Δ|``, mask differences) for the record.

Targets, all inside the mosaic (4 km or more from its edges):

=============  ====================================================
``utm60-30m``  EPSG:32660 (UTM 60N) at 30 m, 16 km square (533² px)
``utm01-10m``  EPSG:32601 (UTM 1N) at 10 m, 10 km square (1000² px)
``utm60-100m`` EPSG:32660 at 100 m, 20 km square (200² px): downsampling
``wgs84``      EPSG:4326 at 0.0005°, 179.55..179.95 E, 69.58..69.70 N
=============  ====================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import rasterio.warp
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.geom import box
from odc.geo.xr import xr_zeros
from rasterio.enums import Resampling as RioResampling

from _cogs import assert_equals_cogs
from conftest import copy_aux

NODATA = -9999.0
CENTRE_60 = (616480.0, 7727900.0)  # the mosaic's centre (x -1576000, y 1576000 in EPSG:3413) in UTM 60N
CENTRE_01 = (383520.0, 7727900.0)  # the same in UTM 1N


def _square(crs: str, centre: tuple[float, float], half: float, res: float) -> GeoBox:
    x, y = centre
    return GeoBox.from_bbox((x - half, y - half, x + half, y + half), crs, resolution=res)


TARGETS = {
    "utm60-30m": _square("EPSG:32660", CENTRE_60, 8000, 30),
    "utm01-10m": _square("EPSG:32601", CENTRE_01, 5000, 10),
    "utm60-100m": _square("EPSG:32660", CENTRE_60, 10000, 100),
    "wgs84": GeoBox.from_bbox((179.55, 69.58, 179.95, 69.70), "EPSG:4326", resolution=0.0005),
}
KERNELS = ["nearest", "bilinear", "cubic", "average"]


@dataclass
class Cube:
    acc: object
    crop: xr.Dataset  # the whole mosaic on the cube's grid


@pytest.fixture(scope="module")
def cube(geocube, server, fixtures, tmp_path_factory) -> Cube:
    d = tmp_path_factory.mktemp("reproject")
    acc = geocube.ArcticDEM32m(
        str(d / "cube.icechunk"), stac_url=server.stac_url, aux_dir=str(copy_aux(fixtures, d / "aux"))
    )
    acc.create()
    crop = acc.load(box(*fixtures.bounds, "EPSG:3413"))
    assert crop.sizes == {"y": 1500, "x": 1500}
    assert not np.isnan(crop["dem"].values).any()
    assert (crop["dem"].values == NODATA).any(), "the fixture has nodata holes"
    return Cube(acc, crop)


# ---------------------------------------------------------------- references and measures


def rio_reproject(crop: xr.Dataset, target: GeoBox, kernel: str) -> dict[str, np.ndarray]:
    """``rasterio.warp.reproject`` of the cube crop onto ``target``: ``dem``
    (float32, -9999 where no value) and ``datamask`` (bool)."""
    src = crop.odc.geobox
    common = dict(
        src_transform=src.affine,
        src_crs=str(src.crs),
        dst_transform=target.affine,
        dst_crs=str(target.crs),
        resampling=RioResampling[kernel],
        tolerance=0.125,
        XSCALE=1,
        YSCALE=1,
    )
    dem = np.full(target.shape, NODATA, dtype=np.float32)
    rasterio.warp.reproject(crop["dem"].values, dem, src_nodata=NODATA, dst_nodata=NODATA, **common)
    mask = np.zeros(target.shape, dtype=np.uint8)
    src_mask = np.where(crop["datamask"].values, np.uint8(255), np.uint8(0))
    rasterio.warp.reproject(src_mask, mask, **common)
    return {"dem": dem, "datamask": mask > 127}


def away_from_holes(crop: xr.Dataset, target: GeoBox, margin: int = 2) -> np.ndarray:
    """Destination pixels whose footprint lies more than ``margin`` source
    pixels from any source nodata pixel (GDAL's ``max`` over the footprint
    of the dilated hole mask is 0)."""
    bad = crop["dem"].values == NODATA
    grown = bad.copy()
    for dy in range(-margin, margin + 1):
        for dx in range(-margin, margin + 1):
            grown |= np.roll(np.roll(bad, dy, axis=0), dx, axis=1)
    src = crop.odc.geobox
    near = np.zeros(target.shape, dtype=np.uint8)
    rasterio.warp.reproject(
        grown.astype(np.uint8),
        near,
        src_transform=src.affine,
        src_crs=str(src.crs),
        dst_transform=target.affine,
        dst_crs=str(target.crs),
        resampling=RioResampling.max,
        XSCALE=1,
        YSCALE=1,
    )
    return near == 0


def _ordered(a: np.ndarray) -> np.ndarray:
    """float32 bits as integers ordered like the floats (ULP distances)."""
    i = a.astype(np.float32).view(np.int32).astype(np.int64)
    return np.where(i < 0, -(i & 0x7FFFFFFF), i)


@dataclass
class Agreement:
    pixels: int
    identical: float  # share of all pixels bit-identical (nodata included)
    max_ulp: int  # over the pixels valid in both
    max_abs: float
    mask_diff: int  # pixels nodata in one and not the other
    datamask_identical: float

    def row(self, name: str) -> str:
        return (
            f"{name:<26} {self.pixels:>8} px  identical {100 * self.identical:8.4f} %  "
            f"max ULP {self.max_ulp:>3}  max |Δ| {self.max_abs:.3g}  mask diff {self.mask_diff:>4}  "
            f"datamask identical {100 * self.datamask_identical:8.4f} %"
        )


def agreement(ours: xr.Dataset, ref: dict[str, np.ndarray], where: np.ndarray | None = None) -> Agreement:
    a = ours["dem"].values
    b = ref["dem"]
    assert a.dtype == np.float32 and a.shape == b.shape
    if where is None:
        where = np.ones(a.shape, dtype=bool)
    na, nb = a == NODATA, b == NODATA
    assert not np.isnan(a).any(), "ours has NaN where the channel nodata is -9999"
    valid = ~na & ~nb & where
    ulp = np.abs(_ordered(a) - _ordered(b))[valid]
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))[valid]
    same = (a.view(np.uint32) == b.view(np.uint32))[where]
    dm = (ours["datamask"].values == ref["datamask"])[where]
    return Agreement(
        pixels=int(where.sum()),
        identical=float(same.mean()),
        max_ulp=int(ulp.max()) if ulp.size else 0,
        max_abs=float(diff.max()) if diff.size else 0.0,
        mask_diff=int((na != nb)[where].sum()),
        datamask_identical=float(dm.mean()),
    )


def report(capsys, line: str) -> None:
    """Print a measured figure past pytest's capture (it shows under -q too)."""
    with capsys.disabled():
        print("\n  " + line, end="")


# ---------------------------------------------------------------- against rasterio


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("target_id", list(TARGETS))
def test_load_onto_a_grid_equals_rasterio_reproject_of_the_cube_crop(cube, capsys, target_id, kernel):
    """``load(geobox=target, resampling=kernel)`` equals rasterio's warp of
    the cube crop: nearest bit for bit; bilinear and cubic ≥ 99.9 %
    identical, ≤ 2 ULP, equal nodata masks; average equal (≤ 2 ULP, ≥ 99.9 %
    identical) away from the nodata holes. The result is on ``target``
    exactly (``.odc.geobox``), with odc-geo's coordinates."""
    target = TARGETS[target_id]
    ours = cube.acc.load(geobox=target, resampling=kernel)
    assert ours.odc.geobox == target, f"{ours.odc.geobox!r} != {target!r}"
    assert ours["dem"].dims == target.dimensions and ours["dem"].dtype == np.float32
    assert ours["datamask"].dtype == np.bool_
    ref = rio_reproject(cube.crop, target, kernel)
    if kernel == "average":
        away = away_from_holes(cube.crop, target)
        a = agreement(ours, ref, away)
        everywhere = agreement(ours, ref)
        report(capsys, a.row(f"{target_id} {kernel} (away)"))
        report(capsys, everywhere.row(f"{target_id} {kernel} (all)"))
        assert a.mask_diff == 0
        assert a.max_ulp <= 2 and a.identical >= 0.999, a
        return
    a = agreement(ours, ref)
    report(capsys, a.row(f"{target_id} {kernel}"))
    assert a.mask_diff == 0, a
    if kernel == "nearest":
        assert a.identical == 1.0 and a.datamask_identical == 1.0, a
    else:
        assert a.identical >= 0.999 and a.max_ulp <= 2, a
        assert a.datamask_identical >= 0.999, a


def test_rasterio_resampling_members_and_names_are_the_same_kernel(cube):
    """``resampling=rasterio.enums.Resampling.cubic`` is ``"cubic"``; names
    are case-insensitive as in the core."""
    target = TARGETS["utm60-100m"]
    by_name = cube.acc.load(geobox=target, resampling="cubic")
    xr.testing.assert_identical(cube.acc.load(geobox=target, resampling=RioResampling.cubic), by_name)
    xr.testing.assert_identical(cube.acc.load(geobox=target, resampling="Cubic"), by_name)
    # No resampling: nearest, odc's default.
    xr.testing.assert_identical(
        cube.acc.load(geobox=target), cube.acc.load(geobox=target, resampling="nearest")
    )


# ---------------------------------------------------------------- against odc-geo


@pytest.mark.parametrize("target_id", ["utm60-30m", "wgs84"])
def test_load_onto_agrees_with_odc_reproject_of_the_cube_crop(cube, capsys, target_id):
    """``.odc.reproject(target, resampling="cubic")`` of the cube crop (odc-geo
    → rasterio → GDAL) against ``load(geobox=target, resampling="cubic")``:
    the same grid and coordinates (x/y or latitude/longitude, spatial_ref),
    values as against rasterio."""
    target = TARGETS[target_id]
    ours = cube.acc.load(geobox=target, resampling="cubic")
    dem = cube.crop["dem"].odc.reproject(target, resampling="cubic", src_nodata=NODATA, dst_nodata=NODATA)
    mask = cube.crop["datamask"].odc.reproject(target, resampling="cubic")
    assert dem.odc.geobox == ours.odc.geobox == target
    for c in (*target.dimensions, "spatial_ref"):
        xr.testing.assert_identical(ours[c], dem[c])
    a = agreement(ours, {"dem": dem.values, "datamask": mask.values})
    report(capsys, a.row(f"{target_id} cubic vs odc"))
    assert a.mask_diff == 0 and a.identical >= 0.999 and a.max_ulp <= 2, a


# ---------------------------------------------------------------- what the Dataset holds


def test_the_result_carries_the_cube_attributes_and_the_target_crs(cube):
    """Variables keep the cube's attributes and types; the root attributes
    are the cube's (title, loaded_patches); ``spatial_ref`` is the target
    CRS's (EPSG code as its value, pyproj's CF attributes, the target's
    GeoTransform), equal to odc-geo's for that grid."""
    from odc.geo.xr import xr_coords

    target = TARGETS["utm60-30m"]
    ours = cube.acc.load(geobox=target, resampling="bilinear")
    for name in ("dem", "datamask"):
        assert ours[name].attrs == cube.crop[name].attrs
    assert ours.attrs == cube.crop.attrs
    assert int(ours["spatial_ref"]) == 32660
    assert ours["spatial_ref"].variable.identical(xr_coords(target)["spatial_ref"].variable)
    assert "UTM zone 60N" in ours["spatial_ref"].attrs["crs_wkt"]
    assert ours.odc.crs == "EPSG:32660"
    assert list(ours.data_vars) == list(cube.crop.data_vars)


def test_a_geobox_on_the_cube_lattice_is_copied_bit_for_bit(cube, fixtures):
    """A 32 m EPSG:3413 geobox on the cube's lattice: nothing is resampled,
    whatever the kernel; the pixels are the COGs'."""
    target = GeoBox.from_bbox((-1577600, 1561600, -1560000, 1574400), "EPSG:3413", resolution=32)
    ours = cube.acc.load(geobox=target, resampling="cubic")
    assert ours.odc.geobox == target
    assert_equals_cogs(ours, fixtures, "lattice geobox")
    plain = cube.acc.load(target)
    np.testing.assert_array_equal(ours["dem"].values.view(np.uint32), plain["dem"].values.view(np.uint32))


def test_a_geobox_partly_outside_the_mosaic_is_nodata_there(cube, capsys):
    """Target pixels no source pixel reaches hold the channel nodata (dem
    -9999, datamask False), as rasterio's; the rest is warped."""
    # UTM 60N around the middle of the mosaic's edge y = 1600000 (EPSG:3413).
    target = _square("EPSG:32660", (600390.0, 7710140.0), 4000, 30)
    ours = cube.acc.load(geobox=target, resampling="bilinear")
    ref = rio_reproject(cube.crop, target, "bilinear")
    a = agreement(ours, ref)
    report(capsys, a.row("utm60-30m-edge bilinear"))
    outside = ref["dem"] == NODATA
    assert outside.any() and not outside.all()
    assert a.mask_diff == 0 and a.max_ulp <= 2 and a.identical >= 0.999, a
    assert not ours["datamask"].values[outside & ~ref["datamask"]].any()


# ---------------------------------------------------------------- load_like


def test_load_like_a_utm_scene_with_resampling_returns_its_grid(cube):
    """``load_like(ref, resampling="cubic")`` of a Dataset on a UTM grid (as a
    Sentinel-2 scene is) returns ``ref.odc.geobox`` exactly, with ``ref``'s
    dimension names and coordinates; its values are ``load(geobox=...,
    resampling="cubic")``.
    ``ref``'s time coordinate does not matter to a cube without time."""
    scene = _square("EPSG:32601", CENTRE_01, 3000, 10)
    ref = xr_zeros(scene, dtype="uint16").to_dataset(name="B04")
    ref = ref.expand_dims(time=[np.datetime64("2024-07-01T21:30:00")])
    ours = cube.acc.load_like(ref, resampling="cubic")
    assert ours.odc.geobox == ref.odc.geobox == scene
    assert ours.odc.spatial_dims == ref.odc.spatial_dims == ("y", "x")
    for d in ("x", "y"):
        xr.testing.assert_identical(ours[d], ref[d])  # ref's coordinates, spatial_ref included
    direct = cube.acc.load(geobox=scene, resampling="cubic")
    for name in ("dem", "datamask"):
        np.testing.assert_array_equal(ours[name].values, direct[name].values)


def test_load_like_keeps_the_dimension_names_of_the_reference(cube):
    """A lon/lat reference whose dimensions are named y/x: ours too."""
    gb = TARGETS["wgs84"]
    ref = xr_zeros(gb, dtype="float32").rename(latitude="y", longitude="x").to_dataset(name="v")
    ours = cube.acc.load_like(ref, resampling="bilinear")
    assert ours["dem"].dims == ("y", "x")
    assert ours.odc.geobox == gb


def test_load_like_without_resampling_is_unchanged(cube, fixtures):
    """No resampling: the cube's own grid over the reference's extent, as
    smart-geocubes (``load(ref.odc.geobox)``), bit for bit the COGs."""
    scene = _square("EPSG:32601", CENTRE_01, 3000, 10)
    ref = xr_zeros(scene, dtype="uint16").to_dataset(name="B04")
    ours = cube.acc.load_like(ref)
    xr.testing.assert_identical(ours, cube.acc.load(scene))
    assert ours.odc.crs == "EPSG:3413" and ours.odc.geobox.resolution.x == 32
    assert_equals_cogs(ours, fixtures, "load_like without resampling")


def test_load_without_geobox_is_the_cube_grid(cube, fixtures):
    """``load(aoi)`` still returns the cube's grid (a crop of its lattice,
    the cube's spatial_ref with its GeoTransform), bit for bit the COGs."""
    aoi = box(-1580000, 1572000, -1572000, 1580000, "EPSG:3413")
    ds = cube.acc.load(aoi)
    tmpl = cube.acc.open_xarray()
    roi = tmpl.odc.geobox.overlap_roi(tmpl.odc.geobox.enclosing(aoi))
    assert ds.odc.geobox == tmpl.odc.geobox[roi]
    xr.testing.assert_identical(ds["spatial_ref"], tmpl["spatial_ref"])
    assert_equals_cogs(ds, fixtures, "load without geobox")


# ---------------------------------------------------------------- errors


def test_an_unknown_resampling_is_value_error(cube, geocube):
    with pytest.raises(ValueError, match="unknown resampling `bicubic`") as e:
        cube.acc.load(geobox=TARGETS["utm60-100m"], resampling="bicubic")
    assert isinstance(e.value, geocube.errors.InvalidRequestError)
    assert "cubic_spline" in str(e.value)  # it lists the names there are
    with pytest.raises(ValueError):
        cube.acc.load(geobox=TARGETS["utm60-100m"], resampling=3.5)


def test_a_geobox_outside_the_cube_raises_as_an_aoi_outside_does(cube, geocube):
    """Outside the cube's extent: the same error type (ValueError,
    InvalidRequestError) as an AOI outside it; inside the extent but away
    from every patch: NoPatchesError, as for an AOI; a southern UTM grid the
    polar CRS cannot reach: ValueError. Nothing is downloaded."""
    outside = (5_000_000, 5_000_000, 5_010_000, 5_010_000)
    with pytest.raises(ValueError) as by_aoi:
        cube.acc.load(box(*outside, "EPSG:3413"))
    with pytest.raises(ValueError) as by_geobox:
        cube.acc.load(geobox=GeoBox.from_bbox(outside, "EPSG:3413", resolution=100), resampling="bilinear")
    assert type(by_geobox.value) is type(by_aoi.value)
    assert "outside the cube extent" in str(by_geobox.value)

    svalbard = (500_000, 8_500_000, 505_000, 8_505_000)  # UTM 33N: in the extent, no tile there
    with pytest.raises(ValueError) as by_aoi:
        cube.acc.load(box(*svalbard, "EPSG:32633"))
    with pytest.raises(ValueError) as by_geobox:
        cube.acc.load(geobox=GeoBox.from_bbox(svalbard, "EPSG:32633", resolution=100))
    assert type(by_geobox.value) is type(by_aoi.value) is geocube.errors.NoPatchesError

    with pytest.raises(ValueError):
        cube.acc.load(geobox=GeoBox.from_bbox((500000, 1000000, 510000, 1010000), "EPSG:32760", resolution=100))


def test_ambiguous_or_unsupported_requests_are_value_errors(cube):
    target = TARGETS["utm60-100m"]
    aoi = box(-1580000, 1572000, -1572000, 1580000, "EPSG:3413")
    with pytest.raises(ValueError, match="needs a target grid"):
        cube.acc.load(aoi, resampling="cubic")
    with pytest.raises(ValueError, match="not both"):
        cube.acc.load(aoi, geobox=target)
    with pytest.raises(ValueError, match="in memory only"):
        cube.acc.load(geobox=target, persist=False)
    with pytest.raises(ValueError, match="odc.geo.geobox.GeoBox"):
        cube.acc.load(geobox=aoi)
    with pytest.raises(TypeError):
        cube.acc.load()
    from affine import Affine

    rotated = GeoBox((100, 100), Affine.translation(*CENTRE_60) * Affine.rotation(10) * Affine.scale(30, -30), "EPSG:32660")
    with pytest.raises(ValueError, match="rotated"):
        cube.acc.load(geobox=rotated)
    with pytest.raises(ValueError, match="max_bytes|memory"):
        cube.acc.load(geobox=target, max_bytes=1000)


def test_the_signature_keeps_smart_geocubes_positions():
    """smart-geocubes 0.1.2: ``load(aoi, toi=None, persist=True, create=False)``
    and ``load_like(ref, **kwargs)``: the same positions; the new parameters
    are keyword-only (``load``) or after ``ref`` (``load_like``)."""
    import inspect

    from geocube.core.accessor import RemoteAccessor

    params = list(inspect.signature(RemoteAccessor.load).parameters.values())
    assert [p.name for p in params[:5]] == ["self", "aoi", "toi", "persist", "create"]
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params[:5])
    assert (params[3].default, params[4].default) == (True, False)
    new = {p.name: p for p in params[5:]}
    assert {"geobox", "resampling"} <= new.keys()
    assert all(p.kind is p.KEYWORD_ONLY for p in new.values())
    like = list(inspect.signature(RemoteAccessor.load_like).parameters)
    assert like[:3] == ["self", "ref", "resampling"]


# ---------------------------------------------------------------- time steps (a fake core)


class _FakeCore:
    """The compiled accessor's part a temporal ``load(geobox=...)`` calls:
    ``load_onto`` answers each requested step ``i`` with a plane of ``i``."""

    def __init__(self):
        self.calls = []

    def assert_created(self):
        pass

    def snapshot_store(self):
        class Store:
            def get(self, key):
                return b'{"attributes": {"title": "Fake"}}'

        return Store()

    def load_onto(self, crs, affine, shape, resampling, time=None, create=False, max_bytes=None):
        self.calls.append({"crs": crs, "affine": affine, "shape": shape, "resampling": resampling, "time": time})
        steps = time if time is not None else [0, 1, 2]
        return {"v": np.stack([np.full(shape, i, dtype=np.float32) for i in steps])}, {"patches": ["p"]}


@pytest.fixture
def temporal(geocube):
    """A temporal accessor (three yearly steps) on a fake core; no Rust."""
    import threading

    from geocube.core.accessor import RemoteAccessor

    grid = GeoBox.from_bbox((10.0, 50.0, 10.4, 50.4), "EPSG:4326", resolution=0.1)
    times = np.array(["2020-01-01", "2021-01-01", "2022-01-01"], dtype="datetime64[ns]")

    class Temporal(RemoteAccessor):
        extent = grid
        temporal_extent = pd.DatetimeIndex(times)
        chunk_size = 4
        channels = ["v"]

        def _core_source(self, options):
            return {}

    acc = object.__new__(Temporal)
    acc._core = _FakeCore()
    acc._template_lock = threading.Lock()
    tmpl = xr_zeros(grid, dtype="float32", time=times).rename(latitude="y", longitude="x").to_dataset(name="v")
    tmpl["v"].attrs = {"long_name": "V"}
    acc._template = tmpl
    return acc


def test_time_steps_onto_a_geobox_follow_the_toi(temporal):
    """``toi`` picks steps as ``Dataset.sel(time=toi)`` does: every step, a
    slice, a list in its own order (the core is asked for them ascending,
    once each), one instant (the time dimension squeezed to a scalar
    coordinate); the data of each step is that step's."""
    target = GeoBox.from_bbox((10.1, 50.1, 10.3, 50.3), "EPSG:32632", resolution=5000)
    every = temporal.load(geobox=target, resampling="bilinear")
    assert every["v"].dims == ("time", "y", "x")
    assert [int(p.flat[0]) for p in every["v"].values] == [0, 1, 2]
    assert every.attrs == {"title": "Fake"} and every["v"].attrs == {"long_name": "V"}
    assert every.odc.geobox == target
    call = temporal._core.calls[-1]
    assert call["time"] is None and call["resampling"] == "bilinear"
    assert call["affine"] == tuple(target.affine)[:6] and call["shape"] == tuple(target.shape)

    some = temporal.load(toi=slice("2021", "2022"), geobox=target)
    assert list(some.get_index("time").year) == [2021, 2022]
    assert [int(p.flat[0]) for p in some["v"].values] == [1, 2]
    assert temporal._core.calls[-1]["time"] == [1, 2] and temporal._core.calls[-1]["resampling"] == "nearest"

    unordered = temporal.load(toi=["2022-01-01", "2020-01-01"], geobox=target)
    assert temporal._core.calls[-1]["time"] == [0, 2]
    assert list(unordered.get_index("time").year) == [2022, 2020]
    assert [int(p.flat[0]) for p in unordered["v"].values] == [2, 0]

    one = temporal.load(toi="2021-01-01", geobox=target)
    assert one["v"].dims == ("y", "x") and int(one["v"].values.flat[0]) == 1
    assert one["time"].ndim == 0 and one["time"].values == np.datetime64("2021-01-01")


def test_load_like_onto_a_temporal_reference_takes_its_time_steps(temporal):
    target = GeoBox.from_bbox((10.1, 50.1, 10.3, 50.3), "EPSG:32632", resolution=5000)
    ref = xr_zeros(target, dtype="uint16", time=["2022-01-01", "2021-01-01"]).to_dataset(name="B04")
    ours = temporal.load_like(ref, resampling="cubic")
    assert temporal._core.calls[-1]["time"] == [1, 2]
    assert list(ours.get_index("time").year) == [2022, 2021]
    assert [int(p.flat[0]) for p in ours["v"].values] == [2, 1]
    assert ours.odc.geobox == ref.odc.geobox
