"""Core classes (smart-geocubes' ``core``)."""

from geocube.core.accessor import RemoteAccessor as RemoteAccessor
from geocube.core.patches import PatchIndex as PatchIndex
from geocube.core.toi import TOI as TOI
from geocube.core.toi import extract_toi_range as extract_toi_range
from geocube.core.toi import normalize_toi as normalize_toi

__all__ = ["TOI", "PatchIndex", "RemoteAccessor", "extract_toi_range", "normalize_toi"]
