"""Worker functions for test_concurrency.py's multiprocessing pools (a module of its
own so that the spawn start method can import them in the child processes)."""

from __future__ import annotations

import pyarrow as pa

import floe


def append_many(args):
    """Appends `count` single-row commits with ids worker*1000 + i; returns the ids
    whose append returned a report."""
    location, worker, count = args
    table = floe.open_table(location)
    done = []
    for i in range(count):
        key = worker * 1000 + i
        table.append(pa.table({"id": pa.array([key], pa.int64()), "name": [f"w{worker}"]}))
        done.append(key)
    return done, table.commit_stats()


def append_with_handle(table, worker, count):
    """The same with a pickled handle (floe.Table pickles by location)."""
    for i in range(count):
        table.append(pa.table({"id": pa.array([worker * 1000 + i], pa.int64()), "name": [f"h{worker}"]}))
    return count


def append_then_fork(location, worker, count):
    """For the fork test: `count` appends, then a forked grandchild makes 5 more (ids
    worker*1000 + 500..505); exits non-zero if the grandchild failed or hung."""
    import multiprocessing as mp
    import sys

    append_many((location, worker, count))
    child = mp.get_context("fork").Process(target=append_many_exit, args=(location, worker, 5, 500))
    child.start()
    child.join(120)
    if child.exitcode is None:
        child.kill()
    sys.exit(0 if child.exitcode == 0 else 1)


def append_many_exit(location, worker, count, offset):
    table = floe.open_table(location)
    for i in range(count):
        table.append(pa.table({"id": pa.array([worker * 1000 + offset + i], pa.int64()), "name": [f"g{worker}"]}))
