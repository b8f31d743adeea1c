#!/usr/bin/env bash
# Builds the Python test venv of floe's Python package and installs the package into it;
# prints the venv's python on the last line of stdout.
#
#   crates/floe-python/setup-venv.sh          # venv: ${FLOE_PY_VENV:-<repo>/target/py-venv}
#
# The pinned requirements (requirements-test.txt: maturin, pytest, pyarrow, pandas,
# polars, and the interop readers pyiceberg, DuckDB, datashard) come from PyPI and are
# installed once (a stamp of the requirements and python version skips reinstalling).
# The extension is then built by `maturin develop` in cargo's dev profile
# (FLOE_PY_PROFILE=release for an optimised build): it reuses the workspace's
# target/debug artifacts, so after `cargo build --workspace` only the extension itself
# is compiled. Progress goes to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${FLOE_PY_VENV:-$repo/target/py-venv}"
base_python="${FLOE_PY_PYTHON:-python3}"
req="$here/requirements-test.txt"
stamp="$venv/.floe-py-stamp"
log() { echo "floe-python/setup-venv.sh: $*" >&2; }

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
want="$( { cat "$req"; "$base_python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
py="$venv/bin/python"
if ! [[ -x "$py" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    if [[ ! -x "$py" ]]; then
        log "creating venv $venv"
        "$base_python" -m venv "$venv"
    fi
    rm -f "$stamp"
    log "installing requirements-test.txt"
    "$py" -m pip install --quiet --disable-pip-version-check --no-input -r "$req" >&2
    echo "$want" > "$stamp"
fi

profile=()
if [[ "${FLOE_PY_PROFILE:-dev}" == "release" ]]; then profile=(--release); fi
log "maturin develop ${profile[*]:-(dev profile)}"
(cd "$here" && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" maturin develop --locked "${profile[@]}" >&2)
"$py" -c 'import floe, floe.datashard' >&2
flock -u 9
echo "$py"
