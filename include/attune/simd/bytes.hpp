#pragma once
// Widening loads from 8- and 4-bit storage (xsimd 8.1 has none): width<Arch> lanes of
//   load_i8       int8 → float
//   load_nibbles  the low (or high) 4 bits of width<Arch> bytes, as 0..15 → float
//   load_fp8      fp8 (OCP e4m3 or e5m2) → float, through the half converter: an fp8 byte shifted
//                 into a half's bits is exact for e5m2 (its top byte) and, for e4m3, is the value
//                 times 2^-8 (the exponent bias 7 against 15), subnormals included
//   load_e4m3_finite  load_fp8 for e4m3 bytes known to hold no NaN (e4m3_has_nan said so): without
//                 the NaN lanes' fix, 5 instructions a vector instead of 9 on AVX-512, 4 instead of 11
//                 on AVX2 — the decode kernels check a tile's bytes once and take it when they may
//   e4m3_has_nan  whether any of n e4m3 bytes is a NaN (0x7f / 0xff): a compare per 64 bytes
// A few instructions per vector on AVX2/AVX-512 (F16C for fp8 on AVX2); a scalar loop elsewhere.
#include <cstdint>
#include <cstring>

#include "attune/core/types.hpp"
#include "attune/simd/caps.hpp"
#include "attune/simd/vec.hpp"

// GCC 12.2 (Debian 12's) reports the AVX-512 widening intrinsics' own undefined pass-through operand
// as used uninitialized once they are inlined into a caller built with -march=native (GCC bug
// 105593, fixed in 12.3): silenced here, where those intrinsics are called, and nowhere else.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace attune::simd {

// The fp8 byte x as the bits of a half: e5m2 exactly, e4m3 as value · 2^-8, its NaN (0x7f/0xff, a
// NaN stored by the quantizer) as a half NaN (the mantissa's top bits set: 0x7f80 with the sign).
template <bool E4M3>
inline std::uint16_t fp8_half_bits(std::uint8_t x) noexcept {
    if constexpr (E4M3) return static_cast<std::uint16_t>(((x & 0x80u) << 8) | ((x & 0x7fu) << 7) | ((x & 0x7fu) == 0x7fu ? 0x7e00u : 0u));
    else return static_cast<std::uint16_t>(x << 8);
}
// The fp8 byte's value (e4m3: times 2^-8, as load_fp8 gives it).
template <bool E4M3>
inline float fp8_scaled_value(std::uint8_t x) noexcept {
    return static_cast<float>(half(Eigen::half_impl::raw_uint16_to_half(fp8_half_bits<E4M3>(x))));
}

#if XSIMD_WITH_AVX512F && defined(__AVX512BW__) && defined(__AVX512VL__)
namespace detail {
// 16 e4m3 bytes as the halves of value · 2^-8: sign-extended, the byte's sign lands in bit 15 and
// its magnitude in bits 13..7 after one shift (bit 14, a copy of the sign, cleared). NaN is left
// to the caller.
inline __m256i e4m3_half_bits(__m128i b) {
    return _mm256_and_si256(_mm256_slli_epi16(_mm256_cvtepi8_epi16(b), 7), _mm256_set1_epi16(static_cast<short>(0xbf80)));
}
}  // namespace detail
#endif

template <class Arch>
inline vec<Arch> load_i8(const std::int8_t* p) {
    constexpr std::size_t W = width<Arch>;
#if XSIMD_WITH_AVX512F
    if constexpr (detail::arch_is<Arch, xsimd::avx512f>)
        return vec<Arch>(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))));
#endif
#if XSIMD_WITH_AVX2
    if constexpr (detail::arch_is<Arch, xsimd::avx2> && !detail::arch_is<Arch, xsimd::avx512f>)
        return vec<Arch>(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)))));
#endif
    if constexpr (W == 1) {
        return vec<Arch>(static_cast<float>(*p));
    } else {
        alignas(64) float f[W];
        for (std::size_t i = 0; i < W; ++i) f[i] = static_cast<float>(p[i]);
        return load_aligned<Arch>(f);
    }
}

template <class Arch>
inline vec<Arch> load_nibbles(const std::uint8_t* p, bool high) {
    constexpr std::size_t W = width<Arch>;
#if XSIMD_WITH_AVX512F
    if constexpr (detail::arch_is<Arch, xsimd::avx512f>) {
        __m512i x = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        if (high) x = _mm512_srli_epi32(x, 4);
        return vec<Arch>(_mm512_cvtepi32_ps(_mm512_and_si512(x, _mm512_set1_epi32(0xf))));
    }
#endif
#if XSIMD_WITH_AVX2
    if constexpr (detail::arch_is<Arch, xsimd::avx2> && !detail::arch_is<Arch, xsimd::avx512f>) {
        __m256i x = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
        if (high) x = _mm256_srli_epi32(x, 4);
        return vec<Arch>(_mm256_cvtepi32_ps(_mm256_and_si256(x, _mm256_set1_epi32(0xf))));
    }
#endif
    const int shift = high ? 4 : 0;
    if constexpr (W == 1) {
        return vec<Arch>(static_cast<float>((*p >> shift) & 0xf));
    } else {
        alignas(64) float f[W];
        for (std::size_t i = 0; i < W; ++i) f[i] = static_cast<float>((p[i] >> shift) & 0xf);
        return load_aligned<Arch>(f);
    }
}

