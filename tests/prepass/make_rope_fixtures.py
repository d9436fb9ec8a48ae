#!/usr/bin/env python3
"""Writes the RoPE fixtures of tests/prepass/rope_test.cpp from Hugging Face transformers itself.

    pip install torch transformers numpy
    python3 tests/prepass/make_rope_fixtures.py [OUT_DIR]   (default: rope_fixtures/ beside this file)

For each case, the model's own rotary embedding module and apply-rotary function (Llama for the
rope types default / linear / dynamic / yarn / llama3, GPT-NeoX for a partial rotary dim, GPT-J for
the interleaved pairing) rotate random float32 queries at a few positions up to 2^20 - 1:
    <case>_inv_freq.npy   the module's inv_freq after the forward pass (float32; dynamic NTK
                          recomputes it for the call's max position + 1)
    <case>_pos.npy        the positions (float64)
    <case>_q.npy          queries [tokens, head_dim] (float32)
    <case>_out.npy        transformers' rotated queries (float32)
and cases.txt, one line per case: name head_dim rotary_dim theta pairing scaling factor
original_max_position_embeddings beta_fast beta_slow attention_factor mscale mscale_all_dim
low_freq_factor high_freq_factor, the rope description the C++ test builds.
"""
import os
import sys

import numpy as np
import torch
import transformers
from transformers import GPTJConfig, GPTNeoXConfig, LlamaConfig
from transformers.models.gptj import modeling_gptj
from transformers.models.gpt_neox import modeling_gpt_neox
from transformers.models.llama import modeling_llama

POSITIONS = [0, 3, 4097, 65537, 1048575]

# name, head_dim, theta, rope_parameters beyond rope_theta, max_position_embeddings
LLAMA_CASES = [
    ("default", 64, 10000.0, {"rope_type": "default"}, 4096),
    ("linear", 64, 10000.0, {"rope_type": "linear", "factor": 4.0}, 4096),
    ("dynamic", 64, 10000.0, {"rope_type": "dynamic", "factor": 2.0}, 2048),
    ("yarn", 64, 10000.0, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096}, 16384),
    ("yarn_mscale", 64, 10000.0, {"rope_type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096,
                                  "mscale": 1.0, "mscale_all_dim": 0.707, "beta_fast": 32.0, "beta_slow": 1.0}, 163840),
    ("llama3", 128, 500000.0, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                               "original_max_position_embeddings": 8192}, 131072),
]


def save(folder, name, **arrays):
    for key, a in arrays.items():
        np.save(os.path.join(folder, "%s_%s.npy" % (name, key)), a)


def line(name, d, rot, theta, pairing, scaling, p, l0):
    fields = [name, d, rot, repr(theta), pairing, scaling, repr(float(p.get("factor", 1.0))), l0,
              repr(float(p.get("beta_fast", 32.0))), repr(float(p.get("beta_slow", 1.0))),
              repr(float(p.get("attention_factor", 0.0))), repr(float(p.get("mscale", 0.0))),
              repr(float(p.get("mscale_all_dim", 0.0))), repr(float(p.get("low_freq_factor", 1.0))),
              repr(float(p.get("high_freq_factor", 4.0)))]
    return " ".join(str(f) for f in fields)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "rope_fixtures")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    pos = torch.tensor([POSITIONS], dtype=torch.int64)
    lines = ["# transformers %s, torch %s" % (transformers.__version__, torch.__version__)]
    for name, d, theta, params, mpe in LLAMA_CASES:
        cfg = LlamaConfig(hidden_size=d * 2, num_attention_heads=2, num_key_value_heads=2, head_dim=d,
                          max_position_embeddings=mpe, rope_parameters=dict(params, rope_theta=theta))
        emb = modeling_llama.LlamaRotaryEmbedding(cfg)
        q = torch.randn(1, 1, len(POSITIONS), d, dtype=torch.float32)
        cos, sin = emb(q, pos)
        rotated, _ = modeling_llama.apply_rotary_pos_emb(q, q, cos, sin)
        save(out, name, inv_freq=emb.inv_freq.numpy().astype(np.float32), pos=np.array(POSITIONS, dtype=np.float64),
             q=q[0, 0].numpy(), out=rotated[0, 0].numpy())
        scaling = {"default": "none", "dynamic": "ntk"}.get(params["rope_type"], params["rope_type"])
        l0 = params.get("original_max_position_embeddings", mpe)
        lines.append(line(name, d, d, theta, "neox", scaling, params, l0))

    # Partial rotary (GPT-NeoX: rotary_pct of the head rotates, rotate_half within it).
    d, pct = 64, 0.25
    cfg = GPTNeoXConfig(hidden_size=d * 2, num_attention_heads=2, max_position_embeddings=4096,
                        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": pct})
    emb = modeling_gpt_neox.GPTNeoXRotaryEmbedding(cfg)
    q = torch.randn(1, 1, len(POSITIONS), d, dtype=torch.float32)
    cos, sin = emb(q, pos)
    rotated, _ = modeling_gpt_neox.apply_rotary_pos_emb(q, q, cos, sin)
    rot = int(d * pct)
    save(out, "partial", inv_freq=emb.inv_freq.numpy().astype(np.float32), pos=np.array(POSITIONS, dtype=np.float64),
         q=q[0, 0].numpy(), out=rotated[0, 0].numpy())
    lines.append(line("partial", d, rot, 10000.0, "neox", "none", {}, 4096))

    # GPT-J: interleaved pairs over the first rotary_dim elements; its table is float32 angles too.
    d, rot = 64, 32
    cfg = GPTJConfig(n_embd=d * 2, n_head=2, rotary_dim=rot, n_positions=POSITIONS[-1] + 1)
    table = modeling_gptj.create_sinusoidal_positions(POSITIONS[-1] + 1, rot)
    x = torch.randn(1, len(POSITIONS), 1, d, dtype=torch.float32)  # GPT-J applies RoPE on [B, L, H, D]
    sincos = table[pos]
    sin, cos = torch.split(sincos, sincos.shape[-1] // 2, dim=-1)
    x_rot = modeling_gptj.apply_rotary_pos_emb(x[:, :, :, :rot], sin, cos)
    rotated = torch.cat([x_rot, x[:, :, :, rot:]], dim=-1)
    inv = 1.0 / (10000 ** (torch.arange(0, rot, 2, dtype=torch.int64) / rot))
    save(out, "gptj", inv_freq=inv.numpy().astype(np.float32), pos=np.array(POSITIONS, dtype=np.float64),
         q=x[0, :, 0].numpy(), out=rotated[0, :, 0].numpy())
    lines.append(line("gptj", d, rot, 10000.0, "gptj", "none", {}, 0))

    with open(os.path.join(out, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %d cases to %s" % (len(lines) - 1, out))


if __name__ == "__main__":
    main()
