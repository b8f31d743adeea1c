#!/usr/bin/env bash
# The whole test suite, from a fresh machine: builds the Python interop venv
# (pinned pyiceberg, datashard, DuckDB from PyPI), the Spark venv (pyspark + Iceberg's
# Spark runtime from PyPI, interop/spark-setup.sh) and the benchmark venv (pinned peers),
# starts the test S3 server (scripts/s3-server.sh), then runs every Rust test, then builds
# the Python package (crates/floe-python) into its own pinned venv and runs its pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== interop venv"
FLOE_VENV_PYTHON="$(bash interop/setup.sh | tail -n 1)"
# Tests that compare with DuckDB/pyiceberg outside tests/interop.rs (the TPC-H test) must
# not skip here.
export FLOE_VENV_PYTHON FLOE_VENV_REQUIRED=1
echo "python: $FLOE_VENV_PYTHON"

echo "== Spark venv (pinned pyspark 3.5.9 + Iceberg 1.10.2 runtime from PyPI; Java 17, jarjar from apt)"
# crates/floe-cli/tests/spark.rs (Spark writes and reads merge-on-read tables) must not
# skip here: with FLOE_SPARK_PYTHON set, a broken Spark fails the run (FLOE_SKIP_SPARK is
# ignored), and a failed setup (no apt for jarjar, no PyPI) stops it right here.
FLOE_SPARK_PYTHON="$(bash interop/spark-setup.sh | tail -n 1)"
export FLOE_SPARK_PYTHON
echo "spark python: $FLOE_SPARK_PYTHON"

echo "== benchmark venv (pinned deltalake, pylance, pyiceberg, datashard from PyPI)"
# The bench smoke test (benches/peers.rs, run by cargo test) drives bench/driver.py at
# tiny sizes against every peer; it must not skip here.
FLOE_BENCH_VENV="${FLOE_BENCH_VENV:-$PWD/target/bench-venv}"
export FLOE_BENCH_VENV FLOE_BENCH_REQUIRED=1
bash bench/setup.sh | tail -n 1

echo "== S3 server (SeaweedFS from PyPI, 127.0.0.1, bounded lifetime; stopped on exit)"
# The object-store tests (tests/object_store.rs) run against it and must not skip here.
trap 'bash scripts/s3-server.sh stop; bash scripts/emulators.sh stop' EXIT
# A killed or interrupted run exits through the EXIT trap too, so the servers stop.
trap 'exit 143' TERM
trap 'exit 130' INT
s3_env=$(bash scripts/s3-server.sh stop; bash scripts/s3-server.sh start)
while IFS='=' read -r k v; do export "$k=$v"; done <<< "$s3_env"
echo "== Azure emulator (Azurite from npm, 127.0.0.1, bounded lifetime; stopped on exit)"
azure_env=$(bash scripts/emulators.sh stop; bash scripts/emulators.sh start)
while IFS='=' read -r k v; do export "$k=$v"; done <<< "$azure_env"
export FLOE_S3_REQUIRED=1

echo "== cargo build (benches must compile too)"
# In the dev profile: the check is that they compile, and `cargo test` reuses every
# dependency built here (a release build would compile DataFusion a second time).
cargo build --locked --workspace --benches --examples --profile dev

echo "== Python package: pinned venv, maturin develop (dev profile, reuses target/debug)"
# Built before cargo test: the bench smoke test (benches/peers.rs) runs floe-py with it.
FLOE_PY_VENV="${FLOE_PY_VENV:-$PWD/target/py-venv}"
export FLOE_PY_VENV
FLOE_PY="$(bash crates/floe-python/setup-venv.sh | tail -n 1)"

echo "== cargo test"
cargo test --locked --workspace -- --test-threads="${FLOE_TEST_THREADS:-2}"

echo "== Python package: pytest"
"$FLOE_PY" -m pytest -q -p no:cacheprovider crates/floe-python/tests
