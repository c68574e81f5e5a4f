"""``RemoteAccessor``: smart-geocubes' base class, on geocube's compiled core.

A dataset class (``ArcticDEM32m``, a ``STACAccessor`` subclass of your own)
sets the cube's grid, chunking and channels as class attributes, exactly as
in smart-geocubes; everything that downloads, writes or reads runs in Rust
with the GIL released. See :meth:`RemoteAccessor.load` for what a load
returns.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import odc.geo.xr  # noqa: F401  (registers the `.odc` accessor on xarray objects)
import pandas as pd
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.geom import Geometry

from geocube import _geocube
from geocube._store import GeocubeStore
from geocube.core.patches import PatchIndex
from geocube.core.toi import TOI, toi_to_core
from geocube.errors import (
    CubeNotFoundError,
    InvalidRequestError,
)

if TYPE_CHECKING:
    import geopandas as gpd
    import matplotlib.pyplot as plt
    import zarr

logger = logging.getLogger(__name__)

def _rebuild(cls: type, kwargs: dict) -> RemoteAccessor:
    """Unpickle an accessor: a new one, with its own backend."""
    return cls(**kwargs)


def _storage_path(storage: Any) -> str:
    """A local path (resolved) or an ``s3://bucket/prefix`` URL, as given."""
    if isinstance(storage, Path):
        return str(storage.resolve())
    if isinstance(storage, str):
        if storage.startswith("s3://"):
            return storage
        if "://" in storage and not storage.startswith("file://"):
            raise InvalidRequestError(
                f"storage {storage!r}: give a local path or s3://bucket/prefix"
            )
        return str(Path(storage.removeprefix("file://")).resolve())
    raise InvalidRequestError(
        f"Expected a path (str or pathlib.Path) or an s3:// URL, but got {type(storage)}"
    )


def s3_options(
    endpoint: str | None = None,
    region: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    anonymous: bool = False,
) -> dict[str, str]:
    """The compiled core's S3 options: the arguments, else the standard AWS
    environment variables (``AWS_ENDPOINT_URL``, ``AWS_REGION`` /
    ``AWS_DEFAULT_REGION``; credentials the core reads from the environment
    itself when none are given)."""
    out: dict[str, str] = {}
    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL")
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    for key, value in (
        ("endpoint", endpoint),
        ("region", region),
        ("access_key_id", access_key_id),
        ("secret_access_key", secret_access_key),
        ("session_token", session_token),
    ):
        if value:
            out[key] = value
    if anonymous:
        out["anonymous"] = "true"
    return out


def crs_to_core(crs: Any) -> str:
    """A CRS (odc-geo, pyproj, ``"EPSG:4326"``, an EPSG code) as the core's CRS string."""
    from odc.geo.crs import norm_crs

    c = norm_crs(crs)
    if c is None:
        raise InvalidRequestError("the area of interest has no CRS")
    if c.epsg is not None:
        return f"EPSG:{c.epsg}"
    return c.proj.to_proj4()


def resampling_name(resampling: Any) -> str:
    """A resampling kernel as the core names it: a rasterio / odc-geo name
    (``"nearest"``, ``"bilinear"``, ``"cubic"``, ``"average"``, ...) or a
    ``rasterio.enums.Resampling`` member (by its ``.name``). Unknown names
    are refused by the core (``ValueError``, listing the known ones)."""
    if isinstance(resampling, str):
        return resampling
    name = getattr(resampling, "name", None)
    if isinstance(name, str):
        return name
    raise InvalidRequestError(
        f"resampling {resampling!r}: give a name such as 'bilinear' or a rasterio.enums.Resampling member"
    )


@functools.lru_cache(maxsize=64)
def _core_cf_attributes(crs_wkt: str) -> dict | None:
    """The core's CF attributes of the CRS ``crs_wkt`` (what it writes on a
    cube's ``spatial_ref``), or ``None`` when they would not name the same
    CRS to pyproj: the core templates pyproj's WKT2 for EPSG 4326, 3413,
    3995, 3857 and every WGS 84 UTM zone, and writes WKT1 without an
    authority for other codes."""
    from odc.geo.crs import CRS

    crs = CRS(crs_wkt)
    text, _epsg = _geocube.crs_cf_attributes(crs_to_core(crs))
    attrs = json.loads(text)
    try:
        same = CRS(attrs.get("crs_wkt", "")) == crs
    except Exception:  # noqa: BLE001 - a WKT pyproj cannot read is not the same CRS
        same = False
    return attrs if same else None


