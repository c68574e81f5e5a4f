"""TCTrend: Tasseled Cap trends from Landsat (smart-geocubes' ``TCTrend*``).

Grids, chunking, channels, attributes and patch ids (one patch per chunk,
``row-col``) are smart-geocubes', so cubes written by either library open
in the other. Patches are downloaded from Earth Engine's ``computePixels``
REST API by the compiled client: give a service-account key
(``ee_key=`` or ``GOOGLE_APPLICATION_CREDENTIALS``) or an access token
(``ee_token=`` or ``GEOCUBE_EE_TOKEN``), and the project (``ee_project=``,
else the key's). As in the reference, masked pixels are filled from the
nearest valid pixel, each band is clipped to the patch's own min and max
and cast to uint8.
"""

from __future__ import annotations

from typing import ClassVar

from odc.geo.geobox import GeoBox

from geocube.core.accessor import RemoteAccessor

_SOURCE = "ee:ingmarnitze/TCTrend_SR_2000-2019_TCVIS"


class TCTrendABC(RemoteAccessor):
    """Common to the TCTrend releases."""

    extent = GeoBox.from_bbox((-180, -90, 180, 90), "epsg:4326", resolution=0.00026949458523585647)
    temporal_extent = None
    chunk_size = 3600
    channels: ClassVar[list] = ["TCB_slope", "TCG_slope", "TCW_slope"]
    # The reference gives every release the 2019 data_source.
    _channels_meta: ClassVar[dict] = {
        "TCB_slope": {"long_name": "Tasseled Cap Brightness Trend", "data_source": _SOURCE},
        "TCG_slope": {"long_name": "Tasseled Cap Greenness Trend", "data_source": _SOURCE},
        "TCW_slope": {"long_name": "Tasseled Cap Wetness Trend", "data_source": _SOURCE},
    }
    _channels_encoding: ClassVar[dict] = {
        "TCB_slope": {"dtype": "uint8"},
        "TCG_slope": {"dtype": "uint8"},
        "TCW_slope": {"dtype": "uint8"},
    }
    collection: str

    def _core_source(self, options: dict) -> dict:
        return {"preset": self.__class__.__name__}


class TCTrend2019(TCTrendABC):
    """TCTrend derived from 2000-2019."""

    collection = "users/ingmarnitze/TCTrend_SR_2000-2019_TCVIS"


class TCTrend2020(TCTrendABC):
    """TCTrend derived from 2001-2020."""

    collection = "users/ingmarnitze/TCTrend_SR_2001-2020_TCVIS"


class TCTrend2022(TCTrendABC):
    """TCTrend derived from 2003-2022."""

    collection = "users/ingmarnitze/TCTrend_SR_2003-2022_TCVIS"


class TCTrend2024(TCTrendABC):
    """TCTrend derived from 2005-2024."""

    collection = "projects/ee-ingmarnitze/assets/TCTrend_SR_2005-2024_TCVIS"


# As upstream smart-geocubes: ``TCTrend`` is the newest release.
TCTrend = TCTrend2024
