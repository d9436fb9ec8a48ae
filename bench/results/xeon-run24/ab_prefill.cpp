// bf16 prefill (causal, H 8, L 2048, D 128; bf16 Q, K, V and out, AMX scores and P·V): attune::attention
// at 1 and 16 threads, best and median of 9 calls. Built once against the old headers, once the new.
#include <attune/attune.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>
int main(int argc, char** argv) {
    const char* tag = argc > 1 ? argv[1] : "";
    const int L = 2048, D = 128, H = 8;
    const size_t n = size_t(H) * L * D;
    std::vector<attune::bf16> q(n), k(n), v(n), o(n);
    std::mt19937 g(1);
    std::normal_distribution<float> nd;
    for (size_t i = 0; i < n; ++i) q[i] = attune::bf16(nd(g)), k[i] = attune::bf16(nd(g)), v[i] = attune::bf16(nd(g));
    const auto qv = attune::view_bhld(q.data(), 1, H, L, D), kv = attune::view_bhld(k.data(), 1, H, L, D),
               vv = attune::view_bhld(v.data(), 1, H, L, D);
    const auto ov = attune::view_bhld(o.data(), 1, H, L, D);
    const double flop = 4.0 * D * H * (double(L) * (L + 1) / 2);
    for (int threads : {1, 16}) {
        attune::openmp_executor ex{threads};
        std::vector<double> t;
        for (int i = 0; i < 11; ++i) {
            auto t0 = std::chrono::steady_clock::now();
            attune::attention(qv, kv, vv, ov, attune::causal{}, attune::options{}, ex);
            t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
        t.erase(t.begin(), t.begin() + 2);
        std::sort(t.begin(), t.end());
        std::printf("%s threads %2d: best %.2f ms (%.0f GFLOP/s), median %.2f ms (%.0f GFLOP/s)\n", tag, threads, t[0] * 1e3,
                    flop / t[0] * 1e-9, t[t.size() / 2] * 1e3, flop / t[t.size() / 2] * 1e-9);
    }
}
