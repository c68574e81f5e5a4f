"""Open a cube the way smart-geocubes users do and summarise what xarray sees.

    icechunk.Repository.open(icechunk.local_filesystem_storage(path))
    session = repo.readonly_session(branch="main")
    xr.open_zarr(session.store, consolidated=False)

Request: {"path": str, "pixels": {var: [[row, col] | [t, row, col], ...]},
          "full": [var, ...]}   (variables to return whole, as bits/values)
Answer: {"ok": true, dims, sizes, dtypes, coords, spatial_ref, odc_geobox,
         attrs, var_attrs, stats, pixels, full}
or {"ok": false, "stage": "open_repository" | ..., "error": str, "error_type": str}
when the repository cannot be opened (e.g. an Icechunk 2 format repository).
"""

from __future__ import annotations

from _common import bits, jfloat, pixel_value, plain, read_request, reply

import icechunk  # noqa: E402
import numpy as np  # noqa: E402
import odc.geo.xr  # noqa: E402,F401
import xarray as xr  # noqa: E402


def main() -> None:
    req = read_request()
    stage = "open_repository"
    try:
        repo = icechunk.Repository.open(icechunk.local_filesystem_storage(req["path"]))
        stage = "readonly_session"
        session = repo.readonly_session(branch="main")
        stage = "open_zarr"
        ds = xr.open_zarr(session.store, consolidated=False, chunks=None)
    except Exception as e:  # reported to the Rust side, which decides
        reply({"ok": False, "stage": stage, "error": str(e), "error_type": type(e).__name__})
        return

    out: dict = {"ok": True, "icechunk_version": icechunk.__version__, "xarray_version": xr.__version__}
    out["dims"] = {name: list(v.dims) for name, v in ds.variables.items()}
    out["sizes"] = dict(ds.sizes)
    out["data_vars"] = sorted(ds.data_vars)
    out["coord_names"] = sorted(ds.coords)
    out["dtypes"] = {name: str(v.dtype) for name, v in ds.variables.items()}
    coords = {}
    for c in ("x", "y"):
        v = ds[c].values
        coords[c] = {"first": float(v[0]), "last": float(v[-1]), "len": int(v.size), "values": v.tolist(),
                     "attrs": plain(dict(ds[c].attrs))}
    if "time" in ds.coords:
        t = ds["time"]
        coords["time"] = {
            "dtype": str(t.dtype),
            "iso": [np.datetime_as_string(x, unit="s") for x in t.values],
            "encoding_units": t.encoding.get("units"),
            "encoding_calendar": t.encoding.get("calendar"),
        }
    out["coords"] = coords
    out["spatial_ref"] = plain(dict(ds["spatial_ref"].attrs)) if "spatial_ref" in ds.variables else None
    # odc-geo / rioxarray store the EPSG code as the scalar's value (0 without one).
    out["spatial_ref_value"] = int(ds["spatial_ref"].values) if "spatial_ref" in ds.variables else None
    try:
        gb = ds.odc.geobox
        a = gb.affine
        out["odc_geobox"] = {
            "epsg": gb.crs.epsg,
            "crs": str(gb.crs),
            "shape": list(gb.shape),
            "affine": [a.a, a.b, a.c, a.d, a.e, a.f],
        }
    except Exception as e:
        out["odc_geobox"] = {"error": f"{type(e).__name__}: {e}"}
    out["attrs"] = plain(dict(ds.attrs))
    out["var_attrs"] = {name: plain(dict(ds[name].attrs)) for name in ds.data_vars}
    out["encoding"] = {
        name: {k: plain(v) for k, v in ds[name].encoding.items() if k in ("dtype", "chunks", "preferred_chunks")}
        for name in ds.data_vars
    }

    stats = {}
    for name in [n for n in ds.data_vars if ds[n].ndim >= 2]:
        a = ds[name].values
        if a.dtype.kind == "f":
            valid = ~np.isnan(a)
            stats[name] = {
                "valid": int(valid.sum()),
                "nansum": jfloat(np.nansum(a, dtype=np.float64)),
                "min": jfloat(np.nanmin(a)) if valid.any() else None,
                "max": jfloat(np.nanmax(a)) if valid.any() else None,
            }
        else:
            stats[name] = {"nonzero": int(np.count_nonzero(a)), "sum": int(a.astype(np.int64).sum())}
    out["stats"] = stats

    out["pixels"] = {
        name: [pixel_value(ds[name].values[tuple(ix)]) for ix in idxs] for name, idxs in req.get("pixels", {}).items()
    }
    full = {}
    for name in req.get("full", []):
        a = ds[name].values
        full[name] = {"shape": list(a.shape), "dtype": str(a.dtype),
                      "data": bits(a) if a.dtype.kind == "f" else a.astype(np.int64).ravel().tolist()}
    out["full"] = full
    reply(out)


if __name__ == "__main__":
    main()
