// options::int8_pv (kernel/quant_int8_pv.hpp): decode's P·V on int8, q8_0 and q4_0 V as integer dot
// products, each row's weights (times V's scales) rounded to int8 per V block and 64-key tile.
// Built twice, as int8_query_test.cpp: in the quant suite (no VNNI in its flags: the option must
// leave the float P·V exactly as it is) and in attune_quant_vnni_tests (the integer kernel). There,
// every output element is checked against a float64 softmax over the dequantized K/V within
// fp32's bound plus the rounding's own: a weight w_n moves by at most half a step of m/255, m the
// largest |w| of its tile (at most W, the largest of the row), so an element by at most
//   (0.5 / 255) · W · Σ_n |v̂_nc| / ℓ     (v̂ V's integers, ℓ the softmax sum)
// and the whole output within rel. L2 1.2e-2 (measured ≤ 8.3e-3, on near-uniform attention over
// uniform random values, whose averages are small: where the rounding matters most; 1.5e-2 with
// int8_query's rounded scores too, measured ≤ 9.7e-3). Odd lengths, GQA 1/4/8, head dims 64/128/256 (80, 96 and q4_0's 64: the
// float kernel), forced splits, pages, NaN scales, with and without int8_query.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/quantized.hpp"
#include "golden_case.hpp"
#include "paged_dense.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;
using namespace attune_test;
namespace quant = attune::quant;
using arch = ATTUNE_TEST_ARCH;

