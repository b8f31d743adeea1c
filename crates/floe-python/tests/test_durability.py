"""Durability from Python: ``open_table(..., durability="relaxed")`` commits without
fsync, yet its commits are atomic, visible to every other handle, and still there after
the writing process is gone; ``"durable"`` (the default) fsyncs them."""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import floe
from conftest import SCHEMA, rows

# A writer in its own process: creates the table relaxed, appends 20 commits and one
# transaction, prints the last version, then is killed (SIGKILL: no interpreter teardown,
# no flush of anything floe might have buffered in the process).
RELAXED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    import pyarrow as pa
    import floe
    sys.path.insert(0, sys.argv[2])
    from conftest import SCHEMA, rows
    t = floe.create_table(sys.argv[1], SCHEMA, durability="relaxed")
    assert t.durability == "relaxed"
    for i in range(20):
        t.append(rows(i, 1))
    with t.transaction() as tx:
        tx.delete("id < 2")
        tx.append(rows(20, 5))
    print(t.version, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_relaxed_commits_are_visible_and_survive_the_writer_being_killed(tmp_path):
    location = str(tmp_path / "t")
    out = subprocess.run(
        [sys.executable, "-c", RELAXED_WRITER, location, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == -signal.SIGKILL, out.stderr[-2000:]
    last = int(out.stdout.strip())
    # 1 (create) + 20 appends + 1 transaction.
    assert last == 22
    t = floe.open_table(location)
    assert t.durability == "durable" and t.version == last
    ids = sorted(t.scan(columns=["id"]).to_arrow().column("id").to_pylist())
    assert ids == list(range(2, 25))
    # Every version in between is readable (each commit landed whole).
    assert [t.scan(version=v).count() for v in (2, 11, 21)] == [1, 10, 20]


def test_relaxed_and_durable_handles_share_a_table(tmp_path):
    location = str(tmp_path / "t")
    durable = floe.create_table(location, SCHEMA)
    relaxed = floe.open_table(location, durability="relaxed")
    assert (durable.durability, relaxed.durability) == ("durable", "relaxed")
    relaxed.append(rows(0, 3))
    durable.append(rows(3, 3))  # rebased over the relaxed commit
    relaxed.append(rows(6, 3))
    durable.refresh()
    assert durable.scan().count() == relaxed.scan().count() == 9
    # A pickled handle (multiprocessing) keeps its durability.
    again = pickle.loads(pickle.dumps(relaxed))
    assert again.durability == "relaxed" and again.scan().count() == 9
    assert pickle.loads(pickle.dumps(durable)).durability == "durable"


@pytest.mark.parametrize("bad", ["fast", "Relaxed", "", None, 1])
def test_bad_durability_is_refused_and_creates_nothing(tmp_path, bad):
    location = tmp_path / "t"
    with pytest.raises(floe.InvalidArgument, match="durability"):
        floe.create_table(str(location), SCHEMA, durability=bad)
    assert not location.exists()
    floe.create_table(str(location), SCHEMA)
    with pytest.raises(floe.InvalidArgument, match="durability"):
        floe.open_table(str(location), durability=bad)
    # The compiled layer refuses it too (a caller going around the Python layer).
    with pytest.raises((floe.InvalidArgument, TypeError)):
        floe._floe.Table.open(str(location), bad)
    assert floe.open_table(str(location)).version == 1


# Appends 5 rows in 5 commits with the given durability (the table exists already).
APPENDER = textwrap.dedent(
    """
    import sys
    import floe
    sys.path.insert(0, sys.argv[3])
    from conftest import rows
    t = floe.open_table(sys.argv[1], durability=sys.argv[2])
    for i in range(5):
        t.append(rows(i, 1))
    """
)


def sync_calls(location: str, durability: str, log: Path) -> int:
    """The fsync/fdatasync/sync_file_range calls a process makes appending 5 rows."""
    out = subprocess.run(
        ["strace", "-f", "-qq", "-o", str(log), "-e", "trace=fsync,fdatasync,sync_file_range,syncfs,sync",
         sys.executable, "-c", APPENDER, location, durability, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    calls = [line for line in log.read_text().splitlines() if "sync" in line and "resumed" not in line]
    return len(calls)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to count fsync calls")
def test_durable_fsyncs_and_relaxed_does_not(tmp_path):
    location = str(tmp_path / "t")
    floe.create_table(location, SCHEMA)
    durable = sync_calls(location, "durable", tmp_path / "durable.strace")
    relaxed = sync_calls(location, "relaxed", tmp_path / "relaxed.strace")
    # Durable: each of the 5 commits syncs its data file, manifest, manifest list,
    # metadata and directories.
    assert durable >= 5 * 4, durable
    assert relaxed == 0, (tmp_path / "relaxed.strace").read_text()[-2000:]
    assert floe.open_table(location).scan().count() == 10
    os.remove(tmp_path / "durable.strace")
