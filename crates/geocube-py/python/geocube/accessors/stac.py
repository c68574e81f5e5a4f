"""``STACAccessor``: a cube filled from the items of one STAC collection
(smart-geocubes' ``STACAccessor``), on the compiled STAC + COG source.

Subclass it as in smart-geocubes::

    class MyDEM(STACAccessor):
        stac_api_url = "https://example.org/stac/v1/"
        collection = "my-dem"
        extent = GeoBox.from_bbox((x0, y0, x1, y1), "EPSG:3413", resolution=10)
        chunk_size = 3600
        channels = ["dem"]
        _channels_encoding = {"dem": {"dtype": "float32"}}
        _channels_meta = {"dem": {"units": "m"}}

Each channel is read from the item asset of the same name (``_channel_assets``
maps a channel to another asset key); ``_channels_nodata`` gives a channel's
source nodata value, which then never overwrites valid data.
"""

from __future__ import annotations

import json
from typing import ClassVar

import numpy as np

from geocube.core.accessor import RemoteAccessor, crs_to_core
from geocube.errors import InvalidRequestError

_DTYPES = {
    "float32": "float32",
    "float64": "float64",
    "uint8": "uint8",
    "uint16": "uint16",
    "int16": "int16",
    "int32": "int32",
    "bool": "bool",
}


class STACAccessor(RemoteAccessor):
    """A cube filled from the items of the STAC collection ``collection`` at ``stac_api_url``."""

    stac_api_url: str
    collection: str
    _channel_assets: ClassVar[dict] = {}
    _channels_nodata: ClassVar[dict] = {}

    def _spec(self) -> dict:
        gb = self.extent
        a = gb.affine
        if a.b != 0 or a.d != 0:
            raise InvalidRequestError(f"{self.title}: a rotated extent is not supported")
        channels = []
        for name in self.channels:
            dtype = np.dtype(self._channels_encoding.get(name, {}).get("dtype", "float32")).name
            if dtype not in _DTYPES:
                raise InvalidRequestError(f"{self.title}: channel {name} has unsupported dtype {dtype}")
            ch = {"name": name, "dtype": _DTYPES[dtype], "attributes": dict(self._channels_meta.get(name, {}))}
            if name in self._channels_nodata:
                ch["nodata"] = float(self._channels_nodata[name])
            channels.append(ch)
        spec = {
            "title": self.title,
            "geobox": {
                "width": gb.width,
                "height": gb.height,
                "affine": {"x0": a.c, "res_x": a.a, "y0": a.f, "res_y": a.e},
                "crs": crs_to_core(gb.crs),
            },
            "chunk_size": int(self.chunk_size),
            "channels": channels,
        }
        if self.temporal_extent is not None:
            spec["time"] = [t.isoformat() + ("" if t.tzinfo else "Z") for t in self.temporal_extent]
        return spec

    def _core_source(self, options: dict) -> dict:
        return {
            "spec_json": json.dumps(self._spec()),
            "stac_url": options.get("stac_url") or self.stac_api_url,
            "collection": self.collection,
            "assets": list(self._channel_assets.items()),
        }
