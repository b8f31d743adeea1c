"""Every code example of datashard's concurrency documentation
(tests/data/datashard-concurrency.rst, verbatim) runs against ``floe.datashard`` with
only two edits: ``from datashard import`` → ``from floe.datashard import`` and
``/path/to/`` → a temporary directory. The multi-writer examples run in real
processes. The tables they write are read back by datashard itself, pyiceberg and
DuckDB with the same rows as floe reads."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import floe
from conftest import read_with

DOC = Path(__file__).parent / "data" / "datashard-concurrency.rst"


def examples() -> list[str]:
    """The `.. code-block:: python` blocks of the document, dedented."""
    text = DOC.read_text()
    blocks = []
    for m in re.finditer(r"\.\. code-block:: python\n\n((?:(?:   .*)?\n)+)", text):
        blocks.append(textwrap.dedent(m.group(1)))
    return blocks


def ported(code: str, root: Path) -> str:
    """The only two edits a datashard user makes."""
    assert "from datashard import" in code
    code = code.replace("from datashard import", "from floe.datashard import")
    return code.replace("/path/to/", f"{root}/")


# Helpers some examples call but leave to the reader to define.
HELPERS = textwrap.dedent(
    """
    import os as _os

    def process_record(r):
        return dict(r)

    def expensive_processing(r):
        return dict(r)

    def try_acquire_lock(lock_file, process_id):
        _os.makedirs(_os.path.dirname(lock_file), exist_ok=True)
        try:
            fd = _os.open(lock_file, _os.O_CREAT | _os.O_EXCL | _os.O_WRONLY)
        except FileExistsError:
            return False
        _os.write(fd, str(process_id).encode())
        _os.close(fd)
        return True

    def release_lock(lock_file, process_id):
        _os.unlink(lock_file)
    """
)


def run_example(code: str, root: Path, then: str = "", timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs an example (plus `then`) in a fresh Python process."""
    script = root / f"example_{abs(hash((code, then)))}.py"
    script.write_text(HELPERS + "\n" + code + "\n" + then + "\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=timeout, cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def start_example(code: str, root: Path, then: str, name: str) -> subprocess.Popen:
    script = root / f"{name}.py"
    script.write_text(HELPERS + "\n" + code + "\n" + then + "\n")
    return subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=root)


def same_rows_everywhere(table_dir: Path) -> int:
    """floe, datashard, pyiceberg and DuckDB read the same rows; returns how many."""
    t = floe.open_table(str(table_dir))
    want = sorted(tuple(sorted(r.items())) for r in t.scan().to_arrow().to_pylist())
    for reader in ("datashard", "pyiceberg", "duckdb"):
        doc = read_with(reader, str(table_dir))
        got = sorted(tuple(sorted(r.items())) for r in doc["rows"])
        assert got == want, reader
    return len(want)


def test_the_document_has_ten_examples():
    assert len(examples()) == 10


@pytest.fixture
def root(tmp_path):
    return tmp_path


def test_occ_and_conflict_handling_examples(root):
    ex = examples()
    run_example(ported(ex[0], root), root)
    out = run_example(ported(ex[1], root), root)
    assert "Transaction succeeded" in out.stdout
    assert same_rows_everywhere(root / "table") == 2


def test_reading_while_writing_in_two_processes(root):
    code = ported(examples()[2], root)
    run_example(code, root)  # creates the table
    writer = start_example(code, root, "write_process()", "writer")
    reader = start_example(code, root, "read_process()", "reader")
    time.sleep(5)
    for p in (writer, reader):
        assert p.poll() is None, p.stderr.read()  # both loop forever without failing
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    n = same_rows_everywhere(root / "concurrent_table")
    assert n >= 2, n  # a write every 2 s for 5 s


def test_multiple_writers_in_two_processes(root):
    code = ported(examples()[3], root)
    run_example(code, root)
    procs = [start_example(code, root, f"{w}()", w) for w in ("writer_1", "writer_2")]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert all("failed" not in o[0] for o in outs)
    t = floe.open_table(str(root / "multiwriter_table"))
    got = t.scan().to_arrow().to_pylist()
    assert sorted((r["source"], r["record_id"]) for r in got) == sorted(
        (s, i) for s in ("writer1", "writer2") for i in range(100)
    )
    assert same_rows_everywhere(root / "multiwriter_table") == 200


def test_retry_batch_scope_and_monitoring_examples(root):
    ex = examples()
    run_example(ported(ex[4], root), root)
    assert same_rows_everywhere(root / "retry_table") == 1
    run_example(ported(ex[5], root), root)
    assert same_rows_everywhere(root / "batch_table") == 1000
    run_example(
        ported(ex[6], root),
        root,
        then=textwrap.dedent(
            """
            assert good_example(table, [{"record_id": 1, "value": "g"}], scope_schema) is True
            assert bad_example(table, [{"record_id": 2, "value": "b"}], scope_schema) is True
            """
        ),
    )
    assert same_rows_everywhere(root / "scope_table") == 2
    run_example(ported(ex[7], root), root)
    assert same_rows_everywhere(root / "monitor_table") == 1


def test_leader_follower_in_three_processes(root):
    code = ported(examples()[8], root)
    run_example(code, root)
    then = "import os\nfor i in range(5):\n    coordinated_write(table, [{'record_id': os.getpid() * 10 + i, 'data': 'x'}], leader_schema, os.getpid())\n"
    procs = [start_example(code, root, then, f"leader{i}") for i in range(3)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1][-2000:] for o in outs]
    assert same_rows_everywhere(root / "leader_table") == 15


def test_partition_aware_example(root):
    run_example(ported(examples()[9], root), root)
    assert same_rows_everywhere(root / "partitioned_table") == 2


def test_datashard_itself_runs_the_examples_on_tables_floe_wrote(root):
    """The reverse direction: datashard (unchanged code) appends to a table created
    through floe.datashard, and floe reads datashard's commit."""
    code = ported(examples()[0], root)
    run_example(code, root)
    original = code.replace("from floe.datashard import", "from datashard import")
    run_example(original, root)
    t = floe.open_table(str(root / "table"))
    assert sorted(t.scan().to_arrow().column("record_id").to_pylist()) == [1, 1]
    assert same_rows_everywhere(root / "table") == 2
