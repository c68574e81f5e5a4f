"""Metadata of one source patch (smart-geocubes' ``PatchIndex``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from odc.geo.geom import Geometry

PatchItem = TypeVar("PatchItem")


@dataclass
class PatchIndex(Generic[PatchItem]):
    """One source patch: its id, footprint (EPSG:4326), time and source payload."""

    id: str
    geometry: Geometry
    time: tuple[str, str] | tuple[datetime, datetime] | str | datetime | None = None
    item: PatchItem | Any | None = None