namespace {

template <class F>
constexpr bool integer_pv = attune::kernel::int8_pv_available<arch, F>;

template <class F>
constexpr index_t step = attune::kernel::int8_pv_layout<F>::step;

// V's integer and scale at column c of a row, per format.
template <class F>
double v_int(const std::uint8_t* row, index_t c) {
    if constexpr (std::is_same_v<F, quant::int8>) return static_cast<std::int8_t>(row[4 + c]);
    else if constexpr (std::is_same_v<F, quant::q8_0>) return static_cast<std::int8_t>(row[c / 32 * 34 + 2 + c % 32]);
    else {
        const std::uint8_t b = row[c / 32 * 18 + 2 + c % 16];
        return ((c % 32 >= 16 ? b >> 4 : b) & 0xf) - 8;
    }
}
template <class F>
double v_scale(const std::uint8_t* row, index_t c) {
    if constexpr (std::is_same_v<F, quant::int8>) return quant::int8::row_scale({}, row);
    else return quant::half_value(row + c / 32 * F::block_bytes);
}

// Softmax attention in float64 over dequantized K/V, and each element's bound for the weights'
// rounding: |out − ref| ≤ 1e-4 + (0.5/255)·W_b·Σ_n |v̂_nc| / ℓ (× slack when Q is rounded too).
template <class F>
void check_against_float64(const tensor<float>& q, const tensor<float>& kd, const quant::quantized<F>& vq, const tensor<float>& vd,
                           const tensor<float>& out, double slack, double rel_l2) {
    const auto& qv = q.view;
    const index_t Hq = qv.heads(), Lq = qv.tokens(), D = qv.dim(), Hkv = kd.view.heads(), lk = kd.view.tokens();
    const double tau = 1.0 / std::sqrt(static_cast<double>(D));
    double err2 = 0.0, ref2 = 0.0;
    std::vector<double> p(static_cast<std::size_t>(lk));
    for (index_t h = 0; h < Hq; ++h)
        for (index_t t = 0; t < Lq; ++t) {
            const index_t g = h / (Hq / Hkv);
            double m = -std::numeric_limits<double>::infinity();
            for (index_t n = 0; n < lk; ++n) {
                double s = 0.0;
                for (index_t d = 0; d < D; ++d) s += static_cast<double>(qv(0, h, t, d)) * kd.view(0, g, n, d);
                p[static_cast<std::size_t>(n)] = s * tau;
                m = std::max(m, s * tau);
            }
            double l = 0.0;
            for (auto& x : p) l += (x = std::exp(x - m));
            for (index_t c = 0; c < D; ++c) {
                double ref = 0.0, w_max = 0.0, v_abs = 0.0;
                for (index_t n = 0; n < lk; ++n) {
                    const std::uint8_t* row = vq.view().row(0, g, n);
                    ref += p[static_cast<std::size_t>(n)] * vd.view(0, g, n, c);
                    w_max = std::max(w_max, p[static_cast<std::size_t>(n)] * std::fabs(v_scale<F>(row, c)));
                    v_abs += std::fabs(v_int<F>(row, c));
                }
                ref /= l;
                const double got = out.view(0, h, t, c), bound = 1e-4 + slack * 0.5 / 255.0 * w_max * v_abs / l;
                INFO("head " << h << " row " << t << " column " << c << " ref " << ref << " got " << got << " bound " << bound);
                REQUIRE(std::fabs(got - ref) <= bound);
                err2 += (got - ref) * (got - ref), ref2 += ref * ref;
            }
        }
    CHECK(std::sqrt(err2 / ref2) <= rel_l2);
}

template <class F>
void check_int8_pv(index_t group, index_t lk, index_t D, index_t Lq, bool with_query, index_t splits, float q_scale, std::mt19937& rng) {
    const index_t Hkv = 2, Hq = Hkv * group;
    const bool integer = integer_pv<F> && D % step<F> == 0 && D <= 512 && Lq * group <= 8;
    INFO(F::name() << " GQA " << group << " Lk " << lk << " D " << D << " Lq " << Lq << " int8_query " << with_query << " splits " << splits
                   << " q scale " << q_scale << " integer " << integer);
    tensor<float> q(1, Hq, Lq, D), k(1, Hkv, lk, D), v(1, Hkv, lk, D), out(1, Hq, Lq, D), exact(1, Hq, Lq, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    for (auto& x : q.buf) x *= q_scale;
    const auto kq = quant::quantize(k.cview(), quant::int8{});
    const auto vq = quant::quantize(v.cview(), F{});
    tensor<float> kd(1, Hkv, lk, D), vd(1, Hkv, lk, D);
    quant::dequantize(kq.view(), kd.view);
    quant::dequantize(vq.view(), vd.view);
    attune::options opt;
    opt.kv_splits = splits;
    opt.int8_query = with_query;
    attune::attention<arch>(q.cview(), kq.view(), vq.view(), exact.view, attune::variant<>{}, opt);
    opt.int8_pv = true;
    out.poison();
    attune::attention<arch>(q.cview(), kq.view(), vq.view(), out.view, attune::variant<>{}, opt);
    if (!integer) {
        CHECK(max_difference(out, exact) == 0.0);  // the float P·V
        return;
    }
    if (!with_query) {
        check_against_float64(q, kd, vq, vd, out, 1.0, 1.2e-2);
    } else {
        // The scores are Q's rounding's: the bound from the exact scores, with slack for the moved
        // weights, and the float P·V of the same scores close by.
        check_against_float64(q, kd, vq, vd, out, 1.5, 1.5e-2);
        CHECK(max_difference(out, exact) <= 3e-2);
    }
}

template <class F>
void sweep(std::uint32_t seed) {
    std::mt19937 rng(seed);
    for (const index_t group : {1, 4, 8})
        for (const index_t lk : {1, 7, 63, 65, 129, 1000})
            for (const index_t D : {index_t{64}, index_t{128}, std::is_same_v<F, quant::int8> ? index_t{80} : index_t{96}})
                check_int8_pv<F>(group, lk, D, 1, false, 0, 1.0f, rng);
    check_int8_pv<F>(4, 3000, 128, 1, false, 5, 1.0f, rng);  // splits: tiles that start mid-range
    check_int8_pv<F>(4, 777, 128, 1, false, 0, 0.05f, rng);  // near-uniform attention
    check_int8_pv<F>(4, 777, 128, 1, false, 0, 8.0f, rng);   // peaked attention
    check_int8_pv<F>(8, 129, 256, 1, false, 2, 1.0f, rng);   // wide heads
    check_int8_pv<F>(4, 200, 128, 2, false, 0, 1.0f, rng);   // two query rows per head: 8 rows
    check_int8_pv<F>(4, 200, 128, 3, false, 0, 1.0f, rng);   // 12 rows: the float kernel
    check_int8_pv<F>(4, 1000, 128, 1, true, 0, 1.0f, rng);   // integer scores too
    check_int8_pv<F>(1, 65, 64, 1, true, 3, 1.0f, rng);
}

}  // namespace

TEST_CASE("int8_pv: integer P·V on int8 V", "[int8_pv]") { sweep<quant::int8>(101); }
TEST_CASE("int8_pv: integer P·V on q8_0 V (per-block scales)", "[int8_pv]") { sweep<quant::q8_0>(102); }
TEST_CASE("int8_pv: integer P·V on q4_0 V (nibbles, signed block scales)", "[int8_pv]") { sweep<quant::q4_0>(103); }

TEST_CASE("int8_pv: a V scale that is NaN reaches exactly what the float P·V reaches", "[int8_pv]") {
    std::mt19937 rng(104);
    const index_t Hq = 8, Hkv = 2, D = 128, lk = 300;
    tensor<float> q(1, Hq, 1, D), k(1, Hkv, lk, D), v(1, Hkv, lk, D), out(1, Hq, 1, D), exact(1, Hq, 1, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    const auto kq = quant::quantize(k.cview(), quant::int8{});
    auto vq = quant::quantize(v.cview(), quant::q8_0{});
    quant::store_half(vq.row(0, 1, 77) + quant::q8_0::block_bytes, std::numeric_limits<float>::quiet_NaN());  // head 1, key 77, block 1
    attune::options opt;
    attune::attention<arch>(q.cview(), kq.view(), vq.view(), exact.view, attune::variant<>{}, opt);
    opt.int8_pv = true;
    out.poison();
    attune::attention<arch>(q.cview(), kq.view(), vq.view(), out.view, attune::variant<>{}, opt);
    index_t nans = 0;
    for (index_t h = 0; h < Hq; ++h)
        for (index_t c = 0; c < D; ++c) {
            INFO("head " << h << " column " << c);
            REQUIRE(std::isnan(out.view(0, h, 0, c)) == std::isnan(exact.view(0, h, 0, c)));
            if (std::isnan(exact.view(0, h, 0, c))) ++nans;
            else REQUIRE(std::fabs(out.view(0, h, 0, c) - exact.view(0, h, 0, c)) <= 2e-2);
        }
    CHECK(nans == 4 * 32);  // the 4 heads of kv head 1, the 32 columns of block 1
}

TEST_CASE("int8_pv: negative scales in an int8 or q8_0 cache (never written by their quantizers) are read right", "[int8_pv]") {
    // A handed-over cache may hold them: their tiles take the float P·V (weights must be ≥ 0 for
    // the unsigned 8-bit weights); the output stays the float kernel's within the rounding elsewhere.
    std::mt19937 rng(106);
    const index_t Hq = 8, Hkv = 2, D = 128, lk = 300;
    tensor<float> q(1, Hq, 1, D), k(1, Hkv, lk, D), v(1, Hkv, lk, D), out(1, Hq, 1, D), exact(1, Hq, 1, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    const auto kq = quant::quantize(k.cview(), quant::int8{});
    const auto check = [&](auto& vq) {
        attune::options opt;
        attune::attention<arch>(q.cview(), kq.view(), vq.view(), exact.view, attune::variant<>{}, opt);
        opt.int8_pv = true;
        out.poison();
        attune::attention<arch>(q.cview(), kq.view(), vq.view(), out.view, attune::variant<>{}, opt);
        for (index_t h = 0; h < Hq; ++h)
            for (index_t c = 0; c < D; ++c) {
                INFO("head " << h << " column " << c);
                REQUIRE(std::isfinite(out.view(0, h, 0, c)));
                REQUIRE(std::fabs(out.view(0, h, 0, c) - exact.view(0, h, 0, c)) <= 2e-2);
            }
    };
    auto v8 = quant::quantize(v.cview(), quant::int8{});
    float s;
    std::memcpy(&s, v8.row(0, 1, 77), sizeof s);
    s = -s;
    std::memcpy(v8.row(0, 1, 77), &s, sizeof s);  // head 1, key 77: the row negated
    check(v8);
    auto vb = quant::quantize(v.cview(), quant::q8_0{});
    std::uint8_t* block = vb.row(0, 0, 200) + 2 * quant::q8_0::block_bytes;  // head 0, key 200, block 2
    quant::store_half(block, -quant::half_value(block));
    check(vb);
}

TEST_CASE("int8_pv: paged q4_0 values equal dense ones", "[int8_pv]") {
    std::mt19937 rng(105);
    attune::options opt;
    opt.int8_pv = true;
    CHECK(paged_minus_dense<quant::q4_0>(opt, rng) <= 1e-6);
}

TEST_CASE("int8_pv: accuracy on the golden decode case (PyTorch's float64 outputs)", "[int8_pv]") {
    // The README's storage table, integer rows: ATTUNE_QUANT_ACCURACY=1 prints them. 1000 keys of
    // near-uniform attention over random values (small averages: where 8-bit weights cost most).
    // Measured rel. L2: int8 9.2e-3 exact, 1.09e-2 with int8_pv, 1.31e-2 with int8_query too; q8_0
    // 7.8e-3, 9.7e-3, 1.18e-2; q4_0 1.25e-1 throughout (the format's own error dominates).
    const std::string dir = quant_golden_dir();
    INFO("golden case softmax_decode_gqa in " << dir << " (set ATTUNE_GOLDEN_DIR to the directory holding manifest.json)");
    const golden_case g(dir + "/softmax_decode_gqa");
    const bool print = std::getenv("ATTUNE_QUANT_ACCURACY") != nullptr;
    attune::options pv, both;
    pv.int8_pv = true;
    both.int8_pv = both.int8_query = true;
    const auto run = [&](auto format, double bound) {
        using F = decltype(format);
        const auto exact = g.error(F{}, F{}, false, 0.0f), with_pv = g.error(F{}, F{}, false, 0.0f, pv),
                   with_both = g.error(F{}, F{}, false, 0.0f, both);
        if (print)
            std::printf("softmax_decode_gqa %-6s rel L2 %.2e (exact) %.2e (int8_pv) %.2e (int8_query + int8_pv); max %.2e %.2e %.2e\n",
                        F::name(), exact.first, with_pv.first, with_both.first, exact.second, with_pv.second, with_both.second);
        INFO(F::name() << ": rel L2 " << exact.first << " / " << with_pv.first << " / " << with_both.first);
        CHECK(with_pv.first <= exact.first + 5e-3);
        CHECK(with_both.first <= bound);
    };
    run(quant::int8{}, 1.5e-2);
    run(quant::q8_0{}, 1.5e-2);
    run(quant::q4_0{}, 2e-1);
}
