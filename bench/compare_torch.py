#!/usr/bin/env python3
"""Side-by-side table of attune_bench's results and PyTorch's CPU scaled_dot_product_attention.

    ./attune_bench --benchmark_out=bench.json --benchmark_out_format=json
    python3 bench/compare_torch.py bench.json [--markdown compare.md] [--json compare.json]

For every prefill/ and decode/ row of attune_bench's JSON, the same shape, dtype, mask and thread
count runs through torch.nn.functional.scaled_dot_product_attention (torch.set_num_threads(N)),
timed as the median of several runs after a warm-up. The ragged batch row
serving/batch/decode:64+prefill:4x512/packed runs as one SDPA call per sequence (SDPA has no
ragged batch), timed as a whole, in GB/s of K/V like attune's row; that code is first checked
against float64 attention on a small batch. Both sides are credited with attune's work count
for the row (the FLOP and byte conventions of attune_bench.cpp), so the ratio is the ratio
of times. Prefill rows are in GFLOP/s and compared with peak/fma_fp32, decode rows in GB/s and
compared with peak/read, both from the same JSON and at the same thread count.

Without PyTorch the script still prints attune's columns (and says PyTorch is missing).
--json FILE also writes the main table's rows as JSON (bench/charts.py draws PyTorch's series from it):
    {"context": {...}, "torch": "...", "rows": [{"name", "case", "kind", "threads", "unit",
     "attune", "pytorch", "peak"}, ...]}   rates in GFLOP/s or GB/s; null where not measured.
"""
import argparse
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time

UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}

# Shapes attune_bench uses where the row name does not carry them (a name may override with B:, H:, Hq:, Hkv:).
PREFILL_DEFAULTS = {"B": 1, "H": 8}
DECODE_DEFAULTS = {"B": 1, "Hq": 32, "Hkv": 8, "Lq": 1}
# bench/rows/serving_bench.cpp's mixed batch: decode rows whose key lengths spread log-uniformly over
# min_keys … max_keys, and prefill chunks (the row's name gives their queries and keys; the queries are the last keys).
SERVING_BATCH = {"Hq": 32, "Hkv": 8, "D": 128, "min_keys": 128, "max_keys": 32768}


def parse_name(name):
    """'prefill/causal/L:2048/D:128/threads:1/real_time' -> ('prefill', {'L': '2048', ...}, {'causal', 'real_time'})."""
    parts = name.split("/")
    keys, flags = {}, set()
    for p in parts[1:]:
        if ":" in p:
            k, v = p.split(":", 1)
            keys[k] = v
        else:
            flags.add(p)
    return parts[0], keys, flags


