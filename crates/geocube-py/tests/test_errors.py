"""Every mapped exception, raised by the input that should raise it: the
builtin smart-geocubes raises (so code written for it keeps catching what it
caught), with the Rust error's message in ``str(exc)``.

=====================================  ====================  ==================================
input                                  exception             message (the Rust error's)
=====================================  ====================  ==================================
load / assert_created, no cube         FileNotFoundError     "no datacube at <path>; ..."
create() on an existing cube           FileExistsError       "a cube already exists at <path>"
AOI outside the mosaic, in the extent  ValueError            "no patches of the source intersect
                                                             the area of interest ..."
AOI outside the cube's extent          ValueError            "the area of interest ... lies
                                                             outside the cube extent ..."
every download answered 503            RuntimeError          the failed patch and the 503
=====================================  ====================  ==================================
"""

from __future__ import annotations

import re

import pytest
from odc.geo.geom import box

# Inside ArcticDEM's extent (x -4000096..3400096, y -3400096..4100096), far
# from the tiny mosaic (x -1600000..-1552000, y 1552000..1600000).
NO_PATCHES = box(0, 0, 5000, 5000, "EPSG:3413")
# Outside the extent altogether.
OUTSIDE = box(5_000_000, 5_000_000, 5_010_000, 5_010_000, "EPSG:3413")
ONE_TILE = box(-1580000, 1572000, -1572000, 1580000, "EPSG:3413")


def test_load_without_create_on_a_missing_cube_is_file_not_found(gc_accessor, cube_path, server):
    """No cube at the path: ``load`` (``create=False``), ``assert_created``,
    ``open_xarray`` and ``open_zarr`` raise FileNotFoundError naming the
    location; nothing is downloaded; ``created`` is False."""
    acc = gc_accessor(cube_path)
    assert not acc.created
    server.reset()
    for call in (lambda: acc.load(ONE_TILE), acc.assert_created, acc.open_xarray, acc.open_zarr):
        with pytest.raises(FileNotFoundError) as e:
            call()
        msg = str(e.value)
        assert re.search(r"no (geocube )?datacube at", msg), msg
        assert str(cube_path.name) in msg, msg
    assert server.cog_requests() == {}


def test_create_twice_is_file_exists(gc_accessor, cube_path):
    """``create()`` on an existing cube raises FileExistsError with the Rust
    message; ``exists_ok=True`` does not, and the cube stays."""
    acc = gc_accessor(cube_path)
    acc.create()
    with pytest.raises(FileExistsError) as e:
        acc.create()
    msg = str(e.value)
    assert "a cube already exists at" in msg and cube_path.name in msg, msg
    acc.create(exists_ok=True)
    assert acc.created
    with pytest.raises(FileExistsError):
        gc_accessor(cube_path).create()  # another accessor on the same cube


def test_an_aoi_with_no_patches_is_value_error(gc_accessor, cube_path, server):
    """An AOI inside the cube's extent that no patch touches: ValueError from
    ``load``, ``procedural_download`` (smart-geocubes' message, or the Rust
    one); ``adjacent_patches`` is empty; nothing downloaded or recorded."""
    acc = gc_accessor(cube_path)
    acc.create()
    server.reset()
    for call in (lambda: acc.load(NO_PATCHES), lambda: acc.procedural_download(NO_PATCHES, None)):
        with pytest.raises(ValueError) as e:
            call()
        msg = str(e.value)
        assert "no patches of the source intersect the area of interest" in msg, msg
    assert acc.adjacent_patches(NO_PATCHES, None) == []
    assert acc.loaded_patches() == []
    assert server.cog_requests() == {}


def test_an_aoi_outside_the_extent_is_value_error(gc_accessor, cube_path, server):
    """An AOI outside the cube's extent: ValueError saying so, before any download."""
    acc = gc_accessor(cube_path)
    acc.create()
    server.reset()
    with pytest.raises(ValueError) as e:
        acc.load(OUTSIDE)
    msg = str(e.value)
    assert "lies outside the cube extent" in msg, msg
    assert server.cog_requests() == {}
    assert acc.loaded_patches() == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "faulted",
    [
        pytest.param(("--fault-path-prefix", "/mosaics/"), id="cogs-503"),
        pytest.param((), id="everything-503"),
    ],
)
def test_downloads_exhausting_their_retries_are_runtime_error(
    start_server, gc_accessor, cube_path, fixtures, faulted
):
    """A server that answers 503 to every COG request (or to every request,
    the STAC API included): ``load`` raises RuntimeError after the retries,
    naming the patch and the 503; the cube records nothing."""
    failing = start_server("--fail-fraction", "1.0", *faulted)
    acc = gc_accessor(cube_path, stac_url=failing.stac_url)
    acc.create()
    with pytest.raises(RuntimeError) as e:
        acc.load(ONE_TILE)
    msg = str(e.value)
    assert "355_158_32m_v4.1" in msg and "503" in msg, msg
    assert failing.faults()["failed"] > 1, "no retry"
    assert acc.loaded_patches() == []
