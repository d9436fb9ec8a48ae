#pragma once
// tanh and the logistic sigmoid for float vectors (score soft-capping, the sigmoid family), each
// with its range and error stated, built on simd::exp (math.hpp).
#include <cmath>
#include <limits>
#include <type_traits>

#include "attune/simd/math.hpp"
#include "attune/simd/vec.hpp"

namespace attune::simd {

// |x| (exact).
inline scalar_vec abs(scalar_vec x) { return std::fabs(x.v); }
template <class A>
inline xsimd::batch<float, A> abs(const xsimd::batch<float, A>& x) {
    return xsimd::abs(x);
}

// 1/x for x ≥ 1 finite: the hardware estimate (xsimd::reciprocal: relative error < 2^-14 on
// AVX-512, < 1.5·2^-12 elsewhere) refined by Newton steps r += r·(1 − x·r) until the error is below
// 2^-27 (one step on AVX-512, two elsewhere): within 1 ULP of the quotient, exact at x = 1, at a
// fraction of a division's cost. Not for 0, inf or denormals.
template <class A>
inline xsimd::batch<float, A> reciprocal_ge1(const xsimd::batch<float, A>& x) {
    using fb = xsimd::batch<float, A>;
    const fb one(1.0f);
    fb r = xsimd::reciprocal(x);
    r = simd::fma(r, simd::fnma(x, r, one), r);
    bool second_step = true;
#if XSIMD_WITH_AVX512F
    second_step = !std::is_base_of_v<xsimd::avx512f, A>;
#endif
    if (second_step) r = simd::fma(r, simd::fnma(x, r, one), r);
    return r;
}

// tanh(x).
// Range: every float; ±1 exactly for |x| ≥ 9.01 (float rounding), ±inf → ±1, NaN propagates.
// Error: ≤ 3 ULP. |x| < 0.625: x + x³·P(x²), Cephes' degree-4 minimax polynomial (no cancellation
// near 0, so tanh stays accurate relative to x). |x| ≥ 0.625: with t = e^{−2|x|} ∈ [0, 0.29]
// (exp_nonpositive), tanh|x| = 1 − 2t/(1 + t), the quotient by reciprocal_ge1, and the sign of x.
// Checked in tests/score.
inline scalar_vec tanh(scalar_vec x) { return std::tanh(x.v); }

template <class A>
inline xsimd::batch<float, A> tanh(const xsimd::batch<float, A>& x) {
    using fb = xsimd::batch<float, A>;
    const fb ax = xsimd::abs(x);
    const fb z = x * x;
    fb p(-5.70498872745e-3f);
    p = simd::fma(p, z, fb(2.06390887954e-2f));
    p = simd::fma(p, z, fb(-5.37397155531e-2f));
    p = simd::fma(p, z, fb(1.33314422036e-1f));
    p = simd::fma(p, z, fb(-3.33332819422e-1f));
    const fb small = simd::fma(p * z, x, x);
    // Soft-capped scores mostly lie well inside the cap: skip the exp when every lane does.
    if (xsimd::all(ax < fb(0.625f))) return small;
    const fb t = simd::exp_nonpositive(fb(-2.0f) * ax);  // NaN stays NaN, −inf → 0
    const fb big = simd::fnma(fb(2.0f) * t, reciprocal_ge1(fb(1.0f) + t), fb(1.0f));
    // NaN: the comparison is false and big is NaN.
    return xsimd::select(ax < fb(0.625f), small, xsimd::select(x < fb(0.0f), -big, big));
}

// σ(x) = 1 / (1 + e^{−x}).
// Range: every float; exactly 0 for x < −87.33 (including −inf: masked scores contribute exactly 0;
// σ there is below 1.2e-38), exactly 1 for x > 17.33 (float rounding), NaN propagates.
// Error: ≤ 4 ULP relative. σ = 1/(1 + t), t = e^{−x} (2 ULP) and the quotient by reciprocal_ge1
// (1 ULP): 1 + t has no cancellation (t > 0), and for x < 0 the quotient's relative error is t's.
inline scalar_vec sigmoid(scalar_vec x) { return x.v < -87.33654f ? 0.0f : 1.0f / (1.0f + simd::exp(scalar_vec(-x.v)).v); }

template <class A>
inline xsimd::batch<float, A> sigmoid(const xsimd::batch<float, A>& x) {
    using fb = xsimd::batch<float, A>;
    // e^{−x} with x clamped to [−87.34, 87.34] (exp_clamped's range), so 1 + e^{−x} stays finite
    // and ≥ 1 for reciprocal_ge1 (NaN kept by both clamps' operand order); below x = −87.34 the
    // result is 0 by the select, above 87.34 it is 1 (1 + 1.2e-38 rounds to 1). Without the upper
    // clamp, x ≳ 1e12 gave NaN (tests/hostile: huge scores).
    const fb lo(-87.33654f), hi(87.33654f);
    const fb t = detail::exp_clamped(-xsimd::min(hi, detail::clamp_below_keep_nan(x, lo)));
    return xsimd::select(x < lo, fb(0.0f), reciprocal_ge1(fb(1.0f) + t));
}

}  // namespace attune::simd
