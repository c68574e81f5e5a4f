"""Short descriptions of grids and geometries for reprs and log lines."""

from __future__ import annotations

from odc.geo.geobox import GeoBox


def _units(crs) -> str:
    unit = (crs.units[0] if crs.units else "").lower()
    if unit.startswith("degree"):
        return "°"
    if unit.startswith("met"):
        return "m"
    return ""


def _geobox_repr(geobox: GeoBox) -> str:
    """``GeoBox((rows, cols), 32.0m x 32.0m @ [x0, y0] in EPSG:3413)``."""
    crs = f"EPSG:{geobox.crs.epsg}" if geobox.crs.epsg else "Non-EPSG CRS"
    u = _units(geobox.crs)
    a = geobox.affine
    digits = 5 if u == "°" else 1
    res = f"{abs(a.a):.{digits}f}{u} x {abs(a.e):.{digits}f}{u}"
    return f"GeoBox({geobox.shape}, {res} @ [{a.c}, {a.f}] in {crs})"
