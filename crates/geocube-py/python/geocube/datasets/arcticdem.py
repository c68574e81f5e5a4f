"""ArcticDEM 32 m, 10 m and 2 m mosaics (smart-geocubes' ``ArcticDEM*``).

The grids, chunking, channels and attributes are smart-geocubes 0.1.2's, so
cubes written by either library open in the other. The compiled preset
downloads PGC's mosaic index on first use (into ``aux_dir``, default the
user cache, or ``GEOCUBE_AUX_DIR``) and reads the tiles' COGs through STAC.
"""

from __future__ import annotations

from typing import ClassVar

from odc.geo.geobox import GeoBox

from geocube.core.accessor import RemoteAccessor


class ArcticDEMABC(RemoteAccessor):
    """Common to the ArcticDEM datasets."""

    temporal_extent = None
    stac_api_url = "https://stac.pgc.umn.edu/api/v1/"
    chunk_size = 3600
    channels: ClassVar[list] = ["dem", "datamask"]
    _channels_meta: ClassVar[dict] = {
        "dem": {
            "long_name": "Digital Elevation Model",
            "data_source": "ArcticDEM",
            "units": "m",
            "description": "Digital Elevation Model, elevation resolution is cropped to ~1cm",
        },
        "datamask": {"long_name": "Data Mask", "source": "ArcticDEM"},
    }
    _channels_encoding: ClassVar[dict] = {
        "dem": {"dtype": "float32"},
        "datamask": {"dtype": "bool"},
    }
    collection: str

    def _core_source(self, options: dict) -> dict:
        return {"preset": self.__class__.__name__}


class ArcticDEM32m(ArcticDEMABC):
    """ArcticDEM v4.1 mosaic at 32 m (EPSG:3413)."""

    collection = "arcticdem-mosaics-v4.1-32m"
    extent: GeoBox = GeoBox.from_bbox((-4000096, -3400096, 3400096, 4100096), "epsg:3413", resolution=32)


class ArcticDEM10m(ArcticDEMABC):
    """ArcticDEM v4.1 mosaic at 10 m (EPSG:3413)."""

    collection = "arcticdem-mosaics-v4.1-10m"
    extent: GeoBox = GeoBox.from_bbox((-4000100, -3400100, 3400100, 4100100), "epsg:3413", resolution=10)


class ArcticDEM2m(ArcticDEMABC):
    """ArcticDEM v4.1 mosaic at 2 m (EPSG:3413)."""

    collection = "arcticdem-mosaics-v4.1-2m"
    extent: GeoBox = GeoBox.from_bbox((-4000100, -3400100, 3400100, 4100100), "epsg:3413", resolution=2)
