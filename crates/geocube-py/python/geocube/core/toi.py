"""Times of interest: smart-geocubes' ``TOI`` forms, and their translation
into the compiled core's time syntax."""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias, Union

import pandas as pd

# A plain alias, not a `type` statement: the package supports Python 3.11.
TOI: TypeAlias = Union[
    pd.DatetimeIndex, list[Union[pd.Timestamp, str, datetime]], slice, pd.Timestamp, str, datetime, None
]


def _instant(t) -> str:
    ts = pd.Timestamp(t)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.isoformat()


def toi_to_core(toi: TOI) -> str | None:
    """The core's time string for ``toi``: an instant, ``start/end`` (``..``
    for an open end) or a comma-separated list; ``None`` for every step."""
    if toi is None:
        return None
    if isinstance(toi, slice):
        start = ".." if toi.start is None else _instant(toi.start)
        stop = ".." if toi.stop is None else _instant(toi.stop)
        return f"{start}/{stop}"
    if isinstance(toi, (list, tuple, pd.DatetimeIndex)):
        return ",".join(_instant(t) for t in toi)
    return _instant(toi)


def normalize_toi(extent: pd.DatetimeIndex, toi: TOI, method: str = "nearest") -> pd.DatetimeIndex:
    """smart-geocubes' ``normalize_toi``: the steps of ``extent`` ``toi`` names."""
    extent = extent.normalize()
    if toi is None:
        return extent
    if isinstance(toi, str | datetime | pd.Timestamp):
        idxr = extent.get_indexer([toi], method=method)
    elif isinstance(toi, slice):
        idxr = extent.slice_indexer(toi.start, toi.stop)
    else:
        idxr = extent.get_indexer(list(toi), method=method)
    out = extent[idxr]
    if len(out) == 0:
        raise ValueError(f"Time {toi} not found in temporal extent.")
    return out


def extract_toi_range(toi: TOI):
    """smart-geocubes' ``extract_toi_range``."""
    if toi is None or isinstance(toi, str | datetime):
        return toi
    if isinstance(toi, pd.Timestamp):
        return toi.to_pydatetime()
    if isinstance(toi, slice):
        return toi.start, toi.stop
    raise ValueError(f"Cannot extract range from toi of type {type(toi)}.")
