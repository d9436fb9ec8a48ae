// attune/quantized.hpp: attention over quantized K/V (the formats of quant/, the quantized K/V
// source of kernel/quant_source.hpp and the in-register decode kernels of
// kernel/quant_microkernel.hpp), against the double-precision reference run on the dequantized
// values and against the float kernel on them: every format, odd lengths (decode and prefill),
// head dims 32/64/80/128 where the format allows, GQA 1/4/8, forced key splits, variants, LSE,
// bf16 queries and outputs, quantized page pools (shuffled pages, bitwise equal to dense rows),
// quant_kv_cache over many steps, and hostile views, scales and tables.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/cache/paged_kv_cache.hpp"
#include "attune/cache/quant_kv_cache.hpp"
#include "attune/quantized.hpp"
#include "attune/reference/softmax.hpp"
#include "golden_case.hpp"
#include "npy.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;
using namespace attune_test;
namespace quant = attune::quant;
using arch = ATTUNE_TEST_ARCH;

namespace {

// x's rows quantized to F and dequantized back into a float tensor of the same shape.
template <class F>
struct quantized_input {
    quant::quantized<F> q;
    tensor<float> values;
    quantized_input(const tensor<float>& x, F f)
        : q(quant::quantize(x.cview(), f)), values(x.view.batch(), x.view.heads(), x.view.tokens(), x.view.dim()) {
        quant::dequantize<F, attune::simd::scalar>(q.view(), values.view);
    }
};

// One format over a shape: quantized attention against the reference on the dequantized values
// (fp32's bound) and against attune's float kernel on them (the same arithmetic up to the order
// of a row's scale).
template <class F, class Var = attune::variant<>>
void check_format(F f, index_t B, index_t Hq, index_t Hkv, index_t Lq, index_t Lk, index_t D, std::mt19937& rng, const Var& var = {},
                  index_t splits = 0) {
    INFO(F::name() << " B " << B << " Hq " << Hq << " Hkv " << Hkv << " Lq " << Lq << " Lk " << Lk << " D " << D << " splits " << splits);
    tensor<float> q(B, Hq, Lq, D), k(B, Hkv, Lk, D), v(B, Hkv, Lk, D), out(B, Hq, Lq, D, layout::blhd, 3), ref_out(B, Hq, Lq, D);
    q.fill_random(rng);
    k.fill_random(rng);
    v.fill_random(rng);
    const quantized_input<F> kq(k, f), vq(v, f);
    out.poison();
    attune::options opt;
    opt.kv_splits = splits;
    attune::attention<arch>(q.cview(), kq.q.view(), vq.q.view(), out.view, var, opt);
    const auto ref = attune::reference::attention(q.cview(), kq.values.cview(), vq.values.cview(), var);
    check_against_reference(out, ref, fp32_tolerance());
    attune::attention<arch>(q.cview(), kq.values.cview(), vq.values.cview(), ref_out.view, var, opt);
    tensor<float> ours(B, Hq, Lq, D);
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < Hq; ++h)
            for (index_t t = 0; t < Lq; ++t)
                for (index_t d = 0; d < D; ++d) ours.view(b, h, t, d) = out.view(b, h, t, d);
    CHECK(max_difference(ours, ref_out) <= 2e-6);
}

template <class F>
void check_shapes(F f, std::uint32_t seed) {
    std::mt19937 rng(seed);
    const std::vector<std::pair<index_t, index_t>> lengths{{1, 1}, {1, 7}, {1, 129}, {7, 63}, {65, 65}, {3, 300}};
    for (const index_t D : {32, 64, 80, 128}) {
        if (D % F::group != 0) continue;
        for (const index_t group : {1, 4, 8})
            for (const auto& [lq, lk] : lengths) {
                check_format(f, 1, 2 * group, 2, lq, lk, D, rng, attune::causal{});
                if (lq == 1 && D == 128) check_format(f, 2, 2 * group, 2, lq, lk, D, rng);
            }
    }
}

}  // namespace

TEST_CASE("quantized K/V: every format against the reference on its dequantized values", "[quant]") {
    SECTION("int8") { check_shapes(quant::int8{}, 11); }
    SECTION("fp8 e4m3") { check_shapes(quant::fp8_e4m3{0.01f}, 12); }
    SECTION("fp8 e5m2") { check_shapes(quant::fp8_e5m2{}, 13); }
    SECTION("q8_0") { check_shapes(quant::q8_0{}, 14); }
    SECTION("q4_0") { check_shapes(quant::q4_0{}, 15); }
    SECTION("q4_1") { check_shapes(quant::q4_1{}, 16); }
    SECTION("int4 group 64") { check_shapes(quant::int4_group<64>{}, 17); }
    SECTION("int4 group 128") { check_shapes(quant::int4_group<128>{}, 18); }
}

