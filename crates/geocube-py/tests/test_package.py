"""The package's own promises beyond smart-geocubes parity: no-copy arrays,
the lazy path through our zarr store (and its pickling to spawned
processes), ``open_zarr``/``open_xarray`` against the reference reader
(icechunk-python), the generic STAC accessor on the fixture STAC API, the
AOI forms, and Ctrl-C during a load."""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import xarray as xr
from odc.geo.geom import box

from _cogs import expected_from_cogs

ROI = box(-1598000, 1560000, -1570000, 1590000, "EPSG:3413")


def _exact(ds, fixtures):
    want = expected_from_cogs(ds, fixtures)
    np.testing.assert_array_equal(ds["dem"].values, want["dem"])
    np.testing.assert_array_equal(ds["datamask"].values, want["datamask"])


def test_arrays_reach_numpy_without_a_copy(gc_accessor, cube_path, fixtures):
    """``persist=True`` data are Rust's buffers: numpy does not own them, and
    their base is the Rust container (PyO3's ``PySliceContainer``)."""
    acc = gc_accessor(cube_path)
    ds = acc.load(ROI, create=True)
    for name in ("dem", "datamask"):
        data = ds[name].data
        assert isinstance(data, np.ndarray)
        assert not data.flags.owndata
        assert type(data.base).__name__ == "PySliceContainer", type(data.base)
    _exact(ds, fixtures)


def _compute_pickled(blob: bytes) -> bytes:
    ds = pickle.loads(blob)
    return pickle.dumps(ds.load())


def test_lazy_load_is_the_persisted_load_and_computes_in_spawned_processes(gc_accessor, cube_path, fixtures):
    """``persist=False`` is dask-backed, reads one snapshot through our zarr
    store, equals ``persist=True`` exactly, and its pickle (graph + store by
    path and snapshot) computes to the same Dataset in a spawned process."""
    acc = gc_accessor(cube_path)
    eager = acc.load(ROI, create=True)
    lazy = acc.load(ROI, persist=False)
    assert lazy["dem"].chunks is not None, "persist=False must be dask-backed"
    xr.testing.assert_identical(lazy.load(), eager)
    lazy = acc.load(ROI, persist=False)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        out = pickle.loads(pool.apply(_compute_pickled, (pickle.dumps(lazy),)))
    xr.testing.assert_identical(out, eager)


def test_open_xarray_and_open_zarr_match_icechunk_python(gc_accessor, cube_path):
    """The cube as our store serves it equals the cube as icechunk-python 1.x
    reads it (smart-geocubes' reader), for metadata and pixels."""
    icechunk = pytest.importorskip("icechunk")
    import zarr

    acc = gc_accessor(cube_path)
    acc.load(ROI, create=True)
    ours = acc.open_xarray()
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(str(cube_path)))
    theirs = xr.open_zarr(
        repo.readonly_session("main").store, mask_and_scale=False, consolidated=False
    ).set_coords("spatial_ref")
    crop = dict(y=slice(78000, 78800), x=slice(75000, 75900))
    xr.testing.assert_identical(ours.isel(**crop).load(), theirs.isel(**crop).load())
    group = acc.open_zarr()
    assert isinstance(group, zarr.Group)
    assert sorted(group.array_keys()) == sorted(zarr.open(repo.readonly_session("main").store, mode="r").array_keys())
    assert group.attrs["loaded_patches"] == acc.loaded_patches()


def test_generic_stac_accessor_on_the_fixture_stac_api(geocube, server, fixtures, new_cube_path):
    """A ``STACAccessor`` subclass declared as in smart-geocubes (class
    attributes only) searches the fixture STAC API and loads the same
    pixels as the ArcticDEM preset, exactly the COGs' values."""
    from odc.geo.geobox import GeoBox

    class FixtureDEM(geocube.STACAccessor):
        stac_api_url = server.stac_url
        collection = fixtures.manifest["collection_id"]
        extent = GeoBox.from_bbox((-4000096, -3400096, 3400096, 4100096), "epsg:3413", resolution=32)
        chunk_size = 3600
        channels = ["dem", "datamask"]
        _channels_encoding = {"dem": {"dtype": "float32"}, "datamask": {"dtype": "bool"}}
        _channels_meta = {"dem": {"units": "m"}}
        _channels_nodata = {"dem": fixtures.nodata}

    acc = FixtureDEM(str(new_cube_path("stac")))
    ds = acc.load(ROI, create=True)
    assert ds.attrs["title"] == "FixtureDEM"
    assert ds["dem"].attrs["units"] == "m"
    _exact(ds, fixtures)
    assert sorted(acc.loaded_patches()) == sorted(fixtures.touching(*ROI.boundingbox.bbox))


