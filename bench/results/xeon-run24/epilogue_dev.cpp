#include <attune/attune.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>
// Run 24, the 16-bit epilogue on the development machine: bf16 in and out, causal H 8, L 2048, D 128,
// and Lq 2048 × Lk 64 (many short rows), one thread, best of 5 / 20 calls. Built against the
// include/ before and after (noop_tiles.sh's comment says how).
int main() {
    const int L = 2048, D = 128, H = 8;
    const size_t n = size_t(H) * L * D;
    std::vector<attune::bf16> q(n), k(n), v(n), o(n);
    std::mt19937 g(1);
    std::normal_distribution<float> nd;
    for (size_t i = 0; i < n; ++i) q[i] = attune::bf16(nd(g)), k[i] = attune::bf16(nd(g)), v[i] = attune::bf16(nd(g));
    auto best = [](auto f, int reps) {
        double b = 1e30;
        for (int i = 0; i < reps; ++i) {
            auto t0 = std::chrono::steady_clock::now();
            f();
            b = std::min(b, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        return b;
    };
    const auto qv = attune::view_bhld(q.data(), 1, H, L, D), kv = attune::view_bhld(k.data(), 1, H, L, D),
               vv = attune::view_bhld(v.data(), 1, H, L, D);
    const auto ov = attune::view_bhld(o.data(), 1, H, L, D);
    std::printf("prefill bf16 out: %.3f ms\n",
                best([&] { attune::attention(qv, kv, vv, ov, attune::causal{}, attune::options{}, attune::serial_executor{}); }, 5));
    // many short rows: Lq 2048 tokens, Lk 64 (the epilogue's share is largest)
    const auto kv2 = attune::view_bhld(k.data(), 1, H, 64, D), vv2 = attune::view_bhld(v.data(), 1, H, 64, D);
    std::printf("Lq 2048 x Lk 64 bf16 out: %.3f ms\n",
                best([&] { attune::attention(qv, kv2, vv2, ov, attune::no_mask{}, attune::options{}, attune::serial_executor{}); }, 20));
}
