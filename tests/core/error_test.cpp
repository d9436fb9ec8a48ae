// attune/core/error.hpp and the argument checks of attune::attention and attune::merge: every bad
// input throws attune::error (a std::invalid_argument) whose message names the problem.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/attune.hpp"

using attune::index_t;
using Catch::Contains;

namespace {

// A valid problem: B 2, Hq 4, Hkv 2, Lq 5, Lk 7, Dk 8, Dv 6. Each test breaks one thing.
struct fixture {
    static constexpr index_t B = 2, Hq = 4, Hkv = 2, Lq = 5, Lk = 7, Dk = 8, Dv = 6;
    std::vector<float> q = std::vector<float>(B * Hq * Lq * Dk, 0.5f);
    std::vector<float> k = std::vector<float>(B * Hkv * Lk * Dk, 0.25f);
    std::vector<float> v = std::vector<float>(B * Hkv * Lk * Dv, 1.0f);
    std::vector<float> o = std::vector<float>(B * Hq * Lq * Dv, 0.0f);
    std::vector<float> lse = std::vector<float>(B * Hq * Lq, 0.0f);
    attune::tensor_view<const float> qv() const { return attune::view_bhld(q.data(), B, Hq, Lq, Dk); }
    attune::tensor_view<const float> kv() const { return attune::view_bhld(k.data(), B, Hkv, Lk, Dk); }
    attune::tensor_view<const float> vv() const { return attune::view_bhld(v.data(), B, Hkv, Lk, Dv); }
    attune::tensor_view<float> ov() { return attune::view_bhld(o.data(), B, Hq, Lq, Dv); }
};

template <class Q, class K, class V, class O>
void call(const Q& q, const K& k, const V& v, const O& o, attune::options opt = {}) {
    attune::attention(q, k, v, o, attune::causal{}, opt, attune::serial_executor{});
}

}  // namespace

TEST_CASE("attune::error is a std::invalid_argument", "[errors]") {
    STATIC_REQUIRE(std::is_base_of_v<std::invalid_argument, attune::error>);
}

TEST_CASE("the valid fixture runs", "[errors]") {
    fixture f;
    REQUIRE_NOTHROW(call(f.qv(), f.kv(), f.vv(), f.ov()));
}

TEST_CASE("mismatched batch throws naming the batch", "[errors]") {
    fixture f;
    auto k1 = attune::view_bhld(f.k.data(), 1, f.Hkv, f.Lk, f.Dk);
    auto v1 = attune::view_bhld(f.v.data(), 1, f.Hkv, f.Lk, f.Dv);
    REQUIRE_THROWS_AS(call(f.qv(), k1, f.vv(), f.ov()), attune::error);
    REQUIRE_THROWS_WITH(call(f.qv(), k1, f.vv(), f.ov()), Contains("batch"));
    REQUIRE_THROWS_WITH(call(f.qv(), f.kv(), v1, f.ov()), Contains("batch"));
}

TEST_CASE("mismatched head dims throw naming the head dim", "[errors]") {
    fixture f;
    auto k7 = attune::view_bhld(f.k.data(), f.B, f.Hkv, f.Lk, f.Dk - 1);
    REQUIRE_THROWS_WITH(call(f.qv(), k7, f.vv(), f.ov()), Contains("head dim"));
}

TEST_CASE("mismatched k/v tokens or heads throw naming them", "[errors]") {
    fixture f;
    auto v6 = attune::view_bhld(f.v.data(), f.B, f.Hkv, f.Lk - 1, f.Dv);
    REQUIRE_THROWS_WITH(call(f.qv(), f.kv(), v6, f.ov()), Contains("tokens"));
    auto v1h = attune::view_bhld(f.v.data(), f.B, 1, f.Lk, f.Dv);
    REQUIRE_THROWS_WITH(call(f.qv(), f.kv(), v1h, f.ov()), Contains("heads"));
}

TEST_CASE("query heads not divisible by kv heads throw", "[errors]") {
    fixture f;
    std::vector<float> k(f.B * 3 * f.Lk * f.Dk), v(f.B * 3 * f.Lk * f.Dv);
    auto k3 = attune::view_bhld(k.data(), f.B, 3, f.Lk, f.Dk);
    auto v3 = attune::view_bhld(v.data(), f.B, 3, f.Lk, f.Dv);
    REQUIRE_THROWS_AS(call(f.qv(), k3, v3, f.ov()), attune::error);
    REQUIRE_THROWS_WITH(call(f.qv(), k3, v3, f.ov()), Contains("divisible"));
}

