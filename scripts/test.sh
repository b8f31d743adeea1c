#!/usr/bin/env bash
# The whole test suite, from a fresh machine: builds the Python interop venv
# (pinned pyiceberg, datashard, DuckDB from PyPI), then runs every Rust test.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== interop venv"
FLOE_VENV_PYTHON="$(bash interop/setup.sh | tail -n 1)"
export FLOE_VENV_PYTHON
echo "python: $FLOE_VENV_PYTHON"

echo "== cargo build (benches must compile too)"
cargo build --locked --benches --examples

echo "== cargo test"
cargo test --locked -- --test-threads="${FLOE_TEST_THREADS:-2}"
