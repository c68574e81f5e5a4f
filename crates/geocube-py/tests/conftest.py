"""The harness of the Python package's tests: fixtures, a loopback fixture
server, fresh cubes and aux directories, and the `geocube` import check.

Everything runs offline against 127.0.0.1 and starts and stops itself:

- the fixture mosaic (`cargo xtask fixtures --preset tiny`, 3 x 3 tiles of
  500² px at 32 m around the antimeridian, 3 MB, about a second) is generated
  once into ``target/fixtures/<preset>`` (reused while up to date);
- ``target/debug/xtask serve --port 0`` serves it (STAC API, COGs with byte
  ranges), started as a subprocess per session on a free port, its base URL
  read from the first line of its stdout, and stopped at the end; its request
  counts are read over HTTP (``GET /__geocube/requests``, ``POST
  /__geocube/reset``);
- each test gets its own cube path and its own copy of the mosaic index
  (the aux directory).

Environment:

- ``GEOCUBE_PY_OPTIONAL=1``: tests that need the ``geocube`` package skip when
  it does not import (otherwise they fail: under CI the wheel must be there);
- ``GEOCUBE_XTASK``: an xtask binary to use instead of building
  ``cargo build -p xtask``;
- ``GEOCUBE_PY_FIXTURES``: a fixture directory to use instead of generating one
  (it must hold ``manifest.json``);
- ``GEOCUBE_PY_PRESET``: the preset to generate (default ``tiny``).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parents[2]  # crates/geocube-py/tests -> the workspace root

if str(TESTS) not in sys.path:  # the helpers (_sgc, _cogs, _workers) import as top-level modules
    sys.path.insert(0, str(TESTS))

# Loopback never goes through a proxy (GDAL, requests, urllib, reqwest).
for _var in ("NO_PROXY", "no_proxy"):
    _have = [h for h in os.environ.get(_var, "").split(",") if h]
    os.environ[_var] = ",".join(dict.fromkeys(_have + ["127.0.0.1", "localhost"]))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than a few seconds (deselect with -m 'not slow')")
    # affine 3 deprecates `*` for matrix products; odc-geo 0.4.10 still uses it.
    config.addinivalue_line("filterwarnings", "ignore:Use `@` matmul:PendingDeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore:The 'shapely.ops.transform:DeprecationWarning")


# ---------------------------------------------------------------- geocube


@pytest.fixture(scope="session")
def geocube():
    """The `geocube` package; a test that needs it fails when it is missing,
    or skips under ``GEOCUBE_PY_OPTIONAL=1``."""
    try:
        import geocube as module
    except ImportError as e:
        if os.environ.get("GEOCUBE_PY_OPTIONAL") == "1":
            pytest.skip(f"geocube does not import ({e}) and GEOCUBE_PY_OPTIONAL=1")
        raise
    return module


# ---------------------------------------------------------------- xtask and fixtures


def _target_dir() -> Path:
    t = os.environ.get("CARGO_TARGET_DIR")
    return Path(t) if t else ROOT / "target"


@pytest.fixture(scope="session")
def xtask() -> Path:
    """The xtask binary (built once per session unless ``GEOCUBE_XTASK`` names one)."""
    given = os.environ.get("GEOCUBE_XTASK")
    if given:
        path = Path(given)
        assert path.is_file(), f"GEOCUBE_XTASK={given} is not a file"
        return path
    cargo = os.environ.get("CARGO", "cargo")
    built = subprocess.run(
        [cargo, "build", "--quiet", "-p", "xtask"], cwd=ROOT, capture_output=True, text=True
    )
    path = _target_dir() / "debug" / ("xtask.exe" if os.name == "nt" else "xtask")
    if built.returncode != 0:
        if not path.is_file():
            raise RuntimeError(f"cargo build -p xtask failed ({built.returncode}):\n{built.stderr[-4000:]}")
        # A workspace mid-edit: use the last build (the server fixture checks
        # that it has the control routes).
        warnings.warn(f"cargo build -p xtask failed; using the existing {path}:\n{built.stderr[-1000:]}")
    return path


@dataclass(frozen=True)
class Tile:
    """One tile of the fixture mosaic (from its manifest)."""

    id: str  # the patch id, e.g. "355_158_32m_v4.1"
    dem: Path
    datamask: Path
    bounds: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax in EPSG:3413
    dem_path: str  # relative URL path of the dem COG, e.g. "mosaics/v4.1/32m/355_158/..._dem.tif"
    datamask_path: str


@dataclass(frozen=True)
class Fixtures:
    """A generated fixture directory."""

    dir: Path
    manifest: dict
    tiles: tuple[Tile, ...]

    @property
    def index(self) -> Path:
        """The GeoParquet mosaic index, under PGC's file name."""
        return self.dir / self.manifest["index_path"]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        b = self.manifest["mosaic_bounds"]
        return (b["xmin"], b["ymin"], b["xmax"], b["ymax"])

    @property
    def nodata(self) -> float:
        return float(self.manifest["dem_nodata"])

    def tile(self, patch_id: str) -> Tile:
        return next(t for t in self.tiles if t.id == patch_id)

    def touching(self, xmin: float, ymin: float, xmax: float, ymax: float) -> list[str]:
        """Ids of the tiles overlapping a box (with area, not by an edge), in index order."""
        return [
            t.id
            for t in self.tiles
            if t.bounds[0] < xmax and xmin < t.bounds[2] and t.bounds[1] < ymax and ymin < t.bounds[3]
        ]


