"""Dump every metadata document (``zarr.json``) of a cube, raw, from Icechunk.

Request: {"path": str}
Answer: {"documents": {key: parsed JSON}, "keys": [all keys on branch main],
         "values": {name: decoded values}}  (coordinates and spatial_ref, via zarr)
"""

from __future__ import annotations

import json

from _common import plain, read_request, reply

import icechunk  # noqa: E402
import zarr  # noqa: E402
from zarr.core.buffer import default_buffer_prototype  # noqa: E402
from zarr.core.sync import sync  # noqa: E402


async def collect(store) -> tuple[dict, list]:
    keys = [k async for k in store.list()]
    docs = {}
    for k in sorted(keys):
        if k == "zarr.json" or k.endswith("/zarr.json"):
            buf = await store.get(k, prototype=default_buffer_prototype())
            docs[k] = json.loads(buf.to_bytes())
    return docs, sorted(keys)


def main() -> None:
    req = read_request()
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(req["path"]))
    session = repo.readonly_session(branch="main")
    docs, keys = sync(collect(session.store))  # on zarr's own event loop
    group = zarr.open_group(session.store, mode="r")
    values = {}
    for name in ("x", "y", "time", "spatial_ref"):
        if f"{name}/zarr.json" in docs:
            values[name] = plain(group[name][...].tolist())
    reply({"documents": docs, "keys": keys, "values": values})


if __name__ == "__main__":
    main()
