import sys, time, torch
g = torch.Generator().manual_seed(0)
q, k, v = (torch.randn(1, 8, 2048, 128, generator=g).to(torch.bfloat16) for _ in range(3))
flop = 4 * 128 * 8 * 2048 * 2049 / 2
for th in (1, 16):
    torch.set_num_threads(th)
    f = lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    for _ in range(2): f()
    t = []
    for _ in range(9):
        t0 = time.perf_counter(); f(); t.append(time.perf_counter() - t0)
    t.sort()
    print(f"torch threads {th:2d}: best {t[0]*1e3:.2f} ms ({flop/t[0]*1e-9:.0f} GFLOP/s), median {t[4]*1e3:.2f} ms ({flop/t[4]*1e-9:.0f} GFLOP/s)")
