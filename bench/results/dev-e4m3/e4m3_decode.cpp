// Decode over e4m3 K/V against bf16 K/V where the rows stay in L2 (Lk 512: 1 MiB of e4m3), so that
// the widening, not memory, sets the time: Hq 32 / Hkv 8, D 128, one thread (serial executor),
// best of 15 × 200 calls each. Built twice by run.sh, before and after the finite widening.
#include <attune/attune.hpp>
#include <attune/quantized.hpp>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>
#include <algorithm>
using namespace attune;
int main(int argc, char** argv) {
    const index_t Lk = argc > 1 ? std::atol(argv[1]) : 512, Hq = 32, Hkv = 8, D = 128;
    std::mt19937 rng(1);
    std::normal_distribution<float> nd;
    std::vector<float> q(Hq * D), k(Hkv * Lk * D), v(Hkv * Lk * D), o(Hq * D);
    for (auto& x : q) x = nd(rng);
    for (auto& x : k) x = nd(rng);
    for (auto& x : v) x = nd(rng);
    auto qv = view_bhld<const float>(q.data(), 1, Hq, 1, D);
    auto kv = view_bhld<const float>(k.data(), 1, Hkv, Lk, D);
    auto vv = view_bhld<const float>(v.data(), 1, Hkv, Lk, D);
    auto ov = view_bhld<float>(o.data(), 1, Hq, 1, D);
    auto kq = quant::quantize(kv, quant::fp8_e4m3{0.02f});
    auto vq = quant::quantize(vv, quant::fp8_e4m3{0.02f});
    std::vector<bf16> kb(k.size()), vb(v.size());
    for (size_t i = 0; i < k.size(); ++i) kb[i] = bf16(k[i]), vb[i] = bf16(v[i]);
    auto kbv = view_bhld<const bf16>(kb.data(), 1, Hkv, Lk, D);
    auto vbv = view_bhld<const bf16>(vb.data(), 1, Hkv, Lk, D);
    serial_executor ex;
    auto time = [&](auto f) {
        std::vector<double> ts;
        for (int r = 0; r < 15; ++r) {
            auto t0 = std::chrono::steady_clock::now();
            for (int i = 0; i < 200; ++i) f();
            ts.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / 200);
        }
        std::sort(ts.begin(), ts.end());
        return ts[0];
    };
    const double tf = time([&] { attention(qv, kq.view(), vq.view(), ov, variant<>{}, options{}, ex); });
    const double tb = time([&] { attention(qv, kbv, vbv, ov, variant<>{}, options{}, ex); });
    std::printf("Lk %ld: fp8 %.1f us, bf16 %.1f us, fp8/bf16 speed %.2f\n", (long)Lk, tf, tb, tb / tf);
}
