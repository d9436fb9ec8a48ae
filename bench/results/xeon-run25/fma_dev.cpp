// Run 25 on the development machine: built with g++ 12 and clang++ 14 (-O3 -march=native) against
// include/ at 3b28902 and at 45c796b, run alternately (best of 5 / 20 calls).
#include <attune/attune.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>
// fp32 causal prefill H 8, L 2048, D 128 and decode (Hq 32 / Hkv 8, Lk 8192), one thread, best of N.
int main() {
    const int L = 2048, D = 128, H = 8;
    const size_t n = size_t(H) * L * D;
    std::vector<float> q(n), k(n), v(n), o(n);
    std::mt19937 g(1);
    std::normal_distribution<float> nd;
    for (size_t i = 0; i < n; ++i) q[i] = nd(g), k[i] = nd(g), v[i] = nd(g);
    auto best = [](auto f, int reps) {
        double b = 1e30;
        for (int i = 0; i < reps; ++i) {
            auto t0 = std::chrono::steady_clock::now();
            f();
            b = std::min(b, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        return b;
    };
    const auto qv = attune::view_bhld((const float*)q.data(), 1, H, L, D), kv = attune::view_bhld((const float*)k.data(), 1, H, L, D),
               vv = attune::view_bhld((const float*)v.data(), 1, H, L, D);
    const auto ov = attune::view_bhld(o.data(), 1, H, L, D);
    std::printf("prefill fp32 causal: %.3f ms\n",
                best([&] { attune::attention(qv, kv, vv, ov, attune::causal{}, attune::options{}, attune::serial_executor{}); }, 5));
    const int Lk = 8192;
    std::vector<float> kd(size_t(8) * Lk * D), vd(kd.size()), qd(32 * D), od(32 * D);
    for (auto& x : kd) x = nd(g);
    for (auto& x : vd) x = nd(g);
    for (auto& x : qd) x = nd(g);
    const auto qdv = attune::view_bhld((const float*)qd.data(), 1, 32, 1, D);
    const auto kdv = attune::view_bhld((const float*)kd.data(), 1, 8, Lk, D), vdv = attune::view_bhld((const float*)vd.data(), 1, 8, Lk, D);
    const auto odv = attune::view_bhld(od.data(), 1, 32, 1, D);
    std::printf("decode fp32 Lk 8192: %.3f ms\n",
                best([&] { attune::attention(qdv, kdv, vdv, odv, attune::no_mask{}, attune::options{}, attune::serial_executor{}); }, 20));
    std::vector<attune::bf16> kb(kd.size()), vb(vd.size());
    for (size_t i = 0; i < kd.size(); ++i) kb[i] = attune::bf16(kd[i]), vb[i] = attune::bf16(vd[i]);
    const auto kbv = attune::view_bhld((const attune::bf16*)kb.data(), 1, 8, Lk, D),
               vbv = attune::view_bhld((const attune::bf16*)vb.data(), 1, 8, Lk, D);
    std::printf("decode bf16 K/V Lk 8192: %.3f ms\n",
                best([&] { attune::attention(qdv, kbv, vbv, odv, attune::no_mask{}, attune::options{}, attune::serial_executor{}); }, 20));
}
