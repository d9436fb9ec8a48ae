// Run 28 (#22): a program built as a distribution builds it (plain -O2, no -march), once with
// attune_dispatch() (ab_dispatch) and once without (ab_base): a 2048-token prompt's float K and V
// (Hkv 8, D 128) appended to a quant_kv_cache and to a paged_kv_cache (pages of 16), and a decode
// step (Hq 32, Lk 8192) over the q8_0 cache, on the default executor (run with OMP_NUM_THREADS=1:
// one thread; a dispatched signature names its executor type); medians of 15 calls, ms. Prints the
// level each call ran at (dispatch::last_run).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include <attune/attune.hpp>
#include <attune/cache/paged_kv_cache.hpp>
#include <attune/cache/quant_kv_cache.hpp>

namespace quant = attune::quant;
using attune::index_t;

template <class F>
double median_ms(F&& f) {
    std::vector<double> t;
    f();
    for (int i = 0; i < 15; ++i) {
        const auto a = std::chrono::steady_clock::now();
        f();
        t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

int main() {
    const index_t H = 8, Hq = 32, D = 128, L = 2048, Lk = 8192;
    std::mt19937 rng(1);
    std::normal_distribution<float> nd;
    std::vector<float> k(static_cast<std::size_t>(H * Lk * D)), v(k.size()), q(static_cast<std::size_t>(Hq * D)), o(q.size());
    for (auto* x : {&k, &v, &q})
        for (auto& e : *x) e = nd(rng);
    const auto kp = attune::view_bhld<const float>(k.data(), 1, H, L, D), vp = attune::view_bhld<const float>(v.data(), 1, H, L, D);
    const attune::default_executor one;
    attune::quant_kv_cache<quant::q8_0> cache(H, D, D);
    const double append = median_ms([&] {
        cache.clear();
        cache.append(kp, vp, one);
    });
    const auto append_level = attune::dispatch::last_run();
    attune::paged_kv_cache<quant::q8_0> pool(H, D, D, 16, L / 16 + 1);
    attune::seq_id s = pool.add_sequence();
    const double paged = median_ms([&] {
        pool.free(s);
        s = pool.add_sequence();
        pool.append(s, kp, vp, one);
    });
    attune::quant_kv_cache<quant::q8_0> big(H, D, D);
    big.append(attune::view_bhld<const float>(k.data(), 1, H, Lk, D), attune::view_bhld<const float>(v.data(), 1, H, Lk, D), one);
    const double decode = median_ms([&] {
        attune::attention(attune::view_bhld<const float>(q.data(), 1, Hq, 1, D), big.keys(), big.values(),
                          attune::view_bhld<float>(o.data(), 1, Hq, 1, D), attune::variant<>{}, attune::options{},
                          one);  // the built-in signature
    });
    const auto decode_level = attune::dispatch::last_run();
    std::printf("q8_0 append %.3f ms [%s], paged append %.3f ms, decode Lk %ld %.3f ms [%s]\n", append,
                attune::dispatch::name(append_level), paged, static_cast<long>(Lk), decode, attune::dispatch::name(decode_level));
    return 0;
}
