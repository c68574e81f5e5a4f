"""Cubes in an S3 bucket (moto on 127.0.0.1), filled by many processes:
Dask distributed workers, a lazy Dataset computed on them, bad storage
input, and a worker killed while it holds patch claims.

The bucket server is moto's server mode (``_moto.moto_s3``, one per
session, a fresh bucket per test); the fixture server is ``xtask serve``
(conftest). Workers are spawned processes (distributed's nanny, or a plain
subprocess): they inherit the test AWS credential variables, and an accessor
pickles without any secret.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from odc.geo.geom import box

from _cogs import assert_equals_cogs
from _moto import REGION, SECRET_ACCESS_KEY, moto_s3  # noqa: F401  (moto_s3 is a fixture)
from conftest import copy_aux

TESTS = Path(__file__).resolve().parent

# Overlapping 18-24 km boxes over the 3 x 3 tiles (16 km each) of the tiny
# mosaic (x -1600000..-1552000, y 1552000..1600000): every box touches 2 to 4
# tiles, every tile is touched by at least two boxes, and each worker's boxes
# overlap other workers'. Three boxes per worker.
ROIS = {
    0: [
        (-1598000, 1586000, -1578000, 1598000),  # 356_157, 356_158
        (-1590000, 1570000, -1572000, 1588000),  # the four around the centre-west
        (-1596000, 1554000, -1578000, 1572000),  # 355_157, 355_158, 354_157, 354_158
    ],
    1: [
        (-1580000, 1586000, -1556000, 1598000),  # 356_158, 356_159
        (-1580000, 1570000, -1562000, 1588000),  # the four around the centre-east
        (-1566000, 1556000, -1554000, 1574000),  # 355_159, 354_159
    ],
    2: [
        (-1590000, 1562000, -1572000, 1580000),  # 355_157, 355_158, 354_157, 354_158
        (-1576000, 1576000, -1560000, 1592000),  # 356_158, 356_159, 355_158, 355_159
        (-1598000, 1574000, -1586000, 1594000),  # 356_157, 355_157
    ],
    3: [
        (-1580000, 1562000, -1562000, 1580000),  # 355_158, 355_159, 354_158, 354_159
        (-1590000, 1578000, -1574000, 1596000),  # 356_157, 356_158, 355_157, 355_158
        (-1582000, 1554000, -1558000, 1566000),  # 354_158, 354_159
    ],
}
ALL_ROIS = [b for boxes in ROIS.values() for b in boxes]
UNION = (
    min(b[0] for b in ALL_ROIS),
    min(b[1] for b in ALL_ROIS),
    max(b[2] for b in ALL_ROIS),
    max(b[3] for b in ALL_ROIS),
)


def _touched(fixtures, rois) -> list[str]:
    """The tiles any of ``rois`` touches, in index order."""
    ids = {i for b in rois for i in fixtures.touching(*b)}
    return [t.id for t in fixtures.tiles if t.id in ids]


def _ok_downloads(acc) -> dict[str, int]:
    """Successful download events per patch."""
    ev = acc.events()
    d = ev[(ev["action"].astype(str) == "download") & ev["ok"].astype(bool)]
    return d.groupby("patch_id").size().to_dict()


def _writes(acc) -> tuple[int, int]:
    """(successful write events, times they were re-applied on a newer tip in all)."""
    ev = acc.events()
    w = ev[(ev["action"].astype(str) == "write") & ev["ok"].astype(bool)]
    return len(w), int(w["reapplied"].fillna(0).astype(int).sum())


def _dataset(r: dict) -> xr.Dataset:
    return xr.Dataset(
        {"dem": (("y", "x"), r["dem"]), "datamask": (("y", "x"), r["datamask"])},
        coords={"x": r["x"], "y": r["y"]},
    )


@pytest.fixture
def s3_accessor(geocube, server, fixtures, tmp_path, moto_s3):  # noqa: F811
    """``s3_accessor(url, **kw)``: a ``geocube.ArcticDEM32m`` on ``s3://...``
    at the session's moto server, with the fixture server (``stac_url=``) and
    its own copy of the index; credentials from the environment."""
    n = [0]

    def make(url: str, **kw):
        n[0] += 1
        kw.setdefault("stac_url", server.stac_url)
        kw.setdefault("aux_dir", str(copy_aux(fixtures, tmp_path / f"s3-aux-{n[0]}")))
        kw.setdefault("s3_endpoint", moto_s3.endpoint)
        kw.setdefault("s3_region", REGION)
        return geocube.ArcticDEM32m(url, **kw)

    return make


# ---------------------------------------------------------------- Dask


@pytest.fixture(scope="module")
def dask_client(moto_s3):  # noqa: F811  (the AWS variables are set before the workers spawn)
    """A 4-process ``LocalCluster`` (spawned, one thread each) and its client."""
    try:
        import dask
        import distributed
    except ImportError as e:  # as conftest's `geocube`: missing is a failure unless optional
        if os.environ.get("GEOCUBE_PY_OPTIONAL") == "1":
            pytest.skip(f"dask distributed does not import ({e}) and GEOCUBE_PY_OPTIONAL=1")
        raise
    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
        cluster = distributed.LocalCluster(
            n_workers=4,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=40,  # logging.ERROR
        )
        client = distributed.Client(cluster)
        try:
            client.wait_for_workers(4, timeout=120)
            yield client
        finally:
            client.close()
            cluster.close()


def _worker_load(accessor, rois: list, token: str) -> dict:
    """On a Dask worker: signal readiness, wait for the common start, load
    ``rois`` one after another with the shipped accessor and return plain
    arrays, the accessor's successful downloads and ``loaded_patches``."""
    from distributed import Event, Queue

    Queue(f"ready-{token}").put(os.getpid())
    if not Event(f"go-{token}").wait(timeout=120):
        raise TimeoutError("no go from the test process")
    out, seconds = [], []
    for b in rois:
        t = time.perf_counter()
        ds = accessor.load(box(*b, "EPSG:3413"))
        seconds.append(time.perf_counter() - t)
        out.append({k: ds[k].values for k in ("x", "y", "dem", "datamask")})
    return {
        "pid": os.getpid(),
        "env_key": os.environ.get("AWS_ACCESS_KEY_ID"),
        "results": out,
        "seconds": seconds,
        "downloads": _ok_downloads(accessor),
        "writes": _writes(accessor),
        "loaded": accessor.loaded_patches(),
    }