def test_aoi_forms_give_the_same_result(gc_accessor, cube_path):
    """A GeoBox, an odc Geometry, a shapely geometry with ``crs=`` and a
    GeoDataFrame of the same box load the same Dataset; a shapely geometry
    without a CRS is a ValueError saying so."""
    import geopandas as gpd
    import shapely
    from odc.geo.geobox import GeoBox

    acc = gc_accessor(cube_path)
    bbox = ROI.boundingbox
    by_geom = acc.load(ROI, create=True)
    by_box = acc.load(GeoBox.from_bbox(bbox.bbox, "EPSG:3413", resolution=32))
    by_shapely = acc.load(shapely.box(*bbox.bbox), crs="EPSG:3413")
    by_gdf = acc.load(gpd.GeoDataFrame(geometry=[shapely.box(*bbox.bbox)], crs="EPSG:3413"))
    for other in (by_box, by_shapely, by_gdf):
        xr.testing.assert_identical(other, by_geom)
    with pytest.raises(ValueError, match="crs="):
        acc.load(shapely.box(*bbox.bbox))


_INTERRUPTED = textwrap.dedent(
    """
    import faulthandler, json, signal, sys, time
    # A hang shows where it is (the test then fails with this on stderr).
    faulthandler.dump_traceback_later(40, exit=True)
    # Ctrl-C as in a terminal: a test run started in the background (CI,
    # nohup) inherits SIGINT ignored, and Python then installs no handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import geocube
    from odc.geo.geom import box
    acc = geocube.ArcticDEM32m(sys.argv[1], stac_url=sys.argv[2], aux_dir=sys.argv[3])
    acc.create()
    print("ready", flush=True)
    t0 = time.monotonic()
    try:
        acc.load(box(-1598000, 1560000, -1570000, 1590000, "EPSG:3413"))
        print(json.dumps({"interrupted": False}), flush=True)
    except KeyboardInterrupt:
        took = time.monotonic() - t0
        print(json.dumps({"interrupted": True, "seconds": took, "loaded": acc.loaded_patches(),
                          "created": acc.created}), flush=True)
    """
)


def test_ctrl_c_during_a_stalled_load_raises_keyboard_interrupt(start_server, fixtures, aux_dir, cube_path):
    """SIGINT while every download stalls: the load raises KeyboardInterrupt
    (the compiled call checks for signals while it waits and gives the work
    5 s to wind down) instead of hanging until the read timeouts; the
    accessor stays usable and the cube holds nothing half-written."""
    stalled = start_server("--stall", "--fault-path-prefix", "/mosaics/")
    proc = subprocess.Popen(
        [sys.executable, "-c", _INTERRUPTED, str(cube_path), stalled.stac_url, str(aux_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline().strip()
        if first != "ready":
            proc.kill()
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"the child did not start its load: {first!r}; stderr:\n{err}")
        # Interrupt once the load waits on the stalled downloads (a Ctrl-C
        # that lands in Python code, e.g. inside zarr's event loop while the
        # cube's metadata is read, is that code's to handle).
        deadline = time.monotonic() + 60
        while not stalled.cog_requests() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stalled.cog_requests(), "the load never reached its downloads"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert out.strip(), f"the child printed nothing after 'ready'; stderr:\n{err}"
    result = json.loads(out.strip().splitlines()[-1])
    assert result["interrupted"], (out, err)
    assert result["created"]
    assert result["loaded"] == []


def test_visualize_state_draws_the_loaded_footprints_offline(gc_accessor, cube_path, tmp_path):
    """``visualize_state()`` draws the footprints over the shipped coastlines
    (no download, no cartopy): a Figure titled with the dataset and the patch
    count, framed around the footprints; into a given ``ax`` it returns that
    Axes; a cube with nothing loaded is a ValueError, as in smart-geocubes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    acc = gc_accessor(cube_path)
    acc.create()
    with pytest.raises(ValueError):
        acc.visualize_state()
    acc.load(ROI)
    n = len(acc.loaded_patches())
    fig = acc.visualize_state()
    ax = fig.axes[0]
    assert ax.get_title() == f"ArcticDEM32m: {n} patches loaded"
    x0, x1 = ax.get_xlim()
    bounds = acc.current_state().to_crs("EPSG:3413").total_bounds
    assert x0 <= bounds[0] and bounds[2] <= x1
    from matplotlib.collections import LineCollection

    segments = sum(len(c.get_segments()) for c in ax.collections if isinstance(c, LineCollection))
    assert segments > 10, "coastlines and graticule drawn"
    labels = [t.get_text() for t in ax.texts]
    assert any(t.endswith("°N") for t in labels) and any(t.endswith(("°E", "°W")) for t in labels), labels
    fig.savefig(tmp_path / "state.png")
    assert (tmp_path / "state.png").stat().st_size > 10_000
    fig2, given = plt.subplots()
    assert acc.visualize_state(ax=given) is given
    plt.close("all")
