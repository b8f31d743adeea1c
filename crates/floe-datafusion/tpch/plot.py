"""Plots the TPC-H bench's table (the text `cargo bench -p floe-datafusion --bench tpch`
prints) as an SVG bar chart: per query, DataFusion over floe tables, over the same
files as raw listing tables, and DuckDB's iceberg_scan. Standard library only.

Usage: python plot.py BENCH_OUTPUT.txt OUT.svg
"""

import sys


def parse(text):
    rows, title = [], ""
    for line in text.splitlines():
        if line.startswith("TPC-H SF"):
            title = line.strip()
        parts = line.split()
        if len(parts) >= 7 and parts[0].isdigit():
            duck = None if parts[4] == "-" else float(parts[4])
            rows.append((int(parts[0]), float(parts[1]), float(parts[2]), duck))
    return title, rows


def svg(title, rows):
    w, h, left, bottom, top = 1000, 420, 60, 40, 40
    plot_w, plot_h = w - left - 20, h - bottom - top
    peak = max(max(r[1], r[2], r[3] or 0) for r in rows)
    slot = plot_w / len(rows)
    bar = slot / 4
    colors = (("floe tables", "#1f77b4"), ("same files, raw listing", "#ff7f0e"), ("DuckDB iceberg_scan", "#2ca02c"))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">']
    out.append(f'<rect width="{w}" height="{h}" fill="white"/>')
    out.append(f'<text x="{left}" y="18" font-size="13">{title}: median ms per query (lower is better)</text>')
    for k in range(5):
        v = peak * k / 4
        y = top + plot_h - plot_h * k / 4
        out.append(f'<line x1="{left}" x2="{w - 20}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:.0f}</text>')
    for i, (q, floe, raw, duck) in enumerate(rows):
        x0 = left + i * slot + bar / 2
        for j, v in enumerate((floe, raw, duck)):
            if v is None:
                continue
            bh = plot_h * v / peak
            out.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{top + plot_h - bh:.1f}" width="{bar:.1f}" height="{bh:.1f}" '
                f'fill="{colors[j][1]}"><title>Q{q} {colors[j][0]}: {v:.1f} ms</title></rect>'
            )
        out.append(f'<text x="{x0 + 1.5 * bar:.1f}" y="{h - bottom + 14}" text-anchor="middle">Q{q}</text>')
    for j, (name, color) in enumerate(colors):
        x = left + 10 + j * 220
        out.append(f'<rect x="{x}" y="{h - 16}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{x + 14}" y="{h - 7}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    with open(sys.argv[1]) as f:
        title, rows = parse(f.read())
    if not rows:
        sys.exit("no query rows in the bench output")
    with open(sys.argv[2], "w") as f:
        f.write(svg(title, rows))


if __name__ == "__main__":
    main()
