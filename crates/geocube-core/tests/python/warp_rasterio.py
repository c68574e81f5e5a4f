"""Reference warps for ``tests/warp_rasterio.rs``: ``rasterio.warp.reproject``
(GDAL's warper) on the arrays the Rust side wrote, and pyproj transforms of
points, both through files.

Request (JSON, see ``_common.read_request``)::

    {"dir": "/tmp/...",
     "sources": {"f32_nan": {"file": "f32_nan.bin", "dtype": "float32",
                             "width": 1500, "height": 1500}, ...},
     "warps": [{"name": "...", "source": "f32_nan",
                "src_transform": [x0, rx, 0, y0, 0, ry], "src_epsg": 32607,
                "src_nodata": -9999 | "nan" | null,
                "dst_transform": [...], "dst_epsg": 3413,
                "width": 1653, "height": 1653,
                "dst_nodata": -9999 | "nan" | null,
                "resampling": "bilinear", "out": "w0.bin",
                "gdal_chunking": "one" | "default"}, ...],
     "points": [{"from": 3413, "to": 32607, "file": "p0.bin", "out": "p0_out.bin"}, ...]}

Arrays are raw little-endian in C order (``dtype`` as numpy names it);
points are (x, y) float64 pairs. Every warp states GDAL's defaults
explicitly: the approximate transformer with ``tolerance=0.125`` source
pixels, ``num_threads=1``, ``init_dest_nodata=True`` and fixed kernels
(``XSCALE=1, YSCALE=1``, warp options passed through rasterio's
``**kwargs``). The error threshold is rasterio's ``tolerance``
argument, which rasterio gives to ``GDALCreateApproxTransformer``; an
``ERROR_THRESHOLD`` kwarg would not reach it (rasterio/_warp.pyx).
``gdal_chunking`` "one" (the default) makes GDAL warp in one chunk;
"default" leaves GDAL's chunking as gdalwarp's (``-wm 64``).

Reply: ``{"gdal": ..., "rasterio": ..., "proj": ..., "warps": {name:
{"chunks": ["Src=... Dst=..."], "seconds": ...}}}``; the chunks are the
warp kernel's ``CPL_DEBUG`` lines, one per chunk GDAL warped.
"""

from __future__ import annotations

import logging
import os
import re
import time

from _common import read_request, reply

import numpy as np
import pyproj
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.warp import reproject

# One chunk: the Rust side warps whole-width row bands, which see the same
# destination scanlines as one GDAL chunk (the approximate transformer
# interpolates along each scanline of a chunk, so where a chunk ends moves
# its interpolation nodes). A memory limit this large, and no split for a
# low source fill ratio (SRC_FILL_RATIO_HEURISTICS=NO), keep GDAL to one.
WARP_MEM_LIMIT_MB = 1024

CHUNK_LINE = re.compile(r"Src=\S+ Dst=\S+")


class ChunkLog(logging.Handler):
    """Collects the warp kernel's debug line of each chunk."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        m = CHUNK_LINE.search(record.getMessage())
        if m:
            self.lines.append(m.group(0))


def nodata(v):
    if v is None:
        return None
    if v == "nan":
        return float("nan")
    return float(v)


def main() -> None:
    req = read_request()
    root = req["dir"]
    sources = {}
    for name, s in req["sources"].items():
        a = np.fromfile(os.path.join(root, s["file"]), dtype=np.dtype(s["dtype"]).newbyteorder("<"))
        sources[name] = a.reshape(s["height"], s["width"]).astype(np.dtype(s["dtype"]))

    chunks = ChunkLog()
    err_log = logging.getLogger("rasterio._err")
    err_log.addHandler(chunks)
    err_log.setLevel(logging.DEBUG)
    err_log.propagate = False

    out = {}
    with rasterio.Env(CPL_DEBUG=True):
        for w in req["warps"]:
            src = sources[w["source"]]
            dst_nodata = nodata(w["dst_nodata"])
            fill = 0 if dst_nodata is None else dst_nodata
            dst = np.full((w["height"], w["width"]), fill, dtype=src.dtype)
            chunks.lines = []
            # "one": a single chunk, as the Rust side's whole-width bands
            # see it; "default": GDAL's own chunking (64 MB, fill ratio
            # splits), to show what chunking alone changes.
            if w.get("gdal_chunking", "one") == "one":
                mem_mb, extra = WARP_MEM_LIMIT_MB, {"SRC_FILL_RATIO_HEURISTICS": "NO"}
            else:
                mem_mb, extra = 64, {}
            start = time.perf_counter()
            reproject(
                src,
                dst,
                src_transform=Affine.from_gdal(*w["src_transform"]),
                src_crs=CRS.from_epsg(w["src_epsg"]),
                src_nodata=nodata(w["src_nodata"]),
                dst_transform=Affine.from_gdal(*w["dst_transform"]),
                dst_crs=CRS.from_epsg(w["dst_epsg"]),
                dst_nodata=dst_nodata,
                resampling=Resampling[w["resampling"]],
                num_threads=1,
                init_dest_nodata=True,
                tolerance=0.125,
                warp_mem_limit=mem_mb,
                XSCALE=1,
                YSCALE=1,
                **extra,
            )
            seconds = time.perf_counter() - start
            dst.astype(dst.dtype.newbyteorder("<")).tofile(os.path.join(root, w["out"]))
            out[w["name"]] = {"chunks": list(chunks.lines), "seconds": seconds}

    for p in req.get("points", []):
        xy = np.fromfile(os.path.join(root, p["file"]), dtype="<f8").reshape(-1, 2)
        t = pyproj.Transformer.from_crs(p["from"], p["to"], always_xy=True)
        x, y = t.transform(xy[:, 0], xy[:, 1])
        np.stack([x, y], axis=1).astype("<f8").tofile(os.path.join(root, p["out"]))

    reply(
        {
            "gdal": rasterio.__gdal_version__,
            "rasterio": rasterio.__version__,
            "proj": pyproj.proj_version_str,
            "warps": out,
        }
    )


if __name__ == "__main__":
    main()