TEST_CASE("null data throws naming the argument", "[errors]") {
    fixture f;
    const float* null = nullptr;
    REQUIRE_THROWS_WITH(call(attune::view_bhld(null, f.B, f.Hq, f.Lq, f.Dk), f.kv(), f.vv(), f.ov()), Contains("q has null data"));
    REQUIRE_THROWS_WITH(call(f.qv(), attune::view_bhld(null, f.B, f.Hkv, f.Lk, f.Dk), f.vv(), f.ov()), Contains("k has null data"));
    REQUIRE_THROWS_WITH(call(f.qv(), f.kv(), attune::view_bhld(null, f.B, f.Hkv, f.Lk, f.Dv), f.ov()), Contains("v has null data"));
    float* onull = nullptr;
    REQUIRE_THROWS_WITH(call(f.qv(), f.kv(), f.vv(), attune::view_bhld(onull, f.B, f.Hq, f.Lq, f.Dv)), Contains("out has null data"));
}

TEST_CASE("zero batch, heads or head dim throw", "[errors]") {
    fixture f;
    REQUIRE_THROWS_WITH(call(attune::view_bhld(f.q.data(), 0, f.Hq, f.Lq, f.Dk), attune::view_bhld(f.k.data(), 0, f.Hkv, f.Lk, f.Dk),
                             attune::view_bhld(f.v.data(), 0, f.Hkv, f.Lk, f.Dv), attune::view_bhld(f.o.data(), 0, f.Hq, f.Lq, f.Dv)),
                        Contains("batch"));
    REQUIRE_THROWS_WITH(
        call(attune::view_bhld(f.q.data(), f.B, 0, f.Lq, f.Dk), f.kv(), f.vv(), attune::view_bhld(f.o.data(), f.B, 0, f.Lq, f.Dv)),
        Contains("heads"));
    REQUIRE_THROWS_WITH(
        call(f.qv(), attune::view_bhld(f.k.data(), f.B, 0, f.Lk, f.Dk), attune::view_bhld(f.v.data(), f.B, 0, f.Lk, f.Dv), f.ov()),
        Contains("heads"));
    REQUIRE_THROWS_WITH(
        call(attune::view_bhld(f.q.data(), f.B, f.Hq, f.Lq, 0), attune::view_bhld(f.k.data(), f.B, f.Hkv, f.Lk, 0), f.vv(), f.ov()),
        Contains("head dim"));
    REQUIRE_THROWS_WITH(
        call(f.qv(), f.kv(), attune::view_bhld(f.v.data(), f.B, f.Hkv, f.Lk, 0), attune::view_bhld(f.o.data(), f.B, f.Hq, f.Lq, 0)),
        Contains("head dim"));
}

TEST_CASE("a wrong output shape throws naming out", "[errors]") {
    fixture f;
    std::vector<float> big(4 * f.o.size());
    REQUIRE_THROWS_WITH(call(f.qv(), f.kv(), f.vv(), attune::view_bhld(big.data(), f.B, f.Hq, f.Lq + 1, f.Dv)), Contains("out shape"));
    REQUIRE_THROWS_WITH(call(f.qv(), f.kv(), f.vv(), attune::view_bhld(big.data(), f.B, f.Hq - 1, f.Lq, f.Dv)), Contains("out shape"));
    REQUIRE_THROWS_WITH(call(f.qv(), f.kv(), f.vv(), attune::view_bhld(big.data(), f.B, f.Hq, f.Lq, f.Dk)), Contains("out shape"));
    REQUIRE_THROWS_WITH(call(f.qv(), f.kv(), f.vv(), attune::view_bhld(big.data(), 1, f.Hq, f.Lq, f.Dv)), Contains("out shape"));
}

TEST_CASE("a wrong LSE shape throws naming lse", "[errors]") {
    fixture f;
    std::vector<float> big(4 * f.lse.size());
    attune::options opt;
    opt.lse = attune::lse_view(big.data(), f.B, f.Hq, f.Lq + 1);
    REQUIRE_THROWS_WITH(call(f.qv(), f.kv(), f.vv(), f.ov(), opt), Contains("lse"));
    opt.lse = attune::tensor_view<float>(big.data(), {f.B, f.Hq, f.Lq, 2}, {f.Hq * f.Lq * 2, f.Lq * 2, 2});
    REQUIRE_THROWS_WITH(call(f.qv(), f.kv(), f.vv(), f.ov(), opt), Contains("lse"));
    opt.lse = attune::lse_view(big.data(), f.B, f.Hkv, f.Lq);
    REQUIRE_THROWS_WITH(call(f.qv(), f.kv(), f.vv(), f.ov(), opt), Contains("lse"));
}

