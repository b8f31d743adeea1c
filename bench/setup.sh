#!/usr/bin/env bash
# Creates (or reuses) the benchmark venv ${FLOE_BENCH_VENV:-target/bench-venv} with the
# pinned peers of bench/requirements.txt, from PyPI, and prints its python on the last
# line. A stamp of the requirements and the python version skips reinstalling; a lock
# lets concurrent callers (bench/run.sh, scripts/test.sh) share it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="${FLOE_BENCH_VENV:-$repo/target/bench-venv}"
base_python="${FLOE_BENCH_PYTHON:-python3}"
req="$here/requirements.txt"
stamp="$venv/.floe-bench-stamp"
log() { echo "bench/setup.sh: $*" >&2; }

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
    log "installing bench/requirements.txt (deltalake and pylance wheels are large)"
    "$py" -m pip install --quiet --disable-pip-version-check --no-input -r "$req" >&2
    "$py" -c 'import datashard, deltalake, lance, pyiceberg.catalog.sql, pyarrow, matplotlib, numpy' >&2
    echo "$want" > "$stamp"
fi
flock -u 9
echo "$py"
