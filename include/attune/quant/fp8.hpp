#pragma once
// fp8 (OCP 8-bit floats, Micikevicius et al. 2022), as vLLM stores its KV cache: x ≈ scale · f with
// f an e4m3 (4 exponent bits, 3 mantissa bits, max 448, no infinities: "e4m3fn") or e5m2 (max 57344)
// value, one scale per tensor or per kv head. Quantization rounds to nearest even and saturates at
// the format's largest finite value (as vLLM's scaled conversion does); NaN stays NaN.
// The kernel reads an fp8 byte through the half converter (simd/bytes.hpp) and folds the scale
// (and e4m3's 2^8) into one factor per row; decode reads e4m3 tiles that hold no NaN byte without
// the NaN lanes' fix (finite_load).
#include <cmath>
#include <cstdint>

#include "attune/quant/format.hpp"
#include "attune/simd/bytes.hpp"
#include "attune/simd/narrow.hpp"

namespace attune::quant {

template <bool E4M3>
struct fp8 {
    static constexpr int mantissa_bits = E4M3 ? 3 : 2;
    static constexpr int min_exponent = E4M3 ? -6 : -14;  // of the smallest normal
    static constexpr int bias = E4M3 ? 7 : 15;
    static constexpr std::uint8_t max_code = E4M3 ? 0x7e : 0x7b;  // 448, 57344
    static constexpr std::uint8_t nan_code = E4M3 ? 0x7f : 0x7f;
    static constexpr float max_value = E4M3 ? 448.0f : 57344.0f;
    static constexpr float load_factor = E4M3 ? 256.0f : 1.0f;  // load<Arch> gives value · 2^-8 for e4m3

    float scale = 1.0f;                  // every head's scale, unless head_scales is given
    const float* head_scales = nullptr;  // one scale per kv head (read while the view is in use)

    static constexpr const char* name() noexcept { return E4M3 ? "fp8_e4m3" : "fp8_e5m2"; }
    static constexpr index_t group = 1;
    static index_t row_bytes(index_t dim) noexcept { return dim; }
    void check(index_t heads, index_t dim, const char* what) const {
        detail::check_group(dim, group, name(), what);
        if (head_scales == nullptr) {
            attune::detail::require(std::isfinite(scale) && scale > 0.0f, what, ": fp8 scale must be finite and > 0, got ", scale);
        } else {
            for (index_t h = 0; h < heads; ++h)
                attune::detail::require(std::isfinite(head_scales[h]) && head_scales[h] > 0.0f, what, ": fp8 head_scales[", h,
                                        "] must be finite and > 0, got ", head_scales[h]);
        }
    }

    struct head_params {
        float factor;  // scale · load_factor
    };
    head_params head(index_t h) const noexcept { return {(head_scales != nullptr ? head_scales[h] : scale) * load_factor}; }
    fp8 head_format(index_t h) const noexcept { return {head_scales != nullptr ? head_scales[h] : scale, nullptr}; }
    static float row_scale(head_params hp, const std::uint8_t*) noexcept { return hp.factor; }
    template <class Arch>
    static simd::vec<Arch> load(head_params, const std::uint8_t* row, index_t d) {
        return simd::load_fp8<Arch, E4M3>(row + d);
    }
    static float value(head_params, const std::uint8_t* row, index_t e) noexcept { return simd::fp8_scaled_value<E4M3>(row[e]); }
    // e4m3's NaN takes four of load's nine instructions a vector (AVX-512), so decode checks a
    // tile's rows once (row_finite) and reads a tile without NaN by the shorter widening.
    static constexpr bool finite_load = E4M3;
    template <class Arch>
    static bool row_finite(const std::uint8_t* row, index_t bytes) {
        return !simd::e4m3_has_nan<Arch>(row, bytes);
    }
    template <class Arch>
    static simd::vec<Arch> load_finite(head_params, const std::uint8_t* row, index_t d) {
        return simd::load_e4m3_finite<Arch>(row + d);
    }

    // x (already divided by the scale) as an fp8 byte.
    static std::uint8_t encode(float x) noexcept {
        if (std::isnan(x)) return nan_code;
        const std::uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
        const float a = std::fabs(x);
        if (a >= max_value) return sign | max_code;
        constexpr float steps = static_cast<float>(1 << mantissa_bits);
        int e2;
        std::frexp(a, &e2);  // a = f · 2^e2, f ∈ [0.5, 1)
        int exponent = e2 - 1;
        if (a == 0.0f || exponent < min_exponent) {  // subnormal: multiples of 2^(min_exponent − M)
            const float m = std::nearbyint(std::ldexp(a, mantissa_bits - min_exponent));
            return sign | static_cast<std::uint8_t>(m);  // m = 2^M lands on the smallest normal's code
        }
        float m = std::nearbyint((std::ldexp(a, -exponent) - 1.0f) * steps);
        if (m >= steps) m = 0.0f, ++exponent;
        const int code = ((exponent + bias) << mantissa_bits) | static_cast<int>(m);
        return sign | static_cast<std::uint8_t>(code > max_code ? max_code : code);
    }
    // encode on Arch's vectors, lane by lane: the mantissa rounded to M bits (nearest even) in the
    // float's own bits, a carry moving into the exponent; below the smallest normal, the multiple
    // of the subnormal step by a power-of-two product and a rounding conversion.
    template <class Arch>
    static simd::ivec<Arch> encode(const simd::fvec<Arch>& x) {
        using FV = simd::fvec<Arch>;
        using IV = simd::ivec<Arch>;
        constexpr int shift = 23 - mantissa_bits;
        const IV bits = xsimd::bitwise_cast<IV>(x), abits = bits & IV(0x7fffffff);
        const IV sign = (bits >> 24) & IV(0x80);
        const IV normal = ((abits + IV((1 << (shift - 1)) - 1) + ((abits >> shift) & IV(1))) >> shift) - IV((127 - bias) << mantissa_bits);
        const IV subnormal =
            xsimd::nearbyint_as_int(xsimd::bitwise_cast<FV>(abits) * FV(static_cast<float>(1 << (mantissa_bits - min_exponent))));
        const IV smallest_normal((127 + min_exponent) << 23);
        // The lanes' choices on float compares of |x| (the same order as its bits; NaN compares false).
        const FV ax = xsimd::bitwise_cast<FV>(abits);
        const IV code =
            xsimd::min(simd::select_bits<Arch>(ax < xsimd::bitwise_cast<FV>(smallest_normal), subnormal, normal), IV(max_code)) | sign;
        return simd::select_bits<Arch>(xsimd::isnan(ax), IV(nan_code), code);
    }
    template <class Arch = simd::default_arch>
    void quantize_row(index_t h, const float* x, std::uint8_t* row, index_t dim) const {
        const float inv = 1.0f / (head_scales != nullptr ? head_scales[h] : scale);
        index_t d = 0;
        if constexpr (simd::narrowing<Arch>) {
            using FV = simd::fvec<Arch>;
            constexpr index_t W = static_cast<index_t>(FV::size);
            for (; d + W <= dim; d += W) simd::store_low_bytes<Arch>(row + d, encode<Arch>(FV::load_unaligned(x + d) * FV(inv)));
        }
        for (; d < dim; ++d) row[d] = encode(x[d] * inv);
    }
};

using fp8_e4m3 = fp8<true>;
using fp8_e5m2 = fp8<false>;

}  // namespace attune::quant
