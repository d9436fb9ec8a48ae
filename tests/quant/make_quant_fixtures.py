#!/usr/bin/env python3
"""Fixtures for attune's quantized K/V formats, written by independent implementations.

README: rerun with `python3 tests/quant/make_quant_fixtures.py` from the repository root (it rewrites
tests/quant/quant_fixtures/; the inputs come from a fixed seed, so a rerun writes the same files).
It needs numpy and ml_dtypes (`pip install numpy ml_dtypes`), a C and C++ compiler, cmake, and pip to
download ggml's released sources (the ggml-python 0.0.45 sdist from PyPI, which vendors ggml 0.15.3);
`--ggml-src DIR` uses an unpacked ggml source tree instead (the folder holding CMakeLists.txt,
include/ and src/, as /work/shared/peers/ggml/fetch_ggml.sh prints). No ggml code is kept in the
repository: the script builds ggml's own `ggml-base` library with ggml's CMake (ggml's flags, no
-march: ggml-quants.c is in that library) in a temporary folder, compiles a small C driver against
it that calls ggml's reference quantizers quantize_row_{q8_0,q4_0,q4_1}_ref and its dequantizers
dequantize_row_{q8_0,q4_0,q4_1}, and reads the driver's output.
tests/quant/ggml_fixture_test.cpp ([quant_fixtures]) reads the files.

Files (.npy, C order; "bytes" are uint8 [rows, row_bytes], values float32 [rows, dim]):
  blocks_d{32,64,128}_in.npy           inputs: float32 rows of varied distributions (below)
  blocks_d{32,64,128}_{fmt}.npy        ggml's quantize_row_{fmt}_ref bytes of each input row
  blocks_d{32,64}_{fmt}_deq.npy        ggml's dequantize_row_{fmt} of those bytes
  rawbytes_d128_{fmt}.npy              rows of arbitrary block bytes (every int8 value, every
                                       nibble, fp16 scales and minimums that are zero, subnormal,
                                       the largest finite, inf and NaN) ...
  rawbytes_d128_{fmt}_deq.npy          ... and ggml's dequantize_row_{fmt} of them
  fp8_{e4m3,e5m2}_in.npy               float32 inputs inside the format's finite range: every
                                       finite fp8 value, the midpoints between neighbours (exact
                                       ties), their float32 neighbours, subnormals, log-uniform values
  fp8_{e4m3,e5m2}.npy                  ml_dtypes' float8_e4m3fn / float8_e5m2 bytes of them
  fp8_{e4m3,e5m2}_val.npy              ml_dtypes' float32 value of those bytes
with fmt in q8_0, q4_0, q4_1. The d128 block rows keep ggml's dequantized floats out (they would
triple the folder's size); their dequantization is checked on the d32/d64 rows and on the raw bytes.

Block inputs (every row goes through all three formats): normal rows at scales 1e-3..1e3,
heavy-tailed rows (Student t, 2 degrees of freedom), rows with outlier channels (the same few
channels 50-1000x larger in every row, as in K caches), all-zero rows and rows of signed zeros,
rows with one huge value (large enough that ggml's fp16 scale overflows to inf), constant rows,
tiny rows (fp16 scales subnormal or flushed to 0), exact ties (x = (k + 1/2)·d with d a power of
two, so that the rounding rule decides), near-ties (x = (k + 1/2)·d rounded to float32 and its
neighbours, with d whose reciprocal is inexact: these are the values where an FMA-contracted
x·id + 1/2 and ggml's separately rounded product and sum differ), scales that are exact midpoints
between fp16 values (fp16 rounding to nearest even decides), one-signed rows and uniform rows.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import ml_dtypes
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "quant_fixtures")
GGML_PYTHON = "ggml-python==0.0.45"
FORMATS = {"q8_0": (34, "Q8_0"), "q4_0": (18, "Q4_0"), "q4_1": (20, "Q4_1")}  # bytes per block of 32

DRIVER = r"""
// Calls ggml's reference quantizers and dequantizers on rows read from a file.
//   driver q FMT DIM ROWS IN OUT   IN: float32 rows -> OUT: quantize_row_FMT_ref bytes, row by row
//   driver d FMT DIM ROWS IN OUT   IN: block rows -> OUT: dequantize_row_FMT float32, row by row
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"
#include "ggml-quants.h"

