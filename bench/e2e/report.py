#!/usr/bin/env python3
"""Turn the load generator's JSON lines into bench/results/e2e.md and e2e.svg (stdlib only).

Usage: python3 bench/e2e/report.py [--jsonl FILE] [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SERVERS = [
    ("subcast-tokio", "subcast, Rust endpoint (axum, tokio)", "#1f77b4"),
    ("subcast-tokio-rb128k", "subcast, Rust endpoint, 128 KiB read buffer", "#17becf"),
    ("subcast-smol", "subcast, Rust endpoint (async-tungstenite, smol)", "#9467bd"),
    ("async-graphql", "async-graphql 7 (axum)", "#ff7f0e"),
    ("subcast-asgi", "subcast, ASGI endpoint (uvicorn)", "#2ca02c"),
    ("strawberry", "Strawberry + broadcaster (uvicorn)", "#d62728"),
]
LABELS = {key: label for key, label, _ in SERVERS}
P99_LIMIT_US = 100_000


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def best(run: dict) -> dict | None:
    """The highest-rate sustained step (≥ 95 % of frames, p99 ≤ 100 ms)."""
    sustained = [s for s in run.get("steps", []) if s["sustained"]]
    return max(sustained, key=lambda s: s["delivered_frames_per_s"]) if sustained else None


def first_failed(run: dict) -> dict | None:
    failed = [s for s in run.get("steps", []) if not s["sustained"]]
    return failed[0] if failed else None


def rate(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e3:
        return f"{value / 1e3:.1f} k"
    return f"{value:.0f}"


def ms(micros: float | None) -> str:
    return "–" if micros is None else f"{micros / 1000:.2f}"


def size(n: int) -> str:
    return f"{n // 1024} KB" if n >= 1024 else f"{n} B"


def kib(n: float | None) -> str:
    return "–" if n is None else f"{n / 1024:.1f}"


def writes_per_frame(run: dict) -> str:
    writes = run.get("socket_writes")
    frames = sum(s["received_frames"] for s in run.get("steps", []))
    if not writes or not frames:
        return "–"
    calls = sum(v for k, v in writes.items() if k in {"write", "writev", "sendto", "sendmsg", "sendmmsg"})
    return f"{calls / frames:.2f}"


def table(runs: list[dict]) -> str:
    header = [
        "server",
        "workload",
        "conns × subs",
        "event",
        "highest sustained frames/s",
        "p50 / p99 there (ms)",
        "next step: frames/s, p99 (ms)",
        "p50 at the lowest rate (ms)",
        "server RSS / conn (KB)",
        "server CPU / frame (ns), sustained step or else lowest",
        "generator CPU / frame (ns)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    order = {key: i for i, (key, _, _) in enumerate(SERVERS)}
    runs = sorted(
        runs,
        key=lambda r: (r["workload"], r["connections"], r["subs"], r["size"], order.get(r["server"], 9)),
    )
    for run in runs:
        if run["kind"] == "failed":
            lines.append(
                f"| {run['server']} | {run['workload']} | {run['connections']:,} × {run['subs']} | "
                f"{size(run['size'])} | failed (see the log) | | | | | | |"
            )
            continue
        top, failed = best(run), first_failed(run)
        steps = run["steps"]
        lowest = steps[0] if steps else None
        next_step = f"{rate(failed['delivered_frames_per_s'])}, {ms(failed['p99_us'])}" if failed else "(none failed)"
        cpu = (top or lowest or {}).get("cpu_ns_per_frame")
        client_cpu = (top or lowest or {}).get("client_cpu_ns_per_frame")
        lines.append(
            "| "
            + " | ".join(
                [
                    run["server"],
                    run["workload"],
                    f"{run['connections']:,} × {run['subs']}",
                    size(run["size"]),
                    rate(top["delivered_frames_per_s"]) if top else "none",
                    f"{ms(top['p50_us'])} / {ms(top['p99_us'])}" if top else "–",
                    next_step,
                    ms(lowest["p50_us"]) if lowest else "–",
                    kib(run.get("rss_per_connection_bytes")),
                    f"{cpu:,.0f}" if cpu is not None else "–",
                    f"{client_cpu:,.0f}" if client_cpu is not None else "–",
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def find(runs: list[dict], server: str, workload: str, connections: int, subs: int = 1, event: int = 150):
    for run in runs:
        if (
            run["kind"] == "run"
            and run["server"] == server
            and run["workload"] == workload
            and run["connections"] == connections
            and run["subs"] == subs
            and run["size"] == event
            and not run.get("socket_writes")
        ):
            return run
    return None


def top_rate(run: dict | None) -> float | None:
    step = best(run) if run else None
    return step["delivered_frames_per_s"] if step else None


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.1f}×" if a and b else "–"


def lowest_step(run: dict | None) -> str:
    """When neither sustained a step: what the lowest rate measured."""
    if not run or not run.get("steps"):
        return "not run"
    step = run["steps"][0]
    cpu = step.get("cpu_ns_per_frame")
    cpu_text = f", server CPU {cpu:,.0f} ns/frame" if cpu is not None else ""
    return f"p50 {ms(step['p50_us'])} / p99 {ms(step['p99_us'])} ms at {rate(step['target_frames_per_s'])} frames/s{cpu_text}"


def compare(ours: dict | None, peer: dict | None) -> str:
    a, b = top_rate(ours), top_rate(peer)
    text = f"{rate(a)} vs {rate(b)}: {ratio(a, b)}"
    if not a or not b:
        text += f" (none sustained by one of them; lowest step: ours {lowest_step(ours)}; peer {lowest_step(peer)})"
    return text


def goals(runs: list[dict], echo: dict | None) -> str:
    out = []
    for variant in ("subcast-tokio", "subcast-smol", "subcast-tokio-rb128k"):
        out.extend(rust_goals(runs, echo, variant))
    out.extend(python_goals(runs))
    return "| goal | this run |\n|---|---|\n" + "\n".join(out)


def rust_goals(runs: list[dict], echo: dict | None, variant: str) -> list[str]:
    out = []
    name = LABELS[variant]
    conns = max((r["connections"] for r in runs if r["kind"] == "run" and r["server"] == variant), default=1000)
    ours = find(runs, variant, "broadcast", conns)
    peer = find(runs, "async-graphql", "broadcast", conns)
    ours_mem = ours.get("rss_per_connection_bytes") if ours else None
    peer_mem = peer.get("rss_per_connection_bytes") if peer else None
    mem = f"{ours_mem / peer_mem:.2f}" if ours_mem and peer_mem else "–"
    out.append(
        f"| {name}: ≥ 5× async-graphql's sustained frames/s at {conns:,} connections (broadcast) "
        f"| {compare(ours, peer)} |"
    )
    out.append(
        f"| … with ≤ ¼ of its memory per connection | {kib(ours_mem)} KB vs {kib(peer_mem)} KB: {mem} of it |"
    )
    ours_pu, peer_pu = find(runs, variant, "per-user", conns), find(runs, "async-graphql", "per-user", conns)
    out.append(
        f"| per-user channels: events/s ≥ 5× async-graphql's ({conns:,} connections) "
        f"| {compare(ours_pu, peer_pu)} |"
    )
    big = find(runs, variant, "broadcast", 10000)
    step = best(big) if big else None
    if step:
        out.append(
            f"| ≥ 1 M frames/s to 10,000 connections, p99 < 50 ms, ≤ 10 KB per connection "
            f"| {rate(step['delivered_frames_per_s'])} frames/s at p99 {ms(step['p99_us'])} ms, "
            f"{kib(big.get('rss_per_connection_bytes'))} KB per connection |"
        )
    else:
        out.append(
            "| ≥ 1 M frames/s to 10,000 connections, p99 < 50 ms, ≤ 10 KB per connection "
            f"| no step sustained: {lowest_step(big)}"
            + (f", {kib(big.get('rss_per_connection_bytes'))} KB per connection |" if big else " |")
        )
    one = ours_pu["steps"][0] if ours_pu and ours_pu["steps"] else None
    if one and echo:
        out.append(
            f"| p50 publish → client at one subscriber within 2× of a bare WebSocket echo "
            f"| {ms(one['p50_us'])} ms vs echo {ms(echo['p50_us'])} ms: {one['p50_us'] / max(echo['p50_us'], 1):.1f}× |"
        )
    return out


def python_goals(runs: list[dict]) -> list[str]:
    out = []
    asgi, straw = find(runs, "subcast-asgi", "broadcast", 1000), find(runs, "strawberry", "broadcast", 1000)
    out.append(
        f"| ASGI endpoint ≥ 10× Strawberry + broadcaster's frames/s at 1,000 connections "
        f"| {compare(asgi, straw)} |"
    )
    asgi_pu, straw_pu = find(runs, "subcast-asgi", "per-user", 1000), find(runs, "strawberry", "per-user", 1000)
    out.append(
        f"| (ASGI, per-user channels, 1,000 connections) "
        f"| {compare(asgi_pu, straw_pu)} |"
    )
    for server, _, _ in SERVERS:
        traced = next(
            (r for r in runs if r["kind"] == "run" and r["server"] == server and r.get("socket_writes")), None
        )
        if traced:
            calls = ", ".join(f"{k} {v:,}" for k, v in traced["socket_writes"].items())
            out.append(
                f"| socket writes per connection per event, {server} (≤ 1 wanted) "
                f"| {writes_per_frame(traced)} ({calls} for "
                f"{sum(s['received_frames'] for s in traced['steps']):,} frames) |"
            )
    return out


def svg(runs: list[dict]) -> str:
    """p99 against delivered frames/s per server: broadcast (left), per-user (right)."""
    panels = []
    for workload in ("broadcast", "per-user"):
        # The connection count with the most rate steps draws the most telling curves.
        counts = {r["connections"] for r in runs if r["kind"] == "run" and r["workload"] == workload}
        conns = max(
            counts or {1000},
            key=lambda n: sum(
                len(r["steps"])
                for r in runs
                if r["kind"] == "run" and r["workload"] == workload and r["connections"] == n and r["subs"] == 1
            ),
        )
        series = {}
        for key, _, _ in SERVERS:
            run = find(runs, key, workload, conns) or find(runs, key, workload, 1000)
            if run:
                series[key] = (run["connections"], [(s["delivered_frames_per_s"], s["p99_us"]) for s in run["steps"]])
        panels.append((workload, series))
    width, height, panel_w = 980, 470, 400
    top, bottom, left = 50, 90, 70
    points = [p for _, series in panels for _, pts in series.values() for p in pts if p[0] > 0 and p[1] > 0]
    if not points:
        raise SystemExit("no steps to plot")
    x0 = math.floor(math.log10(min(p[0] for p in points)))
    x1 = math.ceil(math.log10(max(p[0] for p in points)))
    y0 = math.floor(math.log10(min(p[1] for p in points)))
    y1 = max(math.ceil(math.log10(max(p[1] for p in points))), 6)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        '<text x="20" y="22" font-size="15">p99 publish → client-received against delivered frames/s '
        "(150 B events, one subscription per connection, loopback, 2 cores, log-log)</text>",
    ]
    for index, (workload, series) in enumerate(panels):
        ox = left + index * (panel_w + left)

        def px(v: float) -> float:
            return ox + (math.log10(v) - x0) / (x1 - x0) * panel_w

        def py(v: float) -> float:
            return top + (y1 - math.log10(v)) / (y1 - y0) * (height - top - bottom)

        conns = next(iter(series.values()))[0] if series else 0
        out.append(
            f'<text x="{ox + panel_w / 2}" y="{top - 10}" text-anchor="middle">{workload}, '
            f"{conns:,} connections</text>"
        )
        for e in range(x0, x1 + 1):
            x = px(10**e)
            out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" stroke="#ddd"/>')
            out.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">{rate(10**e)}</text>')
        for e in range(y0, y1 + 1):
            y = py(10**e)
            out.append(f'<line x1="{ox}" y1="{y:.1f}" x2="{ox + panel_w}" y2="{y:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{ox - 6}" y="{y + 4:.1f}" text-anchor="end">{ms(10**e)} ms</text>')
        limit = py(P99_LIMIT_US)
        out.append(
            f'<line x1="{ox}" y1="{limit:.1f}" x2="{ox + panel_w}" y2="{limit:.1f}" stroke="#999" '
            'stroke-dasharray="4 3"/>'
        )
        out.append(f'<text x="{ox + panel_w - 4}" y="{limit - 4:.1f}" text-anchor="end" fill="#666">100 ms</text>')
        out.append(
            f'<text x="{ox + panel_w / 2}" y="{height - bottom + 34}" text-anchor="middle">delivered frames/s</text>'
        )
        for key, _, color in SERVERS:
            if key not in series:
                continue
            pts = [p for p in series[key][1] if p[0] > 0 and p[1] > 0]
            if not pts:
                continue
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
            for x, y in pts:
                out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
    for index, (key, label, color) in enumerate(SERVERS):
        lx, ly = 10 + (index % 3) * 320, height - 26 + (index // 3) * 16
        out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 18}" y2="{ly - 4}" stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{lx + 22}" y="{ly}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def machine() -> str:
    try:
        load = os.getloadavg()
        loadavg = f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end"
    except OSError:
        loadavg = ""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    return f"{os.cpu_count()} cores, commit {commit}, {loadavg}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jsonl", type=Path, default=ROOT / "bench" / "results" / "e2e.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    records = load(args.jsonl)
    runs = [r for r in records if r["kind"] in ("run", "failed")]
    echo = next((r for r in records if r["kind"] == "echo"), None)
    measured = [r for r in runs if not r.get("socket_writes")]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "e2e.svg").write_text(svg(measured))
    echo_line = (
        f"Bare WebSocket echo (tokio-tungstenite, one client, 150 B, 200 messages/s): "
        f"p50 {ms(echo['p50_us'])} ms, p99 {ms(echo['p99_us'])} ms round trip.\n\n"
        if echo
        else ""
    )
    report = (
        f"### End to end over WebSockets{' (--quick)' if args.quick else ''}\n\n"
        f"`scripts/bench-e2e{' --quick' if args.quick else ''}` on {machine()}. The generator, the server "
        "and other work share the 2 cores: read ratios, not absolutes. A step is sustained when the "
        "publisher kept up with its rate, ≥ 95 % of the frames of what it sent arrive, and p99 ≤ 100 ms; latency is publish (the generator stamps the event, "
        "then POSTs it) → a client holds the frame. RSS per connection: server VmRSS after "
        "connecting and one warm-up event, minus before, over connections. CPU per frame: "
        "server utime + stime over the step / frames delivered (the generator's own likewise: "
        "where it nears the server's, the clients are part of the bound).\n\n"
        + echo_line
        + table(measured)
        + "\n\n"
        + goals(runs, echo)
        + "\n"
    )
    (args.out / "e2e.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
