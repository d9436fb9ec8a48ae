// Decode over quantized K/V: llama.cpp's q8_0 and q4_0 blocks and attune's int8 rows, read in place.
// Each format runs exactly (rows dequantized in registers), then with the integer products of
// AVX-512 VNNI: options::int8_query (Q rounded to int8 per row for the scores) and options::int8_pv
// (the weights rounded to 8 bits for P·V). Every output is compared with float attention over the
// unquantized K/V: the format's own error, and what the integer products add to it. Where the
// build has no VNNI the options change nothing, and the example says so.
#include <attune/attune.hpp>
#include <attune/quantized.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace quant = attune::quant;

namespace {

constexpr int Hq = 32, Hkv = 8, L = 2048, D = 128;

double rel_l2(const std::vector<float>& a, const std::vector<float>& ref) {
    double e = 0, r = 0;
    for (std::size_t i = 0; i < a.size(); ++i) e += double(a[i] - ref[i]) * (a[i] - ref[i]), r += double(ref[i]) * ref[i];
    return std::sqrt(e / r);
}

// Runs one format three ways; false when an error exceeds its bound.
template <class F>
bool run(const char* name, const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
         const std::vector<float>& exact_float, double format_bound) {
    const auto kq = quant::quantize(attune::view_bhld<const float>(k.data(), 1, Hkv, L, D), F{});
    const auto vq = quant::quantize(attune::view_bhld<const float>(v.data(), 1, Hkv, L, D), F{});
    std::vector<float> out(q.size());
    const bool integer = attune::kernel::int8_dot_available<attune::default_arch, F>;
    double exact_error = 0;
    bool ok = true;
    for (int mode = 0; mode < 3; ++mode) {
        attune::options opt;
        opt.int8_query = mode >= 1;
        opt.int8_pv = mode == 2;
        const auto call = [&] {
            attune::attention(attune::view_bhld<const float>(q.data(), 1, Hq, 1, D), kq.view(), vq.view(),
                              attune::view_bhld(out.data(), 1, Hq, 1, D), attune::variant<>{}, opt);
        };
        std::vector<double> ms;
        for (int i = 0; i < 5; ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            call();
            ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(ms.begin(), ms.end());
        const double error = rel_l2(out, exact_float);
        if (mode == 0) exact_error = error;
        static const char* const modes[] = {"exact", "int8_query", "int8_query + int8_pv"};
        std::printf("%-5s %-22s rel. L2 %.2e against float K/V   %.3f ms\n", name, modes[mode], error, ms[2]);
        // The format's own error, and at most 1e-2 more from the integer products (8-bit Q and weights).
        ok = ok && error <= (mode == 0 ? format_bound : exact_error + 1e-2);
    }
    if (!integer) std::printf("%-5s (no AVX-512 VNNI in this build: the options ran the exact kernels)\n", name);
    return ok;
}

}  // namespace

int main() {
    std::mt19937 rng(11);
    std::normal_distribution<float> normal;
    std::vector<float> q(std::size_t(Hq) * D), k(std::size_t(Hkv) * L * D), v(k.size()), exact_float(q.size());
    for (auto* x : {&q, &k, &v})
        for (float& e : *x) e = normal(rng);
    attune::attention(attune::view_bhld<const float>(q.data(), 1, Hq, 1, D), attune::view_bhld<const float>(k.data(), 1, Hkv, L, D),
                      attune::view_bhld<const float>(v.data(), 1, Hkv, L, D), attune::view_bhld(exact_float.data(), 1, Hq, 1, D));
    std::printf("decode: Hq %d, Hkv %d, %d keys, head dim %d; K and V in each format\n", Hq, Hkv, L, D);
    bool ok = run<quant::int8>("int8", q, k, v, exact_float, 2e-2);
    ok = run<quant::q8_0>("q8_0", q, k, v, exact_float, 2e-2) && ok;
    ok = run<quant::q4_0>("q4_0", q, k, v, exact_float, 2e-1) && ok;
    if (!ok) {
        std::printf("FAILED: an error above its bound\n");
        return 1;
    }
    return 0;
}
