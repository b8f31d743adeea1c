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
log() { echo "bench/run.sh: $*" >&2; }

py="$(bash "$here/setup.sh" | tail -n 1)"

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
