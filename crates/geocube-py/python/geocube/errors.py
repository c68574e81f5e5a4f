"""The exceptions geocube raises.

Each subclasses the builtin smart-geocubes raises for the same failure, so
code written for smart-geocubes keeps catching what it caught, and
:class:`GeocubeError`, to catch everything geocube raises at once. The
message is the Rust error's, with its causes; ``__cause__`` holds the
innermost one (a refused connection, a corrupt file).
"""

from __future__ import annotations


class GeocubeError(Exception):
    """Base of every geocube error."""


class CubeNotFoundError(GeocubeError, FileNotFoundError):
    """No datacube at the storage location (create it, or load with ``create=True``)."""


class CubeExistsError(GeocubeError, FileExistsError):
    """A datacube already exists where one was to be created."""


class InvalidRequestError(GeocubeError, ValueError):
    """A request that cannot be served as given: an AOI outside the cube, a bad CRS,
    time or option, a result over the memory limit, a store holding another dataset."""


class NoPatchesError(InvalidRequestError):
    """No source patch touches the area (and time) of interest."""


class DownloadError(GeocubeError, RuntimeError):
    """Downloads failed after their retries (the patches that worked stay loaded)."""


class StorageError(GeocubeError, OSError):
    """The cube's storage failed (I/O, Icechunk, a corrupt chunk)."""


class CancelledError(GeocubeError, RuntimeError):
    """The load was cancelled (``cancel()``); what was committed before stays."""


class AuthenticationError(GeocubeError, PermissionError):
    """Earth Engine credentials are missing, unreadable or refused."""


class GeocubeRuntimeError(GeocubeError, RuntimeError):
    """Anything else that went wrong."""


__all__ = [
    "AuthenticationError",
    "CancelledError",
    "CubeExistsError",
    "CubeNotFoundError",
    "DownloadError",
    "GeocubeError",
    "GeocubeRuntimeError",
    "InvalidRequestError",
    "NoPatchesError",
    "StorageError",
]
