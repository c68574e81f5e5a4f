"""Drive the real smart-geocubes 0.1.2 library on a synthetic dataset.

Request (see _accessors.py for the cube fields):
  {"path": str, "title": str, "crs": "EPSG:3413", "x0": f, "y0": f, "res": f,
   "width": int, "height": int, "chunk": int, "times": [iso, ...] | null,
   "tiles": [{"id", "row", "col", "height", "width", "nan_border"?, "times"?}],
   "create": bool,                 # accessor.create() first
   "load_window": [row, col, height, width],   # accessor.load(extent[window])
   "toi": iso | null,
   "forbid_download": [ids],       # download_patch raises for these
   "full": [var, ...]}             # variables to return whole (from open_xarray)
Answer: {"extent": {...}, "loaded_patches": [...], "loaded_shape": [...],
         "time": [iso...], "full": {var: {shape, dtype, data}}, "versions": {...}}
"""

from __future__ import annotations

from _common import bits, read_request, reply

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import smart_geocubes  # noqa: E402
import icechunk  # noqa: E402
import zarr  # noqa: E402

from _accessors import make_accessor_class  # noqa: E402


def main() -> None:
    req = read_request()
    cls = make_accessor_class(req)
    acc = cls(req["path"], backend="simple")
    out: dict = {
        "versions": {"smart_geocubes": smart_geocubes.__version__, "icechunk": icechunk.__version__,
                     "zarr": zarr.__version__},
    }
    if req.get("create"):
        acc.create()
    gb = acc.extent
    a = gb.affine
    out["extent"] = {"shape": list(gb.shape), "affine": [a.a, a.b, a.c, a.d, a.e, a.f], "epsg": gb.crs.epsg}
    if req.get("load_window"):
        r, c, h, w = req["load_window"]
        toi = req.get("toi")
        loaded = acc.load(gb[r : r + h, c : c + w], toi=pd.Timestamp(toi) if toi else None)
        out["loaded_shape"] = [int(loaded.sizes[d]) for d in loaded.dims if d in ("time", "y", "x")]
        out["loaded_vars"] = sorted(loaded.data_vars)
    out["loaded_patches"] = acc.loaded_patches()
    ds = acc.open_xarray()
    out["xs"] = ds["x"].values.tolist()
    out["ys"] = ds["y"].values.tolist()
    if "time" in ds.coords:
        out["time"] = [np.datetime_as_string(x, unit="s") for x in ds["time"].values]
    full = {}
    for name in req.get("full", []):
        v = ds[name].values
        full[name] = {"shape": list(v.shape), "dtype": str(v.dtype),
                      "data": bits(v) if v.dtype.kind == "f" else v.astype(np.int64).ravel().tolist()}
    out["full"] = full
    reply(out)


if __name__ == "__main__":
    main()