def test_dask_local_cluster_fills_one_s3_cube(dask_client, s3_accessor, moto_s3, server, fixtures):  # noqa: F811
    """4 spawned Dask workers, one pickled accessor scattered to all, 3
    overlapping ROIs each, one S3 cube: every task succeeds and equals the
    COGs; ``loaded_patches`` holds every touched tile exactly once and
    nothing else; the union read back in the test process (no download) is
    exact; the COGs were requested at most 1.1x as often as by one
    single-process load of the union on a fresh cube."""
    from distributed import Event, Queue

    expected = _touched(fixtures, ALL_ROIS)
    assert len(expected) == 9
    assert sorted(fixtures.touching(*UNION)) == sorted(expected)

    # Baseline: each tile's COG requests for one clean download.
    base = s3_accessor(f"s3://{moto_s3.bucket()}/baseline")
    base.create()
    server.reset()
    started = time.perf_counter()
    assert_equals_cogs(base.load(box(*UNION, "EPSG:3413")), fixtures, "baseline")
    took_baseline = time.perf_counter() - started
    baseline = server.cog_requests()
    assert sum(baseline.values()) > 0

    acc = s3_accessor(f"s3://{moto_s3.bucket()}/shared/cube")
    acc.create()
    assert SECRET_ACCESS_KEY.encode() not in pickle.dumps(acc), "the pickled accessor carries the secret"

    client = dask_client
    workers = sorted(client.scheduler_info()["workers"])
    assert len(workers) == 4
    token = os.urandom(6).hex()
    ready, go = Queue(f"ready-{token}", client=client), Event(f"go-{token}", client=client)
    server.reset()
    shipped = client.scatter(acc, broadcast=True)
    futures = [
        client.submit(_worker_load, shipped, ROIS[i], token, workers=[w], pure=False, key=f"load-{i}-{token}")
        for i, w in enumerate(workers)
    ]
    started = time.perf_counter()
    pids = {ready.get(timeout=120) for _ in workers}
    go.set()
    done = client.gather(futures)  # raises the first failed task's error
    took = time.perf_counter() - started
    assert all(f.status == "finished" for f in futures)
    assert len(pids) == 4 and {r["pid"] for r in done} == pids, "the loads did not run in 4 processes"
    assert all(r["env_key"] == os.environ["AWS_ACCESS_KEY_ID"] for r in done), "a worker lacks the AWS variables"

    cogs = server.cog_requests()
    for i, r in enumerate(done):
        for b, got in zip(ROIS[i], r["results"]):
            touched = assert_equals_cogs(_dataset(got), fixtures, f"worker {i} box {b}")
            assert sorted(touched) == sorted(fixtures.touching(*b))
        assert set(_touched(fixtures, ROIS[i])) <= set(r["loaded"])

    loaded = acc.loaded_patches()
    assert sorted(loaded) == sorted(expected), loaded
    assert len(loaded) == len(set(loaded)), f"an id recorded twice: {loaded}"

    # Downloads per patch, by the fixture server's counts and by the workers' events.
    per_request = sum(cogs.values()) / sum(baseline.values())
    extra = {p: (cogs.get(p, 0), n) for p, n in baseline.items() if cogs.get(p, 0) != n}
    assert set(cogs) <= set(baseline), f"COGs nobody needed: {set(cogs) - set(baseline)}"
    assert per_request <= 1.1, f"{per_request:.2f} downloads per patch (requests, got vs baseline): {extra}"
    events: dict[str, int] = {}
    for r in done:
        for pid, n in r["downloads"].items():
            events[pid] = events.get(pid, 0) + n
    assert set(events) == set(expected), events
    assert sum(events.values()) / len(expected) <= 1.1, f"downloads per patch: {events}"

    # The whole union, read back in the test process: exact, nothing downloaded.
    server.reset()
    union = acc.load(box(*UNION, "EPSG:3413"))
    assert server.cog_requests() == {}, "the union load downloaded again"
    assert sorted(assert_equals_cogs(union, fixtures, "union")) == sorted(expected)
    assert acc.loaded_patches() == loaded
    assert moto_s3.list(acc.path.split("/")[2], "shared/cube/geocube-claims/") == [], "claims left behind"
    client.cancel([shipped, *futures])  # the workers drop their copies (and backends)
    print(
        f"\n4 Dask workers, 12 loads, 9 patches: {took:.1f} s, {per_request:.2f} downloads per patch "
        f"(one process, the union: {took_baseline:.1f} s); per worker, s per load: "
        + "; ".join(", ".join(f"{t:.1f}" for t in r["seconds"]) for r in done)
        + "; (writes, re-applied): "
        + ", ".join(str(r["writes"]) for r in done)
    )


