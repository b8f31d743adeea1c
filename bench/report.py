"""Markdown tables and matplotlib plots from one bench/driver.py result document.

`markdown(doc, json_path)` renders the section; `write_docs(doc, md, docs_dir)` puts it
between the `<!-- peers:begin -->` / `<!-- peers:end -->` markers of
docs/benchmarks.md (appending the markers if missing) and writes the two PNGs.
Also usable alone: `python bench/report.py bench/results/<file>.json [--write]`.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"
PEERS = ["deltalake", "lance", "pyiceberg", "datashard"]
# floe's own Python package: reported beside the peers, never counted as one.
OURS = ["floe-py", "floe-py-relaxed"]
PLOT_COMMITS, PLOT_DATA = "bench-commits.png", "bench-data.png"


# --------------------------------------------------------------------------- formatting


def _num(x: Optional[float], unit: str, digits: int) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}{unit}"


def cell(fig: Optional[Dict[str, Any]], unit: str = "", digits: int = 2) -> str:
    """`median (min–max)` of a figure; just the median with one sample."""
    if not fig or fig.get("median") is None:
        return "–"
    m = _num(fig["median"], unit, digits)
    if len(fig.get("samples", [])) > 1 and fig["min"] != fig["max"]:
        return f"{m} ({_num(fig['min'], '', digits)}–{_num(fig['max'], '', digits)})"
    return m


def ratio(a: Optional[float], b: Optional[float]) -> str:
    if a is None or b is None or b == 0 or any(isinstance(x, float) and math.isnan(x) for x in (a, b)):
        return "–"
    return f"{a / b:.2f}×"


def med(fig: Optional[Dict[str, Any]]) -> Optional[float]:
    return None if not fig else fig.get("median")


def table(head: Sequence[str], rows: List[Sequence[str]], align: Optional[str] = None) -> str:
    align = align or ("l" + "r" * (len(head) - 1))
    sep = ["---:" if c == "r" else "---" for c in align]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def best_peer(per: Dict[str, Any], key: str, peers: Sequence[str], higher: bool = False):
    """(name, median) of the best peer on `key` (lowest unless `higher`); floe-py is floe, not a peer."""
    got = [(p, med(per[p].get(key))) for p in peers
           if p not in OURS and p in per and med(per[p].get(key)) is not None]
    if not got:
        return None, None
    return (max if higher else min)(got, key=lambda t: t[1])


def verdict(ok: Optional[bool]) -> str:
    return "–" if ok is None else ("**PASS**" if ok else "**MISS**")


# --------------------------------------------------------------------------- sections


def sec_latency(res: Dict[str, Any], peers: List[str], targets: List[Sequence[str]]) -> str:
    S = res["systems"]
    order = [s for s in ["floe", "floe-relaxed", "raw", *peers, "floe-py-relaxed"] if s in S]
    rows = []
    raw_p50 = med(S.get("raw", {}).get("p50"))
    for s in order:
        f = S[s]
        rows.append([f"`{s}`", cell(f.get("appends"), "", 0), cell(f["p50"], " ms"), cell(f["p90"], " ms"),
                     cell(f["p99"], " ms"), cell(f["first10"], " ms"), cell(f["last10"], " ms"),
                     ratio(med(f["p50"]), raw_p50)])
    bp, bv = best_peer(S, "p50", peers)
    floe = med(S.get("floe", {}).get("p50"))
    out = [f"#### 1. Single-row append latency ({res['n']} appends in one process, {res['reps']} repetition(s))",
           "", f"A process stops early once its appends have taken {res.get('budget_s') or '∞'} s (*appends* "
           "shows how many it made); percentiles are over the appends made.", "",
           table(["system", "appends", "p50", "p90", "p99", "first 10 (median)", "last 10 (median)", "p50 ÷ raw"],
                 rows), ""]
    if bp:
        relaxed = med(S.get("floe-relaxed", {}).get("p50"))
        out.append(f"floe p50 ÷ best peer (`{bp}`, {bv:.2f} ms): **{ratio(floe, bv)}**; "
                   f"floe-relaxed (no fsync, like deltalake and lance) ÷ best peer: **{ratio(relaxed, bv)}**.")
        out.append("")
    if floe is not None and raw_p50:
        targets.append(["single-row durable append p50 ≤ 3× the bare loop (`raw`)",
                        f"{floe:.2f} ms = {ratio(floe, raw_p50)} of {raw_p50:.2f} ms", verdict(round(floe / raw_p50, 2) <= 3.0)])
    relaxed_p50 = med(S.get("floe-relaxed", {}).get("p50"))
    if relaxed_p50 is not None:
        targets.append(["single-row relaxed append (no fsync) p50 ≤ 0.5 ms", f"{relaxed_p50:.2f} ms",
                        verdict(round(relaxed_p50, 2) <= 0.5)])
    return "\n".join(out)


def sec_contention(res: Dict[str, Any], peers: List[str], retry: Dict[str, str], targets) -> str:
    n = res["n"]
    out = [f"#### 2. Contention: P processes × {n} single-row appends at a barrier, no application retry "
           f"({res['reps']} repetition(s))", "",
           "What each system does on a conflict: " + "; ".join(f"`{k}`: {v}" for k, v in retry.items()
                                                                if k in ("floe", "floe-noretry", "raw", *peers)) + ".",
           "",
           "*rows* = rows present afterwards (expected P × n); *lost* = acknowledged appends whose row is missing; "
           "*phantom* = appends reported as failed whose row is there; *dup* = extra copies. commits/s = successful "
           "appends ÷ (barrier → last append done); p50/p99 over successful appends (for `floe-noretry` and "
           "`pyiceberg` including the refresh before each).", ""]
    for procs, S in res["procs"].items():
        order = [s for s in ["floe", "floe-noretry", "raw", *peers, "floe-relaxed", "floe-py-relaxed"] if s in S]
        rows = []
        for s in order:
            f = S[s]
            rows.append([f"`{s}`", cell(f["commits_per_s"], "", 0), cell(f["failures"], "", 0),
                         f"{cell(f['rows'], '', 0)} / {int(procs) * n}", cell(f["lost_acked"], "", 0),
                         cell(f.get("phantom"), "", 0), cell(f["dup"], "", 0), cell(f["p50"], " ms"),
                         cell(f["p99"], " ms"), cell(f.get("retries"), "", 0)])
        out += [f"**P = {procs}**", "",
                table(["system", "commits/s", "failures", "rows", "lost", "phantom", "dup", "p50", "p99",
                       "lost races (retried)"], rows), ""]
        bp, bv = best_peer(S, "commits_per_s", peers, higher=True)
        floe = med(S.get("floe", {}).get("commits_per_s"))
        raw = med(S.get("raw", {}).get("commits_per_s"))
        line = f"floe commits/s ÷ raw: {ratio(floe, raw)}"
        if bp:
            line += f"; ÷ best peer (`{bp}`, {bv:.0f}/s): **{ratio(floe, bv)}**"
        errs = {s: S[s].get("errors_sample") for s in order if S[s].get("errors_sample")}
        out += [line + ".", ""]
        for s, e in errs.items():
            out.append(f"- `{s}` failures, e.g.: " + "; ".join(f"`{x[:160]}`" for x in e))
        if errs:
            out.append("")
        if procs in ("8", "16") and "floe" in S:
            f = S["floe"]
            cps, p99 = med(f["commits_per_s"]), med(f["p99"])
            ok = cps >= 400 and p99 is not None and p99 <= 50 and f["failures"]["max"] == 0
            targets.append([f"{procs} processes ≥ 400 commits/s, p99 ≤ 50 ms, 0 failures",
                            f"{cps:.0f} commits/s, p99 {_num(p99, ' ms', 1)}, {f['failures']['max']:.0f} failures",
                            verdict(ok)])
    return "\n".join(out)


def sec_history(res: Dict[str, Any], peers: List[str], targets) -> str:
    S = res["systems"]
    marks = [str(m) for m in res["marks"]]
    order = [s for s in ["floe", "raw", *peers] if s in S]
    rows = []
    for s in order:
        f = S[s]
        first, last = f["at"][marks[0]], f["at"][marks[-1]]
        appends = f.get("appends", res["n"])
        rows.append([f"`{s}`", str(appends), *[_num(f["at"][m], " ms", 2) for m in marks],
                     ratio(last, first), _num(f["metadata_bytes"] / 2**20, " MiB", 2),
                     _num(f["metadata_bytes"] / 1024 / appends if appends else None, " KiB", 1),
                     _num(f["total_s"], " s", 1)])
    out = [f"#### 3. History: {res['n']} single-row appends in one process (one run each)", "",
           f"Latency = median of the 21 appends around append #m. Metadata = every file except data files "
           f"(Delta log and checkpoints, Iceberg metadata/manifests/catalog, Lance manifests). A process stops "
           f"once its appends have taken {res.get('budget_s') or '∞'} s (*appends* = how many it made; "
           f"metadata is measured where it stopped).", "",
           table(["system", "appends", *[f"#{m}" for m in marks], f"#{marks[-1]} ÷ #{marks[0]}",
                  "metadata on disk", "metadata per append", "time in appends"], rows), ""]
    if "floe" in S and "raw" in S and S["floe"]["at"][marks[-1]] and S["raw"]["at"][marks[-1]]:
        f, r = S["floe"]["at"], S["raw"]["at"]
        fr, rr = f[marks[-1]] / f[marks[0]], r[marks[-1]] / r[marks[0]]
        out += [f"The bare loop's own #{marks[-1]} ÷ #{marks[0]} ({rr:.2f}×) is the disk's drift; floe's ratio "
                f"divided by it: {fr / rr:.2f}×.", ""]
        peer_last = [(p, S[p]["at"][marks[-1]]) for p in peers
                     if p not in OURS and p in S and S[p]["at"][marks[-1]]]
        if peer_last:
            bp, bv = min(peer_last, key=lambda t: t[1])
            out += [f"floe at #{marks[-1]} ÷ raw: {ratio(f[marks[-1]], r[marks[-1]])}; ÷ best peer (`{bp}`, "
                    f"{bv:.2f} ms): **{ratio(f[marks[-1]], bv)}**.", ""]
        if "long" not in res:
            targets.append([f"append #{marks[-1]} within 1.25× of #{marks[0]}, after the bare loop's drift",
                            f"{fr / rr:.2f}× ({fr:.2f}× before)", verdict(round(fr / rr, 2) <= 1.25)])
    if "long" in res:
        out.append(sec_history_long(res["long"], S.get("floe"), targets))
    return "\n".join(out)


def sec_history_long(res: Dict[str, Any], floe_short: Optional[Dict[str, Any]], targets) -> str:
    """floe and the bare loop on to `res["n"]` appends: the drift and the metadata bound
    the targets name, which the peers are too slow to reach in the budget."""
    S = res["systems"]
    marks = [str(m) for m in res["marks"]]
    rows = []
    for s in [s for s in ["floe", "raw"] if s in S]:
        f = S[s]
        rows.append([f"`{s}`", str(f["appends"]), *[_num(f["at"][m], " ms", 2) for m in marks],
                     ratio(f["at"][marks[-1]], f["at"][marks[0]]), _num(f["metadata_bytes"] / 2**20, " MiB", 2),
                     _num(f["p99"], " ms", 2), _num(f["total_s"], " s", 1)])
    out = [f"floe and the bare loop go on to {res['n']:,} appends (a separate run each; the peers stop at "
           f"{marks[1]}: their appends slow down with history):", "",
           table(["system", "appends", *[f"#{m}" for m in marks], f"#{marks[-1]} ÷ #{marks[0]}",
                  "metadata on disk", "p99", "time in appends"], rows), ""]
    f, r = S.get("floe"), S.get("raw")
    if f and f.get("windows_ms"):
        w = res.get("window", 500)
        out += [f"floe, median of each {w} appends: "
                + ", ".join(_num(x, "", 2) for x in f["windows_ms"]) + " ms.", ""]
    if f and floe_short and f["appends"] >= res["n"]:
        grown = (f["metadata_bytes"] - floe_short["metadata_bytes"]) / (res["n"] - int(marks[1]))
        out += [f"floe's metadata from #{marks[1]} (the run above) to #{res['n']}: {grown / 1024:+.2f} KiB per "
                "append.", ""]
    if f and r and f["at"][marks[-1]] and r["at"][marks[-1]]:
        fr = f["at"][marks[-1]] / f["at"][marks[0]]
        rr = r["at"][marks[-1]] / r["at"][marks[0]]
        targets.append([f"append #{marks[-1]} within 1.25× of #{marks[0]}, after the bare loop's drift",
                        f"{fr / rr:.2f}× ({fr:.2f}× before)", verdict(round(fr / rr, 2) <= 1.25)])
    if f:
        mib = f["metadata_bytes"] / 2**20
        done = f["appends"] >= res["n"]
        targets.append([f"metadata/ after {res['n']:,} single-row appends ≤ 25 MiB",
                        f"{mib:.2f} MiB" + ("" if done else f" (stopped at {f['appends']})"),
                        verdict(done and mib <= 25)])
    return "\n".join(out)


def sec_bulk(res: Dict[str, Any], peers: List[str], targets) -> str:
    S = res["systems"]
    order = [s for s in ["floe", "floe-1enc", "raw", *peers] if s in S]
    raw = med(S.get("raw", {}).get("write_s"))
    rows = []
    for s in order:
        f = S[s]
        rows.append([f"`{s}`", cell(f["write_s"], " s", 3), ratio(med(f["write_s"]), raw), cell(f.get("write_cpu_s"), " s", 2),
                     cell(f["process_s"], " s", 2),
                     cell(f["peak_rss_mib"], " MiB", 0), cell(f["rss_over_data_mib"], " MiB", 0),
                     _num(med(f["bytes"]) / 2**20, " MiB", 1)])
    bp, bv = best_peer(S, "write_s", peers)
    floe = med(S.get("floe", {}).get("write_s"))
    out = [f"#### 4. Bulk: one append of {res['rows']:,} rows (id long, 16-char string, double), "
           f"{res['reps']} repetition(s)", "",
           "*write* is timed in the process around the append only (data generated before); *CPU* is the CPU time "
           "(user + system, all threads) the process spent in it, which a busy machine does not stretch as it "
           "stretches wall time; *process* is the whole "
           "process (start-up, generation, write); *peak RSS* is the process's (wait4), *over data* is the peak minus "
           "the peak right after generating the data.", "",
           table(["system", "write", "÷ raw", "CPU", "process", "peak RSS", "over data", "bytes on disk"], rows), ""]
    if bp:
        out += [f"floe write ÷ best peer (`{bp}`, {bv:.3f} s): **{ratio(floe, bv)}**.", ""]
    if "floe-1enc" in S and floe is not None:
        one = med(S["floe-1enc"]["write_s"])
        out += [f"`floe-1enc` is floe encoding columns on one thread (`WriteOptions::encode_threads(1)`); "
                f"raw ÷ floe: **{ratio(raw, floe)}** faster than the single-threaded writer, "
                f"floe-1enc ÷ floe: {ratio(one, floe)}.", ""]
    if floe is not None and raw:
        beats = bv is None or floe < bv  # bv: the best peer's write time, above
        over, raw_over = med(S["floe"].get("rss_over_data_mib")), med(S.get("raw", {}).get("rss_over_data_mib"))
        mem_ok = over is not None and raw_over is not None and over <= 1.3 * max(raw_over, 1.0)
        targets.append(["bulk write ≥ 1.4× faster than the raw single-threaded writer, faster than every peer, "
                        "peak memory over the data ≤ 1.3× raw's",
                        f"{ratio(raw, floe)} faster; {'faster' if beats else 'not faster'} than every peer; "
                        f"memory over data {_num(over, ' MiB', 0)} vs raw {_num(raw_over, ' MiB', 0)}",
                        verdict(round(raw / floe, 2) >= 1.4 and beats and mem_ok)])
    return "\n".join(out)


def sec_scan(res: Dict[str, Any], peers: List[str], targets) -> str:
    out = [f"#### 5. Scans of the bulk table ({res['rows']:,} rows, {res['reps']} repetition(s), warm page cache)", "",
           f"Full scan to Arrow; projection of `value`; filter `{res['filter']}` (0.1% of the rows). *scan* is timed in "
           "the process from opening the table to the last batch in memory; *process* is the whole process.", ""]
    for mode, S in res["modes"].items():
        order = [s for s in ["floe", "floe-1t", "raw", *peers] if s in S]
        raw = med(S.get("raw", {}).get("scan_s"))
        rows = [[f"`{s}`", cell(S[s]["scan_s"], " s", 3), ratio(med(S[s]["scan_s"]), raw),
                 cell(S[s]["process_s"], " s", 2), cell(S[s]["peak_rss_mib"], " MiB", 0)] for s in order]
        out += [f"**{mode}**", "", table(["system", "scan", "÷ raw", "process", "peak RSS"], rows), ""]
        by_reason: Dict[str, List[str]] = {}
        for s, why in res.get("skipped", {}).get(mode, {}).items():
            by_reason.setdefault(why, []).append(f"`{s}`")
        for why, names in by_reason.items():
            out += [f"{', '.join(names)}: not measured ({why}).", ""]
        bp, bv = best_peer(S, "scan_s", peers)
        for fs in ("floe", "floe-1t"):
            if fs in S and bp:
                out.append(f"- `{fs}` ÷ best peer (`{bp}`, {bv:.3f} s): **{ratio(med(S[fs]['scan_s']), bv)}**")
        out.append("")
        if "floe" in S:
            fd = med(S["floe"]["scan_s"])
            beats = bv is None or fd < bv  # bv: the best peer's scan time, above
            if mode in ("full", "project") and raw:
                targets.append([f"{mode} scan ≥ 1.6× faster than the raw single-threaded reader, faster than "
                                "every peer", f"{ratio(raw, fd)} faster; {'faster' if beats else 'not faster'} than "
                                "every peer", verdict(round(raw / fd, 2) >= 1.6 and beats)])
            elif mode == "filter":
                targets.append(["filter scan faster than every peer", "faster" if beats else "not faster",
                                verdict(beats)])
    return "\n".join(out)


def sec_small(res: Dict[str, Any], peers: List[str]) -> str:
    S = res["systems"]
    order = [s for s in ["floe", "raw", *peers] if s in S]
    rows = []
    for s in order:
        f = S[s]
        b, a = f.get("before", {}), f.get("after")
        after = cell(a["scan_s"], " s", 3) if a else "– (" + res.get("skipped", {}).get(s, "skipped") + ")"
        rows.append([f"`{s}`", str(f.get("appends", res["n"])), cell(b.get("scan_s"), " s", 3),
                     cell(b.get("process_s"), " s", 2),
                     _num(f["files_bytes"] / 2**20, " MiB", 2), _num(f.get("compact_s"), " s", 2), after])
    notes = []
    fb = S.get("floe", {}).get("before")
    if fb:
        raw = med(S.get("raw", {}).get("before", {}).get("scan_s"))
        got = [(p, med(S[p]["before"]["scan_s"])) for p in peers
               if p not in OURS and p in S and S[p].get("before")]
        line = f"floe scan ÷ raw: {ratio(med(fb['scan_s']), raw)}"
        if got:
            bp, bv = min(got, key=lambda t: t[1])
            line += f"; ÷ best peer (`{bp}`, {bv:.3f} s): **{ratio(med(fb['scan_s']), bv)}**"
        notes = [line + ".", ""]
    return "\n".join([f"#### 6. Many small files: full scan after {res['n']} single-row appends", "",
                      "`raw` = the same rows as one-row parquet files read by a single-threaded reader; its "
                      "compaction rewrites them into one file. A process stops appending once its appends have "
                      f"taken {res.get('budget_s') or '∞'} s (*appends* = rows in the table scanned).", "",
                      table(["system", "appends", "scan", "process", "table on disk", "compaction",
                             "scan after compaction"], rows), "", *notes])


def sec_python(R: Dict[str, Any], peers: List[str]) -> str:
    """floe-py (floe from Python) against the Python peers, and the Python layer's cost
    over the Rust API (the `floe` bench binary, same workloads, same run). Durable
    floe-py is set beside the Rust `floe`, relaxed floe-py (no fsync) beside the Rust
    `floe-relaxed`; each is compared with the best peer (deltalake and lance fsync
    nothing, so relaxed is the like-for-like comparison with them)."""
    rows: List[Sequence[str]] = []

    def row(what: str, S: Dict[str, Any], key: str, unit: str, digits: int, higher: bool,
            rust_sys: str = "floe", py_sys: str = "floe-py") -> None:
        if py_sys not in S:
            return
        rust, py = med(S.get(rust_sys, {}).get(key)), med(S[py_sys].get(key))
        bp, bv = best_peer(S, key, peers, higher)
        over = ratio(rust, py) if higher else ratio(py, rust)
        ahead = "–" if bp is None or py is None else (ratio(py, bv) if higher else ratio(bv, py))
        rows.append([what, _num(rust, unit, digits), cell(S[py_sys].get(key), unit, digits), over,
                     f"`{bp}` {_num(bv, unit, digits)}" if bp else "–", ahead])

    relaxed = ("floe-relaxed", "floe-py-relaxed")
    if "latency" in R:
        S = R["latency"]["systems"]
        row("single-row append p50, durable", S, "p50", " ms", 2, False)
        row("single-row append p50, relaxed (no fsync)", S, "p50", " ms", 2, False, *relaxed)
        row("single-row append CPU per append, durable", S, "cpu_ms", " ms", 3, False)
        row("single-row append CPU per append, relaxed", S, "cpu_ms", " ms", 3, False, *relaxed)
        row("single-row append p99, durable", S, "p99", " ms", 2, False)
        row("single-row append p99, relaxed", S, "p99", " ms", 2, False, *relaxed)
    if "contention" in R:
        for procs, S in R["contention"]["procs"].items():
            row(f"P = {procs} commits/s, durable", S, "commits_per_s", "", 0, True)
            row(f"P = {procs} commits/s, relaxed", S, "commits_per_s", "", 0, True, *relaxed)
            if "floe-py" in S:
                order = ["floe", "floe-py", "floe-py-relaxed", *[p for p in peers if p not in OURS]]
                fails = ", ".join(f"`{p}` {med(S[p]['failures']):.0f}" for p in order if p in S)
                rows.append([f"P = {procs} failed appends (median)", "", "", "", fails, ""])
    if "bulk" in R:
        S = R["bulk"]["systems"]
        row(f"bulk write {R['bulk']['rows']:,} rows, durable", S, "write_s", " s", 3, False)
        row("bulk write, CPU seconds (all threads)", S, "write_cpu_s", " s", 2, False)
        row("bulk peak RSS over the data", S, "rss_over_data_mib", " MiB", 0, False)
    if not rows:
        return ""
    return "\n".join([
        "#### floe from Python (`floe-py`)", "",
        "`floe-py` is the same workloads through floe's Python package (`import floe`: `create_table`, "
        "`Table.append(pyarrow.Table)`), each in its own process like the Python peers; `floe-py-relaxed` opens "
        "its tables with `durability=\"relaxed\"` (no fsync, like deltalake and lance). *Python overhead* = "
        "floe-py ÷ the Rust binary with the same durability (`floe`, or `floe-relaxed` for the relaxed rows; "
        "commits/s: Rust ÷ floe-py), so 1.00× means no cost; *ahead* = how many times better floe-py is than the "
        "best peer (> 1.00× is ahead).", "",
        table(["workload", "floe (Rust)", "floe-py", "Python overhead", "best peer", "floe-py ahead by"], rows), ""])


# --------------------------------------------------------------------------- document


def markdown(doc: Dict[str, Any], json_path: Any) -> str:
    env, R = doc["env"], doc["results"]
    peers = doc["peers"]
    v = env.get("versions", {})
    cmd = {"full": "bash bench/run.sh", "quick": "bash bench/run.sh --quick", "tiny": "bash bench/run.sh --tiny"}
    head = [
        f"Generated by `{cmd.get(doc['mode'], 'bench/run.sh')}` at {doc['stamp']} (mode **{doc['mode']}**, "
        f"{env.get('duration_s', '?')} s); raw samples in `{json_path}`.", "",
        f"- machine: {env['cpus']} CPUs ({env['cpu']}), {env['ram']} RAM, Linux {env['kernel']}",
        f"- filesystem of the tables: {env['filesystem']}; page cache warm (nothing is dropped between runs)",
        f"- load average at start {' '.join(env['load_start'])}, at end {' '.join(env.get('load_end', []))}",
        f"- floe {env['floe']} (release build, {env.get('rustc', '')}); Python {env['python']}; "
        + ", ".join(f"{k} {val}" for k, val in v.items()),
        "- every figure is the median over repetitions, with (min–max) when there was more than one; "
        "systems run in a rotated order each repetition (A B C, B C A, …)", "",
        "Who fsyncs (defaults, checked with strace):", "",
        table(["system", "fsync"], [[f"`{k}`", val] for k, val in doc["fsync"].items()
                                    if k in ("floe", "floe-relaxed", "raw", *peers)
                                    or (k == "floe-py-relaxed" and "floe-py" in peers)], "ll"), ""]
    loads = [float(x) for x in (env["load_start"][:1] + env.get("load_end", [])[:1])]
    if loads and max(loads) > (env.get("cpus") or 1):
        head[1:1] = ["", f"**The machine was busy during this run (1-minute load average up to {max(loads):.1f} on "
                     f"{env.get('cpus')} CPUs): the figures below are mostly noise; rerun on a quiet machine.**"]
    targets: List[Sequence[str]] = []
    body = []
    if "latency" in R:
        body.append(sec_latency(R["latency"], peers, targets))
    if "contention" in R:
        body.append(sec_contention(R["contention"], peers, doc["retry"], targets))
    if "history" in R:
        body.append(sec_history(R["history"], peers, targets))
    if "bulk" in R:
        body.append(sec_bulk(R["bulk"], peers, targets))
    if "scan" in R:
        body.append(sec_scan(R["scan"], peers, targets))
    if "smallfiles" in R:
        body.append(sec_small(R["smallfiles"], peers))
    if "floe-py" in peers:
        body.append(sec_python(R, peers))
    tgt = ["#### Targets for floe", "", "A miss is a finding, reported as measured.", "",
           table(["target", "floe", ""], targets, "lll") if targets else "(no target workloads ran)", ""]
    plots = [f"![commit latency and contention]({PLOT_COMMITS})", "", f"![bulk write and scans]({PLOT_DATA})", ""]
    return "\n".join(head + tgt + plots + body).rstrip() + "\n"


def write_docs(doc: Dict[str, Any], md: str, docs: Path) -> None:
    plots(doc, docs)
    path = docs / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{BEGIN}\n{md}{END}"
    if BEGIN in text and END in text:
        pre, rest = text.split(BEGIN, 1)
        post = rest.split(END, 1)[1]
        text = pre + block + post
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
    print(f"wrote {path} and {docs / PLOT_COMMITS}, {docs / PLOT_DATA}")


# --------------------------------------------------------------------------- plots

COLORS = {"floe": "#1f77b4", "floe-py": "#17becf", "floe-1enc": "#aec7e8", "floe-relaxed": "#6baed6", "floe-noretry": "#9ecae1", "floe-1t": "#6baed6",
          "raw": "#7f7f7f", "deltalake": "#ff7f0e", "lance": "#2ca02c", "pyiceberg": "#d62728",
          "datashard": "#9467bd"}


def _bars(ax, names, figs, unit):
    import numpy as np

    xs = np.arange(len(names))
    meds = [f["median"] for f in figs]
    lo = [f["median"] - f["min"] for f in figs]
    hi = [f["max"] - f["median"] for f in figs]
    ax.bar(xs, meds, color=[COLORS.get(n, "#333") for n in names], yerr=[lo, hi], capsize=3)
    ax.set_xticks(xs, names, rotation=30, ha="right")
    ax.set_ylabel(unit)


def plots(doc: Dict[str, Any], docs: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    R, peers = doc["results"], doc["peers"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    if "latency" in R:
        S = R["latency"]["systems"]
        names = [s for s in ["floe", "floe-relaxed", "raw", *peers] if s in S]
        _bars(axes[0], names, [S[s]["p50"] for s in names], "ms (log scale)")
        axes[0].set_yscale("log")
        axes[0].set_title(f"single-row append p50 ({R['latency']['n']} appends)")
    if "contention" in R:
        C = R["contention"]["procs"]
        ps = sorted(C, key=int)
        for s in ["floe", "floe-noretry", "raw", *peers]:
            if all(s in C[p] for p in ps):
                axes[1].plot([int(p) for p in ps], [C[p][s]["commits_per_s"]["median"] for p in ps], marker="o",
                             label=s, color=COLORS.get(s))
        axes[1].set_xscale("log", base=2)
        axes[1].set_xticks([int(p) for p in ps], ps)
        axes[1].minorticks_off()
        axes[1].set_yscale("log")
        axes[1].set_xlabel("processes")
        axes[1].set_ylabel("successful commits/s (log scale)")
        axes[1].set_title(f"contention: P × {R['contention']['n']} single-row appends")
        axes[1].legend(fontsize=8)
    fig.suptitle(f"floe vs peers, {doc['mode']} run {doc['stamp']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(docs / PLOT_COMMITS, dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 4, figsize=(15, 4.2))
    panels = []
    if "bulk" in R:
        panels.append(("bulk write", R["bulk"]["systems"], "write_s", ["floe", "floe-1enc", "raw", *peers]))
    if "scan" in R:
        for mode in ("full", "project", "filter"):
            if mode in R["scan"]["modes"]:
                panels.append((f"{mode} scan", R["scan"]["modes"][mode], "scan_s",
                               ["floe", "floe-1t", "raw", *peers]))
    for ax, (title, S, key, order) in zip(axes, panels):
        names = [s for s in order if s in S]
        _bars(ax, names, [S[s][key] for s in names], "s")
        ax.set_title(title)
    for ax in axes[len(panels):]:
        ax.axis("off")
    rows = R.get("bulk", R.get("scan", {})).get("rows", "?")
    fig.suptitle(f"{rows:,} rows (median, min–max bars), {doc['mode']} run {doc['stamp']}"
                 if isinstance(rows, int) else doc["stamp"], fontsize=9)
    fig.tight_layout()
    fig.savefig(docs / PLOT_DATA, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    src = Path(sys.argv[1])
    d = json.loads(src.read_text())
    text = markdown(d, src)
    print(text)
    if "--write" in sys.argv[2:]:
        write_docs(d, text, Path(__file__).resolve().parent.parent / "docs")
