"""Shared helpers of the floe Python package's tests (run by scripts/test.sh via
crates/floe-python/setup-venv.sh and pytest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

REPO = Path(__file__).resolve().parents[3]
INTEROP = REPO / "interop" / "floe_interop.py"


def read_with(reader: str, table_dir: str) -> dict:
    """Reads a table with a third-party reader (pyiceberg, duckdb, datashard) in a child
    process through interop/floe_interop.py; returns its JSON document."""
    out = subprocess.run(
        [sys.executable, str(INTEROP), f"{reader}-read", str(table_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, f"{reader} failed: {out.stderr[-2000:]}"
    return json.loads(out.stdout)


def data_files(table_dir) -> list[str]:
    """Every file under the table's data directory."""
    root = Path(table_dir) / "data"
    return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []


SCHEMA = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("name", pa.string())])


@pytest.fixture
def table(tmp_path):
    import floe

    return floe.create_table(str(tmp_path / "t"), SCHEMA)


def rows(n0: int, n: int) -> pa.Table:
    return pa.table({"id": pa.array(range(n0, n0 + n), pa.int64()), "name": [f"n{i}" for i in range(n0, n0 + n)]})
