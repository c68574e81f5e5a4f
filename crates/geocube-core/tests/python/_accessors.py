"""A real smart-geocubes 0.1.2 ``RemoteAccessor`` for synthetic data.

The accessor's class attributes (extent, temporal extent, chunk size, channels,
their metadata and encoding) mirror ArcticDEM's (``dem`` float32 + ``datamask``
bool) or, for temporal cubes, the layout reference's (``A00`` float32 + ``A01``
uint8). ``download_patch`` returns an ``xr.Dataset`` on a sub-GeoBox of the
extent whose values are a deterministic function of pixel-centre map
coordinates, exactly representable in float32, so the Rust side can recompute
every pixel bit for bit:

    col = (x - X0) / res_x - 0.5,  row = (Y0 - y) / |res_y| - 0.5   (cube pixel indices)
    dem = col + 1000 * row                       (spatial)
    A00 = col + 1000 * row + 1_000_000 * t       (temporal, t = time index)
    A01 = (row + col + t) % 250 + 1              (uint8, never the fill value 0)
    NaN where (row + 2 * col) % 23 == 0, and on the tile's outer ring when the
    tile has ``nan_border`` (a "NaN border" that must not overwrite data).
    datamask = dem is not NaN.
"""

from __future__ import annotations

import numpy as np
import odc.geo.xr  # noqa: F401  (registers the .odc accessor)
import pandas as pd
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.geom import Geometry

from smart_geocubes.core.accessor import RemoteAccessor
from smart_geocubes.core.patches import PatchIndex

SPATIAL_META = {
    "dem": {
        "long_name": "Digital Elevation Model",
        "data_source": "ArcticDEM",
        "units": "m",
        "description": "Digital Elevation Model, elevation resolution is cropped to ~1cm",
    },
    "datamask": {"long_name": "Data Mask", "source": "ArcticDEM"},
}
SPATIAL_ENCODING = {"dem": {"dtype": "float32"}, "datamask": {"dtype": "bool"}}
TEMPORAL_META = {"A00": {"long_name": "b0"}, "A01": {"long_name": "b1"}}
TEMPORAL_ENCODING = {"A00": {"dtype": "float32"}, "A01": {"dtype": "uint8"}}


def extent_of(cfg: dict) -> GeoBox:
    """The cube extent from the request: top-left corner, size, resolution, CRS."""
    x0, y0, res = cfg["x0"], cfg["y0"], cfg["res"]
    w, h = cfg["width"], cfg["height"]
    gb = GeoBox.from_bbox((x0, y0 - h * res, x0 + w * res, y0), cfg["crs"], resolution=res)
    assert gb.shape == (h, w), f"extent shape {gb.shape} != {(h, w)}"
    return gb