TEST_CASE("an output aliasing q, k or v throws", "[errors]") {
    // One buffer big enough for any of the views; out placed over each input in turn.
    const index_t B = 1, H = 2, L = 6, D = 8;
    std::vector<float> buf(3 * B * H * L * D, 0.1f);
    std::vector<float> o(B * H * L * D);
    auto q = attune::view_bhld(buf.data(), B, H, L, D);
    auto k = attune::view_bhld(buf.data() + B * H * L * D, B, H, L, D);
    auto v = attune::view_bhld(buf.data() + 2 * B * H * L * D, B, H, L, D);
    REQUIRE_NOTHROW(call(q, k, v, attune::view_bhld(o.data(), B, H, L, D)));
    REQUIRE_THROWS_WITH(call(q, k, v, q), Contains("overlaps"));
    REQUIRE_THROWS_WITH(call(q, k, v, k), Contains("overlaps"));
    REQUIRE_THROWS_WITH(call(q, k, v, v), Contains("overlaps"));
    // Partial overlap: out starts in the middle of k.
    REQUIRE_THROWS_WITH(call(q, k, v, attune::view_bhld(buf.data() + B * H * L * D + 5, B, H, L, D)), Contains("overlaps"));
}

TEST_CASE("negative kv_splits throws", "[errors]") {
    fixture f;
    attune::options opt;
    opt.kv_splits = -1;
    REQUIRE_THROWS_WITH(call(f.qv(), f.kv(), f.vv(), f.ov(), opt), Contains("kv_splits"));
}

TEST_CASE("a NaN, infinite or negative scale throws naming the scale", "[errors]") {
    fixture f;
    attune::options opt;
    for (float s : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), -0.5f}) {
        CAPTURE(s);
        opt.scale = s;
        REQUIRE_THROWS_AS(call(f.qv(), f.kv(), f.vv(), f.ov(), opt), attune::error);
        REQUIRE_THROWS_WITH(call(f.qv(), f.kv(), f.vv(), f.ov(), opt), Contains("scale"));
    }
}

TEST_CASE("a failed check leaves the output untouched", "[errors]") {
    fixture f;
    std::fill(f.o.begin(), f.o.end(), 123.0f);
    attune::options opt;
    opt.kv_splits = -2;
    REQUIRE_THROWS_AS(call(f.qv(), f.kv(), f.vv(), f.ov(), opt), attune::error);
    for (float x : f.o) REQUIRE(x == 123.0f);
}

TEST_CASE("merge rejects mismatched shapes and null data", "[errors][merge]") {
    const index_t B = 1, H = 2, L = 3, D = 4;
    std::vector<float> a(B * H * L * D), b(B * H * L * D), o(B * H * L * D), la(B * H * L), lb(B * H * L), lo(B * H * L);
    auto av = attune::view_bhld(a.data(), B, H, L, D);
    auto bv = attune::view_bhld(b.data(), B, H, L, D);
    auto ov = attune::view_bhld(o.data(), B, H, L, D);
    auto lav = attune::lse_view(la.data(), B, H, L);
    auto lbv = attune::lse_view(lb.data(), B, H, L);
    REQUIRE_NOTHROW(attune::merge(av, lav, bv, lbv, ov, attune::lse_view(lo.data(), B, H, L)));
    REQUIRE_THROWS_WITH(attune::merge(av, lav, attune::view_bhld(b.data(), B, H, L - 1, D), lbv, ov), Contains("same shape"));
    REQUIRE_THROWS_WITH(attune::merge(av, lav, bv, attune::lse_view(lb.data(), B, H, L - 1), ov), Contains("LSE"));
    REQUIRE_THROWS_WITH(attune::merge(av, lav, bv, lbv, ov, attune::lse_view(lo.data(), B, 1, L)), Contains("lse_out"));
    float* null = nullptr;
    REQUIRE_THROWS_WITH(attune::merge(av, lav, bv, lbv, attune::view_bhld(null, B, H, L, D)), Contains("null"));
    REQUIRE_THROWS_WITH(attune::merge(av, attune::lse_view(null, B, H, L), bv, lbv, ov), Contains("null"));
}
