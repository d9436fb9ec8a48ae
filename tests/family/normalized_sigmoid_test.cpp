// The normalised sigmoid family (attune/family/normalized_sigmoid.hpp; Gu et al., ICLR 2025):
// o_i = Σ_j σ(s_ij + b)·v_j / (Σ_j σ(s_ij + b) + 1e-8), built once per SIMD arch (the row sums are
// new vector code). Against a direct float64 formula written here (scores, mask rule, weights, sums
// by hand: no attune code) over lengths 1, 7, 63, 65, 129, head dims 32/64/80/128, GQA 1/4/8,
// causal and sliding-window masks, prefill, decode and forced split-KV (partials add acc and the
// weight sums); and through check_variant.hpp's sweep against attune::reference. Rows with nothing
// visible are 0; options::lse and a non-finite bias are refused.
#include <cmath>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "score/check_variant.hpp"

using attune::index_t;
using namespace attune_test;
using arch = ATTUNE_TEST_ARCH;

namespace {

// The paper's formula, directly: key j visible to query i at position p = Lk − Lq + i iff
// p − left ≤ j ≤ p (left < 0: no lower bound, i.e. causal); s = q·k/√d.
attune::reference::result direct(const vinputs<float>& in, const vcase& c, index_t left, double bias) {
    attune::reference::result r = attune::reference::result::zeros(c.B, c.Hq, c.Lq, c.Dv);
    const index_t group = c.Hq / c.Hkv;
    for (index_t b = 0; b < c.B; ++b)
        for (index_t h = 0; h < c.Hq; ++h)
            for (index_t i = 0; i < c.Lq; ++i) {
                const index_t p = c.Lk - c.Lq + i;
                std::vector<double> o(static_cast<std::size_t>(c.Dv), 0.0);
                double sum = 0.0;
                for (index_t j = 0; j < c.Lk; ++j) {
                    if (j > p || (left >= 0 && j < p - left)) continue;
                    double s = 0.0;
                    for (index_t d = 0; d < c.Dk; ++d) s += double(in.q.view(b, h, i, d)) * double(in.k.view(b, h / group, j, d));
                    const double w = 1.0 / (1.0 + std::exp(-(s / std::sqrt(double(c.Dk)) + bias)));
                    sum += w;
                    for (index_t d = 0; d < c.Dv; ++d) o[std::size_t(d)] += w * double(in.v.view(b, h / group, j, d));
                }
                for (index_t d = 0; d < c.Dv; ++d) r.at(b, h, i, d) = o[std::size_t(d)] / (sum + 1e-8);
            }
    return r;
}

template <class Var>
void check_direct(const Var& var, const vcase& c, index_t left, double bias, std::uint32_t seed) {
    INFO(describe(c) << " left " << left << " bias " << bias << " seed " << seed);
    const vinputs<float> in(c, seed);
    tensor<float> out(c.B, c.Hq, c.Lq, c.Dv, c.lay, 3);
    run_variant(var, c, in, out, nullptr);
    check_against_reference(out, direct(in, c, left, bias), fp32_tolerance());
}

}  // namespace

TEST_CASE("normalized sigmoid: the paper's formula in double, causal and window, GQA, decode, splits", "[variants]") {
    std::uint32_t seed = 900;
    int i = 0;
    for (index_t L : {1, 7, 63, 65, 129})
        for (index_t g : {1, 4, 8}) {
            vcase c;
            c.Hkv = g == 8 ? 1 : 2;
            c.Hq = c.Hkv * g;
            c.Lq = c.Lk = L;
            c.Dk = c.Dv = index_t(32) << (i % 3);  // 32, 64, 128
            if (i % 4 == 3) c.Dk = c.Dv = 80;
            c.lay = i % 2 == 0 ? layout::bhld : layout::blhd;
            c.splits = 1 + i % 3;
            c.sigma = 2.0f;
            ++i;
            check_direct(attune::variant(attune::normalized_sigmoid{}, attune::causal{}), c, -1, 0.0, seed++);
            check_direct(attune::variant(attune::normalized_sigmoid{-1.5f}, attune::causal_window_of(9)), c, 8, -1.5, seed++);
            // Decode and chunked prefill over 3·L + 5 keys, forced splits (partials add acc and Σp).
            c.Lk = 3 * L + 5;
            c.Lq = L == 1 ? 1 : 7;
            c.splits = 3;
            check_direct(attune::variant(attune::normalized_sigmoid{}, attune::causal{}), c, -1, 0.0, seed++);
            c.splits = 0;
            c.threads = true;
            check_direct(attune::variant(attune::normalized_sigmoid{}, attune::sliding_window{20, 0}), c, 20, 0.0, seed++);
        }
}

TEST_CASE("normalized sigmoid: against attune::reference over the variant sweep", "[variants]") {
    // Causal with a bias; the direct test above covers windows and the paper's b = 0.
    sweep(attune::variant(attune::normalized_sigmoid{0.5f}, attune::causal{}), 1000);
}

TEST_CASE("normalized sigmoid: empty rows are 0, a one-key row is v exactly up to ε", "[variants]") {
    vcase c;
    c.Hkv = 1;
    c.Hq = 4;
    c.Lq = 70;
    c.Lk = 66;  // causal: the first 4 rows see nothing
    c.splits = 2;
    const vinputs<float> in(c, 7);
    tensor<float> out(c.B, c.Hq, c.Lq, c.Dv);
    run_variant(attune::variant(attune::normalized_sigmoid{}, attune::causal{}), c, in, out, nullptr);
    for (index_t h = 0; h < c.Hq; ++h)
        for (index_t t = 0; t < 4; ++t)
            for (index_t d = 0; d < c.Dv; ++d) CHECK(out.view(0, h, t, d) == 0.0f);
    // Row 4 sees key 0 alone: σ·v_0 / (σ + 1e-8), i.e. v_0 (masked keys add exactly 0 to both sums).
    for (index_t d = 0; d < c.Dv; ++d) CHECK(out.view(0, 0, 4, d) == Approx(in.v.view(0, 0, 0, d)).epsilon(1e-6));
}

TEST_CASE("normalized sigmoid: an LSE output and a non-finite bias are refused", "[variants][errors]") {
    vcase c;
    c.Lq = c.Lk = 5;
    const vinputs<float> in(c, 1);
    tensor<float> out(1, 1, 5, 64);
    lse_buffer lse(1, 1, 5);
    REQUIRE_THROWS_WITH(run_variant(attune::variant(attune::normalized_sigmoid{}), c, in, out, &lse), Catch::Contains("log-sum-exp"));
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()})
        REQUIRE_THROWS_WITH(run_variant(attune::variant(attune::normalized_sigmoid{bad}), c, in, out, nullptr), Catch::Contains("bias"));
}
