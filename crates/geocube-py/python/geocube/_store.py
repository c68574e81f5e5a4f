"""A read-only zarr-python store over a geocube cube (local or S3) at one snapshot.

zarr-python reads the cube through the compiled core's Icechunk client: no
Icechunk Python package is needed, the cube's format version (1 or 2) does
not matter, and every read of one store sees one snapshot however the
branch moves on. The store pickles as (path, snapshot id), so a lazy
Dataset built on it can be shipped to Dask or Ray workers, which reopen it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterable
from typing import Any

from zarr.abc.store import (
    ByteRequest,
    OffsetByteRequest,
    RangeByteRequest,
    Store,
    SuffixByteRequest,
)
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype

from geocube import _geocube

# One compiled store per (path, snapshot) in this process: unpickling a lazy
# Dataset's tasks would otherwise reopen the repository once per task.
_OPEN: dict[tuple, Any] = {}
_OPEN_LOCK = threading.Lock()


def _reopen(path: str, snapshot: str | None, s3: dict[str, str]):
    key = (path, snapshot, tuple(sorted(s3.items())))
    with _OPEN_LOCK:
        found = _OPEN.get(key)
    if found is None:
        found = _geocube.open_snapshot_store(path, snapshot, s3)
        with _OPEN_LOCK:
            _OPEN[key] = found
    return found


class GeocubeStore(Store):
    """The Zarr store of a local geocube at one snapshot (read-only)."""

    supports_writes = False
    supports_deletes = False
    supports_partial_writes = False
    supports_listing = True

    def __init__(
        self,
        path: str,
        raw: Any | None = None,
        snapshot: str | None = None,
        s3: dict[str, str] | None = None,
    ) -> None:
        super().__init__(read_only=True)
        self.path = str(path)
        self._s3 = dict(s3 or {})
        self._raw = raw if raw is not None else _reopen(self.path, snapshot, self._s3)
        self.snapshot_id: str = self._raw.snapshot_id

    # -- pickling: by location, S3 options and snapshot ----------------------
    def __getstate__(self) -> dict:
        return {"path": self.path, "snapshot_id": self.snapshot_id, "s3": self._s3}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"], None, state["snapshot_id"], state.get("s3"))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, GeocubeStore)
            and other.path == self.path
            and other.snapshot_id == self.snapshot_id
        )

    def __hash__(self) -> int:
        return hash((self.path, self.snapshot_id))

    def __repr__(self) -> str:
        return f"GeocubeStore({self.path!r}, snapshot={self.snapshot_id!r})"

    # -- reads ---------------------------------------------------------------
    def _get_sync(self, key: str, byte_range: ByteRequest | None) -> bytes | None:
        raw = self._raw
        if byte_range is None:
            return raw.get(key)
        if isinstance(byte_range, RangeByteRequest):
            length = byte_range.end - byte_range.start
            found = raw.get(key, offset=byte_range.start, length=length)
            if found is None:
                # Zarr's rule: a range past the end returns the rest.
                whole = raw.get(key)
                return None if whole is None else whole[byte_range.start : byte_range.end]
            return found
        if isinstance(byte_range, OffsetByteRequest):
            return raw.get(key, offset=byte_range.offset)
        if isinstance(byte_range, SuffixByteRequest):
            found = raw.get(key, suffix=byte_range.suffix)
            if found is None:
                whole = raw.get(key)
                return None if whole is None else whole[-byte_range.suffix :]
            return found
        raise TypeError(f"unexpected byte range {byte_range!r}")

    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        if prototype is None:
            prototype = default_buffer_prototype()
        # The compiled call releases the GIL: run it off the event loop so
        # zarr's concurrent chunk reads overlap.
        found = await asyncio.to_thread(self._get_sync, key, byte_range)
        return None if found is None else prototype.buffer.from_bytes(found)

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        return list(
            await asyncio.gather(*(self.get(k, prototype, r) for k, r in key_ranges))
        )

    async def exists(self, key: str) -> bool:
        if key.endswith("zarr.json"):
            return await asyncio.to_thread(self._raw.get, key) is not None
        prefix, _, name = key.rpartition("/")
        names = await asyncio.to_thread(self._raw.list_dir, prefix + "/" if prefix else "")
        if name not in names:
            return False
        return await asyncio.to_thread(self._raw.get, key) is not None

    # -- writes: refused -----------------------------------------------------
    async def set(self, key: str, value: Buffer) -> None:
        self._check_writable()

    async def delete(self, key: str) -> None:
        self._check_writable()

    # -- listing -------------------------------------------------------------
    async def list(self) -> AsyncIterator[str]:
        for k in await asyncio.to_thread(self._raw.list_prefix, ""):
            yield k

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        for k in await asyncio.to_thread(self._raw.list_prefix, prefix):
            yield k

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        for k in await asyncio.to_thread(self._raw.list_dir, prefix):
            yield k
