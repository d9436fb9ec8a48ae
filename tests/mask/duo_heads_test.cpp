// DuoAttention's mask (attune/mask/duo_heads.hpp), built per SIMD arch: alternating retrieval and
// streaming kv heads against the reference over check_variant.hpp's sizes; all-retrieval heads equal
// causal and all-streaming heads equal sinks + window exactly; classification by threshold and by
// sparsity quantile; a head list of the wrong length is an error.
#include <vector>

#include <catch2/catch.hpp>

#include "attune/mask/duo_heads.hpp"
#include "score/check_variant.hpp"

using attune::index_t;
using namespace attune_test;

TEST_CASE("duo_heads: retrieval heads causal, streaming heads sinks + window", "[mask]") {
    const auto alternate = [](index_t n) {
        std::vector<bool> s(static_cast<std::size_t>(n));
        for (index_t h = 0; h < n; ++h) s[static_cast<std::size_t>(h)] = h % 2 == 1;
        return s;
    };
    sweep_built([&](const vcase& c) { return attune::variant(attune::duo_heads(alternate(c.Hkv), 4, 16)); }, 3000);
    // All retrieval = causal, all streaming = sinks + window, exactly.
    vcase c;
    c.Hq = 8;
    c.Hkv = 4;
    c.Lq = c.Lk = 300;
    const vinputs<float> in(c, 5);
    tensor<float> a(c.B, c.Hq, c.Lq, c.Dv), b(c.B, c.Hq, c.Lq, c.Dv);
    run_variant(attune::variant(attune::duo_heads(std::vector<bool>(4, false), 4, 16)), c, in, a, nullptr);
    run_variant(attune::variant(attune::causal{}), c, in, b, nullptr);
    CHECK(max_difference(a, b) == 0.0);
    run_variant(attune::variant(attune::duo_heads(std::vector<bool>(4, true), 4, 16)), c, in, a, nullptr);
    run_variant(attune::variant(attune::sinks_window(4, 16)), c, in, b, nullptr);
    CHECK(max_difference(a, b) == 0.0);
    // Classification by threshold and by sparsity quantile (ties: lower index first).
    const std::vector<float> alpha{0.9f, 0.1f, 0.5f, 0.1f, 0.7f, 0.3f};
    CHECK(attune::duo_heads::by_threshold(alpha, 0.4f) == std::vector<bool>{false, true, false, true, false, true});
    CHECK(attune::duo_heads::by_sparsity(alpha, 0.5) == std::vector<bool>{false, true, false, true, false, true});
    CHECK(attune::duo_heads::by_sparsity(alpha, 0.0) == std::vector<bool>(6, false));
    // A list of heads must hold one class per kv head of the call.
    c.Lq = c.Lk = 10;
    tensor<float> small(c.B, c.Hq, c.Lq, c.Dv);
    const vinputs<float> small_in(c, 1);
    REQUIRE_THROWS_WITH(run_variant(attune::variant(attune::duo_heads(std::vector<bool>(3, true))), c, small_in, small, nullptr),
                        Catch::Contains("kv heads"));
}
