"""geocube: load remote geospatial rasters on demand and cache them in an
Icechunk/Zarr v3 datacube — smart-geocubes' API on a Rust core.

Switch from smart-geocubes by changing the import::

    import geocube as smart_geocubes   # or: from geocube import ArcticDEM32m

    accessor = ArcticDEM32m("arcticdem-32m.icechunk")
    ds = accessor.load(aoi, create=True)   # an xarray.Dataset

Cubes written by either library open in the other.
"""

import importlib.metadata

from geocube import accessors as accessors
from geocube import errors as errors
from geocube.accessors.stac import STACAccessor as STACAccessor
from geocube.core.accessor import RemoteAccessor as RemoteAccessor
from geocube.core.patches import PatchIndex as PatchIndex
from geocube.datasets.arcticdem import ArcticDEM2m as ArcticDEM2m
from geocube.datasets.arcticdem import ArcticDEM10m as ArcticDEM10m
from geocube.datasets.alphaearth import AlphaEarthEmbeddings as AlphaEarthEmbeddings
from geocube.datasets.arcticdem import ArcticDEM32m as ArcticDEM32m
from geocube.datasets.tctrend import TCTrend as TCTrend
from geocube.datasets.tctrend import TCTrend2019 as TCTrend2019
from geocube.datasets.tctrend import TCTrend2020 as TCTrend2020
from geocube.datasets.tctrend import TCTrend2022 as TCTrend2022
from geocube.datasets.tctrend import TCTrend2024 as TCTrend2024
from geocube.errors import GeocubeError as GeocubeError

try:
    __version__ = importlib.metadata.version("geocube")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
    __version__ = "0.0.0"

__all__ = [
    "AlphaEarthEmbeddings",
    "ArcticDEM2m",
    "ArcticDEM10m",
    "ArcticDEM32m",
    "GeocubeError",
    "PatchIndex",
    "RemoteAccessor",
    "STACAccessor",
    "TCTrend",
    "TCTrend2019",
    "TCTrend2020",
    "TCTrend2022",
    "TCTrend2024",
    "accessors",
    "errors",
]
