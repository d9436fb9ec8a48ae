#pragma once
// Vector math for the kernels, each with its valid range and error stated.
#include <cmath>
#include <limits>
#include <type_traits>

#include "attune/simd/vec.hpp"

namespace attune::simd {

// exp(x) for float vectors.
// Range: exact 0 for x < -87.33 (including -inf: masked scores), +inf above 88.376, NaN propagates.
// Error: ≤ 2 ULP over [-87.33, 88.376] (Cody–Waite reduction by ln 2, degree-6 minimax polynomial on
// [-ln2/2, ln2/2], result scaled by 2^n through the exponent bits). Checked in tests/simd/math.
inline scalar_vec exp(scalar_vec x) {
    if (x.v < -87.33654f) return 0.0f;
    if (x.v > 88.3762626f) return std::numeric_limits<float>::infinity();
    return std::exp(x.v);
}

namespace detail {
// e^x for x already clamped to [-87.34, 88.38]: Cody–Waite reduction by ln 2, degree-6 minimax
// polynomial on [-ln2/2, ln2/2], scaled by 2^n through the exponent bits.
template <class A>
inline xsimd::batch<float, A> exp_clamped(const xsimd::batch<float, A>& xc) {
    using fb = xsimd::batch<float, A>;
    using ib = xsimd::batch<int32_t, A>;
    const fb n = xsimd::nearbyint(xc * fb(1.44269504088896341f));
    fb r = simd::fma(n, fb(-0.693359375f), xc);
    r = simd::fma(n, fb(2.12194440e-4f), r);
    fb p(1.9875691500e-4f);
    p = simd::fma(p, r, fb(1.3981999507e-3f));
    p = simd::fma(p, r, fb(8.3334519073e-3f));
    p = simd::fma(p, r, fb(4.1665795894e-2f));
    p = simd::fma(p, r, fb(1.6666665459e-1f));
    p = simd::fma(p, r, fb(5.0000001201e-1f));
    p = simd::fma(p, r * r, r + fb(1.0f));
#if XSIMD_WITH_AVX512F
    // p·2^n in one instruction (vscalefps) instead of four (convert, add the bias, shift, multiply):
    // the same bits, since scaling by a power of two is exact here.
    if constexpr (std::is_base_of_v<xsimd::avx512f, A>) return fb(_mm512_scalef_ps(p, n));
#endif
    return p * xsimd::bitwise_cast<fb>((xsimd::to_int(n) + ib(127)) << 23);
}

// max(lo, x) that keeps x's NaN: x86's maxps returns its second operand when either is NaN, and
// NEON's max returns NaN; so a NaN input needs no separate isnan test after clamping from below.
template <class A>
inline xsimd::batch<float, A> clamp_below_keep_nan(const xsimd::batch<float, A>& x, const xsimd::batch<float, A>& lo) {
    return xsimd::max(lo, x);
}
}  // namespace detail

template <class A>
inline xsimd::batch<float, A> exp(const xsimd::batch<float, A>& x) {
    using fb = xsimd::batch<float, A>;
    const fb lo(-87.33654f), hi(88.3762626f);
    fb y = detail::exp_clamped(xsimd::min(xsimd::max(x, lo), hi));
    y = xsimd::select(x < lo, fb(0.0f), y);
    y = xsimd::select(x > hi, fb(std::numeric_limits<float>::infinity()), y);
    return xsimd::select(xsimd::isnan(x), x, y);  // NaN in, NaN out (xsimd's != is ordered)
}

// exp(x) for x ≤ 88.376 (callers guarantee it: softmax exponents s − m are ≤ the rescale
// threshold). Same error and low range as exp() and NaN still propagates; the upper clamp is gone.
inline scalar_vec exp_nonpositive(scalar_vec x) { return x.v < -87.33654f ? 0.0f : std::exp(x.v); }

template <class A>
inline xsimd::batch<float, A> exp_nonpositive(const xsimd::batch<float, A>& x) {
    using fb = xsimd::batch<float, A>;
    const fb lo(-87.33654f);
    const fb y = detail::exp_clamped(detail::clamp_below_keep_nan(x, lo));  // NaN in, NaN out
    return xsimd::select(x < lo, fb(0.0f), y);
}

}  // namespace attune::simd
