// L2-resident decode timing (session 10's A/B harness, bench/results/xeon-run23/ab.sh): ns per
// key-head of one decode step, Hq 4 / Hkv 1, D 128, Lk from argv[1] (1024: L2-resident), one
// thread, the best of 60 windows of 5 ms; argv[2] selects rows by substring, or "=name" exactly.
#include <attune/attune.hpp>
#include <attune/quantized.hpp>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>
#include <algorithm>
#include <cstring>
namespace quant = attune::quant;
using attune::index_t;
constexpr index_t Hq = 4, Hkv = 1, D = 128;
std::vector<float> rnd(size_t n, int seed) {
    std::mt19937 g(seed);
    std::normal_distribution<float> d;
    std::vector<float> v(n);
    for (auto& x : v) x = d(g);
    return v;
}
template <class Fn>
double best_ns(Fn&& f, index_t lk) {
    f();
    double best = 1e30;
    for (int rep = 0; rep < 60; ++rep) {
        auto t0 = std::chrono::steady_clock::now();
        int it = 0;
        do {
            f();
            ++it;
        } while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(5));
        double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / it;
        best = std::min(best, ns);
    }
    return best / double(lk * Hkv);
}
const char* g_only = "";
template <class F>
void row(const char* name, index_t lk, bool iq, bool ipv) {
    if (*g_only == '=' ? std::strcmp(g_only + 1, name) != 0 : !std::strstr(name, g_only)) return;
    auto kf = rnd(Hkv * lk * D, 2), vf = rnd(Hkv * lk * D, 3), q = rnd(Hq * D, 1);
    auto kq = quant::quantize(attune::view_bhld<const float>(kf.data(), 1, Hkv, lk, D), F{});
    auto vq = quant::quantize(attune::view_bhld<const float>(vf.data(), 1, Hkv, lk, D), F{});
    std::vector<float> out(Hq * D);
    attune::serial_executor ex;
    attune::options opt;
    opt.int8_query = iq;
    opt.int8_pv = ipv;
    auto call = [&] {
        attune::attention(attune::view_bhld<const float>(q.data(), 1, Hq, 1, D), kq.view(), vq.view(),
                          attune::view_bhld<float>(out.data(), 1, Hq, 1, D), attune::variant<>{}, opt, ex);
    };
    std::printf("%-28s %7.2f ns/key-head\n", name, best_ns(call, lk));
}
void bf16row(index_t lk) {
    auto kf = rnd(Hkv * lk * D, 2), vf = rnd(Hkv * lk * D, 3), q = rnd(Hq * D, 1);
    std::vector<attune::bf16> kb(kf.size()), vb(vf.size());
    for (size_t i = 0; i < kf.size(); ++i) kb[i] = attune::bf16(kf[i]), vb[i] = attune::bf16(vf[i]);
    std::vector<float> out(Hq * D);
    attune::serial_executor ex;
    auto call = [&] {
        attune::attention(attune::view_bhld<const float>(q.data(), 1, Hq, 1, D),
                          attune::view_bhld<const attune::bf16>(kb.data(), 1, Hkv, lk, D),
                          attune::view_bhld<const attune::bf16>(vb.data(), 1, Hkv, lk, D),
                          attune::view_bhld<float>(out.data(), 1, Hq, 1, D), attune::variant<>{}, attune::options{}, ex);
    };
    std::printf("%-28s %7.2f ns/key-head\n", "bf16", best_ns(call, lk));
}
int main(int argc, char** argv) {
    index_t lk = argc > 1 ? atoi(argv[1]) : 2048;
    g_only = argc > 2 ? argv[2] : "";
    auto want = [&](const char* n) { return !*g_only || std::strstr(g_only, n) || *g_only != '='; };
    if (!*g_only || std::strstr("bf16", g_only)) bf16row(lk);
    if (want("int8")) {
        row<quant::int8>("int8", lk, false, false);
        row<quant::int8>("int8/iq", lk, true, false);
        row<quant::int8>("int8/iq/ipv", lk, true, true);
    }
    if (want("q8_0")) {
        row<quant::q8_0>("q8_0", lk, false, false);
        row<quant::q8_0>("q8_0/iq", lk, true, false);
        row<quant::q8_0>("q8_0/iq/ipv", lk, true, true);
    }
    if (want("q4_0")) {
        row<quant::q4_0>("q4_0", lk, false, false);
        row<quant::q4_0>("q4_0/iq", lk, true, false);
        row<quant::q4_0>("q4_0/iq/ipv", lk, true, true);
    }
}
