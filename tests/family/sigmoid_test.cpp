// The sigmoid family (attune/family/sigmoid.hpp), built once per SIMD arch: o_i = Σ_j σ(s_ij + b)·v_j
// against the double-precision reference over check_variant.hpp's sweep (split partials added),
// with every score modifier (ALiBi in its symmetric form); masked entries contribute exactly 0;
// an LSE output is refused.
#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "score/check_variant.hpp"

using attune::index_t;
using namespace attune_test;
using arch = ATTUNE_TEST_ARCH;

TEST_CASE("sigmoid_bias_for_length is -ln n", "[variants]") {
    CHECK(attune::sigmoid_bias_for_length(2048) == Approx(-7.6246189861593985));
    CHECK(attune::sigmoid_bias_for_length(1) == 0.0f);
    CHECK_THROWS_AS(attune::sigmoid_bias_for_length(0), attune::error);
}

TEST_CASE("sigmoid against the reference, causal and no mask, splits added", "[variants]") {
    sweep(attune::variant(attune::sigmoid{attune::sigmoid_bias_for_length(128)}, attune::causal{}), 100);
    sweep(attune::variant(attune::sigmoid{0.0f}), 200);
    sweep(attune::variant(attune::sigmoid{-2.0f}, attune::causal{}, attune::alibi{attune::alibi_slopes(8), attune::alibi_form::symmetric}),
          300);
    sweep(attune::variant(attune::sigmoid{-1.0f},
                          attune::compose{attune::softcap{3.0f}, attune::relative_bias{std::vector<float>(8 * 9, 0.5f), 4}}),
          400, 1.5f);
}

TEST_CASE("sigmoid: masked entries contribute exactly 0, rows with nothing visible are 0", "[variants]") {
    vcase c;
    c.Hkv = 1;
    c.Hq = 4;
    c.Lq = 70;
    c.Lk = 66;  // causal: the first 4 rows see nothing
    c.splits = 2;
    const vinputs<float> in(c, 7);
    tensor<float> out(c.B, c.Hq, c.Lq, c.Dv);
    const auto var = attune::variant(attune::sigmoid{2.0f}, attune::causal{});
    run_variant(var, c, in, out, nullptr);
    for (index_t h = 0; h < c.Hq; ++h)
        for (index_t t = 0; t < 4; ++t)
            for (index_t d = 0; d < c.Dv; ++d) CHECK(out.view(0, h, t, d) == 0.0f);
    check_against_reference(out, attune::reference::attention(in.q.cview(), in.k.cview(), in.v.cview(), var), fp32_tolerance());
    // Row t = 4 sees key 0 only: exactly σ(s + b)·v_0 (masked keys add exactly 0, not tiny values).
    double s = 0.0;
    for (index_t d = 0; d < c.Dk; ++d) s += double(in.q.view(0, 0, 4, d)) * double(in.k.view(0, 0, 0, d));
    const double w = 1.0 / (1.0 + std::exp(-(s / 8.0 + 2.0)));
    for (index_t d = 0; d < c.Dv; ++d) CHECK(out.view(0, 0, 4, d) == Approx(w * double(in.v.view(0, 0, 0, d))).margin(1e-6));
}

TEST_CASE("sigmoid: an LSE output is refused", "[variants]") {
    vcase c;
    c.Lq = c.Lk = 5;
    const vinputs<float> in(c, 1);
    tensor<float> out(1, 1, 5, 64);
    lse_buffer lse(1, 1, 5);
    REQUIRE_THROWS_WITH(run_variant(attune::variant(attune::sigmoid{0.0f}), c, in, out, &lse), Catch::Contains("log-sum-exp"));
}
