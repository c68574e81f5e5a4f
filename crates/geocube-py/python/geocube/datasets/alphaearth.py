"""AlphaEarth satellite embeddings (smart-geocubes' ``AlphaEarthEmbeddings``).

A yearly (2017-2024) cube of 64 float32 embedding bands ``A00``-``A63`` at
about 10 m, one patch per chunk and year (``t-row-col``), downloaded from
Earth Engine's ``computePixels`` (see :mod:`geocube.datasets.tctrend` for
the credentials). Masked pixels are NaN, as Xee gives them to the
reference.
"""

from __future__ import annotations

from typing import ClassVar

import pandas as pd
from odc.geo.geobox import GeoBox

from geocube.core.accessor import RemoteAccessor


class AlphaEarthEmbeddings(RemoteAccessor):
    """AlphaEarth annual satellite embeddings."""

    collection = "GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL"
    extent = GeoBox.from_bbox((-180, -90, 180, 90), "epsg:4326", resolution=8.98315284e-05)
    temporal_extent = pd.date_range("2017-01-01", "2024-01-01", freq="YS")
    chunk_size = 3600
    channels: ClassVar[list] = [f"A{i:02d}" for i in range(64)]
    _channels_meta: ClassVar[dict] = {
        f"A{i:02d}": {
            "long_name": f"AlphaEarth Embedding Band {i}",
            "data_source": "ee:GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL",
        }
        for i in range(64)
    }
    _channels_encoding: ClassVar[dict] = {f"A{i:02d}": {"dtype": "float32"} for i in range(64)}

    def _core_source(self, options: dict) -> dict:
        return {"preset": "alphaearth"}
