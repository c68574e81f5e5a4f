"""The harness itself, and the real smart-geocubes 0.1.2 on our fixtures.

None of these tests needs the ``geocube`` package: they prove that the
fixture server, its request counts and the smart-geocubes reference run
(``_sgc.sgc_accessor``) work, so that the parity tests compare against a
reference that really ran.
"""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest
from odc.geo.geom import box

from _cogs import assert_equals_cogs, expected_from_cogs
from _sgc import sgc_accessor


def test_server_serves_the_fixtures_and_counts_requests_over_http(server, fixtures, request_counts):
    """The subprocess server answers on loopback, counts per path, and its
    control routes read and reset the counts without counting themselves."""
    request_counts.reset()
    t = fixtures.tiles[0]
    with urllib.request.urlopen(server.item_url(t.id)) as r:
        item = json.load(r)
    assert item["id"] == t.id
    assert item["assets"]["dem"]["href"] == server.url + t.dem_path
    req = urllib.request.Request(server.url + t.dem_path, headers={"Range": "bytes=0-99"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 206 and r.read() == t.dem.read_bytes()[:100]
    counts = request_counts()
    assert counts == {f"/collections/{server.collection}/items/{t.id}": 1, t.dem_path: 1}
    assert request_counts.cogs() == {t.dem_path: 1}
    assert request_counts() == counts, "reading the counts is not counted"
    request_counts.reset()
    assert request_counts() == {}


def test_a_failing_server_answers_503_and_counts_its_faults(start_server, fixtures):
    """``start_server("--fail-fraction", "1.0")`` starts a second server whose
    every data request fails (the errors tests' exhausted retries)."""
    failing = start_server("--fail-fraction", "1.0")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(failing.url + fixtures.tiles[0].dem_path)
    assert e.value.code == 503
    assert failing.faults()["failed"] == 1
    assert failing.requests() == {fixtures.tiles[0].dem_path: 1}


def test_expected_values_come_from_the_cogs(fixtures):
    """The COG reader of the tests: a window across four tiles has each tile's
    pixels, nodata kept as -9999, NaN/False outside the mosaic."""
    import xarray as xr

    xmin, ymin, xmax, ymax = fixtures.bounds
    # 3 px left of the mosaic's west edge to 3 px into it, around a tile corner row.
    xs = xmin + 32 * (np.arange(-3, 600) + 0.5)
    ys = ymax - 32 * (np.arange(-2, 520) + 0.5)
    ds = xr.Dataset(coords={"x": xs, "y": ys})
    want = expected_from_cogs(ds, fixtures)
    assert sorted(want["touched"]) == sorted(fixtures.touching(xs[0], ys[-1], xs[-1], ys[0]))
    assert len(want["touched"]) == 4
    assert np.isnan(want["dem"][:, :3]).all() and np.isnan(want["dem"][:2, :]).all()
    assert not want["datamask"][:, :3].any()
    inside = want["dem"][2:, 3:]
    assert not np.isnan(inside).any()
    nodata = inside == fixtures.nodata
    assert nodata.any() and (want["datamask"][2:, 3:] == ~nodata).all(), "datamask is 0 exactly at nodata"


@pytest.mark.slow
def test_smart_geocubes_loads_our_fixtures_over_http_exactly(server, fixtures, aux_dir, cube_path, monkeypatch):
    """The real smart_geocubes.ArcticDEM32m (simple backend), its endpoints
    redirected to the fixture server, downloads the four patches a box across
    a tile corner touches (STAC items and COGs over HTTP, through odc-stac and
    GDAL) and returns the COGs' values at every pixel."""
    server.reset()
    sgc = sgc_accessor("ArcticDEM32m", cube_path, server.item_url, aux_dir, monkeypatch=monkeypatch)
    sgc.create()
    assert sgc.created
    roi = box(-1590000, 1575000, -1578000, 1590000, "EPSG:3413")
    ds = sgc.load(roi)
    touched = assert_equals_cogs(ds, fixtures, "smart-geocubes")
    expected = fixtures.touching(-1590000, 1575000, -1578000, 1590000)
    assert sorted(touched) == sorted(expected) and len(expected) == 4
    # Recorded in the order the index lists the patches (the simple backend
    # writes one after another).
    assert sgc.loaded_patches() == expected
    assert ds.attrs == {"title": "ArcticDEM32m", "loaded_patches": expected}
    counts = server.requests()
    for t in map(fixtures.tile, expected):
        assert counts.get(t.dem_path, 0) > 0 and counts.get(t.datamask_path, 0) > 0, counts
    cog_tiles = {p.split("/")[4] for p in server.cog_requests()}
    assert cog_tiles == {t.split("_32m")[0] for t in expected}, "only the touched tiles' COGs are read"
    # A second load of the same box downloads nothing.
    server.reset()
    again = sgc.load(roi)
    assert server.cog_requests() == {}
    assert again.identical(ds)