TEST_CASE("quantized K/V: key splits, variants, LSE, per-head fp8 scales, mixed formats", "[quant]") {
    std::mt19937 rng(21);
    // Decode split over the workers, and forced splits of a prefill.
    check_format(quant::q8_0{}, 1, 8, 2, 1, 1000, 128, rng, attune::variant<>{}, 5);
    check_format(quant::int8{}, 1, 8, 2, 9, 700, 64, rng, attune::causal{}, 3);
    // Masks, score modifiers, sinks and the sigmoid family read the dequantized scores.
    const auto slopes = attune::alibi_slopes(8);
    check_format(quant::int8{}, 1, 8, 2, 1, 300, 64, rng, attune::variant(attune::sinks_window(4, 64), attune::alibi{slopes}));
    check_format(quant::q4_0{}, 1, 8, 2, 33, 200, 64, rng, attune::variant(attune::sinks_window(4, 64), attune::softcap{20.0f}));
    check_format(quant::q8_0{}, 1, 4, 4, 5, 90, 32, rng, attune::variant(attune::sigmoid{-3.0f}, attune::causal{}));
    // Per-head fp8 scales.
    const std::vector<float> scales{0.004f, 0.02f};
    check_format(quant::fp8_e4m3{1.0f, scales.data()}, 1, 8, 2, 1, 129, 80, rng, attune::causal{});
    // LSE.
    tensor<float> q(1, 4, 3, 64), k(1, 2, 77, 64), v(1, 2, 77, 64), out(1, 4, 3, 64);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    const quantized_input<quant::q4_1> kq(k, {});
    const quantized_input<quant::int8> vq(v, {});
    lse_buffer lse(1, 4, 3);
    out.poison();
    attune::options opt;
    opt.lse = lse.view;
    attune::attention<arch>(q.cview(), kq.q.view(), vq.q.view(), out.view, attune::causal{}, opt);
    check_against_reference(out, attune::reference::attention(q.cview(), kq.values.cview(), vq.values.cview(), attune::causal{}),
                            fp32_tolerance(), &lse);
}

