// Gather attention over quantized K/V (sparse/gather_quantized.hpp) and the landmark caches over a
// quantized format (cache/landmark.hpp, cache/landmark_attention_cache.hpp). The oracle is the same
// call over float fed the same rows quantized and dequantized: both attend to the same values, so
// the outputs and LSEs agree within fp32 rounding and the retrieval picks the same blocks. Lists
// per kv head and per query head and token, padding, duplicates, forced splits, a variant; per-head
// fp8 scales and int8 channel scales (the gathered tile is head 0 of a one-head view:
// head_format); and the hostile inputs.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/cache/landmark.hpp"
#include "attune/cache/landmark_attention_cache.hpp"
#include "attune/quantized.hpp"
#include "attune/sparse/gather_quantized.hpp"
#include "cache_oracle.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;
using attune_test::tensor;
namespace quant = attune::quant;
using arch = ATTUNE_TEST_ARCH;

namespace {

using quant_oracle::round_trip;
using quant_oracle::tokens;

// Random lists of `count` entries in [−1, Lk): padding and repeats included.
std::vector<index_t> random_lists(std::mt19937& rng, index_t lists, index_t count, index_t Lk) {
    std::vector<index_t> idx(static_cast<std::size_t>(lists * count));
    std::uniform_int_distribution<index_t> pick(-1, Lk - 1);
    for (auto& e : idx) e = pick(rng);
    return idx;
}

// gather_attention over quantized k, v against the float call on their values: lists per kv head
// (one for every query token) and per query head and token, with LSE, splits forced or not, softcap.
template <class FK, class FV>
void check_gather(const FK& kf, const FV& vf, index_t D) {
    const index_t Hkv = 2, Hq = 6, Lq = 3, Lk = 300;
    std::mt19937 rng(61);
    tensor<float> q(1, Hq, Lq, D), k(1, Hkv, Lk, D), v(1, Hkv, Lk, D);
    q.fill_random(rng, 2.0f), k.fill_random(rng), v.fill_random(rng);
    const auto kq = quant::quantize(k.cview(), kf);
    const auto vq = quant::quantize(v.cview(), vf);
    const tensor<float> kd = round_trip(k, kf), vd = round_trip(v, vf);
    for (const index_t list_heads : {Hkv, Hq})
        for (const index_t list_tokens : {index_t{1}, Lq})
            for (const index_t splits : {index_t{0}, index_t{3}})
                for (const bool capped : {false, true}) {
                    INFO(FK::name() << " / " << FV::name() << ", D " << D << ": list heads " << list_heads << ", list tokens "
                                    << list_tokens << ", kv_splits " << splits << (capped ? ", softcap" : ""));
                    const index_t count = 280;
                    const auto idx = random_lists(rng, list_heads * list_tokens, count, Lk);
                    const attune::index_view iv{idx.data(), 1, list_heads, list_tokens, count};
                    tensor<float> oa(1, Hq, Lq, D), ob(1, Hq, Lq, D), la(1, Hq, Lq, 1), lb(1, Hq, Lq, 1);
                    oa.poison(), la.poison();
                    attune::options oa_opt, ob_opt;
                    oa_opt.kv_splits = ob_opt.kv_splits = splits;
                    oa_opt.lse = la.view;
                    ob_opt.lse = lb.view;
                    if (capped) {
                        attune::sparse::gather_attention<arch>(q.cview(), kq.view(), vq.view(), iv, oa.view, attune::softcap{5.0f}, oa_opt);
                        attune::sparse::gather_attention<arch>(q.cview(), kd.cview(), vd.cview(), iv, ob.view, attune::softcap{5.0f},
                                                               ob_opt);
                    } else {
                        attune::sparse::gather_attention<arch>(q.cview(), kq.view(), vq.view(), iv, oa.view, oa_opt);
                        attune::sparse::gather_attention<arch>(q.cview(), kd.cview(), vd.cview(), iv, ob.view, ob_opt);
                    }
                    CHECK(attune_test::max_difference(oa, ob) <= 2e-5);
                    CHECK(attune_test::max_difference(la, lb) <= 2e-5);
                }
}

}  // namespace