static void * read_all(const char * path, size_t n) {
    FILE * f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    void * p = malloc(n);
    if (fread(p, 1, n, f) != n) { fprintf(stderr, "short read %s\n", path); exit(2); }
    fclose(f);
    return p;
}

int main(int argc, char ** argv) {
    if (argc != 7) { fprintf(stderr, "usage: driver q|d FMT DIM ROWS IN OUT\n"); return 2; }
    const char mode = argv[1][0];
    const char * fmt = argv[2];
    const int64_t dim = atoll(argv[3]), rows = atoll(argv[4]);
    enum ggml_type type;
    if (!strcmp(fmt, "q8_0")) type = GGML_TYPE_Q8_0;
    else if (!strcmp(fmt, "q4_0")) type = GGML_TYPE_Q4_0;
    else if (!strcmp(fmt, "q4_1")) type = GGML_TYPE_Q4_1;
    else { fprintf(stderr, "unknown format %s\n", fmt); return 2; }
    const size_t rb = ggml_row_size(type, dim);
    const size_t fb = (size_t) dim * sizeof(float);
    const size_t in_row = mode == 'q' ? fb : rb, out_row = mode == 'q' ? rb : fb;
    const uint8_t * in = read_all(argv[5], in_row * (size_t) rows);
    uint8_t * out = calloc((size_t) rows, out_row);
    for (int64_t r = 0; r < rows; ++r) {
        const void * x = in + (size_t) r * in_row;
        void * y = out + (size_t) r * out_row;
        if (mode == 'q') {
            if (type == GGML_TYPE_Q8_0) quantize_row_q8_0_ref(x, y, dim);
            else if (type == GGML_TYPE_Q4_0) quantize_row_q4_0_ref(x, y, dim);
            else quantize_row_q4_1_ref(x, y, dim);
        } else {
            if (type == GGML_TYPE_Q8_0) dequantize_row_q8_0(x, y, dim);
            else if (type == GGML_TYPE_Q4_0) dequantize_row_q4_0(x, y, dim);
            else dequantize_row_q4_1(x, y, dim);
        }
    }
    FILE * f = fopen(argv[6], "wb");
    if (!f || fwrite(out, out_row, (size_t) rows, f) != (size_t) rows) { perror(argv[6]); return 2; }
    fclose(f);
    printf("%zu\n", rb);
    return 0;
}
"""


def run(cmd, **kw):
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, **kw)


def fetch_ggml(tmp):
    """ggml's source tree from the ggml-python sdist (pip download, no binary)."""
    dl = os.path.join(tmp, "dl")
    run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", "-d", dl, GGML_PYTHON])
    (sdist,) = [f for f in os.listdir(dl) if f.endswith(".tar.gz")]
    with tarfile.open(os.path.join(dl, sdist)) as t:
        t.extractall(tmp, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    src = os.path.join(tmp, sdist[: -len(".tar.gz")], "vendor", "ggml")
    # Only ggml-base is built; GPU backends, tests and examples are not needed.
    for d in ("examples", "tests", "docs"):
        shutil.rmtree(os.path.join(src, d), ignore_errors=True)
    return src


def build_driver(src, tmp):
    build = os.path.join(tmp, "ggml-build")
    run(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=OFF", "-DBUILD_SHARED_LIBS=OFF",
         "-DGGML_OPENMP=OFF", "-DGGML_BUILD_TESTS=OFF", "-DGGML_BUILD_EXAMPLES=OFF", "-DGGML_CPU=OFF"],
        stdout=subprocess.DEVNULL)
    run(["nice", "-n", "10", "cmake", "--build", build, "-j1", "--target", "ggml-base"], stdout=subprocess.DEVNULL)
    (lib,) = [os.path.join(r, f) for r, _, fs in os.walk(build) for f in fs if f == "libggml-base.a"]
    c = os.path.join(tmp, "driver.c")
    with open(c, "w") as f:
        f.write(DRIVER)
    obj, exe = os.path.join(tmp, "driver.o"), os.path.join(tmp, "driver")
    run(["cc", "-O2", "-std=gnu11", "-I", os.path.join(src, "include"), "-I", os.path.join(src, "src"), "-c", c, "-o", obj])
    run(["c++", obj, lib, "-o", exe, "-lm", "-lpthread"])
    return exe


