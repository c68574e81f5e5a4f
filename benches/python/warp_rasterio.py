"""rasterio's side of `cargo xtask bench --warp`.

Reads the source arrays and grids `warp-chunks` wrote into WORK_DIR, times
`rasterio.warp.reproject` of the same chunk with the same settings as
geocube's warp (fixed kernels XSCALE=1 YSCALE=1, error threshold 0.125,
no source nodata; NaN, or 0 for uint16, where nothing maps), on one warp
thread and on all CPUs, REPS times after one warm-up, in process (the
arrays are in memory: no file I/O is timed). Compares each result with
geocube's. Prints one JSON object on stdout.

    python warp_rasterio.py WORK_DIR REPS [TYPE KERNEL]

(only that type and kernel when given).
"""

import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import Resampling, reproject

KERNELS = ["nearest", "bilinear", "cubic", "average"]
DTYPES = {"float32": (np.float32, np.nan), "uint16": (np.uint16, 0)}


def main() -> None:
    work = Path(sys.argv[1])
    reps = max(1, int(sys.argv[2]) if len(sys.argv) > 2 else 5)
    only = sys.argv[3:5]
    grids = json.loads((work / "grids.json").read_text())
    src, dst = grids["src"], grids["dst"]
    src_transform = Affine(*src["transform"])
    dst_transform = Affine(*dst["transform"])
    src_crs, dst_crs = CRS.from_string(src["crs"]), CRS.from_string(dst["crs"])
    cpus = os.cpu_count() or 1
    rows = []
    for dtype, (np_type, fill) in DTYPES.items():
        if only and only[0] != dtype:
            continue
        source = np.fromfile(work / f"src_{dtype}.bin", dtype=f"<{np.dtype(np_type).str[1:]}")
        source = source.reshape(src["height"], src["width"])
        for kernel in KERNELS:
            if len(only) > 1 and only[1] != kernel:
                continue
            out = np.empty((dst["height"], dst["width"]), dtype=np_type)

            def warp(threads: int) -> None:
                options = {"NUM_THREADS": "ALL_CPUS"} if threads > 1 else {}
                reproject(
                    source,
                    out,
                    src_transform=src_transform,
                    src_crs=src_crs,
                    dst_transform=dst_transform,
                    dst_crs=dst_crs,
                    src_nodata=None,
                    dst_nodata=fill,
                    resampling=Resampling[kernel],
                    num_threads=threads,
                    tolerance=0.125,
                    XSCALE=1,
                    YSCALE=1,
                    **options,
                )

            for label, threads in [("1", 1), ("all", cpus)]:
                warp(threads)
                secs = []
                for _ in range(reps):
                    t = time.perf_counter()
                    warp(threads)
                    secs.append(time.perf_counter() - t)
                median = statistics.median(secs)
                rows.append(
                    {
                        "dtype": dtype,
                        "kernel": kernel,
                        "threads": label,
                        "seconds": median,
                        "chunks_per_s": 1.0 / median,
                        "mpx_per_s": out.size / 1e6 / median,
                    }
                )
                print("rasterio", json.dumps(rows[-1]), file=sys.stderr)
            rows[-1]["agreement"] = compare(work, dtype, kernel, out, np_type)
    print(
        json.dumps(
            {
                "rasterio": rasterio.__version__,
                "gdal": rasterio.__gdal_version__,
                "cpus": cpus,
                "reps": reps,
                "rows": rows,
            }
        )
    )


def compare(work: Path, dtype: str, kernel: str, theirs: np.ndarray, np_type) -> dict:
    """How geocube's result of the same warp agrees with rasterio's."""
    path = work / f"geocube_{dtype}_{kernel}.bin"
    if not path.exists():
        return {}
    ours = np.fromfile(path, dtype=theirs.dtype).reshape(theirs.shape)
    if np.issubdtype(theirs.dtype, np.floating):
        valid_ours, valid_theirs = ~np.isnan(ours), ~np.isnan(theirs)
    else:
        valid_ours, valid_theirs = ours != 0, theirs != 0
    both = valid_ours & valid_theirs
    diff = np.abs(ours[both].astype(np.float64) - theirs[both].astype(np.float64))
    return {
        "valid_geocube": int(valid_ours.sum()),
        "valid_rasterio": int(valid_theirs.sum()),
        "valid_differing": int((valid_ours != valid_theirs).sum()),
        "equal_fraction": float((diff == 0).mean()) if diff.size else 1.0,
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
    }


if __name__ == "__main__":
    main()
