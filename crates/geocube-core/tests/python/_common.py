"""Shared helpers of geocube's Python interop scripts.

Every script reads one JSON object (argv[1], or stdin when argv[1] is absent
or "-") and prints one JSON object on stdout. Log output goes to stderr.
Floats that may be NaN are sent as their IEEE bit patterns (JSON has no NaN),
so the Rust side can compare bit for bit.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import warnings

# Icechunk logs a warning per local-storage repository; keep stdout clean.
os.environ.setdefault("ICECHUNK_LOG", "error")
warnings.filterwarnings("ignore")
logging.basicConfig(stream=sys.stderr, level=logging.WARNING)

import numpy as np  # noqa: E402


def read_request() -> dict:
    """The request: JSON in argv[1], or on stdin."""
    if len(sys.argv) > 1 and sys.argv[1] != "-":
        return json.loads(sys.argv[1])
    return json.load(sys.stdin)


def reply(obj: dict) -> None:
    """Print the one JSON answer (strict JSON: no NaN tokens) and exit.

    Exits with ``os._exit(0)`` once the answer is flushed: interpreter
    teardown with Icechunk's native runtime and zarr's event-loop thread still
    alive has been seen to abort (SIGABRT, nothing on stderr) after a complete
    answer, which is not what these tests are about.
    """
    sys.stdout.write(json.dumps(obj, allow_nan=False, default=_default))
    sys.stdout.write("\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.dtype):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def jfloat(v) -> float | None:
    """A float for JSON; None for NaN/inf."""
    v = float(v)
    return v if math.isfinite(v) else None


def bits(values: np.ndarray) -> list[int]:
    """IEEE bit patterns of a float array, flattened in C order."""
    a = np.ascontiguousarray(values)
    if a.dtype == np.float32:
        return a.view(np.uint32).ravel().tolist()
    if a.dtype == np.float64:
        return a.view(np.uint64).ravel().tolist()
    raise TypeError(f"bits() of {a.dtype}")


def plain(v):
    """Attribute values as plain JSON (NaN -> None)."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return plain(v.tolist())
    if isinstance(v, np.generic):
        return plain(v.item())
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def pixel_value(v):
    """One pixel for JSON: floats as {value, bits}; ints/bools as is."""
    v = np.asarray(v)
    if v.dtype.kind == "f":
        b = int(v.astype(v.dtype).reshape(1).view(np.uint32 if v.dtype == np.float32 else np.uint64)[0])
        return {"value": jfloat(v), "bits": b}
    return v.item()
