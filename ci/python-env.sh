#!/usr/bin/env bash
# Create (or reuse) the Python venv with geocube's reference stack
# (smart-geocubes 0.1.2 with its STAC download path, icechunk 1.x, zarr 3,
# xarray, odc-geo, rasterio), the Python package's build and test tools
# (maturin, pytest), the S3 test server (moto) and Dask distributed, and
# print its interpreter's path as the last line of output.
#
#   ci/python-env.sh [DIR]        # DIR defaults to target/pyenv in the workspace
#   export GEOCUBE_PYTHON="$(ci/python-env.sh | tail -n1)"
#
# Idempotent: the venv is reinstalled only when ci/python-requirements.txt
# changed (a stamp file in the venv holds the hash of the requirements and of
# the interpreter version it was built for). Needs PyPI.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
req="$here/python-requirements.txt"
venv="${1:-$root/target/pyenv}"
mkdir -p "$(dirname "$venv")"
venv="$(cd "$(dirname "$venv")" && pwd)/$(basename "$venv")"

log() { echo "python-env: $*" >&2; }

# Interpreter: pyenv's CPython 3.12, else python3.12, else python3 (>= 3.11,
# smart-geocubes' floor).
pick_python() {
    local cand
    for cand in "${GEOCUBE_BASE_PYTHON:-}" "$HOME/.pyenv/versions/3.12.1/bin/python3.12" python3.12 python3; do
        [ -n "$cand" ] || continue
        if command -v "$cand" >/dev/null 2>&1 &&
            "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            command -v "$cand"
            return 0
        fi
    done
    return 1
}

base="$(pick_python)" || {
    log "no Python >= 3.11 found (tried ~/.pyenv/versions/3.12.1, python3.12, python3); set GEOCUBE_BASE_PYTHON"
    exit 1
}
base_version="$("$base" -c 'import sys; print(sys.version.split()[0])')"
want="$( (cat "$req"; echo "python $base_version") | sha256sum | cut -d' ' -f1)"
stamp="$venv/.geocube-requirements.sha256"
py="$venv/bin/python"

if [ -x "$py" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$py" -c 'import sys' 2>/dev/null; then
    log "reusing $venv (requirements unchanged)"
else
    start=$(date +%s)
    if [ -e "$venv" ]; then
        log "requirements or interpreter changed: rebuilding $venv"
        rm -rf "$venv"
    fi
    log "creating $venv with $base (Python $base_version)"
    "$base" -m venv "$venv"
    "$py" -m pip install --quiet --disable-pip-version-check --requirement "$req" >&2
    # Each package the tests import (the Rust interop tests, and the Python
    # package's pytest suite with smart-geocubes' STAC download path, the S3
    # test server and Dask distributed), maturin, which builds the Python
    # package's wheel, and moto_server, which geocube_testkit::moto starts.
    "$py" -c 'import smart_geocubes, icechunk, zarr, xarray, odc.geo.xr, rasterio
import geopandas, pyarrow, pystac, pystac_client, odc.stac, odc.loader, matplotlib, pytest
import moto, distributed' >&2
    "$venv/bin/maturin" --version >&2
    [ -x "$venv/bin/moto_server" ] || { log "moto_server missing from $venv/bin"; exit 1; }
    echo "$want" >"$stamp"
    log "installed in $(($(date +%s) - start)) s"
fi
echo "$py"