TEST_CASE("gather_attention over quantized K/V equals gather_attention over their values", "[quant_caches]") {
    check_gather(quant::q8_0{}, quant::q4_0{}, 64);
    check_gather(quant::int4_group<32>{}, quant::q8_0{}, 32);
    std::vector<float> c(2 * 80);
    for (std::size_t i = 0; i < c.size(); ++i) c[i] = 0.5f + static_cast<float>(i % 11) * 0.2f;
    check_gather(quant::int8{c.data(), 80}, quant::int8{}, 80);
    const float ks[2] = {0.02f, 0.004f}, vs[2] = {0.01f, 0.03f};
    quant::fp8_e4m3 kf, vf;
    kf.head_scales = ks;
    vf.head_scales = vs;
    check_gather(kf, vf, 128);
}

TEST_CASE("gather_attention over quantized K/V: hostile inputs", "[quant_caches]") {
    const index_t Hkv = 1, Hq = 2, D = 32, Lk = 8;
    std::mt19937 rng(62);
    tensor<float> q(1, Hq, 1, D), k(1, Hkv, Lk, D), v(1, Hkv, Lk, D), out(1, Hq, 1, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    auto kq = quant::quantize(k.cview(), quant::q8_0{});
    const auto vq = quant::quantize(v.cview(), quant::q8_0{});
    const std::vector<index_t> idx{0, 3, 7, -1};
    const attune::index_view iv{idx.data(), 1, Hkv, 1, 4};
    out.poison();
    {  // an index past the keys; nothing written
        const std::vector<index_t> bad{0, 8};
        CHECK_THROWS_WITH(
            attune::sparse::gather_attention<arch>(q.cview(), kq.view(), vq.view(), attune::index_view{bad.data(), 1, Hkv, 1, 2}, out.view),
            Catch::Contains("key index 8 at entry 1"));
        CHECK(std::isnan(out.view(0, 0, 0, 0)));
    }
    // out inside the quantized keys' bytes
    const attune::tensor_view<float> inside_ok(reinterpret_cast<float*>(kq.bytes().data()), {1, Hq, 1, D}, {D, D, D});
    REQUIRE(kq.bytes().size() >= static_cast<std::size_t>(2 * D * 4));
    CHECK_THROWS_WITH(attune::sparse::gather_attention<arch>(q.cview(), kq.view(), vq.view(), iv, inside_ok),
                      Catch::Contains("gather_attention: out overlaps k"));
    // LSE inside the values' bytes
    attune::options opt;
    opt.lse = attune::tensor_view<float>(const_cast<float*>(reinterpret_cast<const float*>(vq.bytes().data())), {1, Hq, 1, 1}, {Hq, 1, 1});
    CHECK_THROWS_WITH(attune::sparse::gather_attention<arch>(q.cview(), kq.view(), vq.view(), iv, out.view, opt),
                      Catch::Contains("options::lse overlaps v"));
    // null bytes, head dims that differ, a mask
    const quant::quant_view<quant::q8_0> null_k(nullptr, {1, Hkv, Lk, D}, {Lk * 34, Lk * 34, 34});
    CHECK_THROWS_WITH(attune::sparse::gather_attention<arch>(q.cview(), null_k, vq.view(), iv, out.view),
                      Catch::Contains("k has null data"));
    tensor<float> q64(1, Hq, 1, 64), out64(1, Hq, 1, 64);
    CHECK_THROWS_WITH(attune::sparse::gather_attention<arch>(q64.cview(), kq.view(), vq.view(), iv, out64.view),
                      Catch::Contains("k head dim (32) differs from q's (64)"));
    CHECK_THROWS_WITH(
        attune::sparse::gather_attention<arch>(q.cview(), kq.view(), vq.view(), iv, out.view, attune::variant(attune::causal{})),
        Catch::Contains("a mask other than none"));
}

namespace {

template <class F, class T>
void check_mean_key(const F& kf, const F& vf, index_t D) {
    const index_t Hkv = 2, Hq = 4, Bk = 8, L = 83;
    std::mt19937 rng(63);
    tensor<T> k(1, Hkv, L, D), v(1, Hkv, L, D);
    tensor<float> q(1, Hq, 9, D);
    k.fill_random(rng), v.fill_random(rng), q.fill_random(rng, 2.0f);
    const tensor<float> kd = round_trip(k, kf), vd = round_trip(v, vf);
    attune::mean_key_landmark_cache<F> a(Hkv, D, D, Bk, kf, vf);
    attune::mean_key_landmark_cache<float> b(Hkv, D, D, Bk);
    index_t at = 0;
    for (index_t n : {1, 20, 13, 49}) {
        a.append(tokens(k, at, n), tokens(v, at, n));
        b.append(tokens(kd, at, n), tokens(vd, at, n));
        at += n;
    }
    REQUIRE(a.blocks() == L / Bk);
    REQUIRE(a.kv().tokens() == L);
    for (index_t h = 0; h < Hkv; ++h)  // the means of the same values, summed in the same order
        for (index_t c = 0; c < a.blocks(); ++c)
            for (index_t d = 0; d < D; ++d) CHECK(a.landmark(h, c)[d] == b.landmark(h, c)[d]);
    for (index_t Lq : {1, 9})
        for (index_t top : {0, 2, 100}) {
            INFO(F::name() << ": Lq " << Lq << ", top_k " << top);
            const attune::tensor_view<const float> qs(q.view.row(0, 0, 0), {1, Hq, Lq, D}, q.view.strides());
            tensor<float> oa(1, Hq, Lq, D), ob(1, Hq, Lq, D);
            oa.poison();
            a.template attend<arch>(qs, oa.view, top, /*window*/ 12);
            b.template attend<arch>(qs, ob.view, top, 12);
            CHECK(a.selected() == b.selected());
            CHECK(attune_test::max_difference(oa, ob) <= 2e-5);
        }
}

template <class F, class T>
void check_landmark_attention(const F& kf, const F& vf, index_t D) {
    const index_t Hkv = 2, Hq = 4, B = 6, L = 45;  // 7 complete blocks, 3 tokens in the last
    std::mt19937 rng(64);
    tensor<T> k(1, Hkv, L, D), v(1, Hkv, L, D);
    tensor<float> lm(1, Hkv, L / B, D), q(1, Hq, 3, D);
    k.fill_random(rng), v.fill_random(rng), lm.fill_random(rng), q.fill_random(rng, 2.0f);
    const tensor<float> kd = round_trip(k, kf), vd = round_trip(v, vf);
    attune::rope r;
    r.head_dim = D;
    attune::landmark_attention_cache<F> a(Hkv, D, D, B, r, kf, vf);
    attune::landmark_attention_cache<float> b(Hkv, D, D, B, r);
    for (index_t blk = 0; blk * B < L; ++blk) {
        const index_t n = std::min(B, L - blk * B);
        a.append(tokens(k, blk * B, n), tokens(v, blk * B, n));
        b.append(tokens(kd, blk * B, n), tokens(vd, blk * B, n));
        if (n == B) {
            a.append_landmark(tokens(lm, blk, 1));
            b.append_landmark(tokens(lm, blk, 1));
        }
    }
    for (index_t Lq : {1, 3})
        for (index_t top : {0, 2, 50}) {
            INFO(F::name() << ": Lq " << Lq << ", top_k " << top);
            const attune::tensor_view<const float> qs(q.view.row(0, 0, 3 - Lq), {1, Hq, Lq, D}, q.view.strides());
            tensor<float> oa(1, Hq, Lq, D), ob(1, Hq, Lq, D);
            oa.poison();
            a.template attend<arch>(qs, oa.view, top);
            b.template attend<arch>(qs, ob.view, top);
            CHECK(a.selected() == b.selected());
            CHECK(attune_test::max_difference(oa, ob) <= 2e-5);
        }
}

}  // namespace

TEST_CASE("mean_key_landmark_cache over quantized rows equals mean_key_landmark_cache<float> over their values", "[quant_caches]") {
    check_mean_key<quant::q8_0, float>(quant::q8_0{}, quant::q8_0{}, 64);
    check_mean_key<quant::q4_0, attune::bf16>(quant::q4_0{}, quant::q4_0{}, 32);
    quant::fp8_e5m2 f;
    f.scale = 0.01f;
    check_mean_key<quant::fp8_e5m2, float>(f, f, 80);
}

TEST_CASE("landmark_attention_cache over quantized rows equals landmark_attention_cache<float> over their values", "[quant_caches]") {
    check_landmark_attention<quant::q8_0, float>(quant::q8_0{}, quant::q8_0{}, 64);
    check_landmark_attention<quant::int8, attune::bf16>(quant::int8{}, quant::int8{}, 32);
    check_landmark_attention<quant::int4_group<32>, float>(quant::int4_group<32>{}, quant::int4_group<32>{}, 64);
}

TEST_CASE("landmark caches over quantized rows: hostile formats and inputs", "[quant_caches]") {
    attune::rope r;
    r.head_dim = 48;
    CHECK_THROWS_WITH((attune::landmark_attention_cache<quant::q8_0>(2, 48, 64, 4, r, quant::q8_0{}, quant::q8_0{})),
                      Catch::Contains("key format") && Catch::Contains("multiple of 32"));
    CHECK_THROWS_WITH((attune::mean_key_landmark_cache<quant::q4_0>(2, 64, 40, 4, quant::q4_0{}, quant::q4_0{})),
                      Catch::Contains("value format"));
    quant::fp8_e4m3 bad;
    bad.scale = 0.0f;
    CHECK_THROWS_WITH((attune::mean_key_landmark_cache<quant::fp8_e4m3>(2, 16, 16, 4, bad, quant::fp8_e4m3{})),
                      Catch::Contains("fp8 scale must be finite and > 0"));
    // out inside the cache's own bytes; a chunk read from them: refused, nothing changed
    r.head_dim = 32;
    attune::landmark_attention_cache<quant::q8_0> a(1, 32, 32, 4, r, quant::q8_0{}, quant::q8_0{});
    attune::mean_key_landmark_cache<quant::q8_0> m(1, 32, 32, 4, quant::q8_0{}, quant::q8_0{});
    tensor<float> k(1, 1, 3, 32), v(1, 1, 3, 32), q(1, 1, 1, 32);
    std::mt19937 rng(65);
    k.fill_random(rng), v.fill_random(rng), q.fill_random(rng);
    a.append(k.cview(), v.cview());
    m.append(k.cview(), v.cview());
    auto* own = const_cast<float*>(reinterpret_cast<const float*>(a.kv().values().row(0, 0, 0)));
    CHECK_THROWS_WITH(a.attend<arch>(q.cview(), attune::tensor_view<float>(own, {1, 1, 1, 8}, {8, 8, 8}), 1),
                      Catch::Contains("out must be"));
    CHECK_THROWS_WITH(a.attend<arch>(q.cview(), attune::tensor_view<float>(own, {1, 1, 1, 32}, {32, 32, 32}), 1),
                      Catch::Contains("out overlaps v"));
    auto* mown = const_cast<float*>(reinterpret_cast<const float*>(m.kv().keys().row(0, 0, 0)));
    CHECK_THROWS_WITH(m.attend<arch>(q.cview(), attune::tensor_view<float>(mown, {1, 1, 1, 32}, {32, 32, 32}), 1, 4),
                      Catch::Contains("overlaps k"));
    CHECK_THROWS_WITH(m.append(attune::tensor_view<const float>(mown, {1, 1, 1, 32}, {32, 32, 32}), tokens(v, 0, 1)),
                      Catch::Contains("overlaps the cache's own storage"));
    CHECK(m.tokens() == 3);
    CHECK(a.tokens() == 3);
}
