#pragma once
// bf16 read as pairs: 2·W bf16 loaded as W 32-bit lanes give two float vectors, the even elements
// (lane << 16) and the odd ones (lane & 0xffff0000), in two ALU operations. Two widening loads
// (simd/vec.hpp) take four (two zero-extending shuffles and two shifts), and decode, where each
// bf16 element feeds only a few FMAs, spends a large part of its time there.
//
// The price is the order: a kernel reading pairs works on the even and odd elements of each
// 2·W block separately. Dot products only need the other operand in the same split order
// (split_pairs); a sum over columns (P·V) holds its columns split and puts them back in order once
// at the end (join_pairs). Elements past the last whole 2·W block stay in natural order.
//
// AVX-512 only (has_bf16_pairs); other archs keep the widening loads.
#include "attune/core/types.hpp"
#include "attune/simd/vec.hpp"

namespace attune::simd {

#if XSIMD_WITH_AVX512F
template <class Arch>
inline constexpr bool has_bf16_pairs = detail::arch_is<Arch, xsimd::avx512f>;
#else
template <class Arch>
inline constexpr bool has_bf16_pairs = false;
#endif

// Elements in whole 2·W blocks, the part of a row of n that pairs cover.
template <class Arch>
constexpr index_t paired_span(index_t n) {
    constexpr index_t block = 2 * static_cast<index_t>(width<Arch>);
    return has_bf16_pairs<Arch> ? n - n % block : 0;
}

#if XSIMD_WITH_AVX512F
// 2·W bf16 at p (unaligned): even = p[0], p[2], …, p[2W−2] and odd = p[1], p[3], …, as floats.
template <class Arch>
inline void load_bf16_pairs(const bf16* p, vec<Arch>& even, vec<Arch>& odd) {
    static_assert(has_bf16_pairs<Arch>, "load_bf16_pairs: AVX-512 only");
    const __m512i raw = _mm512_loadu_si512(p);
    even = vec<Arch>(_mm512_castsi512_ps(_mm512_slli_epi32(raw, 16)));
    odd = vec<Arch>(_mm512_castsi512_ps(_mm512_and_si512(raw, _mm512_set1_epi32(static_cast<int>(0xffff0000u)))));
}

namespace detail {
// Each whole 2·W block of the n floats at src → dst (which may be src) through two two-source lane
// permutes: the block's first W lanes by index `first`, its last W by `second`.
template <class Arch>
inline void permute_pair_blocks(const float* src, float* dst, index_t n, __m512i first, __m512i second) {
    constexpr index_t W = static_cast<index_t>(width<Arch>);
    const index_t span = paired_span<Arch>(n);
    for (index_t i = 0; i < span; i += 2 * W) {
        const __m512 a = _mm512_loadu_ps(src + i), b = _mm512_loadu_ps(src + i + W);
        _mm512_storeu_ps(dst + i, _mm512_permutex2var_ps(a, first, b));
        _mm512_storeu_ps(dst + i + W, _mm512_permutex2var_ps(a, second, b));
    }
}
inline __m512i even_lanes() { return _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0); }
inline __m512i odd_lanes() { return _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1); }
}  // namespace detail

// n floats from src to dst with every whole 2·W block split: its W even elements, then its W
// odd ones; the rest copied as is. src and dst must not overlap.
template <class Arch>
inline void split_pairs(const float* src, float* dst, index_t n) {
    detail::permute_pair_blocks<Arch>(src, dst, n, detail::even_lanes(), detail::odd_lanes());
    for (index_t i = paired_span<Arch>(n); i < n; ++i) dst[i] = src[i];
}

// The same in place (the layout a paired P·V accumulates into, for values already in an accumulator).
template <class Arch>
inline void split_pairs_in_place(float* p, index_t n) {
    detail::permute_pair_blocks<Arch>(p, p, n, detail::even_lanes(), detail::odd_lanes());
}

// The inverse, in place: every whole 2·W block of the n floats at p back in natural order.
template <class Arch>
inline void join_pairs(float* p, index_t n) {
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    detail::permute_pair_blocks<Arch>(p, p, n, lo, hi);
}
#endif

}  // namespace attune::simd
