"""Writes the safetensors files that examples/llm/loader_test.cpp reads back, with the Python
`safetensors` package (an independent writer). Run: python make_testdata.py (in this folder).

Values follow pattern(i, salt) = ((i * 37 + salt) % 101 - 50) / 8, exact in F16 and BF16; the test
recomputes them from the same formula, so nothing is copied from the files.
"""
import numpy as np
import torch
from safetensors.numpy import save_file
from safetensors.torch import save_file as save_torch_file


def pattern(n, salt):
    i = np.arange(n, dtype=np.int64)
    return (((i * 37 + salt) % 101) - 50).astype(np.float64) / 8.0


def ints(n, salt):
    i = np.arange(n, dtype=np.int64)
    return ((i * 37 + salt) % 101) - 50


save_file(
    {
        "f32": pattern(15, 1).astype(np.float32).reshape(3, 5),
        "f16": pattern(7, 2).astype(np.float16),
        "i32": (ints(6, 3) * 40000000).astype(np.int32).reshape(2, 3),
        "i64": ints(4, 4) * 10**15 + np.arange(4, dtype=np.int64),  # beyond 2^53: no double path
        "empty": np.zeros((0, 3), dtype=np.float32),
        "scalar": np.array(pattern(1, 5)[0], dtype=np.float64),
    },
    "numpy.safetensors",
    metadata={"format": "np", "note": "attune \u00e9\u20ac"},
)

# numpy has no bfloat16: torch's writer for the BF16 file.
save_torch_file(
    {
        "bf16": torch.tensor(pattern(18, 6)).to(torch.bfloat16).reshape(2, 9),
        "f32": torch.tensor(pattern(5, 7)).to(torch.float32),
    },
    "torch_bf16.safetensors",
)
