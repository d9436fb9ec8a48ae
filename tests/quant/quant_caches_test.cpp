// streaming_cache, duo_cache and h2o_cache over a quantized format (cache/streaming_cache.hpp,
// cache/rows.hpp, cache/duo_cache.hpp, cache/h2o_cache.hpp): the oracle is the same cache over float fed the same rows quantized and
// dequantized — both attend to the same values, so decode steps and chunks (the ring overwritten
// inside a chunk, score modifiers on the position-ordered scratch) agree within fp32 rounding, and
// rotated_keys exactly; h2o keeps the same heavy hitters with the same scores. Float and bf16 chunks, per-head fp8 scales and int8 channel scales (duo
// keeps each kv head in a cache of its own: head_format), a throwing step leaving the bytes as they
// were, and the hostile constructions.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/cache/duo_cache.hpp"
#include "attune/cache/h2o_cache.hpp"
#include "attune/cache/streaming_cache.hpp"
#include "attune/quantized.hpp"
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

struct throwing_sink {
    using policy_kind = attune::sink_kind;
    template <class T>
    void start(const attune::basic_sink_row<T>&, T&, T&, T*) const {
        throw std::runtime_error("throwing_sink");
    }
};

// One chunk [at, at + n) through the quantized cache a and its float oracle b (fed kd, vd: the
// chunk's rows dequantized), under softcap{cap} when cap > 0: the outputs' largest difference.
template <class A, class B, class T>
double step_both(A& a, B& b, const tensor<float>& q, const tensor<T>& k, const tensor<T>& v, const tensor<float>& kd,
                 const tensor<float>& vd, index_t at, index_t n, float cap) {
    const index_t Hq = q.view.heads(), D = q.view.dim();
    const attune::tensor_view<const float> qc(&q.view(0, 0, at, 0), {1, Hq, n, D}, q.view.strides());
    tensor<float> oa(1, Hq, n, D), ob(1, Hq, n, D);
    oa.poison();
    if (cap > 0.0f) {
        a.template step<arch>(qc, tokens(k, at, n), tokens(v, at, n), oa.view, attune::softcap{cap});
        b.template step<arch>(qc, tokens(kd, at, n), tokens(vd, at, n), ob.view, attune::softcap{cap});
    } else {
        a.template step<arch>(qc, tokens(k, at, n), tokens(v, at, n), oa.view);
        b.template step<arch>(qc, tokens(kd, at, n), tokens(vd, at, n), ob.view);
    }
    return attune_test::max_difference(oa, ob);
}

template <class F>
std::vector<std::uint8_t> bytes_of(const attune::streaming_cache<F>& c) {
    std::vector<std::uint8_t> b;
    for (const auto& view : {c.keys(), c.values()})
        for (index_t h = 0; h < view.heads(); ++h)
            for (index_t t = 0; t < view.tokens(); ++t) b.insert(b.end(), view.row(0, h, t), view.row(0, h, t) + view.row_bytes());
    return b;
}

// Steps of chunks 12, 1, 1, 5, 1, 20 (more than the ring), 1, 1 with sinks 2 and a ring of 9, each
// twice (no variant, then softcap: a score modifier runs on the position-ordered scratch).
template <class F, class T>
void check_streaming(const F& kf, const F& vf) {
    const index_t Hkv = 2, Hq = 4, D = 64, L = 42;
    std::mt19937 rng(51);
    tensor<float> q(1, Hq, L, D);
    tensor<T> k(1, Hkv, L, D), v(1, Hkv, L, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    const tensor<float> kd = round_trip(k, kf), vd = round_trip(v, vf);
    for (bool modifier : {false, true}) {
        INFO(F::name() << (modifier ? ", softcap" : ", no variant"));
        attune::streaming_cache<F> a(Hkv, D, D, attune::streaming_cache_options{2, 9}, kf, vf);
        attune::streaming_cache<float> b(Hkv, D, D, 2, 9);
        CHECK(a.bytes() == static_cast<std::size_t>(2 * Hkv * 11 * F::row_bytes(D)));
        index_t at = 0;
        for (index_t n : {12, 1, 1, 5, 1, 20, 1, 1}) {
            INFO("chunk of " << n << " at " << at);
            CHECK(step_both(a, b, q, k, v, kd, vd, at, n, modifier ? 4.0f : 0.0f) <= 2e-5);
            at += n;
        }
        REQUIRE(a.tokens() == L);
        // rotated_keys: the same values rotated the same way
        attune::rope r;
        r.head_dim = D;
        tensor<float> ra(1, Hkv, a.size(), D), rb(1, Hkv, b.size(), D);
        a.template rotated_keys<arch>(r, ra.view);
        b.template rotated_keys<arch>(r, rb.view);
        CHECK(attune_test::max_difference(ra, rb) == 0.0);
        // a step that throws inside the kernel leaves every byte and seen() as they were
        const auto before = bytes_of(a);
        const attune::tensor_view<const float> q1(&q.view(0, 0, 0, 0), {1, Hq, 1, D}, q.view.strides());
        tensor<float> o1(1, Hq, 1, D);
        CHECK_THROWS_WITH(
            a.template step<arch>(q1, tokens(k, 0, 1), tokens(v, 0, 1), o1.view, throwing_sink{}, {}, attune::serial_executor{}),
            Catch::Contains("throwing_sink"));
        CHECK(bytes_of(a) == before);
        CHECK(a.tokens() == L);
        CHECK(step_both(a, b, q, k, v, kd, vd, 0, 1, modifier ? 4.0f : 0.0f) <= 2e-5);  // and the next good step
    }
}

}  // namespace