// e4m3's NaN bytes (0x7f / 0xff) stay NaN: decode reads a tile without them by the shorter
// widening (quant/fp8.hpp's load_finite), a tile with one by the exact one. A K NaN makes its kv
// head's rows NaN, a V NaN its column; every other output equals the reference on the dequantized
// values, in the tiles before and after it too. Planted (every tile read by load_finite): the NaN
// key read as 480 and no output NaN.
TEST_CASE("quantized K/V: e4m3 NaN bytes stay NaN; the tiles around them read finite", "[quant]") {
    std::mt19937 rng(31);
    const index_t Hq = 8, Hkv = 2, Lk = 300, D = 80;
    tensor<float> q(1, Hq, 1, D), k(1, Hkv, Lk, D), v(1, Hkv, Lk, D), out(1, Hq, 1, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    const quant::fp8_e4m3 f{0.01f};
    quantized_input<quant::fp8_e4m3> kq(k, f), vq(v, f);
    auto plant = [](quantized_input<quant::fp8_e4m3>& x, index_t h, index_t t, index_t d, std::uint8_t code) {
        x.q.row(0, h, t)[d] = code;
        x.values.view(0, h, t, d) = std::numeric_limits<float>::quiet_NaN();
    };
    plant(kq, 1, 130, 17, 0x7f);  // K: head 1's third tile
    plant(vq, 0, 250, 41, 0xff);  // V: head 0's fourth tile, column 41
    for (const index_t splits : {0, 3}) {
        INFO("splits " << splits);
        attune::options opt;
        opt.kv_splits = splits;
        out.poison();
        attune::attention<arch>(q.cview(), kq.q.view(), vq.q.view(), out.view, attune::variant<>{}, opt);
        const auto ref = attune::reference::attention(q.cview(), kq.values.cview(), vq.values.cview(), attune::variant<>{});
        int wrong_nan = 0, far = 0;
        double worst = 0;
        for (index_t h = 0; h < Hq; ++h)
            for (index_t d = 0; d < D; ++d) {
                const bool want_nan = h / (Hq / Hkv) == 1 || d == 41;
                const float o = out.view(0, h, 0, d);
                wrong_nan += std::isnan(o) != want_nan;
                if (!want_nan) {
                    const double e = std::fabs(o - ref.at(0, h, 0, d));
                    worst = std::max(worst, e);
                    far += e > 1e-5;
                }
            }
        INFO("largest error " << worst);
        CHECK(wrong_nan == 0);
        CHECK(far == 0);
    }
}

TEST_CASE("quantized K/V: bf16 queries and outputs", "[quant]") {
    std::mt19937 rng(31);
    for (const index_t lq : {1, 40}) {
        tensor<attune::bf16> q(1, 8, lq, 128), out(1, 8, lq, 128);
        tensor<float> k(1, 2, 150, 128), v(1, 2, 150, 128);
        q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
        const quantized_input<quant::q8_0> kq(k, {});
        const quantized_input<quant::q4_0> vq(v, {});
        out.poison();
        attune::attention<arch>(q.cview(), kq.q.view(), vq.q.view(), out.view, attune::causal{});
        check_against_reference(out, attune::reference::attention(q.cview(), kq.values.cview(), vq.values.cview(), attune::causal{}),
                                bf16_out_tolerance());
    }
}

TEST_CASE("quantized K/V: llama.cpp's [tokens, heads] rows read in place", "[quant]") {
    std::mt19937 rng(41);
    const index_t Hkv = 2, L = 70, D = 64;
    tensor<float> q(1, 8, 1, D), k(1, Hkv, L, D), v(1, Hkv, L, D), out(1, 8, 1, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    const quantized_input<quant::q8_0> kq(k, {});
    const quantized_input<quant::q4_0> vq(v, {});
    out.poison();
    // The same rows re-laid as [tokens][heads] (a ggml cache's order).
    std::vector<std::uint8_t> kb(kq.q.bytes().size()), vb(vq.q.bytes().size());
    const index_t rk = quant::q8_0::row_bytes(D), rv = quant::q4_0::row_bytes(D);
    for (index_t h = 0; h < Hkv; ++h)
        for (index_t t = 0; t < L; ++t) {
            std::copy_n(kq.q.view().row(0, h, t), rk, kb.begin() + (t * Hkv + h) * rk);
            std::copy_n(vq.q.view().row(0, h, t), rv, vb.begin() + (t * Hkv + h) * rv);
        }
    attune::attention<arch>(q.cview(), quant::view_blhd<quant::q8_0>(kb.data(), 1, L, Hkv, D),
                            quant::view_blhd<quant::q4_0>(vb.data(), 1, L, Hkv, D), out.view);
    check_against_reference(out, attune::reference::attention(q.cview(), kq.values.cview(), vq.values.cview()), fp32_tolerance());
}

TEST_CASE("quantized K/V: page pools equal dense rows bitwise on one executor", "[quant]") {
    std::mt19937 rng(51);
    const index_t Hq = 8, Hkv = 2, D = 64;
    for (const index_t page : {1, 16, 64}) {
        INFO("page size " << page);
        // Three sequences: a decode row over 300 keys, a prefill chunk of 20 over 90, one without keys.
        const std::vector<std::pair<index_t, index_t>> seqs{{1, 300}, {20, 90}, {1, 0}};
        std::vector<std::int32_t> qo{0}, lengths, first{0}, ids;
        index_t pages = 0;
        for (const auto& [nq, nk] : seqs) {
            qo.push_back(static_cast<std::int32_t>(qo.back() + nq));
            lengths.push_back(static_cast<std::int32_t>(nk));
            const index_t np = (nk + page - 1) / page;
            for (index_t i = 0; i < np; ++i) ids.push_back(static_cast<std::int32_t>(pages + i));
            pages += np;
            first.push_back(static_cast<std::int32_t>(ids.size()));
        }
        std::shuffle(ids.begin(), ids.end(), rng);  // pages in any order
        const index_t total_q = qo.back();
        tensor<float> kpool(pages, Hkv, page, D), vpool(pages, Hkv, page, D), q(1, Hq, total_q, D), out(1, Hq, total_q, D);
        kpool.fill_random(rng), vpool.fill_random(rng), q.fill_random(rng);
        const quantized_input<quant::q8_0> kq(kpool, {});
        const quantized_input<quant::int8> vq(vpool, {});
        attune::page_table table{ids.data(), first.data(), lengths.data(), 3};
        out.poison();
        // One executor for both calls (a serial one): with more workers the batch and a sequence alone
        // are planned apart, and a decode row's keys may split differently (OMP_NUM_THREADS=16 did).
        attune::paged_attention<arch>(q.cview(), attune::seq_offsets{qo.data(), 3},
                                      attune::paged_quant_kv<quant::q8_0, quant::int8>{kq.q.view(), vq.q.view(), table}, out.view,
                                      attune::causal{}, {}, attune::serial_executor{});
        // Each sequence again through the dense quantized path, rows gathered from its pages.
        for (index_t s = 0; s < 3; ++s) {
            const index_t nq = qo[s + 1] - qo[s], nk = lengths[s];
            if (nq == 0) continue;
            quant::quantized<quant::q8_0> kd(1, Hkv, nk, D);
            quant::quantized<quant::int8> vd(1, Hkv, nk, D);
            for (index_t h = 0; h < Hkv; ++h)
                for (index_t t = 0; t < nk; ++t) {
                    const index_t pg = ids[first[s] + t / page];
                    std::copy_n(kq.q.view().row(pg, h, t % page), kd.view().row_bytes(), kd.row(0, h, t));
                    std::copy_n(vq.q.view().row(pg, h, t % page), vd.view().row_bytes(), vd.row(0, h, t));
                }
            tensor<float> qs(1, Hq, nq, D), os(1, Hq, nq, D);
            for (index_t h = 0; h < Hq; ++h)
                for (index_t t = 0; t < nq; ++t) std::copy_n(q.view.row(0, h, qo[s] + t), D, qs.view.row(0, h, t));
            attune::attention<arch>(qs.cview(), kd.view(), vd.view(), os.view, attune::causal{}, {}, attune::serial_executor{});
            double diff = 0.0;
            for (index_t h = 0; h < Hq; ++h)
                for (index_t t = 0; t < nq; ++t)
                    for (index_t d = 0; d < D; ++d)
                        diff = std::max<double>(diff, std::fabs(os.view(0, h, t, d) - out.view(0, h, qo[s] + t, d)));
            // Decode reads the same rows through a table: the same sums. A prefill chunk's key splits
            // are the batch planner's, so its sums may group differently.
            INFO("sequence " << s);
            CHECK(diff <= (nq == 1 ? 0.0 : 1e-6));
        }
    }
}

TEST_CASE("quant_kv_cache: decode steps over the quantized history", "[quant]") {
    std::mt19937 rng(61);
    const index_t Hq = 8, Hkv = 2, D = 64, prompt = 37, steps = 40;
    attune::quant_kv_cache<quant::q8_0, quant::int4_group<64>> cache(Hkv, D, D);
    tensor<attune::bf16> kp(1, Hkv, prompt, D), vp(1, Hkv, prompt, D);
    kp.fill_random(rng), vp.fill_random(rng);
    cache.append(kp.cview(), vp.cview());
    // The history in float (the bf16 prompt widened), quantized here as the cache does.
    tensor<float> kall(1, Hkv, prompt + steps, D), vall(1, Hkv, prompt + steps, D);
    for (index_t h = 0; h < Hkv; ++h)
        for (index_t t = 0; t < prompt; ++t)
            for (index_t d = 0; d < D; ++d)
                kall.view(0, h, t, d) = attune::to_float(kp.view(0, h, t, d)),
                                   vall.view(0, h, t, d) = attune::to_float(vp.view(0, h, t, d));
    for (index_t i = 0; i < steps; ++i) {
        tensor<float> q(1, Hq, 1, D), k(1, Hkv, 1, D), v(1, Hkv, 1, D), out(1, Hq, 1, D);
        q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
        out.poison();
        cache.step<arch>(q.cview(), k.cview(), v.cview(), out.view, attune::causal{});
        const index_t n = prompt + i + 1;
        for (index_t h = 0; h < Hkv; ++h)
            for (index_t d = 0; d < D; ++d) kall.view(0, h, n - 1, d) = k.view(0, h, 0, d), vall.view(0, h, n - 1, d) = v.view(0, h, 0, d);
        if (i % 13 != 12) continue;
        tensor<float> kh(1, Hkv, n, D), vh(1, Hkv, n, D);
        for (index_t h = 0; h < Hkv; ++h)
            for (index_t t = 0; t < n; ++t)
                std::copy_n(kall.view.row(0, h, t), D, kh.view.row(0, h, t)), std::copy_n(vall.view.row(0, h, t), D, vh.view.row(0, h, t));
        const quantized_input<quant::q8_0> kq(kh, {});
        const quantized_input<quant::int4_group<64>> vq(vh, {});
        CHECK(cache.keys().tokens() == n);
        for (index_t h = 0; h < Hkv; ++h)
            for (index_t t = 0; t < n; ++t) {
                CHECK(std::equal(kq.q.view().row(0, h, t), kq.q.view().row(0, h, t) + kq.q.view().row_bytes(), cache.keys().row(0, h, t)));
                CHECK(
                    std::equal(vq.q.view().row(0, h, t), vq.q.view().row(0, h, t) + vq.q.view().row_bytes(), cache.values().row(0, h, t)));
            }
        check_against_reference(out, attune::reference::attention(q.cview(), kq.values.cview(), vq.values.cview(), attune::causal{}),
                                fp32_tolerance());
    }
    CHECK(cache.tokens() == prompt + steps);
    CHECK(cache.bytes() == (prompt + steps) * Hkv * (quant::q8_0::row_bytes(D) + quant::int4_group<64>::row_bytes(D)));
}

TEST_CASE("quantized K/V: hostile views, scales, tables and caches", "[quant]") {
    std::mt19937 rng(71);
    const auto throws_with = [](auto&& f, const char* text) { CHECK_THROWS_WITH(f(), Catch::Contains(text)); };
    std::vector<std::uint8_t> bytes(1 << 16);
    // Formats that cannot hold the dim, bad scales, negative shapes, overflowing strides.
    throws_with([&] { quant::view_bhld<quant::q8_0>(bytes.data(), 1, 2, 4, 80); }, "q8_0");
    throws_with([&] { quant::view_bhld<quant::int4_group<128>>(bytes.data(), 1, 2, 4, 64); }, "int4_g128");
    throws_with([&] { quant::view_bhld(bytes.data(), 1, 2, 4, 64, quant::fp8_e4m3{0.0f}); }, "fp8 scale");
    throws_with([&] { quant::view_bhld(bytes.data(), 1, 2, 4, 64, quant::fp8_e4m3{std::nanf("")}); }, "fp8 scale");
    const std::vector<float> bad_heads{0.1f, -1.0f};
    throws_with([&] { quant::view_bhld(bytes.data(), 1, 2, 4, 64, quant::fp8_e5m2{1.0f, bad_heads.data()}); }, "head_scales[1]");
    throws_with([&] { quant::quant_view<quant::int8>(bytes.data(), {1, 2, -4, 64}, {0, 0, 68}); }, "negative");
    throws_with([&] { quant::quant_view<quant::int8>(bytes.data(), {1, 2, index_t(1) << 40, 64}, {0, 0, index_t(1) << 40}); }, "strides");
    throws_with([&] { quant::view_bhld<quant::int8>(bytes.data(), index_t(1) << 40, index_t(1) << 20, 1, 64); }, "overflows");
    std::vector<float> channels(2 * 64, 1.0f);
    channels[70] = 0.0f;
    throws_with([&] { quant::view_bhld(bytes.data(), 1, 2, 4, 64, quant::int8{channels.data(), 64}); }, "channel[1][6]");
    throws_with([&] { quant::view_bhld(bytes.data(), 1, 2, 4, 64, quant::int8{channels.data(), 32}); }, "channel_stride");

    tensor<float> q(1, 4, 1, 64), out(1, 4, 1, 64);
    q.fill_random(rng);
    const auto k = quant::view_bhld<quant::q8_0>(bytes.data(), 1, 2, 8, 64);
    const auto v = quant::view_bhld<quant::q8_0>(bytes.data() + 4096, 1, 2, 8, 64);
    // Null data, mismatched shapes, outputs over the quantized bytes.
    throws_with([&] { attune::attention<arch>(q.cview(), quant::view_bhld<quant::q8_0>(nullptr, 1, 2, 8, 64), v, out.view); },
                "k has null data");
    throws_with([&] { attune::attention<arch>(q.cview(), k, quant::view_bhld<quant::q8_0>(bytes.data(), 1, 2, 9, 64), out.view); },
                "v tokens");
    throws_with([&] { attune::attention<arch>(q.cview(), k, quant::view_bhld<quant::q8_0>(bytes.data(), 1, 2, 8, 32), out.view); },
                "out shape");
    auto* over = reinterpret_cast<float*>(bytes.data() + 4096 + 64);
    throws_with([&] { attune::attention<arch>(q.cview(), k, v, attune::view_bhld(over, 1, 4, 1, 64)); }, "out overlaps v");
    // Paged: a page id outside the pool.
    std::vector<std::int32_t> qo{0, 1}, ids{0, 7}, first{0, 2}, lengths{20};
    const auto pool = quant::view_bhld<quant::q8_0>(bytes.data(), 4, 2, 16, 64);
    const auto vpool = quant::view_bhld<quant::q8_0>(bytes.data() + 8 * 1024 * 4, 4, 2, 16, 32);
    throws_with(
        [&] {
            attune::paged_attention<arch>(q.cview(), attune::seq_offsets{qo.data(), 1},
                                          attune::paged_quant_kv<quant::q8_0>{pool, pool, {ids.data(), first.data(), lengths.data(), 1}},
                                          out.view);
        },
        "ids[1] = 7");
    (void)vpool;
    // The cache: a format that cannot hold its dims, capacity, a failing step leaves it unchanged.
    throws_with([&] { attune::quant_kv_cache<quant::q4_0> c(2, 48, 64); }, "q4_0");
    attune::kv_cache_options o;
    o.max_tokens = 4;
    attune::quant_kv_cache<quant::int8> cache(2, 64, 64, {}, {}, o);
    tensor<float> k3(1, 2, 3, 64), v3(1, 2, 3, 64), q3(1, 4, 3, 64), o3(1, 4, 3, 64);
    k3.fill_random(rng), v3.fill_random(rng), q3.fill_random(rng);
    cache.append(k3.cview(), v3.cview());
    const std::vector<std::uint8_t> before(cache.keys().row(0, 0, 0), cache.keys().row(0, 0, 0) + 3 * cache.keys().row_bytes());
    throws_with([&] { cache.append(k3.cview(), v3.cview()); }, "capacity exceeded");
    tensor<float> k1(1, 2, 1, 64), v1(1, 2, 1, 64), q1(1, 4, 1, 64), o1(1, 4, 1, 64);
    k1.fill_random(rng), v1.fill_random(rng), q1.fill_random(rng);
    attune::options bad;
    bad.scale = -1.0f;
    throws_with([&] { cache.step<arch>(q1.cview(), k1.cview(), v1.cview(), o1.view, attune::variant<>{}, bad); }, "scale");
    CHECK(cache.tokens() == 3);
    CHECK(std::equal(before.begin(), before.end(), cache.keys().row(0, 0, 0)));
}

TEST_CASE("quantized K/V: accuracy against float attention", "[quant]") {
    // Decode over 512 keys against float attention on the unquantized K/V: Gaussian K/V, and K with
    // three channels 10× the others (KIVI's observation of real keys), where per-channel scales
    // (int8 with channel_scales) restore int8's accuracy. Bounds: the 1e-2 for the 8-bit
    // formats; the measured errors with some room for the 4-bit ones, so a regression shows.
    std::mt19937 rng(81);
    const index_t Hq = 8, Hkv = 2, L = 512, D = 128;
    tensor<float> q(1, Hq, 1, D), k(1, Hkv, L, D), v(1, Hkv, L, D), ref_out(1, Hq, 1, D), out(1, Hq, 1, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    const auto rel_l2 = [&](auto kf, auto vf) {
        attune::attention<arch>(q.cview(), k.cview(), v.cview(), ref_out.view);
        const auto kq = quant::quantize(k.cview(), kf);
        const auto vq = quant::quantize(v.cview(), vf);
        attune::attention<arch>(q.cview(), kq.view(), vq.view(), out.view);
        double e = 0, r = 0;
        for (index_t h = 0; h < Hq; ++h)
            for (index_t d = 0; d < D; ++d) {
                const double x = out.view(0, h, 0, d), y = ref_out.view(0, h, 0, d);
                e += (x - y) * (x - y), r += y * y;
            }
        return std::sqrt(e / r);
    };
    const auto fp8 = [](float amax) { return quant::fp8_e4m3{amax / 448.0f}; };
    SECTION("Gaussian K and V") {
        CHECK(rel_l2(quant::int8{}, quant::int8{}) <= 1e-2);
        CHECK(rel_l2(quant::q8_0{}, quant::q8_0{}) <= 1e-2);
        // e4m3 keeps 3 mantissa bits: each value moves by up to 2^-4 of itself, and the output of
        // averaging random V moves by that order too (measured 3.9e-2): the format's own limit.
        CHECK(rel_l2(fp8(5.0f), fp8(5.0f)) <= 5e-2);
        CHECK(rel_l2(quant::q4_0{}, quant::q4_0{}) <= 1.5e-1);
        CHECK(rel_l2(quant::q4_1{}, quant::q4_1{}) <= 1.5e-1);
    }
    SECTION("K with outlier channels") {
        for (index_t h = 0; h < Hkv; ++h)
            for (index_t t = 0; t < L; ++t)
                for (const index_t d : {3, 40, 99}) k.view(0, h, t, d) *= 10.0f;
        const std::vector<float> channels = quant::channel_scales(k.cview());
        const double per_token = rel_l2(quant::int8{}, quant::int8{}), per_channel = rel_l2(quant::int8{channels.data(), D}, quant::int8{});
        INFO("int8 per token " << per_token << ", with channel scales " << per_channel);
        CHECK(per_channel <= 2e-2);  // measured 1.6e-2 (per token: 3.7e-2)
        CHECK(per_channel < per_token / 2);
    }
}

TEST_CASE("quantized K/V: accuracy on the golden cases (PyTorch's float64 outputs)", "[quant]") {
    // The README's storage table: ATTUNE_QUANT_ACCURACY=1 prints it. Bounds: the 1e-2 rel. L2
    // for int8 and q8_0; e4m3 and the 4-bit formats at their measured values with some room.
    const std::string dir = quant_golden_dir();
    const bool print = std::getenv("ATTUNE_QUANT_ACCURACY") != nullptr;
    for (const char* name : {"softmax_plain", "softmax_causal", "softmax_causal_gqa_chunk", "softmax_decode_gqa", "softmax_d80_scale"}) {
        INFO("golden case " << name << " in " << dir << " (set ATTUNE_GOLDEN_DIR to the directory holding manifest.json)");
        const golden_case g(dir + "/" + name);
        const bool causal = std::string(name) != "softmax_plain" && std::string(name) != "softmax_decode_gqa";
        const float scale = std::string(name) == "softmax_d80_scale" ? 0.05f : 0.0f;  // the manifest's; others 1/√D
        const std::vector<float> ks = golden_case::fp8_scales(g.k), vs = golden_case::fp8_scales(g.v);
        const auto report = [&](const char* format, std::pair<double, double> e, double bound) {
            if (print) std::printf("%-26s %-10s rel L2 %.2e  max %.2e\n", name, format, e.first, e.second);
            INFO(format << ": rel L2 " << e.first << ", max " << e.second);
            CHECK(e.first <= bound);
        };
        report("int8", g.error(quant::int8{}, quant::int8{}, causal, scale), 1e-2);
        report("fp8_e4m3", g.error(quant::fp8_e4m3{1.0f, ks.data()}, quant::fp8_e4m3{1.0f, vs.data()}, causal, scale), 5e-2);
        report("fp8_e5m2", g.error(quant::fp8_e5m2{1.0f, ks.data()}, quant::fp8_e5m2{1.0f, vs.data()}, causal, scale), 1e-1);
        if (g.D % 32 != 0) continue;
        report("q8_0", g.error(quant::q8_0{}, quant::q8_0{}, causal, scale), 1e-2);
        report("q4_0", g.error(quant::q4_0{}, quant::q4_0{}, causal, scale), 2e-1);
        report("int4_g32", g.error(quant::q4_1{}, quant::q4_1{}, causal, scale), 2e-1);
        if (g.D % 128 == 0) report("int4_g128", g.error(quant::int4_group<128>{}, quant::int4_group<128>{}, causal, scale), 2e-1);
    }
}

TEST_CASE("paged_kv_cache over quantized pages: appends, forks, copy-on-write", "[quant]") {
    // Two formats (fp8 with per-head scales; q8_0) and both layouts: the pool's rows are the bytes
    // quantize() makes of each sequence's tokens, and paged attention over the cache equals dense
    // quantized attention over those tokens.
    std::mt19937 rng(101);
    const index_t Hq = 8, Hkv = 2, D = 64, page = 16;
    const std::vector<float> scales{0.01f, 0.02f};
    const auto run = [&](auto format, attune::page_layout layout) {
        using F = decltype(format);
        INFO(F::name() << (layout == attune::page_layout::nhd ? " nhd" : " hnd"));
        attune::paged_kv_cache<F> cache(Hkv, D, D, page, 64, layout, format, format);
        // Sequence a: a prompt of 37 (bf16), then b forks it; each appends its own tokens.
        tensor<attune::bf16> kp(1, Hkv, 37, D), vp(1, Hkv, 37, D);
        kp.fill_random(rng), vp.fill_random(rng);
        const attune::seq_id a = cache.add_sequence();
        cache.append(a, kp.cview(), vp.cview());
        const attune::seq_id b = cache.fork(a);
        tensor<float> ka(1, Hkv, 5, D), va(1, Hkv, 5, D), kb(1, Hkv, 20, D), vb(1, Hkv, 20, D);
        ka.fill_random(rng), va.fill_random(rng), kb.fill_random(rng), vb.fill_random(rng);
        cache.append(a, ka.cview(), va.cview());
        cache.append(b, kb.cview(), vb.cview());  // copies the shared partial page first
        CHECK(cache.tokens(a) == 42);
        CHECK(cache.tokens(b) == 57);
        // Each sequence's tokens in float, quantized as the cache does.
        const auto history = [&](const tensor<float>& k_new, const tensor<float>& v_new, bool keys) {
            const index_t n = 37 + k_new.view.tokens();
            tensor<float> x(1, Hkv, n, D);
            for (index_t h = 0; h < Hkv; ++h)
                for (index_t t = 0; t < n; ++t)
                    for (index_t d = 0; d < D; ++d)
                        x.view(0, h, t, d) =
                            t < 37 ? attune::to_float((keys ? kp : vp).view(0, h, t, d)) : (keys ? k_new : v_new).view(0, h, t - 37, d);
            return x;
        };
        attune::page_table_storage st;
        const attune::seq_id seqs[] = {a, b};
        const auto kv = cache.kv(seqs, 2, st);
        tensor<float> q(1, Hq, 2, D), out(1, Hq, 2, D);  // one decode row per sequence
        q.fill_random(rng);
        const std::int32_t qo[] = {0, 1, 2};
        attune::paged_attention<arch>(q.cview(), attune::seq_offsets{qo, 2}, kv, out.view);
        for (int s = 0; s < 2; ++s) {
            const tensor<float> kh = s == 0 ? history(ka, va, true) : history(kb, vb, true);
            const tensor<float> vh = s == 0 ? history(ka, va, false) : history(kb, vb, false);
            const auto kq = quant::quantize(kh.cview(), format);
            const auto vq = quant::quantize(vh.cview(), format);
            const index_t n = kh.view.tokens();
            const std::int32_t* ids = cache.page_ids(seqs[s]);
            bool same = true;
            for (index_t h = 0; h < Hkv; ++h)
                for (index_t t = 0; t < n; ++t) {
                    const std::uint8_t* row = kv.k_pages.row(ids[t / page], h, t % page);
                    same = same && std::equal(row, row + kq.view().row_bytes(), kq.view().row(0, h, t));
                    const std::uint8_t* vrow = kv.v_pages.row(ids[t / page], h, t % page);
                    same = same && std::equal(vrow, vrow + vq.view().row_bytes(), vq.view().row(0, h, t));
                }
            INFO("sequence " << s);
            CHECK(same);
            tensor<float> qs(1, Hq, 1, D), os(1, Hq, 1, D);
            for (index_t h = 0; h < Hq; ++h) std::copy_n(q.view.row(0, h, s), D, qs.view.row(0, h, 0));
            attune::attention<arch>(qs.cview(), kq.view(), vq.view(), os.view);
            double diff = 0.0;
            for (index_t h = 0; h < Hq; ++h)
                for (index_t d = 0; d < D; ++d) diff = std::max<double>(diff, std::fabs(os.view(0, h, 0, d) - out.view(0, h, s, d)));
            CHECK(diff == 0.0);
        }
        // Hostile: a chunk over the pool's bytes, a format that cannot hold the dims.
        const auto* pool_bytes = reinterpret_cast<const float*>(kv.k_pages.data());
        const attune::tensor_view<const float> alias(pool_bytes, {1, Hkv, 1, D}, {0, D, D});
        tensor<float> v1(1, Hkv, 1, D);
        v1.fill_random(rng);
        CHECK_THROWS_WITH(cache.append(a, alias, v1.cview()), Catch::Contains("k overlaps the cache's page pool"));
        CHECK(cache.tokens(a) == 42);
    };
    run(quant::fp8_e4m3{1.0f, scales.data()}, attune::page_layout::nhd);
    run(quant::q8_0{}, attune::page_layout::hnd);
    CHECK_THROWS_WITH((attune::paged_kv_cache<quant::q4_0>(2, 48, 64, 16, 8)), Catch::Contains("q4_0"));
}

namespace {
// A mask that throws on one key (a user's policy failing inside the parallel region).
struct quant_throwing_mask {
    using policy_kind = attune::mask_kind;
    bool visible(const attune::index_context& c) const {
        if (c.k_pos == 70) throw std::runtime_error("quant_throwing_mask");
        return c.k_pos <= c.q_pos;
    }
};
}  // namespace

TEST_CASE("quantized K/V: a policy throwing inside the region reaches the caller; the next call is right", "[quant]") {
    std::mt19937 rng(111);
    for (const index_t lq : {1, 20}) {  // decode and prefill items
        tensor<float> q(1, 8, lq, 64), k(1, 2, 200, 64), v(1, 2, 200, 64), out(1, 8, lq, 64);
        q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
        const quantized_input<quant::q8_0> kq(k, {});
        const quantized_input<quant::int8> vq(v, {});
        attune::options opt;
        opt.kv_splits = 3;
        CHECK_THROWS_WITH(attune::attention<arch>(q.cview(), kq.q.view(), vq.q.view(), out.view, quant_throwing_mask{}, opt),
                          Catch::Contains("quant_throwing_mask"));
        out.poison();
        attune::attention<arch>(q.cview(), kq.q.view(), vq.q.view(), out.view, attune::causal{}, opt);
        check_against_reference(out, attune::reference::attention(q.cview(), kq.values.cview(), vq.values.cview(), attune::causal{}),
                                fp32_tolerance());
    }
}