def test_lazy_dataset_computes_on_dask_workers_from_s3(dask_client, s3_accessor, moto_s3, fixtures):  # noqa: F811
    """``load(persist=False)`` in the test process, computed by the Dask
    workers (the graph's zarr store pickles by url, snapshot and S3 options;
    each worker reopens the snapshot): identical to ``load(persist=True)``."""
    from distributed import get_task_stream

    roi = box(-1590000, 1570000, -1572000, 1588000, "EPSG:3413")
    acc = s3_accessor(f"s3://{moto_s3.bucket()}/lazy")
    lazy = acc.load(roi, create=True, persist=False)
    assert lazy["dem"].chunks is not None, "persist=False gave an in-memory Dataset"
    with get_task_stream(client=dask_client) as ts:
        computed = lazy.compute(scheduler=dask_client)
    ran_on = {t["worker"] for t in ts.data}
    assert ran_on and ran_on <= set(dask_client.scheduler_info()["workers"]), ran_on
    eager = acc.load(roi, persist=True)
    xr.testing.assert_identical(computed, eager)
    assert_equals_cogs(computed, fixtures, "computed on the workers")


# ---------------------------------------------------------------- bad storage


def _dead_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# "... is not a geocube/smart-geocubes cube: the prefix holds `hello.txt` ..."
NOT_A_CUBE = r"is not a (\S+ )?cube"


def test_s3_bad_storage_errors(geocube, s3_accessor, moto_s3):  # noqa: F811
    """An unknown bucket is a StorageError (an OSError) naming the bucket; an
    endpoint that refuses connections a StorageError within seconds; a prefix
    holding something that is not a cube a ValueError saying so, from both
    ``load(create=True)`` and ``create()``."""
    StorageError = geocube.errors.StorageError
    assert issubclass(StorageError, OSError)
    roi = box(-1580000, 1572000, -1572000, 1580000, "EPSG:3413")

    missing = f"geocube-missing-{os.urandom(4).hex()}"
    with pytest.raises(StorageError) as e:
        s3_accessor(f"s3://{missing}/cube").create()
    assert missing in str(e.value), str(e.value)

    started = time.perf_counter()
    with pytest.raises(StorageError) as e:
        s3_accessor(f"s3://{moto_s3.bucket()}/cube", s3_endpoint=f"http://127.0.0.1:{_dead_port()}").create()
    elapsed = time.perf_counter() - started
    assert elapsed < 30, f"a refused connection took {elapsed:.1f} s to report: {e.value}"

    bucket = moto_s3.bucket()
    moto_s3.put(bucket, "prefix/hello.txt", b"hello, not a cube\n")
    acc = s3_accessor(f"s3://{bucket}/prefix")
    with pytest.raises(ValueError, match=NOT_A_CUBE):
        acc.load(roi, create=True)
    with pytest.raises(ValueError, match=NOT_A_CUBE):
        acc.create()
    assert moto_s3.list(bucket, "prefix/") == ["prefix/hello.txt"], "the foreign prefix was written to"