TEST_CASE("streaming_cache over quantized rows equals streaming_cache<float> over their values", "[quant_caches]") {
    check_streaming<quant::q8_0, float>(quant::q8_0{}, quant::q8_0{});
    check_streaming<quant::q4_0, attune::bf16>(quant::q4_0{}, quant::q4_0{});
    check_streaming<quant::int8, float>(quant::int8{}, quant::int8{});
    quant::fp8_e4m3 ks, vs;
    ks.scale = 0.02f;
    vs.scale = 0.01f;
    check_streaming<quant::fp8_e4m3, attune::bf16>(ks, vs);
    check_streaming<quant::int4_group<64>, float>(quant::int4_group<64>{}, quant::int4_group<64>{});
}

TEST_CASE("streaming_cache over quantized rows: hostile formats and inputs", "[quant_caches]") {
    using sq8 = attune::streaming_cache<quant::q8_0>;
    CHECK_THROWS_WITH(sq8(2, 48, 64, attune::streaming_cache_options{2, 9}, quant::q8_0{}, quant::q8_0{}),
                      Catch::Contains("key format") && Catch::Contains("multiple of 32"));
    CHECK_THROWS_WITH(sq8(2, 64, 40, attune::streaming_cache_options{2, 9}, quant::q8_0{}, quant::q8_0{}), Catch::Contains("value format"));
    quant::fp8_e5m2 bad;
    bad.scale = 0.0f;
    CHECK_THROWS_WITH(attune::streaming_cache<quant::fp8_e5m2>(2, 16, 16, attune::streaming_cache_options{1, 4}, bad, quant::fp8_e5m2{}),
                      Catch::Contains("fp8 scale must be finite and > 0"));
    // a chunk read from the cache's own bytes is refused before anything changes
    sq8 c(1, 32, 32, attune::streaming_cache_options{1, 4}, quant::q8_0{}, quant::q8_0{});
    tensor<float> k(1, 1, 3, 32), v(1, 1, 3, 32);
    std::mt19937 rng(3);
    k.fill_random(rng), v.fill_random(rng);
    c.append(k.cview(), v.cview());
    const auto* own = reinterpret_cast<const float*>(c.keys().row(0, 0, 0));
    const attune::tensor_view<const float> inside(own, {1, 1, 1, 32}, {32, 32, 32});
    const auto before = bytes_of(c);
    CHECK_THROWS_WITH(c.append(inside, inside), Catch::Contains("overlaps the cache's own storage"));
    CHECK(bytes_of(c) == before);
    CHECK(c.tokens() == 3);
}

