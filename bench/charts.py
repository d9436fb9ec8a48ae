#!/usr/bin/env python3
"""PNG charts of attune_bench's results: throughput against sequence length per kernel family,
attune against PyTorch (when compare_torch.py's JSON is given) and the peak measured in the run.

    build/bench/attune_bench --benchmark_format=json > bench.json
    python3 bench/compare_torch.py bench.json --json compare.json     # optional: PyTorch's side
    python3 bench/charts.py bench.json [--torch compare.json] [--out docs/images] [--threads 1,16]

Needs matplotlib (PyPI): `python3 -m pip install matplotlib`, or in a virtual environment:
`python3 -m venv /tmp/venv && /tmp/venv/bin/pip install matplotlib`, then run the script with
/tmp/venv/bin/python3 (Debian's python3-matplotlib package works too).

One PNG per row family that has rows at two or more lengths (L: for prefill and linear rows, Lk:
for decode): prefill.png and linear.png in GFLOP/s with the peak/fma_fp32 line, decode.png in GB/s
with the peak/read line; one panel per thread count. A series is every row name that differs only
in its length (e.g. prefill/causal/D:128); variant rows (mod:, family:, router:) are single shapes
and are left out. PyTorch's figures, from compare_torch.py --json, are drawn dashed in the colour
of the attune series they were measured against.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_torch import load_rows, case_label, is_variant_row  # noqa: E402  (same JSON reading)

LENGTH_KEYS = ("L", "Lk")


def series_key(row):
    """(kind, series label, length) for a row with a length in its name, else None."""
    key = next((k for k in LENGTH_KEYS if k in row["keys"]), None)
    if key is None or is_variant_row(row):
        return None
    parts = [p for p in case_label(row).split("/") if p.split(":", 1)[0] != key]
    return row["kind"], "/".join(parts[1:]), int(row["keys"][key]), key


def metric(kind, row):
    """(value, unit) of a row: decode in GB/s, everything else in GFLOP/s (GB/s when no FLOPs)."""
    if kind == "decode" or not row["flops"]:
        return row["bytes"] / 1e9, "GB/s"
    return row["flops"] / 1e9, "GFLOP/s"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bench_json", help="attune_bench --benchmark_format=json output")
    ap.add_argument("--torch", metavar="JSON", help="compare_torch.py --json output (PyTorch's series)")
    ap.add_argument("--out", default="docs/images", help="directory for the PNGs (default docs/images)")
    ap.add_argument("--threads", default="", help="comma-separated thread counts to draw (default: all in the JSON)")
    ap.add_argument("--title", default="", help="machine name for the chart titles (default: the JSON's host name)")
    args = ap.parse_args(argv)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    context, rows = load_rows(args.bench_json)
    want_threads = {int(t) for t in args.threads.split(",") if t.strip()}
    peak = {"GFLOP/s": {}, "GB/s": {}}
    for r in rows:
        if r["kind"] == "peak" and "fma_fp32" in r["flags"]:
            peak["GFLOP/s"][r["threads"]] = r["flops"] / 1e9
        if r["kind"] == "peak" and "read" in r["flags"]:
            peak["GB/s"][r["threads"]] = r["bytes"] / 1e9

    torch = {}  # (case label, threads) -> PyTorch's rate
    if args.torch:
        with open(args.torch) as f:
            for t in json.load(f).get("rows", []):
                if t.get("pytorch") is not None:
                    torch[(t["case"], int(t["threads"]))] = float(t["pytorch"])

    # kind -> threads -> series label -> [(length, attune, pytorch or None)]
    figures, units = {}, {}
    for r in rows:
        k = series_key(r)
        if k is None or (want_threads and r["threads"] not in want_threads):
            continue
        kind, label, length, _ = k
        value, unit = metric(kind, r)
        units[kind] = unit
        figures.setdefault(kind, {}).setdefault(r["threads"], {}).setdefault(label, []).append(
            (length, value, torch.get((case_label(r), r["threads"]))))

    os.makedirs(args.out, exist_ok=True)
    machine = args.title or context.get("host_name", "")
    written = []
    for kind, by_threads in sorted(figures.items()):
        panels = {t: {s: sorted(p) for s, p in ser.items() if len(p) >= 2} for t, ser in by_threads.items()}
        panels = {t: ser for t, ser in panels.items() if ser}
        if not panels:
            continue
        unit = units[kind]
        fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.6), squeeze=False)
        for ax, (threads, ser) in zip(axes[0], sorted(panels.items())):
            colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
            for i, (label, points) in enumerate(sorted(ser.items())):
                c = colours[i % len(colours)]
                xs = [p[0] for p in points]
                ax.plot(xs, [p[1] for p in points], "o-", color=c, label=f"attune {label}")
                tp = [(p[0], p[2]) for p in points if p[2] is not None]
                if tp:
                    ax.plot([p[0] for p in tp], [p[1] for p in tp], "s--", color=c, alpha=0.8, label=f"PyTorch {label}")
            if threads in peak[unit]:
                ax.axhline(peak[unit][threads], color="black", linestyle=":",
                           label=f"measured peak ({'FMA' if unit == 'GFLOP/s' else 'read'}) {peak[unit][threads]:.0f} {unit}")
            ax.set_xscale("log", base=2)
            lengths = sorted({p[0] for points in ser.values() for p in points})
            ax.set_xticks(lengths)
            ax.set_xticklabels([str(x) for x in lengths])
            ax.minorticks_off()
            ax.set_xlabel("sequence length" + (" of the KV cache (Lk)" if kind == "decode" else " (L)"))
            ax.set_ylabel(unit)
            ax.set_ylim(bottom=0)
            ax.set_title(f"{kind}, {threads} thread{'s' if threads != 1 else ''}" + (f" — {machine}" if machine else ""))
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        path = os.path.join(args.out, f"{kind}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
        print(f"wrote {path}")
    if not written:
        print("no row family with two or more lengths in the JSON: nothing drawn", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
