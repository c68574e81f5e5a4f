"""``draw_state``: the cube-state map of ``visualize_state`` in plain matplotlib.

smart-geocubes draws its state map with cartopy, whose Natural Earth
coastlines are downloaded at first use; geocube ships its own (Natural Earth
1:110m, public domain) in the Rust crate and projects them there
(``geocube::basemap``: coastlines, borders and a labelled graticule, cut where
the projection is unusable, in the cube's CRS). This module only draws what it
is handed, in the cube's CRS, with the same look as smart-geocubes and as
``geocube status --png``: land on a light sea, coastlines, dotted borders,
footprints coloured by patch with alpha 0.5 and black edges, labelled
graticule lines, framed to the footprints with enough around them to see
where they are. It needs matplotlib only (and geopandas for the footprints),
not cartopy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import geopandas as gpd
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

__all__ = ["draw_state", "frame_for"]

# The colours of the PNG map (crates/geocube/src/state/map.rs).
OCEAN = "#d6e2ec"
LAND = "#f8f7f2"
COAST = "#404040"
BORDER = "#787878"
GRATICULE = "#8c98a6"
LABEL = "#373737"
ATTRIBUTION = "Coastlines and borders: Natural Earth (public domain)"

#: The least a map of a few patches shows around them (as ``geocube::basemap::frame``).
CONTEXT_M = 2_000_000.0
CONTEXT_DEG = 20.0


def _patch_count(n: int) -> str:
    return "1 patch loaded" if n == 1 else f"{n} patches loaded"


def frame_for(
    footprint_bounds: Sequence[float] | None,
    cube_extent: Sequence[float] | None = None,
    geographic: bool = False,
) -> tuple[float, float, float, float] | None:
    """The map frame ``(left, bottom, right, top)`` of ``geocube::basemap::frame``.

    A square around the footprints' bounds with a margin, at least 2 000 km
    (20° in a geographic CRS) across unless the cube itself is smaller; the
    whole cube (squared) when there are no footprints; ``None`` when neither is
    known.
    """
    context = CONTEXT_DEG if geographic else CONTEXT_M

    def square(cx: float, cy: float, side: float) -> tuple[float, float, float, float]:
        h = side / 2.0
        return (cx - h, cy - h, cx + h, cy + h)

    cube_side = None
    if cube_extent is not None:
        l, b, r, t = (float(v) for v in cube_extent)
        cube_side = max(r - l, t - b)
    fp = None if footprint_bounds is None else [float(v) for v in footprint_bounds]
    if fp is None or not all(np.isfinite(fp)) or fp[2] < fp[0] or fp[3] < fp[1]:
        if cube_extent is None or cube_side is None:
            return None
        l, b, r, t = (float(v) for v in cube_extent)
        return square((l + r) / 2, (b + t) / 2, cube_side)
    fp_side = max(fp[2] - fp[0], fp[3] - fp[1])
    reach = context if cube_side is None else min(context, max(cube_side, 4 * fp_side))
    side = max(1.3 * fp_side, reach)
    return square((fp[0] + fp[2]) / 2, (fp[1] + fp[3]) / 2, side if side > 0 else context)


def _kind(kind: Any) -> str:
    """``"meridian"`` or ``"parallel"`` from a string or an enum-like value."""
    text = str(getattr(kind, "name", kind)).lower()
    return "meridian" if "meridian" in text else "parallel"


def _lines(lines: Iterable[Any] | None) -> list[np.ndarray]:
    out = []
    for line in lines or ():
        a = np.asarray(line, dtype=float)
        if a.ndim == 2 and a.shape[0] >= 2 and a.shape[1] == 2:
            out.append(a)
    return out


def _crossings(pts: np.ndarray, frame: tuple[float, float, float, float]) -> dict[str, list[tuple[float, float]]]:
    """Where a polyline crosses (or ends on) each side of the frame."""
    left, bottom, right, top = frame
    eps = 1e-9 * max(right - left, top - bottom)
    out: dict[str, list[tuple[float, float]]] = {"bottom": [], "top": [], "left": [], "right": []}
    a, b = pts[:-1], pts[1:]
    for side, axis, value, lo, hi in (
        ("bottom", 1, bottom, left, right),
        ("top", 1, top, left, right),
        ("left", 0, left, bottom, top),
        ("right", 0, right, bottom, top),
    ):
        da, db = a[:, axis] - value, b[:, axis] - value
        hit = (da * db <= 0) & ~((np.abs(da) < eps) & (np.abs(db) < eps))
        for p, q in zip(a[hit], b[hit]):
            denom = q[axis] - p[axis]
            t = 0.0 if denom == 0 else (value - p[axis]) / denom
            other = p[1 - axis] + t * (q[1 - axis] - p[1 - axis])
            if lo - eps <= other <= hi + eps:
                xy = (other, value) if axis == 1 else (value, other)
                out[side].append(xy)
    return out


def _label_graticule(ax: Axes, graticule: list[tuple[str, str, np.ndarray]], frame) -> None:
    """Label each line where it leaves the frame (meridians at the bottom,
    parallels on the left, as smart-geocubes' gridlines), else on the line,
    leaving out labels that would overlap one already placed."""
    left, bottom, right, top = frame
    get_renderer = getattr(ax.figure.canvas, "get_renderer", None)
    renderer = get_renderer() if get_renderer is not None else None
    # Labels keep off the title and off each other.
    placed = [ax.title.get_window_extent(renderer=renderer)] if renderer is not None and ax.get_title() else []
    style = {"fontsize": 8, "color": LABEL, "annotation_clip": False}
    # Bottom and left first, then top and right, then lines inside the frame.
    candidates = []
    for label, kind, pts in graticule:
        cross = _crossings(pts, frame)
        order = ("bottom", "top", "left", "right") if kind == "meridian" else ("left", "right", "bottom", "top")
        side = next((s for s in order if cross[s]), None)
        if side is not None:
            rank = 0 if side in ("bottom", "left") else 1
            candidates.append((rank, label, side, cross[side][0]))
            continue
        inside = pts[(pts[:, 0] >= left) & (pts[:, 0] <= right) & (pts[:, 1] >= bottom) & (pts[:, 1] <= top)]
        if len(inside):
            candidates.append((2, label, None, tuple(inside[np.argmin(inside[:, 1])])))
    candidates.sort(key=lambda c: c[0])
    offsets = {
        "bottom": ((0, -4), "center", "top"),
        "top": ((0, 4), "center", "bottom"),
        "left": ((-4, 0), "right", "center"),
        "right": ((4, 0), "left", "center"),
        None: ((0, -4), "center", "top"),
    }
    for _, label, side, xy in candidates:
        offset, ha, va = offsets[side]
        extra = {} if side else {"bbox": {"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8}}
        text = ax.annotate(
            label, xy=xy, xytext=offset, textcoords="offset points", ha=ha, va=va, **style, **extra
        )
        if renderer is None:  # a backend that cannot measure text: keep every label
            continue
        box = text.get_window_extent(renderer=renderer).expanded(1.1, 1.2)
        if any(box.overlaps(p) for p in placed):
            text.remove()
            continue
        placed.append(box)


def draw_state(
    footprints: gpd.GeoDataFrame,
    coastlines: Sequence[np.ndarray],
    borders: Sequence[np.ndarray],
    graticule: Sequence[tuple[str, Any, np.ndarray]],
    title: str,
    crs_label: str,
    ax: Axes | None = None,
    *,
    land: Sequence[np.ndarray] | None = None,
    frame: Sequence[float] | None = None,
    cube_extent: Sequence[float] | None = None,
) -> plt.Figure | Axes:
    """Draw the loaded patches' footprints over coastlines, borders and a
    labelled graticule, in the cube's CRS.

    Args:
        footprints: the loaded patches in the cube's CRS (may be empty; rows
            without geometry are skipped), coloured by their ``title`` column
            (else ``id``), as smart-geocubes does.
        coastlines: polylines as ``(N, 2)`` arrays in the cube's CRS
            (``geocube::basemap::coastlines``).
        borders: land borders, the same way (``geocube::basemap::borders``).
        graticule: ``(label, kind, points)`` per line, ``kind`` being
            ``"meridian"`` or ``"parallel"`` (``geocube::basemap::graticule``).
        title: the cube's title; the axes' title becomes
            ``"<title>: N patches loaded"``.
        crs_label: the CRS, written in the map's corner (e.g. ``"EPSG:3413"``).
        ax: the axes to draw into; a new 10 x 10 in figure when ``None``.
        land: optional closed rings to fill as land (``geocube::basemap::land``);
            without them the sea colour is not drawn either.
        frame: ``(left, bottom, right, top)`` to show; by default
            :func:`frame_for` the footprints (and ``cube_extent``). Pass the
            bounds the lines were made for, so that they reach the edges.
        cube_extent: the cube's bounds, for the default frame.

    Returns:
        The Figure if this function created it, else ``ax``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MplPath

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 10))

    shown = footprints
    if len(footprints):
        geom = footprints.geometry
        shown = footprints[geom.notna() & ~geom.is_empty]
    geographic = bool(getattr(getattr(footprints, "crs", None), "is_geographic", False)) or crs_label.upper() in (
        "EPSG:4326",
        "OGC:CRS84",
    )
    if frame is None:
        bounds = shown.total_bounds if len(shown) else None
        frame = frame_for(bounds, cube_extent, geographic)
    if frame is None:
        ends = np.concatenate(_lines(coastlines)) if _lines(coastlines) else None
        if ends is not None:
            frame = (ends[:, 0].min(), ends[:, 1].min(), ends[:, 0].max(), ends[:, 1].max())
    frame = None if frame is None else tuple(float(v) for v in frame)

    # Land on the sea, as smart-geocubes (cartopy's LAND and OCEAN features).
    rings = _lines(land)
    if rings:
        ax.set_facecolor(OCEAN)
        verts = np.concatenate([np.vstack([r, r[:1]]) for r in rings])
        codes = np.concatenate(
            [[MplPath.MOVETO] + [MplPath.LINETO] * (len(r) - 1) + [MplPath.CLOSEPOLY] for r in rings]
        )
        ax.add_patch(PathPatch(MplPath(verts, codes), facecolor=LAND, edgecolor="none", zorder=0))
    ax.add_collection(LineCollection(_lines(borders), colors=BORDER, linewidths=0.7, linestyles=":", zorder=1))
    ax.add_collection(LineCollection(_lines(coastlines), colors=COAST, linewidths=0.9, zorder=2))
    lines = [(str(label), _kind(kind), a) for label, kind, pts in graticule for a in _lines([pts])]
    ax.add_collection(
        LineCollection([a for _, _, a in lines], colors=GRATICULE, linewidths=0.6, alpha=0.9, zorder=3)
    )

    if len(shown):
        column = next((c for c in ("title", "id") if c in shown.columns), None)
        style = {"ax": ax, "alpha": 0.5, "edgecolor": "black", "linewidth": 0.8, "zorder": 4, "aspect": None}
        if column is not None:
            shown.plot(column=column, categorical=True, cmap="tab10", **style)
        else:
            shown.plot(**style)

    ax.set_aspect("equal")
    # Above the labels of lines leaving through the top edge.
    ax.set_title(f"{title}: {_patch_count(len(footprints))}", pad=16)
    if frame is not None:
        ax.set_xlim(frame[0], frame[2])
        ax.set_ylim(frame[1], frame[3])
        _label_graticule(ax, lines, frame)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.tick_params(bottom=False, left=False, labelbottom=False, labelleft=False)
    corner = {"fontsize": 7, "color": LABEL, "transform": ax.transAxes, "zorder": 6}
    box = {"boxstyle": "square,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.7}
    ax.text(0.99, 0.01, crs_label, ha="right", va="bottom", bbox=box, **corner)
    ax.text(0.01, 0.01, ATTRIBUTION, ha="left", va="bottom", bbox=box, **corner)
    return fig if fig is not None else ax