// duo_cache: kv head 0 retrieval (quant_kv_cache), head 1 streaming (sinks 2, ring 9), three query
// heads each; per-head formats, so head_format(h) must give each head's own scales.
template <class F>
void check_duo(const F& kf, const F& vf, const F& kf_one_head0, const F& kf_one_head1) {
    const index_t Hkv = 2, Hq = 6, D = 64, L = 40;
    std::mt19937 rng(52);
    tensor<float> q(1, Hq, L, D), k(1, Hkv, L, D), v(1, Hkv, L, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    const tensor<float> kd = round_trip(k, kf), vd = round_trip(v, vf);
    attune::duo_cache<F> a({false, true}, Hq, D, D, attune::duo_cache_options{2, 9, 0}, kf, vf);
    attune::duo_cache<float> b({false, true}, Hq, D, D, 2, 9);
    index_t at = 0;
    for (index_t n : {12, 1, 1, 15, 1, 1, 9}) {
        INFO(F::name() << ": chunk of " << n << " at " << at);
        CHECK(step_both(a, b, q, k, v, kd, vd, at, n, 5.0f) <= 2e-5);
        at += n;
    }
    CHECK(a.tokens() == L);
    CHECK(a.retrieval_cache(0).tokens() == L);
    CHECK(a.streaming_cache_of(1).size() == 11);
    CHECK(a.bytes() == static_cast<std::size_t>((L + 11) * 2 * F::row_bytes(D)));
    // each head's own cache holds the bytes of its head's format
    std::vector<std::uint8_t> want(static_cast<std::size_t>(F::row_bytes(D)));
    const auto kv0 = a.retrieval_cache(0).keys();
    kf_one_head0.quantize_row(0, &k.view(0, 0, 5, 0), want.data(), D);
    CHECK(std::memcmp(kv0.row(0, 0, 5), want.data(), want.size()) == 0);
    const auto kv1 = a.streaming_cache_of(1).keys();
    const index_t newest = 2 + (L - 1 - 2) % 9;  // the slot of token L − 1
    kf_one_head1.quantize_row(0, &k.view(0, 1, L - 1, 0), want.data(), D);
    CHECK(std::memcmp(kv1.row(0, 0, newest), want.data(), want.size()) == 0);
}

TEST_CASE("duo_cache over quantized rows equals duo_cache<float> over their values", "[quant_caches]") {
    check_duo(quant::q8_0{}, quant::q8_0{}, quant::q8_0{}, quant::q8_0{});
    const float ks[2] = {0.02f, 0.005f}, vs[2] = {0.01f, 0.03f};
    quant::fp8_e4m3 kf, vf;
    kf.head_scales = ks;
    vf.head_scales = vs;
    quant::fp8_e4m3 k0, k1;
    k0.scale = ks[0];
    k1.scale = ks[1];
    check_duo(kf, vf, k0, k1);
    std::vector<float> c(2 * 64);
    for (std::size_t i = 0; i < c.size(); ++i) c[i] = 0.5f + static_cast<float>(i % 13) * 0.25f;
    const quant::int8 ck{c.data(), 64}, cv{};
    check_duo(ck, cv, quant::int8{c.data(), 64}, quant::int8{c.data() + 64, 64});
}

// h2o_cache: heavy 3, recent 4 per kv head; chunks and decode steps, plain and softcap (the
// per-element weights pass); the scores come from the dequantized keys, so the same tokens stay.
template <class F, class T>
void check_h2o(const F& kf, const F& vf) {
    const index_t Hkv = 2, Hq = 4, D = 64, L = 30;
    std::mt19937 rng(53);
    tensor<float> q(1, Hq, L, D);
    tensor<T> k(1, Hkv, L, D), v(1, Hkv, L, D);
    q.fill_random(rng, 2.0f), k.fill_random(rng), v.fill_random(rng);
    const tensor<float> kd = round_trip(k, kf), vd = round_trip(v, vf);
    for (bool modifier : {false, true}) {
        INFO(F::name() << (modifier ? ", softcap" : ", no variant"));
        attune::h2o_cache<F> a(Hkv, D, D, attune::h2o_cache_options{3, 4}, kf, vf);
        attune::h2o_cache<float> b(Hkv, D, D, 3, 4);
        index_t at = 0;
        for (index_t n : {10, 1, 1, 6, 1, 1, 1, 9}) {
            INFO("chunk of " << n << " at " << at);
            CHECK(step_both(a, b, q, k, v, kd, vd, at, n, modifier ? 6.0f : 0.0f) <= 2e-5);
            for (index_t h = 0; h < Hkv; ++h) {
                REQUIRE(a.held_positions(h) == b.held_positions(h));
                for (index_t sl = 0; sl < a.size(); ++sl)
                    CHECK(std::fabs(a.score(h, sl) - b.score(h, sl)) <= 1e-5 * (1.0 + b.score(h, sl)));
            }
            at += n;
        }
        CHECK(a.size() == 7);
        // a step that throws inside the kernel leaves the held tokens and scores; the next good one agrees
        std::vector<std::vector<index_t>> held;
        std::vector<double> scores;
        for (index_t h = 0; h < Hkv; ++h) {
            held.push_back(a.held_positions(h));
            for (index_t sl = 0; sl < a.size(); ++sl) scores.push_back(a.score(h, sl));
        }
        const attune::tensor_view<const float> q1(&q.view(0, 0, 0, 0), {1, Hq, 1, D}, q.view.strides());
        tensor<float> o1(1, Hq, 1, D);
        CHECK_THROWS_WITH(
            a.template step<arch>(q1, tokens(k, 0, 1), tokens(v, 0, 1), o1.view, throwing_sink{}, {}, attune::serial_executor{}),
            Catch::Contains("throwing_sink"));
        std::vector<double> after;
        for (index_t h = 0; h < Hkv; ++h) {
            CHECK(a.held_positions(h) == held[static_cast<std::size_t>(h)]);
            for (index_t sl = 0; sl < a.size(); ++sl) after.push_back(a.score(h, sl));
        }
        CHECK(after == scores);
        CHECK(step_both(a, b, q, k, v, kd, vd, 0, 1, modifier ? 6.0f : 0.0f) <= 2e-5);
    }
}

TEST_CASE("h2o_cache over quantized rows keeps the heavy hitters of h2o_cache<float> over their values", "[quant_caches]") {
    check_h2o<quant::q8_0, float>(quant::q8_0{}, quant::q8_0{});
    check_h2o<quant::int8, attune::bf16>(quant::int8{}, quant::int8{});
    quant::fp8_e5m2 f;
    f.scale = 0.01f;
    check_h2o<quant::fp8_e5m2, float>(f, f);
    check_h2o<quant::q4_0, float>(quant::q4_0{}, quant::q4_0{});
}
