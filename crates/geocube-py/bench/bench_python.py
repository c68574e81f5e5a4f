"""The Python package's benchmark: the binding's overhead and thread scaling.

Run by ``cargo xtask bench --python`` (which builds the release wheel and the
release ``geocube`` command, serves the fixtures and passes their URLs), or
by hand::

    python bench_python.py --stac-url URL --aux-dir DIR --cli path/to/geocube --work DIR

Every repetition runs in a process of its own (this script with ``--one``),
so each peak RSS (``ru_maxrss``) is that scenario's alone. Scenarios:

- ``py-cold`` / ``py-warm``: one ``ArcticDEM32m.load`` of an ROI touching 4
  tiles from Python, on a fresh cube, then again on the filled cube;
- ``cli-cold`` / ``cli-warm``: the same ROI through ``geocube load``;
- ``threads-1`` / ``threads-4``: 4 overlapping ROIs (each 4 tiles, 9 tiles in
  all), cold, through one accessor: one after another on one Python thread,
  then from 4 Python threads at once (the GIL is released in Rust);
- ``warm-threads-1`` / ``warm-threads-4``: the same 4 ROIs read warm, 8
  times each.

Prints a markdown table on stdout and writes the medians as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

SCENARIOS = ["py-cold", "py-warm", "cli-cold", "cli-warm", "threads-1", "threads-4", "warm-threads-1", "warm-threads-4"]


def rois(manifest: dict) -> list[tuple[float, float, float, float]]:
    """4 overlapping boxes (EPSG:3413), each touching 2x2 tiles, 3x3 tiles in all."""
    lay = manifest["layout"]
    tile = lay["tile_px"] * manifest["resolution"]
    left, top = lay["left"], lay["top"]
    out = []
    for r in range(2):
        for c in range(2):
            cx, cy = left + (c + 1) * tile, top - (r + 1) * tile
            h = 0.4 * tile
            out.append((cx - h, cy - h, cx + h, cy + h))
    return out


def one(args) -> dict:
    import geocube
    from odc.geo.geom import box

    manifest = json.loads((Path(args.aux_dir) / "manifest.json").read_text())
    boxes = rois(manifest)
    work = Path(args.work) / args.one
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    store = work / "cube.icechunk"
    env = {**os.environ, "GEOCUBE_STAC_URL": args.stac_url, "GEOCUBE_AUX_DIR": args.aux_dir}
    scen = args.one
    result: dict = {"scenario": scen}

    def accessor():
        return geocube.ArcticDEM32m(store, stac_url=args.stac_url, aux_dir=args.aux_dir)

    def cli(bbox):
        cmd = [args.cli, "load", "arcticdem-32m", "--store", str(store), f"--bbox={','.join(map(str, bbox))}",
               "--crs", "EPSG:3413", "--create"]
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    b0 = boxes[0]
    if scen in ("py-cold", "py-warm"):
        a = accessor()
        if scen == "py-warm":
            a.load(box(*b0, "EPSG:3413"), create=True)
        t = time.perf_counter()
        ds = a.load(box(*b0, "EPSG:3413"), create=True)
        result["wall"] = time.perf_counter() - t
        result["mb"] = ds.nbytes / 1e6
    elif scen in ("cli-cold", "cli-warm"):
        if scen == "cli-warm":
            cli(b0)
        t = time.perf_counter()
        cli(b0)
        result["wall"] = time.perf_counter() - t
    else:
        warm = scen.startswith("warm")
        n_threads = int(scen.rsplit("-", 1)[1])
        a = accessor()
        a.create()
        if warm:
            for b in boxes:
                a.load(box(*b, "EPSG:3413"))
        repeat = 8 if warm else 1
        jobs = [b for b in boxes for _ in range(repeat)]
        t = time.perf_counter()
        if n_threads == 1:
            for b in jobs:
                a.load(box(*b, "EPSG:3413"))
        else:
            errors: list[BaseException] = []

            def worker(k: int):
                try:
                    for b in jobs[k::n_threads]:
                        a.load(box(*b, "EPSG:3413"))
                except BaseException as e:  # noqa: BLE001 - reported below
                    errors.append(e)

            ts = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
            for th in ts:
                th.start()
            for th in ts:
                th.join()
            if errors:
                raise errors[0]
        result["wall"] = time.perf_counter() - t
        ev = a.events()
        result["downloads"] = int((ev["action"] == "download").sum()) if not ev.empty else 0
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if scen.startswith("cli"):
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--stac-url", required=True)
    p.add_argument("--aux-dir", required=True)
    p.add_argument("--cli", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--json")
    p.add_argument("--one")
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args)))
        return
    rows = []
    for scen in SCENARIOS:
        runs = []
        for _ in range(args.reps):
            out = subprocess.run(
                [sys.executable, __file__, "--one", scen, "--stac-url", args.stac_url, "--aux-dir", args.aux_dir,
                 "--cli", args.cli, "--work", args.work],
                check=True, capture_output=True, text=True,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"{scen}: {runs[-1]}", file=sys.stderr)
        walls = [r["wall"] for r in runs]
        rows.append({
            "scenario": scen,
            "wall_median_s": statistics.median(walls),
            "wall_min_s": min(walls),
            "wall_max_s": max(walls),
            "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs),
            "downloads": runs[0].get("downloads"),
        })
    by = {r["scenario"]: r for r in rows}
    print(f"\nPython package, median of {args.reps} (min–max); each run its own process.\n")
    print("| scenario | wall s | peak RSS MiB | downloads |")
    print("|---|---|---|---|")
    for r in rows:
        d = "" if r["downloads"] is None else r["downloads"]
        print(f"| {r['scenario']} | {r['wall_median_s']:.3f} ({r['wall_min_s']:.3f}–{r['wall_max_s']:.3f}) | {r['peak_rss_mib']:.0f} | {d} |")
    for a, b, what in [("py-cold", "cli-cold", "cold"), ("py-warm", "cli-warm", "warm")]:
        print(f"\n{what}: Python {by[a]['wall_median_s']:.3f} s, command line {by[b]['wall_median_s']:.3f} s")
    for kind in ("threads", "warm-threads"):
        one_t, four = by[f"{kind}-1"]["wall_median_s"], by[f"{kind}-4"]["wall_median_s"]
        print(f"{kind}: 1 thread {one_t:.3f} s, 4 threads {four:.3f} s, speed-up {one_t / four:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
