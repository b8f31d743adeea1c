"""The type stubs (python/floe/__init__.pyi) describe the package as it is: every
stubbed name exists, every public method of the runtime classes is stubbed, and the
report attributes the stubs promise are there."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pyarrow as pa

import floe

STUB = Path(floe.__file__).with_suffix(".pyi")


def stub_tree():
    return ast.parse(STUB.read_text())


def test_every_stubbed_name_exists_and_every_public_method_is_stubbed():
    # Classes whose attributes live on instances.
    samples = {"Field": floe.Field(1, "x", "long"), "Schema": floe.Schema([floe.Field(1, "x", "long")])}
    for node in stub_tree().body:
        if isinstance(node, ast.FunctionDef):
            assert callable(getattr(floe, node.name)), node.name
        if isinstance(node, ast.ClassDef):
            cls = getattr(floe, node.name)
            stubbed = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            stubbed |= {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)}
            for name in stubbed:
                holder = samples.get(node.name, cls)
                assert hasattr(holder, name), f"{node.name}.{name} is stubbed but missing"
            public = {n for n, _ in inspect.getmembers(cls) if not n.startswith("_")}
            assert public <= stubbed | {"from_json"}, f"{node.name}: not stubbed {public - stubbed}"


def test_report_attributes_match_the_stubs(table):
    report = table.append(pa.table({"id": pa.array([1], pa.int64()), "name": ["a"]}))
    classes = {n.name: n for n in stub_tree().body if isinstance(n, ast.ClassDef)}
    for cls_name, obj in (("CommitReport", report), ("Snapshot", table.current_snapshot()),
                          ("HistoryEntry", table.history()[0]), ("MaintenanceReport", table.compact(dry_run=True))):
        for n in classes[cls_name].body:
            if isinstance(n, ast.AnnAssign):
                getattr(obj, n.target.id)  # raises if the stub promises a missing attribute