def _load_fixtures(d: Path) -> Fixtures:
    manifest = json.loads((d / "manifest.json").read_text())
    tiles = tuple(
        Tile(
            id=t["dem_id"],
            dem=d / t["dem_path"],
            datamask=d / t["datamask_path"],
            bounds=(t["bounds"]["xmin"], t["bounds"]["ymin"], t["bounds"]["xmax"], t["bounds"]["ymax"]),
            dem_path="/" + t["dem_path"],
            datamask_path="/" + t["datamask_path"],
        )
        for t in manifest["tiles"]
    )
    return Fixtures(dir=d, manifest=manifest, tiles=tiles)


@pytest.fixture(scope="session")
def fixtures(xtask: Path) -> Fixtures:
    """The fixture mosaic, generated if missing or stale (``xtask fixtures``)."""
    given = os.environ.get("GEOCUBE_PY_FIXTURES")
    if given:
        return _load_fixtures(Path(given))
    preset = os.environ.get("GEOCUBE_PY_PRESET", "tiny")
    out = _target_dir() / "fixtures" / preset
    done = subprocess.run(
        [str(xtask), "fixtures", "--preset", preset, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"xtask fixtures --preset {preset} failed:\n{done.stdout}\n{done.stderr}")
    return _load_fixtures(out)


# ---------------------------------------------------------------- the fixture server


def _http(method: str, url: str, timeout: float = 10.0) -> bytes:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    with opener.open(req, timeout=timeout) as resp:
        return resp.read()


@dataclass
class FixtureServer:
    """A running ``xtask serve`` subprocess."""

    url: str  # http://127.0.0.1:PORT, no trailing slash
    process: subprocess.Popen
    collection: str
    stderr_lines: list[str] = field(default_factory=list)

    @property
    def stac_url(self) -> str:
        """The STAC API root (what ``stac_url=`` / ``GEOCUBE_STAC_URL`` take)."""
        return self.url + "/"

    def item_url(self, dem_id: str, res: str = "32m") -> str:
        """The STAC item URL of a patch (what smart-geocubes' ``_get_stac_url`` returns)."""
        return f"{self.url}/collections/arcticdem-mosaics-v4.1-{res}/items/{dem_id}"

    def requests(self) -> dict[str, int]:
        """Requests per path (query excluded) since the start or the last reset."""
        return json.loads(_http("GET", self.url + "/__geocube/requests"))

    def faults(self) -> dict[str, int]:
        """Injected faults (``failed``, ``truncated``, ``stalled``, ``trickled``)."""
        return json.loads(_http("GET", self.url + "/__geocube/faults"))

    def reset(self) -> None:
        """Clears the request and fault counts."""
        _http("POST", self.url + "/__geocube/reset")

    def cog_requests(self) -> dict[str, int]:
        """Requests per COG path (under ``/mosaics/``)."""
        return {p: n for p, n in self.requests().items() if p.startswith("/mosaics/")}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _start_server(xtask: Path, fixtures: Fixtures, *args: str) -> FixtureServer:
    proc = subprocess.Popen(
        [str(xtask), "serve", "--port", "0", "--dir", str(fixtures.dir), *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump(stream, sink) -> None:
        for line in stream:
            sink(line.rstrip("\n"))
        if stream is proc.stdout:
            lines.put(None)

    stderr_lines: list[str] = []
    threading.Thread(target=pump, args=(proc.stdout, lines.put), daemon=True).start()
    threading.Thread(target=pump, args=(proc.stderr, stderr_lines.append), daemon=True).start()
    try:
        first = lines.get(timeout=60)
    except queue.Empty:
        first = None
    if not first or not first.startswith("http://127.0.0.1:"):
        proc.kill()
        proc.wait(timeout=10)
        raise RuntimeError(f"xtask serve printed {first!r} instead of its URL; stderr: {stderr_lines}")
    server = FixtureServer(
        url=first.strip(), process=proc, collection=fixtures.manifest["collection_id"], stderr_lines=stderr_lines
    )
    try:
        server.requests()  # the control routes exist (a stale xtask binary lacks them)
    except Exception as e:
        server.stop()
        raise RuntimeError(f"{server.url}/__geocube/requests does not answer: {e}") from e
    return server


@pytest.fixture(scope="session")
def start_server(xtask: Path, fixtures: Fixtures):
    """Starts further fixture servers with ``xtask serve`` options (e.g.
    ``start_server("--fail-fraction", "1.0")``); all stop at the session's end."""
    started: list[FixtureServer] = []

    def start(*args: str) -> FixtureServer:
        s = _start_server(xtask, fixtures, *args)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def server(start_server) -> FixtureServer:
    """The session's fault-free fixture server."""
    return start_server()


@pytest.fixture
def stac_url(server: FixtureServer) -> str:
    return server.stac_url


@pytest.fixture
def request_counts(server: FixtureServer):
    """Reads the session server's request counts: ``request_counts()`` →
    ``{path: count}``; ``request_counts.reset()`` clears them."""

    class Counts:
        def __call__(self) -> dict[str, int]:
            return server.requests()

        def reset(self) -> None:
            server.reset()

        def cogs(self) -> dict[str, int]:
            return server.cog_requests()

    return Counts()


# ---------------------------------------------------------------- per test


def copy_aux(fixtures: Fixtures, dest: Path) -> Path:
    """A fresh aux directory holding the mosaic index(es) of the fixtures."""
    dest.mkdir(parents=True, exist_ok=True)
    for p in fixtures.dir.glob("ArcticDEM_Mosaic_Index_*.parquet"):
        shutil.copy2(p, dest / p.name)
    return dest


@pytest.fixture
def aux_dir(fixtures: Fixtures, tmp_path: Path) -> Path:
    """A tmp copy of the fixture mosaic index directory (``aux_dir=`` / ``GEOCUBE_AUX_DIR``)."""
    return copy_aux(fixtures, tmp_path / "aux")


@pytest.fixture
def cube_path(tmp_path: Path) -> Path:
    """A path where no cube exists yet."""
    p = tmp_path / "cube.icechunk"
    assert not p.exists()
    return p


@pytest.fixture
def new_cube_path(tmp_path: Path):
    """Any number of fresh cube paths: ``new_cube_path("sgc")``."""
    n = [0]

    def make(name: str = "cube") -> Path:
        n[0] += 1
        p = tmp_path / f"{name}-{n[0]}.icechunk"
        assert not p.exists()
        return p

    return make


@pytest.fixture
def gc_accessor(geocube, server: FixtureServer, fixtures: Fixtures, tmp_path: Path):
    """``gc_accessor(cube_path, **kw)``: a ``geocube.ArcticDEM32m`` on the
    fixture server (``stac_url=``) with its own copy of the index (``aux_dir=``)."""
    n = [0]

    def make(path: Path, **kw):
        n[0] += 1
        kw.setdefault("stac_url", server.stac_url)
        kw.setdefault("aux_dir", str(copy_aux(fixtures, tmp_path / f"gc-aux-{n[0]}")))
        return geocube.ArcticDEM32m(str(path), **kw)

    return make
