// Score modifiers (attune/score/*) and the vector tanh / sigmoid (attune/simd/activations.hpp), built
// once per SIMD arch: each modifier against the double-precision reference applying the same
// modifier element by element, over check_variant.hpp's sweep of sizes, GQA groups, decode, forced
// and automatic splits, with and without the causal mask; compose of two modifiers; a user-written
// per-element modifier; ALiBi's slope formula; parameter errors.
#include <cmath>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "score/check_variant.hpp"

using attune::index_t;
using namespace attune_test;
using arch = ATTUNE_TEST_ARCH;

namespace {

// A user-written modifier: only the per-element form (no tile hook, no is_none), float only.
struct distance_decay {
    using policy_kind = attune::score_kind;
    float rate = 0.05f;
    float operator()(float s, const attune::index_context& c) const {
        const index_t d = c.q_pos > c.k_pos ? c.q_pos - c.k_pos : c.k_pos - c.q_pos;
        return s - rate * std::sqrt(static_cast<float>(d)) + (c.q_head % 2 == 0 ? 0.25f : -0.25f);
    }
};

std::vector<float> bias_table(index_t heads, index_t R) {
    std::vector<float> t(static_cast<std::size_t>(heads * (2 * R + 1)));
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = 1.5f * std::sin(0.7f * static_cast<float>(i)) - 0.3f;
    return t;
}

// ULP distance between a float result and a double truth, measured in units of the float's ULP.
double ulps(float ours, double truth) {
    const float t = static_cast<float>(truth);
    if (ours == t) return 0.0;
    const float ulp = std::nextafter(std::fabs(t), std::numeric_limits<float>::infinity()) - std::fabs(t);
    return std::fabs(static_cast<double>(ours) - truth) / static_cast<double>(ulp);
}

template <class F, class G>
double max_ulps(F vec_fn, G truth, float lo, float hi, int n) {
    constexpr std::size_t W = attune::simd::width<arch>;
    double worst = 0.0;
    alignas(64) float x[W], y[W];
    for (int i = 0; i < n; i += static_cast<int>(W)) {
        for (std::size_t j = 0; j < W; ++j) x[j] = lo + (hi - lo) * static_cast<float>(i + static_cast<int>(j)) / static_cast<float>(n);
        attune::simd::store_aligned<arch>(y, vec_fn(attune::simd::load_aligned<arch>(x)));
        for (std::size_t j = 0; j < W; ++j) worst = std::max(worst, ulps(y[j], truth(static_cast<double>(x[j]))));
    }
    return worst;
}

}  // namespace

TEST_CASE("simd tanh and sigmoid: error within the documented ULP", "[simd]") {
    auto tanh_v = [](auto v) { return attune::simd::tanh(v); };
    auto sig_v = [](auto v) { return attune::simd::sigmoid(v); };
    auto tanh_d = [](double x) { return std::tanh(x); };
    auto sig_d = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
    CHECK(max_ulps(tanh_v, tanh_d, -1.0f, 1.0f, 200000) <= 3.0);
    CHECK(max_ulps(tanh_v, tanh_d, -20.0f, 20.0f, 200000) <= 3.0);
    CHECK(max_ulps(tanh_v, tanh_d, -1e-3f, 1e-3f, 20000) <= 3.0);
    CHECK(max_ulps(sig_v, sig_d, -87.0f, 30.0f, 200000) <= 4.0);
    // Edges: ±inf, NaN, masked scores.
    constexpr std::size_t W = attune::simd::width<arch>;
    alignas(64) float x[W], y[W];
    const float inf = std::numeric_limits<float>::infinity();
    for (float v : {inf, -inf, std::numeric_limits<float>::quiet_NaN(), 0.0f, 100.0f, -100.0f}) {
        for (auto& e : x) e = v;
        attune::simd::store_aligned<arch>(y, attune::simd::tanh(attune::simd::load_aligned<arch>(x)));
        if (std::isnan(v)) CHECK(std::isnan(y[0]));
        else CHECK(y[0] == static_cast<float>(std::tanh(static_cast<double>(v))));
        attune::simd::store_aligned<arch>(y, attune::simd::sigmoid(attune::simd::load_aligned<arch>(x)));
        if (std::isnan(v)) CHECK(std::isnan(y[0]));
        else if (v == -inf || v == -100.0f) CHECK(y[0] == 0.0f);
        else if (v == inf || v == 100.0f) CHECK(y[0] == 1.0f);
        else CHECK(y[0] == 0.5f);
    }
}

