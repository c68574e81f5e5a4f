"""Many Python threads share one geocube accessor: the GIL is released while
Rust works, a patch two threads need is downloaded once, and every result
is exact.

Four 18 km boxes overlap around the centre of the ``tiny`` mosaic; each
touches four of its nine tiles, the centre tile ``355_158`` all four, the
edge tiles two each. A single-threaded baseline (one load of their union on a
fresh cube, every patch downloaded once by construction) gives the request
count of each COG path; the four threads on another fresh cube must make
exactly those requests: a patch downloaded twice would double its COGs'
counts.
"""

from __future__ import annotations

import threading

import pytest
import xarray as xr
from odc.geo.geom import box

from _cogs import assert_equals_cogs

BOXES = {
    "nw": (-1590000, 1570000, -1572000, 1588000),
    "ne": (-1580000, 1570000, -1562000, 1588000),
    "sw": (-1590000, 1562000, -1572000, 1580000),
    "se": (-1580000, 1562000, -1562000, 1580000),
}
UNION = (-1590000, 1562000, -1562000, 1588000)


def _load_in_threads(acc, boxes: dict) -> dict:
    """Each box loaded by its own thread, all released at once."""
    start = threading.Barrier(len(boxes))
    results: dict = {}
    errors: dict = {}

    def work(name: str, b) -> None:
        try:
            start.wait(timeout=60)
            results[name] = acc.load(box(*b, "EPSG:3413"))
        except BaseException as e:  # reported below, with the thread's name
            errors[name] = e

    threads = [threading.Thread(target=work, args=(n, b), name=f"load-{n}") for n, b in boxes.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a load thread hangs"
    assert not errors, errors
    return results


@pytest.mark.parametrize("backend", ["threaded", pytest.param("simple", marks=pytest.mark.slow)])
def test_four_threads_download_each_patch_once_and_load_exactly(
    geocube, server, fixtures, gc_accessor, new_cube_path, backend
):
    """4 threads, 4 overlapping ROIs, one accessor: every COG requested exactly
    as often as in a single-threaded load of the union (each patch downloaded
    once), one successful download event per patch, every patch recorded
    once, every result equal to the COGs."""
    expected = fixtures.touching(*UNION)
    assert len(expected) == 9

    server.reset()
    base = gc_accessor(new_cube_path("baseline"), backend=backend)
    base.create()
    assert_equals_cogs(base.load(box(*UNION, "EPSG:3413")), fixtures, "baseline")
    baseline = server.cog_requests()
    assert {p.split("/")[4] for p in baseline} == {i.split("_32m")[0] for i in expected}

    server.reset()
    acc = gc_accessor(new_cube_path("threads"), backend=backend)
    acc.create()
    results = _load_in_threads(acc, BOXES)
    assert server.cog_requests() == baseline, "a patch was downloaded more than once (or differently)"

    for name, ds in results.items():
        touched = assert_equals_cogs(ds, fixtures, f"thread {name}")
        assert sorted(touched) == sorted(fixtures.touching(*BOXES[name]))
    loaded = acc.loaded_patches()
    assert sorted(loaded) == sorted(expected) and len(loaded) == len(set(loaded))

    events = acc.events()
    downloads = events[events["action"].astype(str).str.startswith("download")]
    if "ok" in downloads:
        downloads = downloads[downloads["ok"].astype(bool)]
    per_patch = downloads.groupby("patch_id").size().to_dict()
    assert per_patch == {i: 1 for i in expected}, per_patch

    # Warm: the same four loads again download nothing and give the same data.
    server.reset()
    again = _load_in_threads(acc, BOXES)
    assert server.cog_requests() == {}
    for name in BOXES:
        # The same pixels and coordinates; the root attributes may differ in
        # loaded_patches, which holds what was recorded when each load ended.
        assert again[name].attrs["loaded_patches"] == loaded
        xr.testing.assert_identical(again[name].drop_attrs(deep=False), results[name].drop_attrs(deep=False))


@pytest.mark.slow
def test_the_gil_is_released_while_rust_loads(start_server, fixtures, gc_accessor, cube_path):
    """While one thread's load waits on a slow server (1 s per request), the
    main thread keeps running Python: its longest pause is far shorter than
    one request, so the load does not hold the GIL while Rust works."""
    import time

    slow = start_server("--latency-ms", "1000")
    acc = gc_accessor(cube_path, stac_url=slow.stac_url)
    acc.create()
    done: dict = {}

    def work() -> None:
        try:
            done["ds"] = acc.load(box(-1580000, 1572000, -1572000, 1580000, "EPSG:3413"))
        except BaseException as e:
            done["error"] = e

    t = threading.Thread(target=work)
    started = time.perf_counter()
    t.start()
    last, longest, spins = started, 0.0, 0
    while t.is_alive():
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
        spins += 1
    took = time.perf_counter() - started
    t.join()
    assert "error" not in done, done.get("error")
    assert took >= 1.0, f"the load took {took:.2f} s: the server's latency did not apply"
    assert longest < 0.5, f"the main thread stalled {longest:.2f} s during a {took:.2f} s load ({spins} spins)"
    assert_equals_cogs(done["ds"], fixtures, "slow load")
