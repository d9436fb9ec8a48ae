// Run 27: quant_kv_cache::append of a 2048-token prompt (Hkv 8, D 128, float K and V) into an
// emptied cache, per format; built against the old include tree (scalar quantize_row, the only
// API: append(k, v)) and the new one (vectorised; -DNEW_API adds append(k, v, exec) at the
// OpenMP thread count). Prints ms per append: best and median of 15, after one warm-up.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "attune/attune.hpp"
#include "attune/cache/quant_kv_cache.hpp"

namespace q = attune::quant;
using attune::index_t;

template <class F>
void row(const char* name, const std::vector<float>& kf, const std::vector<float>& vf, index_t L) {
    const index_t H = 8, D = 128;
    const auto k = attune::view_bhld<const float>(kf.data(), 1, H, L, D);
    const auto v = attune::view_bhld<const float>(vf.data(), 1, H, L, D);
    attune::kv_cache_options o;
    o.reserve = L;
    attune::quant_kv_cache<F> cache(H, D, D, F{}, F{}, o);
    const auto once = [&](bool par) {
        cache.clear();
#ifdef NEW_API
        if (par) return cache.append(k, v, attune::openmp_executor{});
        cache.append(k, v, attune::serial_executor{});
#else
        (void)par;
        cache.append(k, v);
#endif
    };
    for (bool par : {false, true}) {
#ifndef NEW_API
        if (par) continue;
#endif
        once(par);
        std::vector<double> t;
        for (int i = 0; i < 15; ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            once(par);
            t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(t.begin(), t.end());
        std::printf("%-10s %-8s best %8.3f ms  median %8.3f ms  (%.2f ns/value)\n", name, par ? "openmp" : "1 thread", t[0], t[7],
                    t[7] * 1e6 / (2.0 * H * L * D));
    }
}

int main() {
    const index_t L = 2048, n = 8 * L * 128;
    std::vector<float> kf(static_cast<std::size_t>(n)), vf(static_cast<std::size_t>(n));
    std::mt19937 g(1);
    std::normal_distribution<float> nd;
    for (auto& e : kf) e = nd(g);
    for (auto& e : vf) e = nd(g);
    row<q::int8>("int8", kf, vf, L);
    row<q::fp8_e4m3>("fp8_e4m3", kf, vf, L);
    row<q::q8_0>("q8_0", kf, vf, L);
    row<q::q4_0>("q4_0", kf, vf, L);
    row<q::q4_1>("int4_g32", kf, vf, L);
    row<q::int4_group<128>>("int4_g128", kf, vf, L);
}
