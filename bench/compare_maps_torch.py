#!/usr/bin/env python3
"""attune_bench's maps/cross/* rows beside PyTorch doing the same work the way users do it there.

    ./attune_bench --benchmark_filter='^maps/' --benchmark_out=maps.json --benchmark_out_format=json
    python3 bench/compare_maps_torch.py maps.json [--markdown maps.md]

Shape of every row (bench/rows/maps_bench.cpp): B 1, H 8, Lq 4096, Lk 77, D 64, fp32, no mask —
Stable Diffusion's 64×64 latent over CLIP's 77 text tokens. PyTorch, per row:
  plain      scaled_dot_product_attention
  map_mean   eager attention, the weights kept (what output_attentions=True does in transformers:
             SDPA returns no weights), then their mean over the heads
  map_head   SDPA for the output, plus head 0's weights computed eagerly
  key_bias   SDPA with a float attn_mask adding ln 5 to keys 4–6 (PASTA's steering)
  blend      eager attention, P' = (1 − α)P + αM with α 0.5, out = P'V
Each is checked first against a float64 computation of the same formula on the same inputs, and
timed as the median of several runs after a warm-up at attune's thread count; the ratio is
PyTorch's time over attune's.
"""
import argparse
import json
import math
import statistics
import sys
import time

H, LQ, LK, D = 8, 4096, 77, 64
UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def torch_rows(torch):
    F = torch.nn.functional
    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, H, LQ, D, generator=g)
    k = torch.randn(1, H, LK, D, generator=g)
    v = torch.randn(1, H, LK, D, generator=g)
    m = torch.full((LQ, LK), 1.0 / LK)
    bias = torch.zeros(LK)
    bias[4:7] = math.log(5.0)
    s = 1.0 / math.sqrt(D)

    def eager(qq, kk, vv):
        p = torch.softmax((qq @ kk.transpose(-1, -2)) * s, dim=-1)
        return p, p @ vv

    rows = {
        "plain": lambda: F.scaled_dot_product_attention(q, k, v),
        "map_mean": lambda: (lambda p_o: (p_o[0].mean(dim=1), p_o[1]))(eager(q, k, v)),
        "map_head": lambda: (F.scaled_dot_product_attention(q, k, v),
                             torch.softmax((q[:, :1] @ k[:, :1].transpose(-1, -2)) * s, dim=-1)),
        "key_bias": lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=bias.view(1, LK)),
        "blend": lambda: (lambda p_o: (0.5 * p_o[0] + 0.5 * m) @ v)(eager(q, k, v)),
    }

    # Each formula against float64 on the same inputs.
    qd, kd, vd, md, bd = q.double(), k.double(), v.double(), m.double(), bias.double()
    pd = torch.softmax((qd @ kd.transpose(-1, -2)) * s, dim=-1)
    od = pd @ vd
    pbd = torch.softmax((qd @ kd.transpose(-1, -2)) * s + bd, dim=-1)
    want = {"plain": od, "map_mean": pd.mean(dim=1), "map_head": pd[:, :1], "key_bias": pbd @ vd,
            "blend": (0.5 * pd + 0.5 * md) @ vd}
    for name, fn in rows.items():
        got = fn()
        if name == "map_mean":
            got = got[0]
        elif name == "map_head":
            got = got[1]
        err = (got.double() - want[name]).abs().max().item()
        if not err < 1e-4:
            sys.exit(f"compare_maps_torch: PyTorch's {name} is off float64 by {err}")
    return rows


def median_seconds(fn, reps=15):
    for _ in range(3):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json")
    ap.add_argument("--markdown")
    a = ap.parse_args()
    data = json.load(open(a.json))
    import torch
    rows = torch_rows(torch)
    lines = ["| row | threads | attune ms | PyTorch ms | attune / PyTorch speed |", "|---|---|---|---|---|"]
    for b in data["benchmarks"]:
        name = b["name"]
        if not name.startswith("maps/cross/") or b.get("run_type", "iteration") != "iteration":
            continue
        kind = name.split("/")[2]
        threads = int(name.split("threads:")[1].split("/")[0]) if "threads:" in name else 1
        torch.set_num_threads(threads)
        ours = b["real_time"] * UNIT[b["time_unit"]]
        theirs = median_seconds(rows[kind])
        lines.append(f"| {name} | {threads} | {ours * 1e3:.2f} | {theirs * 1e3:.2f} | {theirs / ours:.2f}× |")
    text = "\n".join(lines)
    print(f"torch {torch.__version__}\n{text}")
    if a.markdown:
        open(a.markdown, "w").write(text + "\n")


if __name__ == "__main__":
    main()