TEST_CASE("alibi_slopes: SPEC formula, powers of two and not", "[variants]") {
    const auto s8 = attune::alibi_slopes(8);
    REQUIRE(s8.size() == 8);
    for (int h = 0; h < 8; ++h) CHECK(s8[static_cast<std::size_t>(h)] == std::ldexp(1.0f, -(h + 1)));
    const auto s12 = attune::alibi_slopes(12);  // slopes(8), then slopes(16)[0, 2, 4, 6]
    REQUIRE(s12.size() == 12);
    for (int h = 0; h < 8; ++h) CHECK(s12[static_cast<std::size_t>(h)] == s8[static_cast<std::size_t>(h)]);
    for (int i = 0; i < 4; ++i) CHECK(s12[static_cast<std::size_t>(8 + i)] == Approx(std::exp2(-0.5 * (2 * i + 1))));
    CHECK(attune::alibi_slopes(1) == std::vector<float>{std::exp2(-8.0f)});
    CHECK_THROWS_AS(attune::alibi_slopes(0), attune::error);
}

TEST_CASE("softcap against the reference (scores well past the cap)", "[variants]") {
    sweep(attune::variant(attune::softcap{5.0f}), 100, 2.0f);
    sweep(attune::variant(attune::causal{}, attune::softcap{5.0f}), 200, 2.0f);
    sweep(attune::variant(attune::causal{}, attune::softcap{50.0f}), 300);
}

TEST_CASE("alibi against the reference, causal and symmetric forms", "[variants]") {
    const auto slopes = attune::alibi_slopes(8);
    sweep(attune::variant(attune::causal{}, attune::alibi{slopes}), 400);
    sweep(attune::variant(attune::alibi{slopes, attune::alibi_form::symmetric}), 500);
    sweep(attune::variant(attune::causal{}, attune::alibi{attune::alibi_slopes(12), attune::alibi_form::symmetric}), 600);
}

TEST_CASE("relative position bias table against the reference", "[variants]") {
    sweep(attune::variant(attune::causal{}, attune::relative_bias{bias_table(8, 16), 16}), 700);
    sweep(attune::variant(attune::relative_bias{bias_table(8, 5), 5}), 800);
    sweep(attune::variant(attune::relative_bias{bias_table(8, 0), 0}), 900);  // R = 0: one bucket
}

TEST_CASE("compose of two modifiers, and a user-written per-element modifier", "[variants]") {
    const auto slopes = attune::alibi_slopes(8);
    sweep(attune::variant(attune::causal{}, attune::compose{attune::alibi{slopes}, attune::softcap{4.0f}}), 1000, 1.5f);
    sweep(attune::variant(attune::compose{attune::relative_bias{bias_table(8, 7), 7}, distance_decay{}}), 1100);
    sweep(attune::variant(attune::causal{}, distance_decay{}), 1200);
    // Nested: three modifiers, the user's in the middle.
    sweep(
        attune::variant(attune::causal{}, attune::compose{attune::alibi{slopes}, attune::compose{distance_decay{}, attune::softcap{6.0f}}}),
        1300);
}

TEST_CASE("score modifiers: bf16 inputs, a lone policy, errors", "[variants]") {
    vcase c;
    c.Hkv = 2;
    c.Hq = 8;
    c.Lq = c.Lk = 100;
    check_variant<attune::variant<attune::causal, attune::alibi>, attune::bf16>(
        attune::variant(attune::causal{}, attune::alibi{attune::alibi_slopes(8)}), c, 1);
    check_variant(attune::softcap{3.0f}, c, 2);  // a lone policy is wrapped into a variant

    const vinputs<float> in(c, 3);
    tensor<float> out(c.B, c.Hq, c.Lq, c.Dv);
    const auto run = [&](const auto& var) { run_variant(var, c, in, out, nullptr); };
    REQUIRE_THROWS_WITH(run(attune::alibi{attune::alibi_slopes(4)}), Catch::Contains("slopes"));
    REQUIRE_THROWS_AS(run(attune::relative_bias{bias_table(8, 3), 4}), attune::error);
    REQUIRE_THROWS_AS(run(attune::softcap{0.0f}), attune::error);
    REQUIRE_NOTHROW(run(attune::relative_bias{bias_table(8, 3), 3}));
}
