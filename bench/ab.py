#!/usr/bin/env python3
"""Per-row medians over rounds of time(A) / time(B) from bench/ab_run.sh's JSON (> 1: B faster)."""
import json
import statistics
import sys


def times(path):
    rows = {}
    for b in json.load(open(path))["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        rows[b["run_name"] if "run_name" in b else b["name"]] = b["real_time"]
    return rows


def main():
    out, rounds = sys.argv[1], int(sys.argv[2])
    a = [times(f"{out}/a_r{i}.json") for i in range(1, rounds + 1)]
    b = [times(f"{out}/b_r{i}.json") for i in range(1, rounds + 1)]
    print(f"| row | A median | B median | A/B per round (median, min–max) |")
    print("|---|---|---|---|")
    for name in a[0]:
        ratios = [ra[name] / rb[name] for ra, rb in zip(a, b) if name in ra and name in rb]
        ta = statistics.median(r[name] for r in a)
        tb = statistics.median(r[name] for r in b if name in r)
        print(f"| {name} | {ta:.4g} | {tb:.4g} | **{statistics.median(ratios):.3f}** ({min(ratios):.3f}–{max(ratios):.3f}) |")


if __name__ == "__main__":
    main()