def load_rows(path):
    """Rows of attune_bench's JSON, one per run name (the median aggregate when repetitions ran)."""
    with open(path) as f:
        data = json.load(f)
    by_name = {}
    for b in data.get("benchmarks", []):
        if b.get("error_occurred") or b.get("skipped"):
            continue
        run_name = b.get("run_name", b["name"])
        entry = by_name.setdefault(run_name, {"iterations": [], "median": None})
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                entry["median"] = b
        else:
            entry["iterations"].append(b)
    rows = []
    for run_name, entry in by_name.items():
        if entry["median"] is not None:
            b = entry["median"]
        elif entry["iterations"]:
            its = sorted(entry["iterations"], key=lambda r: r.get("real_time", 0.0))
            b = its[len(its) // 2]
        else:
            continue
        kind, keys, flags = parse_name(run_name)
        seconds = b["real_time"] * UNIT_SECONDS.get(b.get("time_unit", "ns"), 1e-9)
        rows.append({
            "name": run_name,
            "kind": kind,
            "keys": keys,
            "flags": flags,
            "threads": int(keys.get("threads", "1")),
            "seconds": seconds,
            "flops": float(b.get("flops", 0.0)),
            "bytes": float(b.get("bytes", 0.0)),
        })
    return data.get("context", {}), rows


def case_label(row):
    """The row's name without the thread count and Google Benchmark's suffixes."""
    parts = [p for p in row["name"].split("/")
             if p != "real_time" and not p.startswith("threads:") and not p.startswith("iterations:")]
    return "/".join(parts)


VARIANT_KEYS = ("mod", "family", "router")


def is_variant_row(row):
    """A /mod:…/, /family:…/ or /router:…/ row: a variant on top of a plain shape."""
    return any(key in row["keys"] for key in VARIANT_KEYS)


def base_label(row):
    """The plain row a variant row is compared with: the label without its variant parts; a sparse
    mask (sinks_window) is compared with causal at the same L and D."""
    parts = [p for p in case_label(row).split("/") if p.split(":", 1)[0] not in VARIANT_KEYS]
    if "sinks_window" in parts:
        parts = [("causal" if p == "sinks_window" else p) for p in parts if not p.startswith(("S:", "W:"))]
    return "/".join(parts)


def is_serving_batch_row(row):
    """serving/batch/decode:<n>+prefill:<c>x<l>/packed: the ragged batch with packed K/V."""
    return row["kind"] == "serving" and {"batch", "packed"} <= row["flags"] and "decode" in row["keys"]


def serving_batch_case(row):
    """The sequences of a serving/batch row as serving_bench.cpp builds them: n decode rows with key
    lengths lround(min · (max/min)^(i/(n−1))), then c chunks of l queries over their keys (l, or k)."""
    # decode:<n>, decode:<n>+prefill:<c>x<l> (fresh chunks: l queries over their l keys) or
    # decode:<n>+prefill:<c>x<l>of<k> (chunks after k − l cached keys).
    m = re.fullmatch(r"(\d+)(?:\+prefill:(\d+)x(\d+)(?:of(\d+))?)?", row["keys"]["decode"])
    if not m:
        return None
    n = int(m.group(1))
    chunks = int(m.group(2) or 0)
    lq = int(m.group(3) or 0)
    chunk_keys = int(m.group(4) or lq)
    s = SERVING_BATCH
    ratio = s["max_keys"] / s["min_keys"]
    # C's lround rounds halves away from zero; Python's round() would round them to even.
    decode_lk = [int(math.floor(s["min_keys"] * ratio ** (i / (n - 1) if n > 1 else 0.0) + 0.5)) for i in range(n)]
    return {"batch": True, "Hq": s["Hq"], "Hkv": s["Hkv"], "D": s["D"], "q_dtype": "fp32", "kv_dtype": "fp32",
            "lq": [1] * n + [lq] * chunks, "lk": decode_lk + [chunk_keys] * chunks}


def torch_case(row):
    """What PyTorch runs for an attune row: shapes, dtypes and mask (None: no PyTorch counterpart)."""
    k, flags = row["keys"], row["flags"]
    if is_serving_batch_row(row):
        return serving_batch_case(row)
    if row["kind"] == "prefill":
        b = int(k.get("B", PREFILL_DEFAULTS["B"]))
        h = int(k.get("H", PREFILL_DEFAULTS["H"]))
        length, d = int(k["L"]), int(k["D"])
        dt = "bf16" if "bf16" in flags else "fp32"
        case = {"B": b, "Hq": h, "Hkv": h, "Lq": length, "Lk": length, "D": d, "causal": "causal" in flags,
                "q_dtype": dt, "kv_dtype": dt}
        if "sinks_window" in flags:
            case.update(causal=True, sinks=int(k["S"]), window=int(k["W"]))
        return case
    if row["kind"] == "decode":
        dt = k.get("kv", "fp32")
        return {"B": int(k.get("B", DECODE_DEFAULTS["B"])), "Hq": int(k.get("Hq", DECODE_DEFAULTS["Hq"])),
                "Hkv": int(k.get("Hkv", DECODE_DEFAULTS["Hkv"])), "Lq": int(k.get("Lq", DECODE_DEFAULTS["Lq"])),
                "Lk": int(k["Lk"]), "D": int(k["D"]), "causal": False,
                # SDPA wants one dtype for q, k and v: with bf16 K/V the (tiny) query is bf16 too.
                "q_dtype": dt, "kv_dtype": dt}
    return None


class TorchRunner:
    def __init__(self, warmup, repeats, min_run_s):
        self.error = None
        try:
            import torch  # noqa: F401
            import torch.nn.functional as F  # noqa: F401
        except Exception as e:  # ImportError, or a broken install
            self.torch = None
            self.error = f"{type(e).__name__}: {e}"
            return
        self.torch = torch
        self.F = torch.nn.functional
        self.warmup = warmup
        self.repeats = repeats
        self.min_run_s = min_run_s
        self.gqa_native = None  # decided on first use: enable_gqa=True (torch ≥ 2.5) or repeat_interleave
        self.batch_checked = False  # the per-sequence SDPA of serving/batch rows, checked once against float64
        self.notes = set()

    @property
    def available(self):
        return self.torch is not None

    def describe(self):
        if not self.available:
            return f"PyTorch is missing ({self.error})"
        return f"PyTorch {self.torch.__version__}"

    def _tensor(self, shape, dtype, seed):
        torch = self.torch
        g = torch.Generator().manual_seed(seed)
        t = torch.rand(shape, generator=g, dtype=torch.float32) * 2.0 - 1.0  # uniform [-1, 1), like attune_bench
        return t.to(torch.bfloat16 if dtype == "bf16" else torch.float32).contiguous()

    def _sdpa(self, q, k, v, causal, hq, hkv, attn_mask=None):
        F = self.F
        if hq == hkv:
            return lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=causal)
        if self.gqa_native is None:
            try:
                F.scaled_dot_product_attention(q[:, :, :1], k[:, :, :2], v[:, :, :2], enable_gqa=True)
                self.gqa_native = True
            except TypeError:
                self.gqa_native = False
        if self.gqa_native:
            self.notes.add("GQA through SDPA's enable_gqa=True.")
            return lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=causal, enable_gqa=True)
        # Older PyTorch: K/V repeated to the query heads once, outside the timed region.
        self.notes.add("GQA: this PyTorch has no enable_gqa; K/V repeated to the query heads outside the timed region.")
        kk = k.repeat_interleave(hq // hkv, dim=1)
        vv = v.repeat_interleave(hq // hkv, dim=1)
        return lambda: F.scaled_dot_product_attention(q, kk, vv, attn_mask=attn_mask, is_causal=causal)

    def _bottom_right_mask(self, lq, lk, dtype):
        """Additive [lq, lk] mask of bottom-right causal attention (query i sees keys ≤ lk − lq + i), as
        attune's causal and FlashAttention's varlen align it: SDPA's is_causal is top-left (query i
        sees keys ≤ i), equal only when lq = lk. Additive in the query's dtype, so that SDPA does not
        convert a boolean mask on every call."""
        torch = self.torch
        i = torch.arange(lq).view(-1, 1)
        j = torch.arange(lk).view(1, -1)
        return torch.zeros((lq, lk), dtype=dtype).masked_fill(j > i + (lk - lq), float("-inf"))

    def _batch_calls(self, case):
        """A ragged batch as SDPA per sequence: each sequence's q [1, Hq, lq, D], k and v [1, Hkv, lk, D]
        (own tensors, uniform like attune_bench's), decode rows (lq = 1) without a mask, square
        chunks with is_causal, other chunks with the bottom-right mask. Returns (fn, inputs): fn()
        runs every sequence and returns their outputs; inputs[s] = (q, k, v)."""
        hq, hkv, d = case["Hq"], case["Hkv"], case["D"]
        fns, inputs, masks = [], [], {}
        for s, (lq, lk) in enumerate(zip(case["lq"], case["lk"])):
            q = self._tensor((1, hq, lq, d), case["q_dtype"], 3 * s + 1)
            k = self._tensor((1, hkv, lk, d), case["kv_dtype"], 3 * s + 2)
            v = self._tensor((1, hkv, lk, d), case["kv_dtype"], 3 * s + 3)
            mask = None
            if 1 < lq < lk:
                if (lq, lk) not in masks:  # built once, outside the timed region
                    masks[(lq, lk)] = self._bottom_right_mask(lq, lk, q.dtype)
                mask = masks[(lq, lk)]
            fns.append(self._sdpa(q, k, v, lq > 1 and lq == lk, hq, hkv, attn_mask=mask))
            inputs.append((q, k, v))
        return (lambda: [f() for f in fns]), inputs

    def _check_batch(self):
        """The per-sequence SDPA of serving/batch rows against float64 attention on a small ragged
        batch (decode rows, chunks over cached keys, a square chunk): raises when it is off, so a
        wrong mask alignment fails the row instead of timing the wrong attention."""
        if self.batch_checked:
            return
        torch = self.torch
        small = {"Hq": 4, "Hkv": 2, "D": 16, "q_dtype": "fp32", "kv_dtype": "fp32",
                 "lq": [1, 1, 8, 5, 8], "lk": [1, 40, 24, 37, 8]}
        with torch.inference_mode():
            fn, inputs = self._batch_calls(small)
            outs = fn()
            group, worst = small["Hq"] // small["Hkv"], 0.0
            for (q, k, v), out, lq, lk in zip(inputs, outs, small["lq"], small["lk"]):
                k64 = k.double().repeat_interleave(group, dim=1)
                v64 = v.double().repeat_interleave(group, dim=1)
                scores = q.double() @ k64.transpose(-1, -2) / math.sqrt(small["D"])
                i = torch.arange(lq).view(-1, 1)
                j = torch.arange(lk).view(1, -1)
                scores = scores.masked_fill(j > i + (lk - lq), float("-inf"))  # bottom-right causal
                ref = torch.softmax(scores, dim=-1) @ v64
                worst = max(worst, (out.double() - ref).abs().max().item())
        if not worst <= 1e-5:  # also catches NaN
            raise RuntimeError(f"per-sequence SDPA differs from float64 attention by {worst:.3g} on a small batch")
        self.batch_checked = True
        self.notes.add(f"serving/batch: PyTorch runs SDPA once per sequence (decode rows unmasked, prefill chunks with an "
                       f"explicit bottom-right causal mask: is_causal is top-left), timed as a whole; checked against "
                       f"float64 on a small batch (max |err| {worst:.1e}).")

    def _time_batch(self, case, threads):
        """Median seconds of one ragged batch as SDPA per sequence, at `threads` threads."""
        self._check_batch()
        torch = self.torch
        torch.set_num_threads(threads)
        with torch.inference_mode():
            fn, _ = self._batch_calls(case)
            return self._time(fn)

    def _dense_sinks_window(self, q, k, v, case):
        """SDPA with the dense boolean sinks + window mask (every key computed, then masked)."""
        torch = self.torch
        S, W, L = case["sinks"], case["window"], case["Lq"]
        qi = torch.arange(L).view(-1, 1)
        ki = torch.arange(L).view(1, -1)
        dense = (ki <= qi) & ((ki < S) | (qi - ki < W))
        return lambda: self.F.scaled_dot_product_attention(q, k, v, attn_mask=dense)

    def _flex_seconds(self, case, threads):
        """FlexAttention (torch.compile, block mask that skips empty blocks) for the sinks + window
        case, timed in a child process: a kernel compiled for one OpenMP team size corrupted the heap
        when run with another (PyTorch 2.11 CPU, seen on the Xeon), so each thread count gets a fresh
        interpreter. Returns seconds, or None (and a note) when FlexAttention fails here."""
        if os.environ.get("ATTUNE_COMPARE_NO_FLEX"):
            self.notes.add("sinks_window: FlexAttention disabled by ATTUNE_COMPARE_NO_FLEX; PyTorch runs SDPA with the dense boolean mask.")
            return None
        cmd = [sys.executable, os.path.abspath(__file__), "--flex-one", json.dumps(case), "--flex-threads", str(threads),
               "--warmup", str(self.warmup), "--repeats", str(self.repeats), "--min-run-ms", str(self.min_run_s * 1000.0)]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
            lines = [x for x in res.stdout.splitlines() if x.startswith("FLEX_SECONDS ")]
            if res.returncode != 0 or not lines:
                tail = (res.stderr.strip().splitlines() or ["no output"])[-1]
                raise RuntimeError(f"exit {res.returncode}: {tail[:200]}")
            self.notes.add("sinks_window: PyTorch runs FlexAttention (torch.compile, block mask; one process per thread count).")
            return float(lines[-1].split()[1])
        except Exception as e:
            self.notes.add(f"sinks_window: FlexAttention failed at {threads} threads ({type(e).__name__}: {e}); "
                           "PyTorch runs SDPA with the dense boolean mask there.")
            return None

    def flex_one(self, case, threads):
        """Child process of _flex_seconds: compile and time FlexAttention once, print the seconds."""
        torch = self.torch
        torch.set_num_threads(threads)
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        S, W, L = case["sinks"], case["window"], case["Lq"]

        def mask_mod(b, h, q_idx, kv_idx):
            return (kv_idx <= q_idx) & ((kv_idx < S) | (q_idx - kv_idx < W))

        with torch.inference_mode():
            q, k, v = self._inputs(case)
            bm = create_block_mask(mask_mod, B=None, H=None, Q_LEN=L, KV_LEN=L, device="cpu")
            compiled = torch.compile(flex_attention)
            compiled(q, k, v, block_mask=bm)  # compile outside the timed region
            print(f"FLEX_SECONDS {self._time(lambda: compiled(q, k, v, block_mask=bm))}", flush=True)

    def _inputs(self, case):
        q = self._tensor((case["B"], case["Hq"], case["Lq"], case["D"]), case["q_dtype"], 1)
        k = self._tensor((case["B"], case["Hkv"], case["Lk"], case["D"]), case["kv_dtype"], 2)
        v = self._tensor((case["B"], case["Hkv"], case["Lk"], case["D"]), case["kv_dtype"], 3)
        return q, k, v

    def _time(self, fn):
        """Median seconds of fn() after the warm-up calls (short calls looped per timed run)."""
        t0 = time.perf_counter()
        fn()
        first = time.perf_counter() - t0
        for _ in range(max(0, self.warmup - 1)):
            fn()
        # Short calls are looped so that one timed run lasts ≥ min_run_s; long ones get fewer repeats.
        inner = max(1, int(math.ceil(self.min_run_s / max(first, 1e-7))))
        repeats = self.repeats if first * inner < 1.0 else max(3, self.repeats // 2)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            times.append((time.perf_counter() - t0) / inner)
        return statistics.median(times)

    def time_case(self, case, threads):
        """Median seconds of one PyTorch call for the case at `threads` threads."""
        torch = self.torch
        if case.get("batch"):
            return self._time_batch(case, threads)
        if "sinks" in case:
            flex = self._flex_seconds(case, threads)
            if flex is not None:
                return flex
        torch.set_num_threads(threads)
        with torch.inference_mode():
            q, k, v = self._inputs(case)
            # is_causal in SDPA is top-left aligned: only used for square prefill, where it equals
            # attune's bottom-right causal mask. Decode (Lq = 1) sees the whole cache either way.
            causal = case["causal"] and case["Lq"] == case["Lk"]
            if "sinks" in case:
                fn = self._dense_sinks_window(q, k, v, case)
            else:
                fn = self._sdpa(q, k, v, causal, case["Hq"], case["Hkv"])
            return self._time(fn)


def fmt(x, digits=1):
    if x is None:
        return "—"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.{digits}f}"
    return f"{x:.{digits + 1}f}"


def fmt_ratio(x):
    return "—" if x is None else f"{x:.2f}×"


def fmt_pct(x):
    return "—" if x is None else f"{100.0 * x:.0f}%"


def markdown_table(header, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h)) for i, h in enumerate(header)]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bench_json", help="attune_bench --benchmark_out=FILE --benchmark_out_format=json output")
    ap.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown to FILE")
    ap.add_argument("--json", metavar="FILE", help="also write the main table's rows as JSON to FILE (for bench/charts.py)")
    ap.add_argument("--filter", default="", help="only rows whose name matches this regular expression")
    ap.add_argument("--no-torch", action="store_true", help="do not run PyTorch (attune's columns only)")
    ap.add_argument("--warmup", type=int, default=2, help="PyTorch warm-up calls per case (default 2)")
    ap.add_argument("--repeats", type=int, default=7, help="PyTorch timed runs per case; the median is used (default 7)")
    ap.add_argument("--min-run-ms", type=float, default=20.0, help="short calls are looped to last this long per timed run")
    ap.add_argument("--flex-one", metavar="CASE_JSON", help=argparse.SUPPRESS)  # child process of a FlexAttention timing
    ap.add_argument("--flex-threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.flex_one:
        TorchRunner(args.warmup, args.repeats, args.min_run_ms / 1000.0).flex_one(json.loads(args.flex_one), args.flex_threads)
        return 0

    context, rows = load_rows(args.bench_json)
    rx = re.compile(args.filter) if args.filter else None
    if rx:
        rows = [r for r in rows if rx.search(r["name"])]

    peak_fma = {r["threads"]: r["flops"] for r in rows if r["kind"] == "peak" and "fma_fp32" in r["flags"]}
    peak_read = {r["threads"]: r["bytes"] for r in rows if r["kind"] == "peak" and "read" in r["flags"]}
    if rx:  # peaks are needed whatever the filter says
        _, all_rows = load_rows(args.bench_json)
        peak_fma = {r["threads"]: r["flops"] for r in all_rows if r["kind"] == "peak" and "fma_fp32" in r["flags"]}
        peak_read = {r["threads"]: r["bytes"] for r in all_rows if r["kind"] == "peak" and "read" in r["flags"]}

    runner = None if args.no_torch else TorchRunner(args.warmup, args.repeats, args.min_run_ms / 1000.0)
    have_torch = runner is not None and runner.available

    table = []
    json_rows = []  # the same rows as numbers, for --json
    # Variant rows (a score modifier or another family on a prefill shape) are compared with attune's
    # own plain row in the variants table below, not with PyTorch (SDPA has no such variant). The
    # serving/batch row is in GB/s (K/V bytes), like the decode rows.
    cases = [r for r in rows if (r["kind"] in ("prefill", "decode") and not is_variant_row(r))
             or (is_serving_batch_row(r) and torch_case(r) is not None)]
    for i, r in enumerate(cases):
        prefill = r["kind"] == "prefill"
        unit = "GFLOP/s" if prefill else "GB/s"
        ours = (r["flops"] if prefill else r["bytes"]) / 1e9
        work = ours * r["seconds"]  # GFLOP or GB per call, attune's convention
        peak = (peak_fma if prefill else peak_read).get(r["threads"])
        peak = peak / 1e9 if peak else None
        theirs = None
        if have_torch:
            case = torch_case(r)
            print(f"[{i + 1}/{len(cases)}] PyTorch {case_label(r)} threads:{r['threads']}", file=sys.stderr, flush=True)
            try:
                theirs = work / runner.time_case(case, r["threads"])
            except Exception as e:  # e.g. out of memory, an unsupported dtype on an old PyTorch
                print(f"  PyTorch failed: {type(e).__name__}: {e}", file=sys.stderr)
        json_rows.append({"name": r["name"], "case": case_label(r), "kind": r["kind"], "threads": r["threads"],
                          "unit": unit, "attune": ours, "pytorch": theirs, "peak": peak})
        table.append([
            case_label(r), r["threads"], unit, fmt(ours), fmt(theirs),
            fmt_ratio(ours / theirs if theirs else None),
            fmt_pct(ours / peak if peak else None),
            fmt_pct(theirs / peak if (peak and theirs) else None),
        ])

    header = ["case", "threads", "unit", "attune", "PyTorch", "attune ÷ PyTorch", "attune % of peak", "PyTorch % of peak"]

    # attune against its naive reference, same shape, 1 thread.
    ref_rows = []
    for r in rows:
        if r["kind"] != "reference":
            continue
        label = case_label(r).replace("reference/", "prefill/", 1)
        ours = next((x for x in rows if x["kind"] == "prefill" and case_label(x) == label and x["threads"] == 1), None)
        ref_rows.append([label, fmt(ours["flops"] / 1e9) if ours else "—", fmt(r["flops"] / 1e9),
                         fmt_ratio(ours["flops"] / r["flops"]) if ours and r["flops"] else "—"])

    # Variants against attune's plain causal row of the same shape and threads (same run): time ratio.
    var_rows = []
    for r in rows:
        if r["kind"] not in ("prefill", "decode") or not (is_variant_row(r) or "sinks_window" in r["flags"]):
            continue
        want = base_label(r)
        base = next((x for x in rows if case_label(x) == want and x["threads"] == r["threads"]), None)
        if base is None or not base["flops"] and not base["bytes"]:
            continue
        t_ratio = r["seconds"] / base["seconds"]
        metric = "flops" if base["flops"] else "bytes"
        work_ratio = (r[metric] * r["seconds"]) / (base[metric] * base["seconds"])  # visible pairs ratio
        var_rows.append([case_label(r), want, r["threads"], f"{t_ratio:.3f}", f"{work_ratio:.3f}", f"{t_ratio / work_ratio:.2f}×"])

    # Rows of other kernel families (linear/, sparse/, …): attune's figures and % of peak.
    other_rows = []
    for r in rows:
        if r["kind"] in ("prefill", "decode", "reference", "peak"):
            continue
        peak_f, peak_b = peak_fma.get(r["threads"]), peak_read.get(r["threads"])
        other_rows.append([case_label(r), r["threads"], f"{r['seconds'] * 1e3:.3g}",
                           fmt(r["flops"] / 1e9) if r["flops"] else "—", fmt(r["bytes"] / 1e9) if r["bytes"] else "—",
                           fmt_pct(r["flops"] / peak_f if (peak_f and r["flops"]) else None),
                           fmt_pct(r["bytes"] / peak_b if (peak_b and r["bytes"]) else None)])

    peak_rows = [[t, fmt(peak_fma[t] / 1e9) if t in peak_fma else "—", fmt(peak_read[t] / 1e9) if t in peak_read else "—"]
                 for t in sorted(set(peak_fma) | set(peak_read))]

    ctx = context
    kinds = {"Data": "d", "Instruction": "i"}
    caches = ", ".join(f"L{c.get('level')}{kinds.get(c.get('type'), '')} {c.get('size', 0) // 1024} KiB"
                       for c in ctx.get("caches", []))
    machine = (f"{ctx.get('host_name', platform.node())}: {ctx.get('num_cpus', '?')} CPUs at "
               f"{ctx.get('mhz_per_cpu', '?')} MHz ({caches}); attune arch {ctx.get('attune_arch', '?')}; "
               f"{platform.processor() or platform.machine()}")
    torch_line = ("PyTorch not run (--no-torch)" if runner is None else runner.describe())

    out = []
    out.append(f"Machine: {machine}")
    out.append(f"Run: {ctx.get('date', '?')}, attune {ctx.get('attune_version', '?')}; {torch_line}")
    if runner is not None and not have_torch:
        out.append("PyTorch is missing: only attune's columns are filled. Install it (pip install torch) to compare.")
    out.append("")
    out.append(markdown_table(header, table))
    out.append("")
    out.append("Prefill in GFLOP/s (4·B·H·pairs·D; causal counts the visible pairs exactly), % of peak/fma_fp32 at the same "
               "threads; decode in GB/s (K/V, Q and output bytes once), % of peak/read at the same threads. Both sides are "
               "credited with the same work, so attune ÷ PyTorch is PyTorch's time over attune's. PyTorch: median of "
               f"{args.repeats} runs after {args.warmup} warm-up calls; decode with bf16 K/V runs a bf16 query in PyTorch.")
    if any(is_serving_batch_row(r) for r in cases):
        out.append("serving/batch in GB/s of every sequence's K/V (each read once, attune_bench's convention), % of peak/read; "
                   "PyTorch runs SDPA once per sequence.")
    if have_torch:
        for n in sorted(runner.notes):
            out.append(n)
    if ref_rows:
        out.append("")
        out.append(markdown_table(["case (1 thread)", "attune GFLOP/s", "reference GFLOP/s", "attune ÷ reference"], ref_rows))
    if var_rows:
        out.append("")
        out.append(markdown_table(["variant", "compared with (same run)", "threads", "time ÷ plain", "visible pairs ÷ plain",
                                   "time ÷ (pairs ratio × plain time)"], var_rows))
        out.append("A modifier, family or router is credited with the plain row's work (pairs ratio 1), so time ÷ plain is its "
                   "cost (a router that skips rows should be below 1); a sparser mask should cost in proportion to its visible "
                   "pairs (last column ≈ 1).")
    if other_rows:
        out.append("")
        out.append(markdown_table(["case", "threads", "ms", "GFLOP/s", "GB/s", "% of peak/fma_fp32", "% of peak/read"],
                                  other_rows))
    if peak_rows:
        out.append("")
        out.append(markdown_table(["threads", "peak/fma_fp32 GFLOP/s", "peak/read GB/s"], peak_rows))
    text = "\n".join(out)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("# attune vs PyTorch SDPA\n\n" + text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"context": ctx, "torch": torch_line, "rows": json_rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
