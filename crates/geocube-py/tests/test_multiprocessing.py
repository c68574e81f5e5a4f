"""An accessor pickles (by its storage location and options) to spawned
worker processes, each of which starts its own backend on the same local
cube: two workers loading overlapping ROIs at once both succeed, no patch is
lost or recorded twice, none is downloaded twice, and the pixels are exact.
"""

from __future__ import annotations

import multiprocessing
import pickle

import pytest
import xarray as xr
from odc.geo.geom import box

import _workers
from _cogs import assert_equals_cogs

# Two 18 km boxes sharing two of the six tiles they touch (355_158 and 356_158).
BOXES = {
    "west": (-1590000, 1570000, -1572000, 1588000),
    "east": (-1580000, 1570000, -1562000, 1588000),
}
UNION = (-1590000, 1570000, -1562000, 1588000)


def test_an_accessor_pickles_by_location_and_options(gc_accessor, cube_path):
    """The unpickled copy is a new accessor on the same cube with the same
    class, location and endpoints."""
    acc = gc_accessor(cube_path, backend="simple")
    acc.create()
    copy = pickle.loads(pickle.dumps(acc))
    assert type(copy) is type(acc) and copy is not acc
    assert copy.created and copy.loaded_patches() == acc.loaded_patches() == []
    assert repr(copy) == repr(acc)


@pytest.mark.slow
def test_two_spawned_workers_load_overlapping_rois_into_one_cube(
    geocube, server, fixtures, gc_accessor, new_cube_path
):
    """2 ``spawn`` workers, one pickled accessor, one local cube: both loads
    succeed and equal the COGs, ``loaded_patches`` holds each of the six
    patches exactly once, every COG is requested exactly as often as by one
    single-process load of the union (no patch downloaded twice), and the
    parent then reads the union without downloading."""
    expected = fixtures.touching(*UNION)
    assert len(expected) == 6

    server.reset()
    base = gc_accessor(new_cube_path("baseline"))
    base.create()
    want = base.load(box(*UNION, "EPSG:3413"))
    baseline = server.cog_requests()

    acc = gc_accessor(new_cube_path("shared"))
    acc.create()
    server.reset()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    with ctx.Pool(2, initializer=_workers.init, initargs=(barrier,)) as pool:
        jobs = {name: pool.apply_async(_workers.load_box, (acc, b)) for name, b in BOXES.items()}
        results = {name: job.get(timeout=300) for name, job in jobs.items()}
    assert len({r["pid"] for r in results.values()}) == 2, "both loads ran in one worker"

    for name, r in results.items():
        ds = xr.Dataset(
            {"dem": (("y", "x"), r["dem"]), "datamask": (("y", "x"), r["datamask"])},
            coords={"x": r["x"], "y": r["y"]},
        )
        touched = assert_equals_cogs(ds, fixtures, f"worker {name}")
        assert sorted(touched) == sorted(fixtures.touching(*BOXES[name]))
        assert set(fixtures.touching(*BOXES[name])) <= set(r["loaded"])

    loaded = acc.loaded_patches()
    assert sorted(loaded) == sorted(expected), loaded
    assert len(loaded) == len(set(loaded)), f"an id recorded twice: {loaded}"
    assert server.cog_requests() == baseline, "a patch was downloaded twice (or differently) across processes"

    server.reset()
    union = acc.load(box(*UNION, "EPSG:3413"))
    assert server.cog_requests() == {}, "the parent downloaded what the workers loaded"
    assert_equals_cogs(union, fixtures, "union after the workers")
    for v in ("dem", "datamask", "x", "y"):
        xr.testing.assert_identical(union[v], want[v])
