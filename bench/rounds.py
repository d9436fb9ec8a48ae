#!/usr/bin/env python3
"""Medians over rounds of attune-then-PyTorch comparisons (bench/device_run.sh with ROUNDS=N).

On a shared machine one pass of attune_bench followed by compare_torch.py can time attune in a
slow moment and PyTorch in a fast one (or the reverse). Rounds of both, one right after the other,
and the median of the per-round ratios are steadier. Reads compare_torch.py's --json files.

    python3 bench/rounds.py OUT/compare_r1.json OUT/compare_r2.json ... [--markdown FILE]
"""
import argparse
import json
import statistics


def num(x):
    """Three significant digits without an exponent: 1481, 21.3, 5.23."""
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("compare_json", nargs="+", help="compare_torch.py --json outputs, one per round")
    ap.add_argument("--markdown", metavar="FILE", help="also write the table to FILE")
    args = ap.parse_args(argv)
    rows = {}
    for path in args.compare_json:
        with open(path) as f:
            for r in json.load(f)["rows"]:
                if r.get("attune") and r.get("pytorch"):
                    rows.setdefault((r["case"], r["threads"], r["unit"]), []).append((r["attune"], r["pytorch"]))
    lines = ["| case | threads | rounds | attune (median, range) | PyTorch (median, range) | median of attune ÷ PyTorch (range) |",
             "|---|---|---|---|---|---|"]
    for (case, threads, unit), v in rows.items():
        a = [x for x, _ in v]
        t = [y for _, y in v]
        ratio = [x / y for x, y in v]
        lines.append(f"| {case} | {threads} | {len(v)} | {num(statistics.median(a))} {unit} ({num(min(a))}–{num(max(a))}) | "
                     f"{num(statistics.median(t))} ({num(min(t))}–{num(max(t))}) | "
                     f"**{statistics.median(ratio):.2f}×** ({min(ratio):.2f}–{max(ratio):.2f}) |")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
