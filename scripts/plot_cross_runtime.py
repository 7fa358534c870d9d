#!/usr/bin/env python3
"""Draw the cross-runtime benchmark from criterion's data, with the standard library only.

Reads target/criterion/{cross_runtime,chunking}/<series>/<subscribers>/new/estimates.json
(written by `cargo bench --bench cross_runtime --all-features`), writes
benches/results/cross_runtime.svg and benches/results/cross_runtime.md, and prints the
Markdown tables.

Usage: python3 scripts/plot_cross_runtime.py [--criterion DIR] [--out DIR]
"""

import argparse
import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIMES = [
    ("tokio_multi_thread", "tokio multi-thread (2 workers)", "#1f77b4"),
    ("tokio_current_thread", "tokio current-thread", "#2ca02c"),
    ("smol", "smol (2 threads)", "#d62728"),
    ("no_runtime", "no runtime (baseline)", "#7f7f7f"),
]
CHUNKING = [("inline", "dispatcher alone"), ("split", "split across workers")]


def load(criterion: Path, group: str) -> dict:
    """{series: {subscribers: median ns}} for one benchmark group."""
    found: dict = {}
    for estimates in sorted((criterion / group).glob("*/*/new/estimates.json")):
        subscribers_dir = estimates.parent.parent
        series = subscribers_dir.parent.name
        try:
            subscribers = int(subscribers_dir.name)
        except ValueError:
            continue
        data = json.loads(estimates.read_text())
        found.setdefault(series, {})[subscribers] = data["median"]["point_estimate"]
    return found


def human(ns: float) -> str:
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def cross_table(data: dict) -> str:
    sizes = sorted({n for series in data.values() for n in series})
    header = ["subscribers"] + [label for key, label, _ in RUNTIMES if key in data]
    header.append("smol / tokio multi-thread")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for n in sizes:
        row = [f"{n:,}"]
        for key, _, _ in RUNTIMES:
            if key in data:
                value = data[key].get(n)
                row.append(human(value) if value is not None else "–")
        smol, tokio = data.get("smol", {}).get(n), data.get("tokio_multi_thread", {}).get(n)
        row.append(f"{smol / tokio:.2f}" if smol and tokio else "–")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def chunking_table(data: dict) -> str:
    sizes = sorted({n for series in data.values() for n in series})
    lines = [
        "| subscribers | " + " | ".join(label for _, label in CHUNKING) + " | split / alone |",
        "|---|---|---|---|",
    ]
    for n in sizes:
        inline, split = data.get("inline", {}).get(n), data.get("split", {}).get(n)
        ratio = f"{split / inline:.2f}" if inline and split else "–"
        cells = [human(v) if v else "–" for v in (inline, split)]
        lines.append(f"| {n:,} | {cells[0]} | {cells[1]} | {ratio} |")
    return "\n".join(lines)


def svg(data: dict) -> str:
    width, height = 720, 460
    left, right, top, bottom = 80, 230, 40, 60
    points = [(n, v) for series in data.values() for n, v in series.items()]
    if not points:
        raise SystemExit("no criterion data: run `cargo bench --bench cross_runtime --all-features` first")
    xs = [math.log10(max(n, 1)) for n, _ in points]
    ys = [math.log10(v) for _, v in points]
    x0, x1 = math.floor(min(xs)), math.ceil(max(xs))
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys))
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)

    def px(n: float) -> float:
        return left + (math.log10(max(n, 1)) - x0) / (x1 - x0) * (width - left - right)

    def py(v: float) -> float:
        return top + (y1 - math.log10(v)) / (y1 - y0) * (height - top - bottom)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="15">publish → every consumer task has its frame '
        "(median per event, log-log, 2 cores)</text>",
    ]
    for e in range(x0, x1 + 1):
        x = px(10**e)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{height - bottom + 18}" text-anchor="middle">{10**e:,}</text>')
    for e in range(y0, y1 + 1):
        y = py(10**e)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{human(10**e)}</text>')
    out.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 15}" text-anchor="middle">subscribers</text>'
    )
    for index, (key, label, color) in enumerate(RUNTIMES):
        series = sorted(data.get(key, {}).items())
        if not series:
            continue
        path = " ".join(f"{px(n):.1f},{py(v):.1f}" for n, v in series)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for n, v in series:
            out.append(f'<circle cx="{px(n):.1f}" cy="{py(v):.1f}" r="3" fill="{color}"/>')
        ly = top + 20 + index * 20
        lx = width - right + 15
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 20}" y2="{ly}" stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{lx + 26}" y="{ly + 4}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--criterion", type=Path, default=ROOT / "target" / "criterion")
    parser.add_argument("--out", type=Path, default=ROOT / "benches" / "results")
    args = parser.parse_args()
    cross = load(args.criterion, "cross_runtime")
    chunking = load(args.criterion, "chunking")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cross_runtime.svg").write_text(svg(cross))
    report = (
        "### publish → every consumer task has its frame (median per event)\n\n"
        + cross_table(cross)
        + "\n\n### chunked fan-out, tokio multi-thread (2 workers)\n\n"
        + chunking_table(chunking)
        + "\n"
    )
    (args.out / "cross_runtime.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
