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
// AVX-512 only (`caps<Arch>::bf16_pairs`); on other archs paired_span is 0, so the split and join
// below leave every element where it is, and kernels keep the widening loads.
#include "attune/core/types.hpp"
#include "attune/simd/vec.hpp"

namespace attune::simd {

template <class Arch>
inline constexpr bool has_bf16_pairs = caps<Arch>::bf16_pairs;

// Elements in whole 2·W blocks, the part of a row of n that pairs cover.
template <class Arch>
constexpr index_t paired_span(index_t n) {
    constexpr index_t block = 2 * static_cast<index_t>(width<Arch>);
    return has_bf16_pairs<Arch> ? n - n % block : 0;
}

// 2·W bf16 at p (unaligned): even = p[0], p[2], …, p[2W−2] and odd = p[1], p[3], …, as floats.
template <class Arch>
inline void load_bf16_pairs([[maybe_unused]] const bf16* p, [[maybe_unused]] vec<Arch>& even, [[maybe_unused]] vec<Arch>& odd) {
    static_assert(has_bf16_pairs<Arch>, "load_bf16_pairs: needs caps<Arch>::bf16_pairs");
#if XSIMD_WITH_AVX512F
    const __m512i raw = _mm512_loadu_si512(p);
    even = vec<Arch>(_mm512_castsi512_ps(_mm512_slli_epi32(raw, 16)));
    odd = vec<Arch>(_mm512_castsi512_ps(_mm512_and_si512(raw, _mm512_set1_epi32(static_cast<int>(0xffff0000u)))));
#endif
}

namespace detail {
enum class pair_order { split, join };
// Each whole 2·W block of the n floats at src → dst (which may be src), split into (even, odd)
// halves or joined back, through two two-source lane permutes.
template <class Arch, pair_order Order>
inline void permute_pair_blocks([[maybe_unused]] const float* src, [[maybe_unused]] float* dst, index_t n) {
    const index_t span = paired_span<Arch>(n);
    if constexpr (has_bf16_pairs<Arch>) {
#if XSIMD_WITH_AVX512F
        constexpr index_t W = static_cast<index_t>(width<Arch>);
        const bool split = Order == pair_order::split;
        const __m512i first = split ? _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0)
                                    : _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
        const __m512i second = split ? _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1)
                                     : _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
        for (index_t i = 0; i < span; i += 2 * W) {
            const __m512 a = _mm512_loadu_ps(src + i), b = _mm512_loadu_ps(src + i + W);
            _mm512_storeu_ps(dst + i, _mm512_permutex2var_ps(a, first, b));
            _mm512_storeu_ps(dst + i + W, _mm512_permutex2var_ps(a, second, b));
        }
#endif
    }
    (void)span;
}
}  // namespace detail

// n floats from src to dst with every whole 2·W block split: its W even elements, then its W
// odd ones; the rest copied as is. src and dst must not overlap.
template <class Arch>
inline void split_pairs(const float* src, float* dst, index_t n) {
    detail::permute_pair_blocks<Arch, detail::pair_order::split>(src, dst, n);
    for (index_t i = paired_span<Arch>(n); i < n; ++i) dst[i] = src[i];
}

// The same in place (the layout a paired P·V accumulates into, for values already in an accumulator).
template <class Arch>
inline void split_pairs_in_place(float* p, index_t n) {
    detail::permute_pair_blocks<Arch, detail::pair_order::split>(p, p, n);
}

// The inverse, in place: every whole 2·W block of the n floats at p back in natural order.
template <class Arch>
inline void join_pairs(float* p, index_t n) {
    detail::permute_pair_blocks<Arch, detail::pair_order::join>(p, p, n);
}

}  // namespace attune::simd
