"""The real smart-geocubes 0.1.2 against the loopback fixture server.

smart-geocubes' ArcticDEM accessors hard-code PGC's endpoints in three places,
and only those are redirected; everything else (the GeoParquet index lookup,
``pystac.Item.from_file`` of each patch's STAC item, ``odc.stac.stac_load`` of
its COGs through rasterio/GDAL over HTTP, the Icechunk writes, the crop) runs
as shipped:

- ``smart_geocubes.datasets.arcticdem._get_stac_url(dem_id, res)``, the STAC
  item URL of a patch → the fixture server's item URL;
- ``smart_geocubes.datasets.arcticdem._download_arcticdem_extent(save_dir)``,
  which downloads PGC's index zip (in ``post_init`` when one of the 2 m, 10 m
  and 32 m index files is missing from the aux directory, and always in
  ``post_create``) → a copy of the fixture index files into ``save_dir``;
- the accessor's ``stac_api_url`` (only ``current_state`` searches the STAC
  API) → the fixture server's API root, set on the instance.

The aux directory is read from ``SMART_GEOCUBES_AUX`` once, when the accessor is
constructed (``_aux_dir`` is a cached property used by ``post_init``).

The two module functions are process-wide: pass pytest's ``monkeypatch`` to
have them restored after the test; without it the last call's endpoints stay.
Use ``backend="simple"``: the threaded backend refuses Python < 3.13.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

# GDAL over HTTP for odc-stac's COG reads: no directory listing next to each
# file (it would add 404s to the server's counts), bounded waits.
GDAL_HTTP_ENV = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff",
    "GDAL_HTTP_TIMEOUT": "30",
    "GDAL_HTTP_CONNECTTIMEOUT": "10",
}
for _k, _v in GDAL_HTTP_ENV.items():
    os.environ.setdefault(_k, _v)

import smart_geocubes  # noqa: E402
import smart_geocubes.datasets.arcticdem as _arcticdem  # noqa: E402


def _setattr(monkeypatch, obj, name: str, value) -> None:
    if monkeypatch is not None:
        monkeypatch.setattr(obj, name, value)
    else:
        setattr(obj, name, value)


def index_copier(index_dir: Path) -> Callable[[Path], None]:
    """A stand-in for ``_download_arcticdem_extent``: copies the index files of
    ``index_dir`` (``ArcticDEM_Mosaic_Index_v4_1_*.parquet``) into ``save_dir``.

    smart-geocubes' ``post_init`` wants all of 2m, 10m and 32m; the fixtures
    have the 32 m one (the 2m preset the 2 m one), so the missing ones are
    ignored: ``post_init`` then just copies again at each construction."""
    index_dir = Path(index_dir)
    files = sorted(index_dir.glob("ArcticDEM_Mosaic_Index_v4_1_*.parquet"))
    if not files:
        raise FileNotFoundError(f"no ArcticDEM_Mosaic_Index_v4_1_*.parquet in {index_dir}")

    def download(save_dir: Path) -> None:
        save_dir = Path(save_dir)
        save_dir.mkdir(parents=True, exist_ok=True)
        for f in files:
            if not (save_dir / f.name).exists():
                shutil.copy2(f, save_dir / f.name)

    return download


def sgc_accessor(
    dataset_cls_name: str,
    cube_path: Path | str,
    stac_item_url_fn: Callable[[str, str], str],
    aux_dir: Path | str,
    *,
    index_dir: Path | str | None = None,
    stac_api_url: str | None = None,
    monkeypatch=None,
    backend: str = "simple",
    create_icechunk_storage: bool = True,
):
    """A real ``smart_geocubes.<dataset_cls_name>`` (e.g. ``"ArcticDEM32m"``)
    on the cube at ``cube_path`` whose endpoints are the fixture server's.

    ``stac_item_url_fn(dem_id, res)`` gives a patch's STAC item URL (the
    server fixture's ``item_url``); ``aux_dir`` is the accessor's aux
    directory (``SMART_GEOCUBES_AUX``); its "download" of the index copies the
    index files from ``index_dir`` (default: those already in ``aux_dir``,
    e.g. the ``aux_dir`` fixture's copy). ``stac_api_url`` (the STAC API
    root) is used by ``current_state``; by default it is derived from an item
    URL. The cube is not created: call ``create()`` or ``load(create=True)``.
    """
    aux_dir = Path(aux_dir)
    aux_dir.mkdir(parents=True, exist_ok=True)
    src = Path(index_dir) if index_dir is not None else aux_dir
    copier = index_copier(src)
    if index_dir is not None:
        copier(aux_dir)
    _setattr(monkeypatch, _arcticdem, "_get_stac_url", stac_item_url_fn)
    _setattr(monkeypatch, _arcticdem, "_download_arcticdem_extent", copier)
    cls = getattr(smart_geocubes, dataset_cls_name)
    saved = os.environ.get("SMART_GEOCUBES_AUX")
    os.environ["SMART_GEOCUBES_AUX"] = str(aux_dir)
    try:
        acc = cls(str(cube_path), create_icechunk_storage=create_icechunk_storage, backend=backend)
        assert acc._aux_dir == aux_dir, (acc._aux_dir, aux_dir)  # read now, cached for the accessor's life
    finally:
        if saved is None:
            os.environ.pop("SMART_GEOCUBES_AUX", None)
        else:
            os.environ["SMART_GEOCUBES_AUX"] = saved
    if stac_api_url is None:
        probe = stac_item_url_fn("x", "32m")
        stac_api_url = probe.split("/collections/")[0] + "/"
    acc.stac_api_url = stac_api_url
    return acc
