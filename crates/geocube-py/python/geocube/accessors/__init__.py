"""Accessor base classes for dataset families (smart-geocubes' ``accessors``)."""

from geocube.accessors.stac import STACAccessor as STACAccessor

__all__ = ["STACAccessor"]
