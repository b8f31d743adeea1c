#!/usr/bin/env bash
# Create (or reuse) the Python virtual environment used by floe's interop tests.
#
#   interop/setup.sh            -> prints the venv's python path on the last line of stdout
#
# Venv location: ${FLOE_INTEROP_VENV:-<repo>/target/interop-venv}
# Python used to create it: ${FLOE_INTEROP_PYTHON:-python3}
#
# Idempotent: a stamp file inside the venv records a hash of requirements.txt
# (and the python version); if it matches, nothing is installed again.
# All progress messages go to stderr so that stdout is only the python path.
# Concurrent runs are serialised with flock(1) on "<venv>.lock".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="${FLOE_INTEROP_VENV:-$repo/target/interop-venv}"
base_python="${FLOE_INTEROP_PYTHON:-python3}"
req="$here/requirements.txt"
stamp="$venv/.floe-interop-stamp"

log() { echo "interop/setup.sh: $*" >&2; }

# Serialise concurrent runs (parallel tests may all call this script): the
# first one builds the venv, the others wait and then find the stamp matching.
mkdir -p "$(dirname "$venv")"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$venv.lock"
    flock 9
fi

# The stamp key: requirements content + the interpreter version the venv was made from.
want="$( { cat "$req"; "$base_python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"

py="$venv/bin/python"
if [[ -x "$py" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && "$py" -c 'import sys' 2>/dev/null; then
    log "venv $venv is up to date (stamp matches)"
    echo "$py"
    exit 0
fi

if [[ ! -x "$py" ]] || ! "$py" -c 'import sys' 2>/dev/null; then
    log "creating venv at $venv"
    rm -rf "$venv"
    "$base_python" -m venv "$venv"
fi

# Remove a stale stamp first: if the install below fails half-way, the next run retries.
rm -f "$stamp"
log "installing $(grep -cv '^\s*\(#\|$\)' "$req") pinned requirements"
"$py" -m pip install --quiet --disable-pip-version-check --no-input -r "$req" >&2

# Smoke check: every package imports and the DuckDB extension files are where we load them from.
"$py" - >&2 <<'PY'
import importlib, pathlib
import pyiceberg, pyarrow, duckdb, datashard  # noqa: F401
for pkg, ext in (("duckdb_extension_avro", "avro"), ("duckdb_extension_iceberg", "iceberg")):
    mod = importlib.import_module(pkg)
    root = pathlib.Path(mod.__file__).parent
    found = list(root.rglob(f"{ext}.duckdb_extension"))
    assert found, f"no {ext}.duckdb_extension under {root}"
print("ok: pyiceberg", pyiceberg.__version__, "pyarrow", pyarrow.__version__, "duckdb", duckdb.__version__)
PY

echo "$want" > "$stamp"
log "venv ready"
echo "$py"
