"""Functions that run in spawned worker processes (importable by name there:
the parent's ``sys.path``, which holds this directory, is passed on)."""

from __future__ import annotations

import os

_barrier = None


def init(barrier) -> None:
    """Pool initializer: the barrier the workers start their loads at."""
    global _barrier
    _barrier = barrier


def load_box(accessor, bounds) -> dict:
    """Loads an EPSG:3413 box with an unpickled accessor; returns what the
    parent checks (plain arrays: a Dataset would pickle as well, but this
    keeps the check independent of how)."""
    from odc.geo.geom import box

    if _barrier is not None:
        _barrier.wait(timeout=120)
    ds = accessor.load(box(*bounds, "EPSG:3413"))
    return {
        "pid": os.getpid(),
        "x": ds["x"].values,
        "y": ds["y"].values,
        "dem": ds["dem"].values,
        "datamask": ds["datamask"].values,
        "loaded": accessor.loaded_patches(),
    }
