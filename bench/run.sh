#!/usr/bin/env bash
# floe against deltalake, lance, pyiceberg and datashard, side by side, in one run.
#
#   bash bench/run.sh [--quick | --tiny] [--only latency,contention,history,bulk,scan,smallfiles]
#                     [--systems deltalake,lance,pyiceberg,datashard] [--no-docs] [--keep]
#
# 1. creates (or reuses) the venv ${FLOE_BENCH_VENV:-target/bench-venv} with the pinned
#    peers of bench/requirements.txt (a stamp of the requirements skips reinstalling);
# 2. builds the floe side, benches/peers.rs, in release (`cargo bench --no-run`), unless
#    FLOE_BENCH_BIN names a built one;
# 3. runs bench/driver.py, which writes bench/results/<stamp>-<mode>.json, the generated
#    section of docs/benchmarks.md and docs/bench-*.png.
#
# --quick: under 5 minutes; full (no flag): up to an hour; --tiny: seconds (smoke test).
#
# --object-store: the latency and contention workloads on tables in a bucket of a
# SeaweedFS server this script starts for the run (scripts/s3-server.sh, on its own ports
# and directory: BENCH_S3_PORT, default 8433, and the next ones) and stops by PID when
# done. `raw` is then the server's own conditional PUT per commit, and floe reports its
# requests per commit. Combine with --quick or --tiny; see docs/object-stores.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="${FLOE_BENCH_VENV:-$repo/target/bench-venv}"
log() { echo "bench/run.sh: $*" >&2; }

py="$(bash "$here/setup.sh" | tail -n 1)"

if [[ -n "${FLOE_BENCH_BIN:-}" ]]; then
    # A peers binary built already (e.g. `cargo build --release --bench peers`).
    bin="$FLOE_BENCH_BIN"
else
log "building benches/peers.rs (release)"
bin="$(cd "$repo" && cargo bench --bench peers --no-run --message-format=json-render-diagnostics \
    | "$py" -c 'import json, sys
exe = [m["executable"] for m in map(json.loads, sys.stdin)
       if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "peers" and m.get("executable")]
print(exe[-1] if exe else "")')"
fi
if [[ -z "$bin" || ! -x "$bin" ]]; then
    log "could not find the built peers bench binary"
    exit 1
fi
cd "$repo"
object_store=
for arg in "$@"; do [[ "$arg" == --object-store ]] && object_store=1; done
if [[ -z "$object_store" ]]; then
    exec "$py" "$here/driver.py" --floe-bin "$bin" --python "$py" "$@"
fi
args=()
for arg in "$@"; do [[ "$arg" == --object-store ]] || args+=("$arg"); done
port="${BENCH_S3_PORT:-8433}"
export S3_PORT="$port" S3_MASTER_PORT=$((port + 1000)) S3_VOLUME_PORT=$((port + 1007)) \
    S3_FILER_PORT=$((port + 555)) S3_ADMIN_PORT=$((port + 15313)) \
    S3_DIR="$repo/target/bench-s3-data" S3_BUCKET=floe-bench S3_MAX_LIFETIME="${BENCH_S3_MAX_LIFETIME:-3600}"
stop() { bash "$repo/scripts/s3-server.sh" stop; }
trap stop EXIT
log "starting SeaweedFS for the bench on 127.0.0.1:$port"
while IFS= read -r line; do export "${line?}"; done < <(bash "$repo/scripts/s3-server.sh" start)
# The bucket answers unsigned requests before it exists: wait for a signed HEAD of it.
for _ in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -I --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$FLOE_S3_ENDPOINT/$FLOE_S3_BUCKET" || true)
    [[ "$code" == 200 ]] && break
    sleep 0.1
done
export FLOE_BENCH_S3_SERVER="SeaweedFS $("${S3_VENV:-$repo/target/s3-venv}/bin/weed" version 2>/dev/null | awk '{print $3; exit}') on 127.0.0.1:$port"
"$py" "$here/driver.py" --floe-bin "$bin" --python "$py" --object-store "s3://floe-bench/bench" ${args[@]+"${args[@]}"}
