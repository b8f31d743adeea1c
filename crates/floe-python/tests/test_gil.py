"""The GIL is released while floe works: a pure-Python thread keeps running in the
middle of a long append, scan and compaction. (Were the GIL held, that thread could only
run in the few microseconds of Python code around the Rust call, never in the middle.)"""

from __future__ import annotations

import threading
import time

import pyarrow as pa

from conftest import rows


class Ticker:
    """A Python thread recording the time of each loop iteration."""

    def __init__(self):
        self.ticks: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            self.ticks.append(time.monotonic())
            sum(range(200))  # Python bytecode: needs the GIL

    def __enter__(self):
        self.thread.start()
        time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def ran_in_the_middle(call) -> tuple[bool, float]:
    with Ticker() as t:
        start = time.monotonic()
        call()
        end = time.monotonic()
    span = end - start
    lo, hi = start + 0.25 * span, start + 0.75 * span
    return any(lo <= x <= hi for x in t.ticks), span


def test_the_probe_sees_a_call_that_holds_the_gil():
    # Control: builtin sum over a range runs in C with the GIL held, no bytecode.
    ok, span = ran_in_the_middle(lambda: sum(range(20_000_000)))
    assert span > 0.05 and not ok


def test_python_threads_run_during_append_scan_and_compact(table):
    big = pa.concat_tables([rows(i * 200_000, 200_000) for i in range(5)])
    # Small files for compaction to merge (not measured: each append is too short to probe).
    for i in range(3):
        table.append(rows(10_000_000 + i, 10))
    for name, call in (
        ("append", lambda: table.append(big)),
        ("scan", lambda: table.scan(filter="name != 'x'").to_arrow()),
        ("compact", lambda: table.compact(min_input_files=2)),
    ):
        ok, span = ran_in_the_middle(call)
        # A call shorter than a few switch intervals proves nothing either way.
        assert span > 0.05, f"{name} took only {span:.3f} s; make it bigger"
        assert ok, f"no Python bytecode ran during the middle of {name} ({span:.3f} s): GIL held"
