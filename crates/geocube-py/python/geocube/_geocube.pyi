"""Type stubs of the compiled core (``geocube._geocube``)."""

from os import PathLike
from typing import Any

import numpy as np

__version__: str

def presets() -> list[tuple[str, str]]:
    """``(name, title)`` of every preset, e.g. ``("arcticdem-32m", "ArcticDEM32m")``."""

def crs_cf_attributes(crs: str) -> tuple[str, int | None]:
    """The CF grid-mapping attributes the core writes on a cube's
    ``spatial_ref`` for ``crs`` (an EPSG code, ``"EPSG:xxxx"`` or a PROJ
    string) as JSON, without ``GeoTransform``; and the EPSG code or ``None``."""

def open_snapshot_store(
    path: str, snapshot: str | None = None, s3: dict[str, str] | None = None
) -> SnapshotStore:
    """The Zarr store of the cube at ``path`` (a local path or ``s3://``) at
    ``snapshot`` (the branch tip when ``None``)."""

class SnapshotStore:
    """A read-only view of a cube's Zarr store at one snapshot."""

    @property
    def snapshot_id(self) -> str: ...
    def get(
        self,
        key: str,
        offset: int | None = None,
        length: int | None = None,
        suffix: int | None = None,
    ) -> bytes | None: ...
    def list_prefix(self, prefix: str) -> list[str]: ...
    def list_dir(self, prefix: str) -> list[str]: ...

class Accessor:
    """The compiled accessor behind ``geocube.RemoteAccessor`` (thread-safe)."""

    def __init__(
        self,
        storage: str,
        *,
        preset: str | None = None,
        spec_json: str | None = None,
        stac_url: str | None = None,
        collection: str | None = None,
        assets: list[tuple[str, str]] | None = None,
        aux_dir: str | PathLike[str] | None = None,
        index_url: str | None = None,
        backend: str = "threaded",
        workers: int | None = None,
        offline: bool = False,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        request_timeout: float | None = None,
        codec: str | None = None,
        chunk_cache_mib: int | None = None,
        claim_lease: float | None = None,
        s3: dict[str, str] | None = None,
        ee: dict[str, str] | None = None,
    ) -> None: ...
    def spec_json(self) -> str: ...
    def create(self, overwrite: bool = False, exists_ok: bool = False) -> None: ...
    @property
    def created(self) -> bool: ...
    def assert_created(self) -> None: ...
    def loaded_patches(self) -> list[str]: ...
    def adjacent_patches(
        self, geometry: str, crs: str, toi: str | None = None
    ) -> list[tuple[str, str, str | None]]: ...
    def procedural_download(self, geometry: str, crs: str, toi: str | None = None) -> dict[str, Any]: ...
    def load_window(
        self,
        row: int,
        col: int,
        height: int,
        width: int,
        time: list[int] | None = None,
        create: bool = False,
        max_bytes: int | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]: ...
    def load_onto(
        self,
        crs: str,
        affine: tuple[float, float, float, float, float, float],
        shape: tuple[int, int],
        resampling: str = "nearest",
        time: list[int] | None = None,
        create: bool = False,
        max_bytes: int | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The cube warped onto the north-up grid ``crs`` / ``affine`` (rasterio's
        order ``(a, b, c, d, e, f)`` = ``tuple(geobox.affine)[:6]``, ``b = d = 0``)
        / ``shape`` ``(height, width)`` with ``resampling`` (rasterio / odc-geo
        names), at the time indices ``time`` (ascending; all when ``None``):
        ``(variables {name: (y, x) or (time, y, x) array}, report)``, as
        ``load_window``. ``ValueError`` for an unknown resampling, a rotated
        grid, or a grid outside the cube; ``NoPatchesError`` when no patch
        touches it."""
    def download_window(
        self, row: int, col: int, height: int, width: int, time: list[int] | None = None
    ) -> dict[str, Any]: ...
    def current_state(self) -> str: ...
    def visualize_state_png(self, path: str | PathLike[str]) -> None: ...
    def basemap(
        self, footprints: tuple[float, float, float, float] | None = None
    ) -> dict[str, Any]: ...
    def events(self) -> list[dict[str, Any]]: ...
    def snapshot_store(self, snapshot: str | None = None) -> SnapshotStore: ...
    def cancel(self) -> None: ...
    def close(self) -> None: ...
