import time, torch
torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
q, k, v = (torch.randn(1, 8, 2048, 128, generator=g).to(torch.bfloat16) for _ in range(3))
f = lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
for _ in range(2): f()
best = 1e9
for _ in range(7):
    t0 = time.perf_counter(); f(); best = min(best, time.perf_counter() - t0)
flop = 4 * 128 * 8 * 2048 * 2049 / 2
print(f"torch {torch.__version__} bf16 SDPA causal 1 thread: {best*1e3:.2f} ms {flop/best*1e-9:.1f} GFLOP/s")