def spatial_coords(geobox: GeoBox, dims: tuple[str, str] | None = None) -> dict[str, xr.DataArray]:
    """The coordinates of a Dataset on ``geobox``, as odc-geo makes them
    (``odc.geo.xr.xr_coords``: ``y``/``x``, or ``latitude``/``longitude``
    for a geographic CRS unless ``dims`` names them, with ``units``,
    ``resolution`` and ``crs``), and ``spatial_ref`` with the CF attributes
    the core writes for a cube in that CRS (equal to pyproj's ``to_cf()``
    where the core templates the CRS; pyproj's otherwise) and the grid's
    own ``GeoTransform``."""
    from odc.geo.xr import xr_coords

    coords = xr_coords(geobox, dims=dims)
    sr = coords["spatial_ref"]
    core = _core_cf_attributes(geobox.crs.to_wkt())
    if core is not None:
        attrs = dict(core)
        attrs["GeoTransform"] = sr.attrs["GeoTransform"]
        coords["spatial_ref"] = xr.DataArray(sr.values, name=sr.name, dims=(), attrs=attrs)
    return coords


def as_geometry(aoi: Any, crs: Any = None) -> Geometry:
    """``aoi`` (odc-geo GeoBox or Geometry, a shapely geometry with ``crs``,
    a GeoDataFrame or GeoSeries) as one odc-geo Geometry."""
    if isinstance(aoi, GeoBox):
        return aoi.extent
    if isinstance(aoi, Geometry):
        return aoi
    try:
        import geopandas as gpd
    except ImportError:  # pragma: no cover - geopandas is a dependency
        gpd = None
    if gpd is not None and isinstance(aoi, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if aoi.crs is None:
            raise InvalidRequestError("the GeoDataFrame of the area of interest has no CRS")
        geoms = aoi.geometry if isinstance(aoi, gpd.GeoDataFrame) else aoi
        return Geometry(geoms.union_all(), crs=aoi.crs)
    if hasattr(aoi, "__geo_interface__") and hasattr(aoi, "geom_type"):
        if crs is None:
            raise InvalidRequestError(
                "a shapely geometry has no CRS: pass crs=, e.g. load(geom, crs='EPSG:4326')"
            )
        return Geometry(aoi, crs=crs)
    raise InvalidRequestError(
        f"unsupported area of interest {type(aoi)}: give an odc-geo GeoBox or Geometry, "
        "a shapely geometry with crs=, or a GeoDataFrame"
    )


class RemoteAccessor(ABC):
    """Base class of the datasets (smart-geocubes' ``RemoteAccessor``).

    Class attributes a dataset sets: ``extent`` (the cube's GeoBox),
    ``temporal_extent`` (a ``pandas.DatetimeIndex`` or ``None``),
    ``chunk_size``, ``channels``, ``_channels_meta`` (variable attributes)
    and ``_channels_encoding`` (``{"dtype": ...}`` per channel).

    Args:
        storage: where the cube lives: a local path (``str`` or ``Path``) or
            ``s3://bucket/prefix`` (with the ``s3_*`` options).
        create_icechunk_storage: accepted for compatibility; ``False``
            additionally requires the location to exist.
        backend: ``"threaded"`` (a pool of download workers and one writer
            that batches commits; works on every Python version) or
            ``"simple"`` (one patch at a time on the calling thread).
        stac_url, aux_dir, index_url: endpoint overrides (default: the
            environment variables ``GEOCUBE_STAC_URL``, ``GEOCUBE_AUX_DIR``,
            ``GEOCUBE_INDEX_URL``, as on the command line).
        workers: download workers of the threaded backend.
        offline: never touch the network; a load needing a missing patch fails.
        connect_timeout, read_timeout, request_timeout: network deadlines (s).
        codec: chunk codec of a new cube (``"reference"``, ``"default"``, ...).
        chunk_cache_mib: memory for decoded chunks (MiB).
        claim_lease: seconds a patch claim on S3 lives without renewal
            (default 30): a worker that died releases its patches after it.
        s3_endpoint, s3_region: an S3-compatible server and its region
            (default ``AWS_ENDPOINT_URL``, ``AWS_REGION``).
        s3_access_key_id, s3_secret_access_key, s3_session_token: static
            credentials (default: the standard AWS environment variables,
            read by each process, so a pickled accessor carries no secret
            unless given here); ``s3_anonymous`` for unsigned requests.
        ee_url, ee_key, ee_token, ee_project, ee_max_in_flight: Earth Engine
            (the TCTrend and AlphaEarth datasets): the API root (default
            ``GEOCUBE_EE_URL``, else Google's), a service-account JSON key
            file (default ``GOOGLE_APPLICATION_CREDENTIALS``) or an access
            token (default ``GEOCUBE_EE_TOKEN``), the Cloud project billed
            (default ``GEOCUBE_EE_PROJECT``, else the key's) and the requests
            in flight at once per project (default 10; the quota is 40).
            Like the S3 options, each process reads the environment itself.

    An accessor is thread-safe (share one between threads) and pickles by
    its storage location and options: a Dask or Ray worker that unpickles
    it starts its own backend on the same cube.
    """

    extent: GeoBox
    temporal_extent: pd.DatetimeIndex | None = None
    chunk_size: int
    channels: ClassVar[list]
    _channels_meta: ClassVar[dict] = {}
    _channels_encoding: ClassVar[dict] = {}

    def __init__(
        self,
        storage: str | Path,
        create_icechunk_storage: bool = True,
        backend: Literal["threaded", "simple"] = "threaded",
        *,
        stac_url: str | None = None,
        aux_dir: str | Path | None = None,
        index_url: str | None = None,
        workers: int | None = None,
        offline: bool = False,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        request_timeout: float | None = None,
        codec: str | None = None,
        chunk_cache_mib: int | None = None,
        claim_lease: float | None = None,
        s3_endpoint: str | None = None,
        s3_region: str | None = None,
        s3_access_key_id: str | None = None,
        s3_secret_access_key: str | None = None,
        s3_session_token: str | None = None,
        s3_anonymous: bool = False,
        ee_url: str | None = None,
        ee_key: str | Path | None = None,
        ee_token: str | None = None,
        ee_project: str | None = None,
        ee_max_in_flight: int | None = None,
    ):
        self.title = self.__class__.__name__
        self._init_kwargs = dict(
            storage=storage,
            create_icechunk_storage=create_icechunk_storage,
            backend=backend,
            stac_url=stac_url,
            aux_dir=aux_dir,
            index_url=index_url,
            workers=workers,
            offline=offline,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            request_timeout=request_timeout,
            codec=codec,
            chunk_cache_mib=chunk_cache_mib,
            claim_lease=claim_lease,
            s3_endpoint=s3_endpoint,
            s3_region=s3_region,
            s3_access_key_id=s3_access_key_id,
            s3_secret_access_key=s3_secret_access_key,
            s3_session_token=s3_session_token,
            s3_anonymous=s3_anonymous,
            ee_url=ee_url,
            ee_key=ee_key,
            ee_token=ee_token,
            ee_project=ee_project,
            ee_max_in_flight=ee_max_in_flight,
        )
        if backend not in ("threaded", "simple"):
            raise InvalidRequestError(f"Unknown backend {backend}")
        self.path = _storage_path(storage)
        self.storage = self.path
        self._s3 = s3_options(
            s3_endpoint, s3_region, s3_access_key_id, s3_secret_access_key, s3_session_token, s3_anonymous
        )
        is_s3 = self.path.startswith("s3://")
        if not create_icechunk_storage and not is_s3 and not Path(self.path).exists():
            raise CubeNotFoundError(f"no repository at {self.path} (create_icechunk_storage=False)")
        self.backend = backend
        options = dict(
            stac_url=stac_url or os.environ.get("GEOCUBE_STAC_URL") or None,
            aux_dir=str(aux_dir) if aux_dir else (os.environ.get("GEOCUBE_AUX_DIR") or None),
            index_url=index_url or os.environ.get("GEOCUBE_INDEX_URL") or None,
            backend=backend,
            workers=workers,
            offline=offline,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            request_timeout=request_timeout,
            codec=codec,
            chunk_cache_mib=chunk_cache_mib,
            claim_lease=claim_lease,
            s3=self._s3,
            ee=_ee_options(ee_url, ee_key, ee_token, ee_project, ee_max_in_flight),
        )
        options.update(self._core_source(options))
        self._core_kwargs = options
        self._core = _geocube.Accessor(self.path, **options)
        self._template: xr.Dataset | None = None
        self._template_lock = threading.Lock()
        self.post_init()

    def _work(self, method: str, *args, **kwargs):
        """Call the compiled accessor's ``method``. A Ctrl-C during it cancels
        the backend (the compiled call checks for signals while it waits) and
        raises ``KeyboardInterrupt``; the cancelled backend takes no more
        work, so a fresh one replaces it and the accessor stays usable."""
        try:
            return getattr(self._core, method)(*args, **kwargs)
        except KeyboardInterrupt:
            self._core = _geocube.Accessor(self.path, **self._core_kwargs)
            raise

    # -- what a dataset provides ----------------------------------------------
    @abstractmethod
    def _core_source(self, options: dict) -> dict:
        """Keyword arguments naming the compiled source: ``{"preset": ...}``
        or ``{"spec_json": ..., "stac_url": ..., "collection": ...}``."""

    def post_init(self) -> None:
        """Post init actions. Can be overwritten by the dataset accessor."""

    def post_create(self) -> None:
        """Post create actions. Can be overwritten by the dataset accessor."""

    # -- pickling --------------------------------------------------------------
    def __reduce__(self):
        return (_rebuild, (type(self), dict(self._init_kwargs)))

    def __repr__(self) -> str:
        from geocube.core.utils import _geobox_repr

        return f"{self.title}({_geobox_repr(self.extent)}, {self.channels})"

    def __str__(self) -> str:
        return self.__repr__()

    # -- state -----------------------------------------------------------------
    @property
    def is_temporal(self) -> bool:
        """Whether the datacube has a time axis."""
        return self.temporal_extent is not None

    @property
    def created(self) -> bool:
        """Whether the datacube exists in the storage."""
        return self._core.created

    def assert_created(self) -> None:
        """Raise ``FileNotFoundError`` unless the datacube exists."""
        self._core.assert_created()

    def assert_temporal_cube(self) -> None:
        """Raise ``ValueError`` unless the datacube has a time axis."""
        if self.temporal_extent is None:
            raise InvalidRequestError(f"Datacube {self.title} has no temporal dimension.")

    def loaded_patches(self) -> list[str]:
        """Ids of the loaded patches, in the order they were written."""
        return self._core.loaded_patches()

    def events(self) -> pd.DataFrame:
        """The backend's downloads and writes so far (one row per attempt):
        ``patch_id``, ``action`` (download, write), ``thread``, ``attempt``,
        ``time_start``, ``time_end``, ``duration`` (seconds since the backend
        started), ``ok``, ``reapplied``."""
        rows = self._core.events()
        df = pd.DataFrame(
            rows,
            columns=["patch_id", "action", "thread", "attempt", "start", "end", "ok", "reapplied"],
        )
        df = df.rename(columns={"start": "time_start", "end": "time_end"})
        df["duration"] = df["time_end"] - df["time_start"]
        return df

    def log_benchmark_summary(self) -> None:
        """Log how many downloads and writes this accessor did, and their time."""
        ev = self.events()
        if ev.empty:
            logger.info("%s: no downloads", self.title)
            return
        for action, g in ev.groupby("action"):
            logger.info("%s: %d %s(s), %.2f s in all", self.title, len(g), action, g["duration"].sum())

    # -- create, open ------------------------------------------------------------
    def create(self, overwrite: bool = False, exists_ok: bool = False) -> None:
        """Create the empty datacube.

        Raises:
            FileExistsError: a datacube exists and neither ``overwrite`` nor ``exists_ok`` is set.
        """
        if exists_ok and self.created:
            return
        self._core.create(overwrite=overwrite, exists_ok=exists_ok)
        with self._template_lock:
            self._template = None
        self.post_create()

    def _store(self) -> GeocubeStore:
        """The cube's Zarr store at the branch tip."""
        return GeocubeStore(self.path, raw=self._core.snapshot_store(), s3=self._s3)

    def open_zarr(self) -> zarr.Group:
        """The datacube as a read-only ``zarr.Group`` (at the current branch tip)."""
        import zarr

        self.assert_created()
        return zarr.open(store=self._store(), mode="r")

    def open_xarray(self) -> xr.Dataset:
        """The datacube as a lazy, dask-backed ``xarray.Dataset`` (at the current
        branch tip), as smart-geocubes opens it."""
        self.assert_created()
        return xr.open_zarr(self._store(), mask_and_scale=False, consolidated=False).set_coords(
            "spatial_ref"
        )

    def _template_ds(self) -> xr.Dataset:
        """The cube opened without dask: coordinates in memory, variables lazy.
        Its array metadata never changes after ``create``, so it is opened
        once (again after ``create``)."""
        with self._template_lock:
            if self._template is None:
                self.assert_created()
                self._template = xr.open_zarr(
                    self._store(), mask_and_scale=False, chunks=None, consolidated=False
                ).set_coords("spatial_ref")
            return self._template

    # -- patches -------------------------------------------------------------------
    def _aoi_args(self, aoi: Any, crs: Any = None) -> tuple[str, str]:
        if isinstance(aoi, GeoBox):
            aoi = aoi.extent
        try:
            import geopandas as gpd

            if isinstance(aoi, gpd.GeoDataFrame):
                if aoi.crs is None:
                    raise InvalidRequestError("the GeoDataFrame of the area of interest has no CRS")
                return aoi[["geometry"]].to_json(), crs_to_core(aoi.crs)
        except ImportError:  # pragma: no cover
            pass
        geom = as_geometry(aoi, crs)
        return json.dumps(geom.json), crs_to_core(geom.crs)

    def adjacent_patches(self, roi: Any, toi: TOI = None, *, crs: Any = None) -> list[PatchIndex]:
        """The source patches touching ``roi`` (a GeoBox, Geometry, GeoDataFrame, or
        a shapely geometry with ``crs=``) at ``toi``."""
        geometry, crs_text = self._aoi_args(roi, crs)
        found = self._work("adjacent_patches", geometry, crs_text, toi_to_core(toi))
        out = []
        for pid, footprint, time in found:
            geom = Geometry(json.loads(footprint), crs="EPSG:4326")
            out.append(PatchIndex(pid, geom, pd.Timestamp(time) if time else None, None))
        return out

    def procedural_download(self, aoi: Any, toi: TOI = None, *, crs: Any = None) -> None:
        """Download every patch touching ``aoi`` at ``toi`` that the cube lacks.

        Raises:
            ValueError: no patch touches the area (smart-geocubes' message).
        """
        geometry, crs_text = self._aoi_args(aoi, crs)
        self._work("procedural_download", geometry, crs_text, toi_to_core(toi))

    # -- loads -----------------------------------------------------------------------
    def _time_selection(self, tmpl: xr.Dataset, toi: TOI):
        """``(isel indexer, core indices, squeeze)`` for ``toi``: the steps
        ``Dataset.sel(time=toi)`` picks, as smart-geocubes selects them."""
        if toi is None or "time" not in tmpl.dims:
            return None, None, False
        steps = xr.DataArray(np.arange(tmpl.sizes["time"]), dims="time", coords={"time": tmpl["time"]})
        picked = steps.sel(time=toi)
        if picked.ndim == 0:
            i = int(picked)
            return i, [i], True
        idx = [int(i) for i in picked.values]
        return idx, idx, False

    def load(
        self,
        aoi: Any = None,
        toi: TOI = None,
        persist: bool = True,
        create: bool = False,
        *,
        crs: Any = None,
        max_bytes: int | None = None,
        geobox: GeoBox | None = None,
        resampling: Any = None,
    ) -> xr.Dataset:
        """Load the cube over ``aoi`` (and ``toi``), downloading the patches it lacks.

        ``aoi`` is an odc-geo ``GeoBox`` (its extent) or ``Geometry``, a
        GeoDataFrame, or a shapely geometry with ``crs=``. The result is what
        smart-geocubes returns for the same call: the cube cropped to the
        pixels the AOI's bounding box touches (``.odc.crop(aoi,
        apply_mask=False)``), with the cube's coordinates, attributes and
        ``spatial_ref`` (whose ``GeoTransform`` attribute, as in
        smart-geocubes, is the whole cube's: the crop's own grid is
        ``.odc.geobox``). Unlike smart-geocubes, every patch touching that
        box is loaded, so no part of the result is left empty where the
        source has data.

        ``geobox`` (an extension of smart-geocubes' call, keyword only):
        load onto that odc-geo ``GeoBox`` instead of the cube's grid. The
        geobox is the region (give no ``aoi``: both at once is an error);
        the cube pixels it needs are loaded as any load does, then every
        variable and time step is warped onto it with ``resampling``
        (default ``"nearest"``; rasterio / odc-geo names such as
        ``"bilinear"``, ``"cubic"``, ``"average"``, ``"mode"``, or a
        ``rasterio.enums.Resampling`` member) as ``.odc.reproject(geobox,
        resampling=...)`` does with GDAL: fixed kernels (``XSCALE=1,
        YSCALE=1``), GDAL's approximate transformer (0.125 px), nodata and
        NaN never blended in. The result's ``.odc.geobox`` is ``geobox``:
        its coordinates as odc-geo makes them (``y``/``x``, or
        ``latitude``/``longitude`` for a geographic CRS), ``spatial_ref``
        with the target CRS's CF attributes and ``GeoTransform``, the
        cube's variable types and attributes, the time coordinate and the
        cube's root attributes. Pixels without a source get the variable's
        nodata (``dem``: -9999), NaN, or False. A geobox on the cube's
        lattice is copied bit for bit. Only in memory (``persist=True``).
        Without ``geobox`` and ``resampling`` nothing changes: the cube's
        grid, bit-exact.

        ``persist=True`` returns numpy arrays (Rust's buffers, not copied);
        ``persist=False`` a lazy dask-backed Dataset read through zarr-python
        from one snapshot of the cube. ``create=True`` creates a missing cube.
        ``max_bytes`` bounds an in-memory result (default 4 GiB; ``0`` for
        none); a larger one fails before any download.

        Raises:
            FileNotFoundError: no cube (and ``create`` not set).
            ValueError: the AOI (or geobox) misses the cube, or no patch
                touches it; an unknown resampling; ``resampling`` without
                ``geobox``; ``geobox`` with ``aoi`` or ``persist=False``.
            RuntimeError: downloads failed after their retries.
        """
        if geobox is not None or resampling is not None:
            return self._load_onto(aoi, toi, persist, create, crs, max_bytes, geobox, resampling)
        if aoi is None:
            raise TypeError("load() needs an area of interest (aoi) or a geobox=")
        if toi is not None:
            self.assert_temporal_cube()
        geom = as_geometry(aoi, crs)
        if create:
            self.create(exists_ok=True)
        else:
            self.assert_created()
        aligned = geom.to_crs(self.extent.crs)
        tmpl = self._template_ds()
        gbox = tmpl.odc.geobox
        from odc.geo.roi import roi_is_empty

        roi = gbox.overlap_roi(gbox.enclosing(aligned))
        if roi_is_empty(roi):
            # The compiled check raises the Rust error naming both boxes.
            self._core.check_aoi(json.dumps(aligned.json), crs_to_core(aligned.crs))
            raise InvalidRequestError(
                f"the area of interest {tuple(aligned.boundingbox)} lies outside the cube extent"
                f" {tuple(gbox.extent.boundingbox)} (both in the cube CRS)"
            )
        ysl, xsl = roi
        isel_time, core_time, squeeze = self._time_selection(tmpl, toi)
        window = (ysl.start, xsl.start, ysl.stop - ysl.start, xsl.stop - xsl.start)
        if persist:
            limit = None if max_bytes == 0 else max_bytes
            variables, report = self._work("load_window", *window, time=core_time, max_bytes=limit)
        else:
            variables, report = None, self._work("download_window", *window, time=core_time)
        if not persist:
            xrcube = xr.open_zarr(
                self._store(), mask_and_scale=False, chunks="auto", consolidated=False
            ).set_coords("spatial_ref")
            if toi is not None:
                xrcube = xrcube.sel(time=toi)
            return xrcube.odc.crop(aligned, apply_mask=False)
        ydim, xdim = tmpl.odc.spatial_dims
        ds = tmpl.isel({ydim: ysl, xdim: xsl})
        if isel_time is not None:
            ds = ds.isel(time=isel_time)
        for name, data in variables.items():
            if squeeze:
                data = data[0]
            ds[name] = ds.variables[name].copy(deep=False, data=data)
        ds.attrs = self._root_attrs()
        return ds.load()

    def _load_onto(self, aoi, toi, persist, create, crs, max_bytes, geobox, resampling) -> xr.Dataset:
        """``load(geobox=..., resampling=...)``: the cube warped onto ``geobox``."""
        if geobox is None:
            raise InvalidRequestError(
                "resampling= needs a target grid: load(geobox=..., resampling=...), or"
                " load_like(ref, resampling=...); without them a load returns the cube's own grid"
            )
        if not isinstance(geobox, GeoBox):
            raise InvalidRequestError(
                f"geobox must be an odc.geo.geobox.GeoBox, not {type(geobox).__name__}"
            )
        if aoi is not None or crs is not None:
            raise InvalidRequestError(
                "give either an aoi or a geobox=, not both: the geobox is the region it loads"
            )
        if not persist:
            raise InvalidRequestError(
                "load(geobox=...) returns the result in memory only (persist=True); for a lazy"
                " result load with persist=False and reproject it with .odc.reproject(geobox)"
            )
        if geobox.crs is None:
            raise InvalidRequestError("the geobox has no CRS")
        kernel = resampling_name("nearest" if resampling is None else resampling)
        if toi is not None:
            self.assert_temporal_cube()
        if create:
            self.create(exists_ok=True)
        else:
            self.assert_created()
        tmpl = self._template_ds()
        isel_time, core_time, squeeze = self._time_selection(tmpl, toi)
        # The core returns the steps in ascending order, once each.
        steps = None if core_time is None else sorted(set(core_time))
        limit = None if max_bytes == 0 else max_bytes
        variables, _report = self._work(
            "load_onto",
            crs_to_core(geobox.crs),
            tuple(float(v) for v in tuple(geobox.affine)[:6]),
            tuple(int(n) for n in geobox.shape),
            kernel,
            time=steps,
            max_bytes=limit,
        )
        coords = spatial_coords(geobox)
        ydim, xdim = geobox.dimensions
        sdims: tuple[str, ...] = (ydim, xdim)
        if "time" in tmpl.dims:
            tcoord = tmpl["time"] if isel_time is None else tmpl["time"].isel(time=isel_time)
            coords["time"] = tcoord
            if not squeeze:
                sdims = ("time", ydim, xdim)
        data_vars = {}
        for name in tmpl.data_vars:
            if name not in variables:
                continue
            data = variables[name]
            if steps is not None:
                if squeeze:
                    data = data[0]
                elif steps != core_time:
                    data = data[[steps.index(i) for i in core_time]]
            data_vars[name] = xr.Variable(sdims, data, attrs=dict(tmpl[name].attrs))
        return xr.Dataset(data_vars, coords=coords, attrs=self._root_attrs())

    def _root_attrs(self) -> dict:
        raw = self._core.snapshot_store().get("zarr.json")
        return dict(json.loads(raw).get("attributes", {}))

    def load_like(self, ref: xr.Dataset | xr.DataArray, resampling: Any = None, **kwargs) -> xr.Dataset:
        """Load the region (and time steps) of ``ref``'s grid.

        Without ``resampling``, as smart-geocubes: ``load(ref.odc.geobox,
        toi=...)``, the cube's own pixels over the extent of ``ref``. With
        ``resampling`` (an extension: ``"nearest"``, ``"bilinear"``,
        ``"cubic"``, ... or a ``rasterio.enums.Resampling`` member) the cube
        is warped onto ``ref.odc.geobox`` (``load(geobox=ref.odc.geobox,
        resampling=...)``): the result's grid is ``ref``'s exactly, with
        ``ref``'s spatial dimension names and coordinates. Either way the time steps are
        ``ref``'s ``time`` coordinate when it has one and the cube is
        temporal. Other keyword arguments go to :meth:`load`.
        """
        toi = None
        if "time" in ref.coords and self.temporal_extent is not None:
            toi = ref.get_index("time")
        if resampling is None:
            return self.load(ref.odc.geobox, toi=toi, **kwargs)
        gbox = ref.odc.geobox
        if not isinstance(gbox, GeoBox):
            raise InvalidRequestError(
                "load_like(ref, resampling=...) needs a georegistered ref (ref.odc.geobox is"
                f" {type(gbox).__name__})"
            )
        ds = self.load(toi=toi, geobox=gbox, resampling=resampling, **kwargs)
        names = dict(zip(gbox.dimensions, ref.odc.spatial_dims))
        renamed = {k: v for k, v in names.items() if k != v}
        if renamed:
            ds = ds.rename(renamed)
        # ``ref``'s own coordinates (the same grid), so that the result
        # aligns with ``ref`` exactly, attributes included.
        return ds.assign_coords({d: ref[d].variable for d in names.values() if d in ref.coords})

    # -- state -------------------------------------------------------------------------
    def current_state(self) -> gpd.GeoDataFrame | None:
        """The loaded patches' footprints (EPSG:4326), or ``None`` when the cube
        does not exist or holds nothing."""
        import geopandas as gpd

        if not self.created:
            return None
        fc = json.loads(self._core.current_state())
        if not fc.get("features"):
            return None
        gdf = gpd.GeoDataFrame.from_features(fc["features"], crs="EPSG:4326")
        gdf["title"] = gdf["id"]
        return gdf

    def visualize_state(self, ax: plt.Axes | None = None) -> plt.Figure | plt.Axes:
        """Draw the loaded footprints over coastlines with a labelled
        graticule, in the cube's CRS (offline: the coastlines ship with
        geocube). Returns the Figure when it made one, else ``ax``.

        Raises:
            ValueError: the cube does not exist or holds nothing.
        """
        from geocube._viz import draw_state

        state = self.current_state()
        if state is None:
            raise InvalidRequestError("Datacube is not created or loaded yet. Can't visualize!")
        crs = self.extent.crs
        footprints = state.to_crs(crs.to_wkt())
        lines = self._core.basemap(tuple(float(b) for b in footprints.total_bounds))
        gb = self.extent.boundingbox
        return draw_state(
            footprints,
            [np.asarray(c) for c in lines["coastlines"]],
            [np.asarray(c) for c in lines["borders"]],
            [(lab, kind, np.asarray(pts)) for lab, kind, pts in lines["graticule"]],
            self.title,
            f"EPSG:{crs.epsg}" if crs.epsg else str(crs),
            ax=ax,
            land=[np.asarray(r) for r in lines["land"]],
            frame=lines["frame"],
            cube_extent=(gb.left, gb.bottom, gb.right, gb.top),
        )

    def close(self) -> None:
        """Stop the backend's threads."""
        self._core.close()


def _ee_options(url, key, token, project, max_in_flight) -> dict:
    """The Earth Engine options the compiled accessor takes (strings only;
    unset ones fall back to the environment, read by each process)."""
    out = {
        "url": url or os.environ.get("GEOCUBE_EE_URL") or None,
        "key": str(key) if key else None,
        "token": token,
        "project": project or os.environ.get("GEOCUBE_EE_PROJECT") or None,
        "max_in_flight": str(int(max_in_flight)) if max_in_flight is not None else None,
    }
    return {k: v for k, v in out.items() if v}