def ggml(exe, tmp, mode, fmt, dim, data):
    rows = data.shape[0]
    fin, fout = os.path.join(tmp, "in.bin"), os.path.join(tmp, "out.bin")
    np.ascontiguousarray(data).tofile(fin)
    out = subprocess.run([exe, mode, fmt, str(dim), str(rows), fin, fout], check=True, capture_output=True, text=True)
    rb = int(out.stdout.strip())
    assert rb == dim // 32 * FORMATS[fmt][0], (fmt, rb)
    if mode == "q":
        return np.fromfile(fout, dtype=np.uint8).reshape(rows, rb)
    return np.fromfile(fout, dtype=np.float32).reshape(rows, dim)


# ---- block inputs -------------------------------------------------------------------------------

f32 = np.float32
args_verbose = False  # --list: print each row's kind


def block_rows(rng, dim, n_normal, n_heavy, n_outlier, n_ties, n_near, midpoints=True):
    rows = []

    def add(x, what):
        x = np.asarray(x, dtype=np.float32).reshape(-1, dim)
        assert np.all(np.isfinite(x)), what
        if args_verbose:
            print(f"  d{dim} row {len(rows)}: {what}", file=sys.stderr)
        rows.extend(list(x))

    nb = dim // 32
    for s in 10.0 ** rng.uniform(-3, 3, n_normal):
        add(rng.standard_normal(dim) * s, "normal")
    for s in 10.0 ** rng.uniform(-2, 2, n_heavy):
        add(rng.standard_t(2, dim) * s, "heavy")
    chans = rng.choice(dim, size=max(2, dim // 32), replace=False)
    for _ in range(n_outlier):
        x = rng.standard_normal(dim)
        x[chans] *= rng.uniform(50, 1000, chans.size) * rng.choice([-1, 1], chans.size)
        add(x, "outlier")
    add(np.zeros(dim), "zero")
    add(np.where(rng.random(dim) < 0.5, -0.0, 0.0), "signed zeros")
    # one huge value: 6e5 overflows q4_0's fp16 scale (d = max/-8 > 65504), 1e7 q8_0's (amax/127)
    for big in (1e4, -3e5, 6e5, -1e7, 3e7):
        x = rng.standard_normal(dim) * 0.1
        x[rng.integers(dim)] = big
        add(x, "huge")
    x = np.zeros(dim)
    x[dim - 1] = 1e6
    add(x, "huge in zeros")
    for c in (1.0, -3.7, 1e-3, 65504.0, 0.1):
        add(np.full(dim, c), "constant")
    for s in (1e-5, 1e-7, 1e-9, 1e-20, 1e-30):
        add(rng.standard_normal(dim) * s, "tiny")
    add(np.abs(rng.standard_normal(dim)) + 3.0, "positive")
    add(-np.abs(rng.standard_normal(dim)) - 0.5, "negative")
    add(rng.uniform(-1, 1, dim), "uniform")

    def tie_rows(fmt, e, sign):
        d = 2.0 ** e
        x = np.empty((nb, 32))
        for b in range(nb):
            if fmt == "q8_0":  # amax = 127 d, others (k + 1/2) d
                k = rng.integers(-127, 127, 32)
                x[b] = (k + 0.5) * d
                x[b, rng.integers(32)] = sign * 127 * d
            elif fmt == "q4_0":  # max = -8 d (sign: which side), others (k + 1/2) d, |k + 1/2| < 8
                k = rng.integers(-8, 8, 32)
                x[b] = (k + 0.5) * d
                x[b, rng.integers(32)] = sign * 8 * d
            else:  # q4_1: min lo, max lo + 15 d, others lo + (k + 1/2) d
                lo = sign * rng.integers(0, 40) * d
                x[b] = lo + (rng.integers(0, 15, 32) + 0.5) * d
                i, j = rng.choice(32, 2, replace=False)
                x[b, i], x[b, j] = lo, lo + 15 * d
        return x.reshape(dim)

    def near_tie_rows(fmt):
        x = np.empty((nb, 32), dtype=np.float32)
        for b in range(nb):
            if fmt == "q8_0":  # amax sets d = amax / 127; the others near (k + 1/2) d
                amax = f32(rng.uniform(0.3, 50.0))
                d = amax / f32(127)
                t = (rng.integers(-127, 127, 32) + 0.5) * np.float64(d)
                lo, hi, ext = -amax, amax, [amax * f32(rng.choice([-1, 1]))]
            elif fmt == "q4_0":  # max (signed) sets d = max / -8
                mx = f32(rng.uniform(0.3, 50.0)) * f32(rng.choice([-1, 1]))
                d = mx / f32(-8)
                t = (rng.integers(-8, 8, 32) + 0.5) * np.float64(d)
                lo, hi, ext = -abs(mx) * f32(0.999), abs(mx) * f32(0.999), [mx]
            else:  # min and max set d = (max - min) / 15 and m = min
                lo = f32(rng.uniform(-20, 20))
                hi = lo + f32(rng.uniform(0.3, 30))
                d = (hi - lo) / f32(15)
                t = np.float64(lo) + (rng.integers(0, 15, 32) + 0.5) * np.float64(d)
                ext = [lo, hi]
            v = t.astype(np.float32)
            # the float32 neighbours of the tie points too
            nudge = rng.integers(-1, 2, 32)
            v = np.where(nudge > 0, np.nextafter(v, np.float32(np.inf)), np.where(nudge < 0, np.nextafter(v, np.float32(-np.inf)), v))
            v = np.clip(v, lo, hi)
            pos = rng.choice(32, len(ext), replace=False)
            v[pos] = ext
            x[b] = v
        return x.reshape(dim)

    for fmt in FORMATS:
        for i in range(n_ties):
            add(tie_rows(fmt, [-3, 0, 2, -10, 5, -1][i % 6], [1, -1][i % 2]), "ties " + fmt)
        for _ in range(n_near):
            add(near_tie_rows(fmt), "near ties " + fmt)

    if not midpoints:
        return np.stack(rows).astype(np.float32)
    # fp16 rounding of the scale: d exactly at a midpoint between fp16 values (ties to even), the
    # overflow boundary (65520: to inf) and subnormal midpoints
    for mid in (1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11, 2.0 ** -25, 3 * 2.0 ** -25, 2.0 ** -20 + 2.0 ** -25, 65520.0, 65519.0):
        x = (rng.random((nb, 32)) - 0.5) * mid
        q8 = x.copy(); q8[:, 0] = 127 * mid
        q4 = x.copy(); q4[:, 0] = -8 * mid
        q41 = rng.random((nb, 32)) * 15 * mid
        q41[:, 0], q41[:, 1] = 0.0, 15 * mid
        for v in (q8, q4, q41):
            if np.all(np.abs(v) < 3e38):
                add(v.reshape(dim), "fp16 midpoint")
    for m in (1 + 2.0 ** -11, -(1 + 3 * 2.0 ** -11), 2.0 ** -25, 65520.0, -65519.0):  # q4_1's minimum at a midpoint
        x = np.full((nb, 32), m)
        x[:, 1:] += rng.random((nb, 31)) * 2.0 ** -3
        add(x.reshape(dim), "fp16 midpoint minimum")
    return np.stack(rows).astype(np.float32)


def raw_block_bytes(rng, fmt, rows, dim):
    """Arbitrary block bytes: every quant value, scales over fp16's whole range (inf and NaN too)."""
    bb = FORMATS[fmt][0]
    nb = dim // 32
    out = rng.integers(0, 256, (rows, nb * bb), dtype=np.int64).astype(np.uint8)
    special = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00, 0x3555, 0x1234]
    blocks = out.reshape(rows * nb, bb)
    for i in range(blocks.shape[0]):
        halves = [special[i % len(special)] if i < 4 * len(special) else int(rng.integers(0, 0x7C00)) | (int(rng.integers(2)) << 15)]
        if fmt == "q4_1":
            halves.append(special[(i * 7 + 3) % len(special)] if i % 3 else int(rng.integers(0, 0x7C00)))
        for k, h in enumerate(halves):
            blocks[i, 2 * k] = h & 0xFF
            blocks[i, 2 * k + 1] = h >> 8
        if i % 4 == 0:  # every quant value in some block
            if fmt == "q8_0":
                blocks[i, 2:] = ((np.arange(32) + 8 * (i // 4)) % 256).astype(np.uint8)
            else:
                off = 2 if fmt == "q4_0" else 4
                lo = (np.arange(16) + i // 4) % 16
                blocks[i, off:] = (lo | (((lo + 5) % 16) << 4)).astype(np.uint8)
    return out


# ---- fp8 inputs ---------------------------------------------------------------------------------


def fp8_inputs(rng, dtype, n):
    codes = np.arange(256, dtype=np.uint8).view(dtype).astype(np.float32)
    finite = np.unique(codes[np.isfinite(codes)])  # ascending, -max .. max, with one zero
    mids = ((finite[:-1].astype(np.float64) + finite[1:]) / 2).astype(np.float32)  # exact in float32
    assert np.all(mids.astype(np.float64) == (finite[:-1].astype(np.float64) + finite[1:]) / 2)
    up, down = np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(-np.inf))
    mx = float(finite[-1])
    tiny = float(finite[finite > 0][0])  # the smallest subnormal
    sub = rng.uniform(0, 8 * tiny * 8, 64).astype(np.float32) * rng.choice([-1, 1], 64)  # subnormal range and just above
    logu = (10.0 ** rng.uniform(np.log10(tiny) - 1, np.log10(mx), 256) * rng.choice([-1, 1], 256)).astype(np.float32)
    # beyond the largest value, but still rounding to it (RNE: below max + half a step)
    step = float(finite[-1] - finite[-2])
    over = np.array([mx + step * 0.25, mx + step * 0.49, -(mx + step * 0.3)], dtype=np.float32)
    extra = np.array([-0.0, tiny / 2, -tiny / 2, tiny * 1.5, tiny * 2.5, tiny / 4, tiny * 0.51], dtype=np.float32)
    x = np.concatenate([finite, -0.0 * finite[finite == 0], mids, up, down, sub, logu, over, extra]).astype(np.float32)
    x = x[np.abs(x.astype(np.float64)) < mx + step / 2]  # inside what rounds to a finite value
    reps = -(-x.size // n)
    pad = rng.standard_normal(reps * n - x.size).astype(np.float32) * f32(mx / 8)
    x = np.concatenate([x, pad])
    rng.shuffle(x)
    return x.reshape(-1, n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ggml-src", help="an unpacked ggml source tree (else: pip download " + GGML_PYTHON + ")")
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--list", action="store_true", help="print the kind of every block row")
    args = ap.parse_args()
    global args_verbose
    args_verbose = args.list
    rng = np.random.default_rng(20240611)
    os.makedirs(args.out, exist_ok=True)

    def save(name, a):
        np.save(os.path.join(args.out, name + ".npy"), a)

    with tempfile.TemporaryDirectory() as tmp:
        src = args.ggml_src or fetch_ggml(tmp)
        exe = build_driver(src, tmp)
        sets = {
            128: block_rows(rng, 128, n_normal=40, n_heavy=24, n_outlier=24, n_ties=6, n_near=10),
            64: block_rows(rng, 64, n_normal=6, n_heavy=4, n_outlier=4, n_ties=2, n_near=4, midpoints=False),
            32: block_rows(rng, 32, n_normal=8, n_heavy=6, n_outlier=6, n_ties=4, n_near=6),
        }
        for dim, x in sets.items():
            save(f"blocks_d{dim}_in", x)
            for fmt in FORMATS:
                q = ggml(exe, tmp, "q", fmt, dim, x)
                save(f"blocks_d{dim}_{fmt}", q)
                if dim != 128:
                    save(f"blocks_d{dim}_{fmt}_deq", ggml(exe, tmp, "d", fmt, dim, q))
            print(f"blocks d{dim}: {x.shape[0]} rows", file=sys.stderr)
        for fmt in FORMATS:
            raw = raw_block_bytes(rng, fmt, 16, 128)
            save(f"rawbytes_d128_{fmt}", raw)
            save(f"rawbytes_d128_{fmt}_deq", ggml(exe, tmp, "d", fmt, 128, raw))

    for name, dtype in (("e4m3", ml_dtypes.float8_e4m3fn), ("e5m2", ml_dtypes.float8_e5m2)):
        x = fp8_inputs(rng, dtype, 128)
        y = x.astype(dtype)
        v = y.astype(np.float32)
        assert np.all(np.isfinite(v)), name + ": an input outside the finite range"
        save(f"fp8_{name}_in", x)
        save(f"fp8_{name}", y.view(np.uint8))
        save(f"fp8_{name}_val", v)
        print(f"fp8 {name}: {x.shape[0]} rows", file=sys.stderr)
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"wrote {args.out}: {len(os.listdir(args.out))} files, {total} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