def make_accessor_class(cfg: dict) -> type[RemoteAccessor]:
    """A RemoteAccessor subclass named ``cfg['title']`` for the request's cube."""
    temporal = cfg.get("times") is not None
    extent = extent_of(cfg)
    tiles = {t["id"]: t for t in cfg.get("tiles", [])}
    forbidden = set(cfg.get("forbid_download", []))

    class _Accessor(RemoteAccessor):
        def adjacent_patches(self, roi, toi) -> list[PatchIndex]:
            if isinstance(roi, GeoBox):
                roi = roi.extent
            roi = roi.to_crs(self.extent.crs)
            out = []
            for t in tiles.values():
                gb = tile_geobox(self.extent, t)
                # Overlap with area, not mere touching: a tile sharing an edge
                # with the area of interest is not adjacent.
                if gb.extent.intersection(roi).area <= 0:
                    continue
                if self.temporal_extent is not None:
                    times = [self.temporal_extent[i] for i in t["times"]]
                    if toi is not None:
                        want = set(pd.DatetimeIndex([toi] if not isinstance(toi, list) else toi).normalize())
                        times = [x for x in times if x in want]
                    for tm in times:
                        out.append(PatchIndex(f"{t['id']}@{tm:%Y}", gb.extent.to_crs("EPSG:4326"), tm, t))
                else:
                    out.append(PatchIndex(t["id"], gb.extent.to_crs("EPSG:4326"), None, t))
            return out

        def download_patch(self, idx: PatchIndex) -> xr.Dataset:
            if idx.id in forbidden:
                raise RuntimeError(f"patch {idx.id} must not be downloaded again: it is in loaded_patches")
            t = idx.item
            gb = tile_geobox(self.extent, t)
            if self.temporal_extent is None:
                return spatial_patch(self.extent, gb, t)
            ti = int(self.temporal_extent.get_loc(idx.time))
            return temporal_patch(self.extent, gb, t, ti, idx.time)

        def current_state(self):
            return None

        def visualize_state(self, ax=None):
            raise NotImplementedError

    _Accessor.__name__ = cfg["title"]
    _Accessor.__qualname__ = cfg["title"]
    _Accessor.extent = extent
    _Accessor.chunk_size = cfg["chunk"]
    if temporal:
        _Accessor.temporal_extent = pd.DatetimeIndex(pd.to_datetime(cfg["times"]))
        _Accessor.channels = list(TEMPORAL_META)
        _Accessor._channels_meta = TEMPORAL_META
        _Accessor._channels_encoding = TEMPORAL_ENCODING
    else:
        _Accessor.temporal_extent = None
        _Accessor.channels = list(SPATIAL_META)
        _Accessor._channels_meta = SPATIAL_META
        _Accessor._channels_encoding = SPATIAL_ENCODING
    return _Accessor


def tile_geobox(extent: GeoBox, t: dict) -> GeoBox:
    """The sub-GeoBox of a tile given in cube pixels (row, col, height, width)."""
    return extent[t["row"] : t["row"] + t["height"], t["col"] : t["col"] + t["width"]]


def _template(gb: GeoBox, dtype: str) -> xr.DataArray:
    """An (y, x) DataArray on ``gb``, as smart-geocubes builds its cube (``always_yx``)."""
    return odc.geo.xr.xr_zeros(gb, dtype=dtype, always_yx=True)


def _pixel_indices(extent: GeoBox, gb: GeoBox):
    """Cube row/col of every pixel of ``gb``, from its pixel-centre coordinates."""
    a = extent.affine
    da = _template(gb, "uint8")
    cols = (da["x"].values - a.c) / a.a - 0.5
    rows = (da["y"].values - a.f) / a.e - 0.5
    assert np.abs(cols - np.round(cols)).max() < 1e-6, "tile off the cube lattice"
    assert np.abs(rows - np.round(rows)).max() < 1e-6, "tile off the cube lattice"
    return np.meshgrid(np.round(rows).astype(np.int64), np.round(cols).astype(np.int64), indexing="ij")


def _nan_mask(rows, cols, t: dict):
    mask = (rows + 2 * cols) % 23 == 0
    if t.get("nan_border"):
        mask[0, :] = mask[-1, :] = True
        mask[:, 0] = mask[:, -1] = True
    return mask


def spatial_patch(extent: GeoBox, gb: GeoBox, t: dict) -> xr.Dataset:
    rows, cols = _pixel_indices(extent, gb)
    dem = (cols + 1000 * rows).astype(np.float64).astype(np.float32)
    dem[_nan_mask(rows, cols, t)] = np.nan
    ds = xr.Dataset(
        {
            "dem": _template(gb, "float32").copy(data=dem),
            "datamask": _template(gb, "bool").copy(data=~np.isnan(dem)),
        }
    )
    return ds


def temporal_patch(extent: GeoBox, gb: GeoBox, t: dict, ti: int, time) -> xr.Dataset:
    rows, cols = _pixel_indices(extent, gb)
    a00 = (cols + 1000 * rows + 1_000_000 * ti).astype(np.float64).astype(np.float32)
    a00[_nan_mask(rows, cols, t)] = np.nan
    a01 = ((rows + cols + ti) % 250 + 1).astype(np.uint8)
    ds = xr.Dataset(
        {
            "A00": _template(gb, "float32").copy(data=a00),
            "A01": _template(gb, "uint8").copy(data=a01),
        }
    )
    return ds.expand_dims(time=[pd.Timestamp(time)])