template <class Arch, bool E4M3>
inline vec<Arch> load_fp8(const std::uint8_t* p) {
    constexpr std::size_t W = width<Arch>;
#if XSIMD_WITH_AVX512F
    if constexpr (detail::arch_is<Arch, xsimd::avx512f>) {
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        __m256i h = _mm256_cvtepu8_epi16(b);
        if constexpr (E4M3) {
#if defined(__AVX512BW__) && defined(__AVX512VL__)
            if constexpr (detail::arch_is<Arch, xsimd::avx512bw>) {
                // a NaN's magnitude (all ones) lands on 0x3f80: made a half NaN (0x7f80) here
                const __m256i m = detail::e4m3_half_bits(b);
                const __mmask16 nan = _mm256_cmpeq_epi16_mask(_mm256_and_si256(m, _mm256_set1_epi16(0x3f80)), _mm256_set1_epi16(0x3f80));
                return vec<Arch>(_mm512_cvtph_ps(_mm256_mask_blend_epi16(nan, m, _mm256_or_si256(m, _mm256_set1_epi16(0x7e00)))));
            }
#endif
            const __m256i mag = _mm256_and_si256(h, _mm256_set1_epi16(0x7f));
            const __m256i nan = _mm256_and_si256(_mm256_cmpeq_epi16(mag, _mm256_set1_epi16(0x7f)), _mm256_set1_epi16(0x7e00));
            h = _mm256_or_si256(
                _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi16(0x80)), 8), _mm256_slli_epi16(mag, 7)), nan);
        } else {
            h = _mm256_slli_epi16(h, 8);
        }
        return vec<Arch>(_mm512_cvtph_ps(h));
    }
#endif
#if XSIMD_WITH_AVX2 && defined(__F16C__)
    if constexpr (detail::arch_is<Arch, xsimd::avx2> && !detail::arch_is<Arch, xsimd::avx512f>) {
        const __m128i x = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
        __m128i h;
        if constexpr (E4M3) {
            const __m128i mag = _mm_and_si128(x, _mm_set1_epi16(0x7f));
            const __m128i nan = _mm_and_si128(_mm_cmpeq_epi16(mag, _mm_set1_epi16(0x7f)), _mm_set1_epi16(0x7e00));
            h = _mm_or_si128(_mm_or_si128(_mm_slli_epi16(_mm_and_si128(x, _mm_set1_epi16(0x80)), 8), _mm_slli_epi16(mag, 7)), nan);
        } else {
            h = _mm_slli_epi16(x, 8);
        }
        return vec<Arch>(_mm256_cvtph_ps(h));
    }
#endif
    if constexpr (W == 1) {
        return vec<Arch>(fp8_scaled_value<E4M3>(*p));
    } else {
        alignas(64) float f[W];
        for (std::size_t i = 0; i < W; ++i) f[i] = fp8_scaled_value<E4M3>(p[i]);
        return load_aligned<Arch>(f);
    }
}

template <class Arch>
inline vec<Arch> load_e4m3_finite(const std::uint8_t* p) {
#if XSIMD_WITH_AVX512F && defined(__AVX512BW__) && defined(__AVX512VL__)
    if constexpr (detail::arch_is<Arch, xsimd::avx512bw>) {
        return vec<Arch>(_mm512_cvtph_ps(detail::e4m3_half_bits(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))));
    }
#endif
#if XSIMD_WITH_AVX2 && defined(__F16C__)
    if constexpr (detail::arch_is<Arch, xsimd::avx2> && !detail::arch_is<Arch, xsimd::avx512f>) {
        const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
        return vec<Arch>(
            _mm256_cvtph_ps(_mm_and_si128(_mm_slli_epi16(_mm_cvtepi8_epi16(b), 7), _mm_set1_epi16(static_cast<short>(0xbf80)))));
    }
#endif
    return load_fp8<Arch, true>(p);
}

template <class Arch>
inline bool e4m3_has_nan(const std::uint8_t* p, index_t n) {
    index_t i = 0;
#if XSIMD_WITH_AVX512F && defined(__AVX512BW__)
    if constexpr (detail::arch_is<Arch, xsimd::avx512bw>) {
        // a NaN is the byte with every magnitude bit set: x | 0x80 == 0xff
        const __m512i sign = _mm512_set1_epi8(static_cast<char>(0x80)), ones = _mm512_set1_epi8(-1);
        __mmask64 any = 0;
        for (; i + 64 <= n; i += 64) any |= _mm512_cmpeq_epi8_mask(_mm512_or_si512(_mm512_loadu_si512(p + i), sign), ones);
        if (i < n) {
            const __mmask64 tail = ~0ULL >> (64 - (n - i));  // n − i in [1, 63]
            any |= _mm512_mask_cmpeq_epi8_mask(tail, _mm512_or_si512(_mm512_maskz_loadu_epi8(tail, p + i), sign), ones);
        }
        return any != 0;
    }
#endif
#if XSIMD_WITH_AVX2
    if constexpr (detail::arch_is<Arch, xsimd::avx2> && !detail::arch_is<Arch, xsimd::avx512f>) {
        const __m256i sign = _mm256_set1_epi8(static_cast<char>(0x80)), ones = _mm256_set1_epi8(-1);
        __m256i any = _mm256_setzero_si256();
        for (; i + 32 <= n; i += 32)
            any = _mm256_or_si256(
                any, _mm256_cmpeq_epi8(_mm256_or_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)), sign), ones));
        if (!_mm256_testz_si256(any, any)) return true;
    }
#endif
    for (; i < n; ++i)
        if ((p[i] & 0x7fu) == 0x7fu) return true;
    return false;
}

}  // namespace attune::simd

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
