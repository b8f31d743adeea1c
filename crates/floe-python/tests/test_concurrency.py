"""Many writers at once from Python: multiprocessing workers and threads sharing one
handle. No append may be lost or duplicated."""

from __future__ import annotations

import multiprocessing as mp
import threading

import pyarrow as pa

import floe
import mp_workers
from conftest import read_with


def test_8_processes_x_50_appends_lose_nothing(table):
    ctx = mp.get_context("spawn")
    with ctx.Pool(8) as pool:
        results = pool.map(mp_workers.append_many, [(table.location, w, 50) for w in range(8)])
    reported = sorted(k for done, _ in results for k in done)
    assert len(reported) == 400
    table.refresh()
    got = sorted(floe.open_table(table.location).scan().to_arrow().column("id").to_pylist())
    assert got == reported, "appends lost or duplicated"
    assert table.version == 401  # one commit each, on top of the creation
    # The workers really raced: some commits were rebased over others.
    assert sum(stats["rebased"] + stats["conflicts"] for _, stats in results) > 0
    # A third-party reader sees the same rows.
    assert read_with("pyiceberg", table.location)["count"] == 400


def test_threads_share_one_handle(table):
    errors = []

    def work(worker):
        try:
            for i in range(25):
                table.append(pa.table({"id": pa.array([worker * 1000 + i], pa.int64()), "name": ["t"]}))
                table.scan(filter=f"id >= {worker * 1000}").count()
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    table.refresh()
    got = sorted(table.scan().to_arrow().column("id").to_pylist())
    assert got == sorted(w * 1000 + i for w in range(8) for i in range(25))
    assert table.commit_stats()["commits"] == 200


def test_pickled_handles_in_processes(table):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=mp_workers.append_with_handle, args=(table, w, 10)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert floe.open_table(table.location).scan().count() == 40


def test_forked_processes_commit_after_the_parent_did(table):
    """Commits and scans run on a process-wide pool of threads; a child forked by a
    process that already used it has none of its threads, and must still commit and
    scan, and so must its own forked child (tests/fork.rs pins the case where the
    child's commit waits for the lock on a pool thread)."""
    for i in range(3):
        table.append(pa.table({"id": pa.array([900_000 + i], pa.int64()), "name": ["parent"]}))
    assert table.scan().count() == 3  # decode work on the pool too
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=mp_workers.append_then_fork, args=(table.location, w, 10)) for w in range(4)]
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.join(180)
        assert [p.exitcode for p in procs] == [0, 0, 0, 0], "a forked writer failed or hung"
    finally:
        for p in procs:
            if p.exitcode is None:
                p.kill()
    expected = [900_000 + i for i in range(3)]
    expected += [w * 1000 + i for w in range(4) for i in range(10)]
    expected += [w * 1000 + 500 + i for w in range(4) for i in range(5)]
    got = sorted(floe.open_table(table.location).scan().to_arrow().column("id").to_pylist())
    assert got == sorted(expected)
