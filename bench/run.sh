#!/usr/bin/env bash
# floe against deltalake, lance, pyiceberg and datashard, side by side, in one run.
#
#   bash bench/run.sh [--quick | --tiny] [--only latency,contention,history,bulk,scan,smallfiles]
#                     [--systems deltalake,lance,pyiceberg,datashard] [--no-docs] [--keep]
#
# 1. creates (or reuses) the venv ${FLOE_BENCH_VENV:-target/bench-venv} with the pinned
#    peers of bench/requirements.txt (a stamp of the requirements skips reinstalling);
# 2. builds the floe side, benches/peers.rs, in release (`cargo bench --no-run`);
# 3. runs bench/driver.py, which writes bench/results/<stamp>-<mode>.json, the generated
#    section of docs/benchmarks.md and docs/bench-*.png.
#
# --quick: under 5 minutes; full (no flag): up to an hour; --tiny: seconds (smoke test).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="${FLOE_BENCH_VENV:-$repo/target/bench-venv}"
base_python="${FLOE_BENCH_PYTHON:-python3}"
req="$here/requirements.txt"
stamp="$venv/.floe-bench-stamp"
log() { echo "bench/run.sh: $*" >&2; }

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

log "building benches/peers.rs (release)"
bin="$(cd "$repo" && cargo bench --bench peers --no-run --message-format=json-render-diagnostics \
    | "$py" -c 'import json, sys
exe = [m["executable"] for m in map(json.loads, sys.stdin)
       if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "peers" and m.get("executable")]
print(exe[-1] if exe else "")')"
if [[ -z "$bin" || ! -x "$bin" ]]; then
    log "could not find the built peers bench binary"
    exit 1
fi
cd "$repo"
exec "$py" "$here/driver.py" --floe-bin "$bin" --python "$py" "$@"