# ---------------------------------------------------------------- a killed worker

_HOLDER = textwrap.dedent(
    """
    import json, sys
    import geocube
    from odc.geo.geom import box

    a = json.loads(sys.argv[1])
    acc = geocube.ArcticDEM32m(
        a["url"], stac_url=a["stac_url"], aux_dir=a["aux_dir"],
        s3_endpoint=a["endpoint"], s3_region=a["region"], claim_lease=a["lease"],
    )
    print("loading", flush=True)
    acc.load(box(*a["roi"], "EPSG:3413"))
    print("loaded", flush=True)  # never: the fixture server stalls every COG request
    """
)


@pytest.mark.slow
def test_killed_worker_claims_expire_and_are_taken_over(
    s3_accessor, moto_s3, start_server, server, fixtures, tmp_path  # noqa: F811
):
    """A process loading through a fixture server that never answers COG
    requests holds its claims (renewed every second, lease 3 s) until it is
    SIGKILLed; a second accessor then loads the same ROI through the normal
    server: it takes the expired claims over and downloads the patches
    itself, within ~30 s; the cube is consistent (each touched tile recorded
    once, exact pixels) and no claim is left."""
    roi = (-1590000, 1570000, -1572000, 1588000)
    touched = fixtures.touching(*roi)
    assert len(touched) == 4
    bucket = moto_s3.bucket()
    url = f"s3://{bucket}/killed"
    claims_prefix = "killed/geocube-claims/"

    second = s3_accessor(url, claim_lease=3)
    second.create()

    stalled = start_server("--stall", "--fault-path-prefix", "/mosaics/")
    args = {
        "url": url,
        "stac_url": stalled.stac_url,
        "aux_dir": str(copy_aux(fixtures, tmp_path / "holder-aux")),
        "endpoint": moto_s3.endpoint,
        "region": REGION,
        "lease": 3,
        "roi": roi,
    }
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, json.dumps(args)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        # Until the holder claims every touched patch (bounded); at least one.
        deadline = time.monotonic() + 60
        claims: list[str] = []
        while time.monotonic() < deadline and holder.poll() is None:
            claims = moto_s3.list(bucket, claims_prefix)
            if len(claims) >= len(touched):
                break
            time.sleep(0.2)
        assert holder.poll() is None, f"the holder exited: {holder.communicate(timeout=10)}"
        assert claims, "the holder made no claim within 60 s"
        bodies = [json.loads(moto_s3.get(bucket, k)) for k in claims]
        assert all(f":{holder.pid}:" in b["owner"] for b in bodies), bodies
        held = sorted(b["patch"] for b in bodies)
        assert set(held) <= set(touched), held
        time.sleep(1.5)  # a renewal or so: the claims are alive, not left over
        assert sorted(moto_s3.list(bucket, claims_prefix)) == sorted(claims)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=30)
    killed_at = time.perf_counter()
    assert holder.returncode == -signal.SIGKILL
    # Nothing released them: the second accessor has to take them over.
    assert sorted(moto_s3.list(bucket, claims_prefix)) == sorted(claims)

    started = time.perf_counter()
    ds = second.load(box(*roi, "EPSG:3413"))
    took = time.perf_counter() - started
    assert took < 30, f"taking the expired claims over took {took:.1f} s"
    assert sorted(assert_equals_cogs(ds, fixtures, "after the takeover")) == sorted(touched)
    loaded = second.loaded_patches()
    assert sorted(loaded) == sorted(touched) and len(loaded) == len(set(loaded)), loaded
    # The second accessor downloaded every touched patch, those the dead
    # holder had claimed included (taken over, not skipped or lost).
    assert _ok_downloads(second) == {i: 1 for i in touched}, second.events()
    assert moto_s3.list(bucket, claims_prefix) == [], "claims left behind"
    # Read back through a fresh accessor: the recorded ids have their pixels.
    fresh = s3_accessor(url)
    assert fresh.loaded_patches() == loaded
    again = fresh.open_xarray().sel(x=ds["x"], y=ds["y"]).compute()
    np.testing.assert_array_equal(again["dem"].values, ds["dem"].values)
    np.testing.assert_array_equal(again["datamask"].values, ds["datamask"].values)
    print(f"\nheld {len(held)} claims; taken over {time.perf_counter() - killed_at:.1f} s after the kill, load {took:.1f} s")
