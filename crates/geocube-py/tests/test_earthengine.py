"""TCTrend (2022: smart-geocubes 0.1.2 has no 2024) through the Python package, against the testkit's Earth Engine
emulator (``xtask serve-ee``), and its cubes shared with the real
smart-geocubes 0.1.2 both ways.

smart-geocubes' own Earth Engine calls need a live service (and Xee
arguments Xee 0.1 removed), so on its side the patch comes from a synthetic
``GEEMosaicAccessor.download_patch`` while everything after it runs as
shipped: ``TCTrendABC.download_patch``'s fill, clip and uint8 cast with
rioxarray and scipy, the Icechunk writes, ``loaded_patches``, the crop.
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from odc.geo.geom import box

# Inside TCTrend chunk (40, 196), and a region in its neighbour (40, 197).
ROI = box(10.20, 50.30, 10.26, 50.34, "epsg:4326")
ROI_EAST = box(11.10, 50.30, 11.14, 50.33, "epsg:4326")


@dataclass
class Emulator:
    url: str
    key: Path
    process: subprocess.Popen

    def requests(self) -> list[dict]:
        with urllib.request.urlopen(self.url + "__geocube/requests", timeout=10) as r:
            return json.loads(r.read())

    def reset(self) -> None:
        req = urllib.request.Request(self.url + "__geocube/reset", method="POST", data=b"")
        urllib.request.urlopen(req, timeout=10).read()


@pytest.fixture(scope="module")
def ee(xtask: Path, tmp_path_factory) -> Emulator:
    key = tmp_path_factory.mktemp("ee") / "key.json"
    proc = subprocess.Popen(
        [str(xtask), "serve-ee", "--port", "0", "--key-out", str(key)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    assert proc.stdout is not None
    for _ in range(3):
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"xtask serve-ee exited: {proc.stderr.read() if proc.stderr else ''}")
        lines.append(line.strip())
    # Keep draining so the child never blocks on a full pipe.
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    emu = Emulator(url=lines[0], key=Path(lines[2].removeprefix("key: ")), process=proc)
    yield emu
    proc.terminate()
    proc.wait(timeout=10)


def _gc_tctrend(geocube, path: Path, ee: Emulator, **kw):
    return geocube.TCTrend2022(str(path), ee_url=ee.url, ee_key=ee.key, **kw)


def _sgc_tctrend(path: Path):
    import smart_geocubes

    return smart_geocubes.TCTrend2022(str(path), backend="simple")


def _synthetic_patch(idx) -> xr.Dataset:
    """What Xee would hand smart-geocubes for a chunk: float bands on the
    chunk's grid, NaN where the mosaic is masked (single pixels and a small
    cluster), seeded by the chunk id."""
    gb = idx.item.geobox
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(idx.id))
    rng = np.random.default_rng(seed)
    # The replaced method imports rioxarray (registering `.rio`), which
    # TCTrendABC's post-processing then uses.
    import rioxarray  # noqa: F401
    from odc.geo.xr import xr_zeros

    # Xee's lon/lat are renamed x/y by the reference; so are odc-geo's.
    template = xr_zeros(gb, dtype="float32")
    template = template.rename({k: v for k, v in {"longitude": "x", "latitude": "y"}.items() if k in template.dims})
    bands = {}
    for name in ("TCB_slope", "TCG_slope", "TCW_slope"):
        a = rng.integers(3, 250, gb.shape, dtype=np.int64).astype("float32")
        a[rng.random(gb.shape) < 0.002] = np.nan
        a[100:104, 200:203] = np.nan
        bands[name] = template.copy(data=a)
    return xr.Dataset(bands)


def test_a_geocube_tctrend_cube_opens_in_smart_geocubes(geocube, ee, tmp_path, monkeypatch):
    from smart_geocubes.accessors.gee import GEEMosaicAccessor

    path = tmp_path / "tctrend.icechunk"
    ee.reset()
    gc = _gc_tctrend(geocube, path, ee)
    ours = gc.load(ROI, create=True)
    assert gc.loaded_patches() == ["40-196"]
    assert [r["status"] for r in ee.requests()] == [200] * 4
    assert ours["TCB_slope"].dtype == np.uint8

    def must_not_download(self, idx):
        raise AssertionError(f"smart-geocubes downloaded {idx.id}, which the cube holds")

    monkeypatch.setattr(GEEMosaicAccessor, "download_patch", must_not_download)
    theirs = _sgc_tctrend(path).load(ROI)
    xr.testing.assert_identical(ours, theirs)


def test_a_smart_geocubes_tctrend_cube_opens_and_grows_in_geocube(geocube, ee, tmp_path, monkeypatch):
    from smart_geocubes.accessors.gee import GEEMosaicAccessor

    monkeypatch.setattr(GEEMosaicAccessor, "download_patch", lambda self, idx: _synthetic_patch(idx))
    path = tmp_path / "tctrend.icechunk"
    sgc = _sgc_tctrend(path)
    theirs = sgc.load(ROI, create=True)
    assert sgc.loaded_patches() == ["40-196"]

    # geocube reads smart-geocubes' pixels and ids, offline: nothing fetched.
    ours = _gc_tctrend(geocube, path, ee, offline=True).load(ROI)
    xr.testing.assert_identical(ours, theirs)

    # geocube adds a chunk from Earth Engine; smart-geocubes reads it back.
    ee.reset()
    gc = _gc_tctrend(geocube, path, ee)
    east = gc.load(ROI_EAST)
    assert gc.loaded_patches() == ["40-196", "40-197"]
    assert len(ee.requests()) == 4
    monkeypatch.setattr(
        GEEMosaicAccessor,
        "download_patch",
        lambda self, idx: pytest.fail(f"smart-geocubes downloaded {idx.id}"),
    )
    again = _sgc_tctrend(path)
    xr.testing.assert_identical(east, again.load(ROI_EAST))
    xr.testing.assert_identical(theirs.drop_attrs(), again.load(ROI).drop_attrs())


def test_alphaearth_and_the_tctrend_alias_match_the_reference_classes(geocube, tmp_path):
    import smart_geocubes

    for ours, theirs in [
        (geocube.AlphaEarthEmbeddings, smart_geocubes.AlphaEarthEmbeddings),
        (geocube.TCTrend2019, smart_geocubes.TCTrend2019),
        (geocube.TCTrend2020, smart_geocubes.TCTrend2020),
        (geocube.TCTrend2022, smart_geocubes.TCTrend2022),
    ]:
        assert ours.extent == theirs.extent
        assert ours.chunk_size == theirs.chunk_size
        assert ours.channels == theirs.channels
        assert ours._channels_meta == theirs._channels_meta
        assert ours._channels_encoding == theirs._channels_encoding
        assert ours.collection == theirs.collection
        if theirs.temporal_extent is None:
            assert ours.temporal_extent is None
        else:
            assert (ours.temporal_extent == theirs.temporal_extent).all()
    # Without credentials, what needs no request still works; a download
    # says what is missing.
    # Patch ids (t-row-col) as the reference makes them.
    roi = box(10.0, 50.0, 10.01, 50.01, "epsg:4326")
    ours = geocube.AlphaEarthEmbeddings(str(tmp_path / "ae.icechunk"), ee_token=None)
    theirs = smart_geocubes.AlphaEarthEmbeddings(str(tmp_path / "ae-sgc.icechunk"), backend="simple")
    ids = [p.id for p in ours.adjacent_patches(roi, "2020-01-01")]
    assert ids == ["3-123-587"]
    assert ids == [p.id for p in theirs.adjacent_patches(roi, "2020-01-01")]
    tc = box(10.2, 50.3, 11.2, 50.31, "epsg:4326")
    assert [p.id for p in geocube.TCTrend(str(tmp_path / "tc")).adjacent_patches(tc, None)] == [
        p.id for p in smart_geocubes.TCTrend2022(str(tmp_path / "tc-sgc"), backend="simple").adjacent_patches(tc, None)
    ]
    # 0.1.2 has no TCTrend2024; upstream adds it and points TCTrend at it, as we do.
    assert geocube.TCTrend is geocube.TCTrend2024
    assert geocube.TCTrend2024.collection == "projects/ee-ingmarnitze/assets/TCTrend_SR_2005-2024_TCVIS"
