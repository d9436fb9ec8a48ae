#!/usr/bin/env python3
"""Writes the fixtures of examples/llm: three small decoder models made by Hugging Face transformers
(their random initialisation, fixed seed;
norm weights, biases and sinks redrawn, see redraw_constants) and transformers' own greedy tokens and logits on them.

    python3 examples/llm/make_fixtures.py [OUT_DIR]      # default: examples/llm/fixtures

For each architecture (llama: plain causal; mistral: a sliding window on every layer; gpt_oss:
sliding and full layers alternating, a learned sink logit per head, a mixture of experts) it writes

    OUT_DIR/<arch>/config.json, model.safetensors    transformers' save_pretrained, weights in bf16
    OUT_DIR/<arch>/reference.safetensors             what the C++ runner is checked against:
      prompt, tokens, logits          prompt ids; 32 greedy tokens and the logits that chose them
      prompt_b, tokens_b, logits_b    a second request sharing the first prefix_len prompt tokens
      prefix_len                      (the paged run: both requests in one page pool)
      stream_sinks, stream_recent     (llama only) the same greedy run under sinks + window
      stream_tokens, stream_logits    attention, StreamingLLM's mask at the tokens' own positions
      bf16_torch_max_err,             transformers itself in bf16, teacher-forced on `tokens`:
      bf16_torch_agree                its largest logit error and how many of 32 argmaxes agree

The references are computed in float32 with eager attention from the saved files, reloaded, so the
fixtures are exactly what a user's checkpoint would be; every step's logits come from a full
forward pass over the whole sequence (no cache), and the greedy tokens are checked against
generate() with transformers' own cache.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import AttentionInterface, AutoModelForCausalLM
from transformers import GptOssConfig, LlamaConfig, MistralConfig

STEPS = 32
SEED = 1234
VOCAB = 1000
PROMPT_LEN = 23
PREFIX_LEN = 15
PROMPT_B_LEN = 21
STREAM_SINKS = 4
STREAM_RECENT = 16
INIT_RANGE = 0.08  # transformers' default 0.02 gives logits within ±0.2: greedy margins of 1e-4


@torch.no_grad()
def redraw_constants(model):
    """transformers initialises norm weights to 1, biases to 0 and gpt-oss's sinks near 0: a runner
    that forgot any of them would still pass. Redraw those (seeded) so that each one matters."""
    for name, p in model.named_parameters():
        if name.endswith("norm.weight"):
            p.copy_(1 + 0.2 * torch.randn_like(p))
        elif name.endswith("bias"):
            p.copy_(INIT_RANGE * torch.randn_like(p))
        elif name.endswith("sinks"):
            p.copy_(1.5 * torch.randn_like(p))


def configs():
    common = dict(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, rms_norm_eps=1e-5,
                  initializer_range=INIT_RANGE, tie_word_embeddings=False, max_position_embeddings=4096,
                  bos_token_id=None, eos_token_id=None, pad_token_id=None)
    return {
        "llama": LlamaConfig(intermediate_size=128, num_attention_heads=4, num_key_value_heads=1, head_dim=32,
                             rope_theta=10000.0, **common),
        "mistral": MistralConfig(intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, head_dim=64,
                                 sliding_window=12, rope_theta=1000000.0, **common),
        "gpt_oss": GptOssConfig(intermediate_size=128, num_attention_heads=8, num_key_value_heads=2, head_dim=32,
                                sliding_window=12, num_local_experts=4, num_experts_per_tok=2, **common),
    }


def sinks_window_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """StreamingLLM's visible set at the tokens' own positions: key j ≤ p with j < S or p − j < R."""
    groups = query.shape[1] // key.shape[1]
    key = key.repeat_interleave(groups, dim=1)
    value = value.repeat_interleave(groups, dim=1)
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    lq, lk = scores.shape[-2:]
    q_pos = torch.arange(lk - lq, lk)[:, None]
    k_pos = torch.arange(lk)[None, :]
    visible = (k_pos <= q_pos) & ((k_pos < STREAM_SINKS) | (q_pos - k_pos < STREAM_RECENT))
    probs = torch.softmax(scores.masked_fill(~visible, float("-inf")), dim=-1)
    return torch.matmul(probs, value).transpose(1, 2).contiguous(), probs


AttentionInterface.register("sinks_window", sinks_window_attention)


@torch.no_grad()
def greedy(model, prompt):
    """32 greedy steps, each a full forward over the whole sequence: (tokens, logits [32, vocab])."""
    ids = list(prompt)
    rows = []
    for _ in range(STEPS):
        logits = model(torch.tensor([ids])).logits[0, -1].float()
        rows.append(logits)
        ids.append(int(torch.argmax(logits)))
    return ids[len(prompt):], torch.stack(rows)


@torch.no_grad()
def teacher_forced_logits(model, prompt, tokens):
    seq = torch.tensor([list(prompt) + list(tokens)])
    return model(seq).logits[0, len(prompt) - 1:len(prompt) - 1 + STEPS].float()


def ints(values):
    return torch.tensor(values, dtype=torch.int32)


def margin(logits):
    top = torch.topk(logits, 2, dim=-1).values
    return float((top[:, 0] - top[:, 1]).min())


def make(name, config, out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    redraw_constants(model)
    model.to(torch.bfloat16).save_pretrained(out)
    for extra in ("generation_config.json",):
        if os.path.exists(os.path.join(out, extra)):
            os.remove(os.path.join(out, extra))

    ref = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()
    gen = torch.Generator().manual_seed(SEED + 1)
    prompt = torch.randint(0, VOCAB, (PROMPT_LEN,), generator=gen).tolist()
    prompt_b = prompt[:PREFIX_LEN] + torch.randint(0, VOCAB, (PROMPT_B_LEN - PREFIX_LEN,), generator=gen).tolist()

    tokens, logits = greedy(ref, prompt)
    tokens_b, logits_b = greedy(ref, prompt_b)
    # transformers' own decode loop (its cache, its sliding-window cache layers) agrees with the full passes
    out_ids = ref.generate(torch.tensor([prompt]), max_new_tokens=STEPS, do_sample=False, min_new_tokens=STEPS)
    assert out_ids[0, PROMPT_LEN:].tolist() == tokens, f"{name}: generate() and the full passes disagree"

    tensors = {
        "prompt": ints(prompt), "tokens": ints(tokens), "logits": logits.contiguous(),
        "prompt_b": ints(prompt_b), "tokens_b": ints(tokens_b), "logits_b": logits_b.contiguous(),
        "prefix_len": ints([PREFIX_LEN]),
    }
    report = {"arch": name, "min_greedy_margin": min(margin(logits), margin(logits_b)),
              "distinct_tokens": len(set(tokens))}

    if name == "llama":
        stream = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="sinks_window").eval()
        s_tokens, s_logits = greedy(stream, prompt)
        tensors.update({"stream_sinks": ints([STREAM_SINKS]), "stream_recent": ints([STREAM_RECENT]),
                        "stream_tokens": ints(s_tokens), "stream_logits": s_logits.contiguous()})
        report["stream_differs_from_full"] = float((s_logits - logits).abs().max())

    bf = AutoModelForCausalLM.from_pretrained(out, dtype=torch.bfloat16, attn_implementation="eager").eval()
    bf_logits = teacher_forced_logits(bf, prompt, tokens)
    bf_err = float((bf_logits - logits).abs().max())
    bf_agree = int((bf_logits.argmax(-1) == torch.tensor(tokens)).sum())
    tensors.update({"bf16_torch_max_err": torch.tensor([bf_err]), "bf16_torch_agree": ints([bf_agree])})
    report.update(bf16_torch_max_err=bf_err, bf16_torch_agree=bf_agree)

    save_file(tensors, os.path.join(out, "reference.safetensors"), metadata={"transformers": __import__("transformers").__version__,
                                                                              "torch": torch.__version__})
    print(json.dumps(report))


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
    for name, config in configs().items():
        make(name, config, os.path.join(root, name))


if __name__ == "__main__":
    main()
