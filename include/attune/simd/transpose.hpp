#pragma once
// Transposes of 16 × 16 blocks of 32-bit elements (AVX-512), for packing rows into the kernels'
// column layouts: Q as Qt[d][rows] (fp32 scores) and as VNNI pairs (AMX), bf16 weights for AMX.
#include "attune/core/types.hpp"
#include "attune/simd/caps.hpp"
#include "attune/simd/unroll.hpp"
#include "attune/simd/vec.hpp"

#if XSIMD_WITH_AVX512F
#include <immintrin.h>

namespace attune::simd {

// 16 × 16 transpose of 32-bit lanes: lane j of r[i] ends in lane i of r[j]. Two unpack stages
// gather 4 × 4 blocks inside 128-bit lanes, two 128-bit shuffles move the blocks (64 operations).
// The zero-masking forms with a full mask are the same instructions: the plain forms start from
// _mm512_undefined_*, which GCC 12 reports as uninitialised under -Werror where they inline.
// Unrolled and inlined in full: at -O2 GCC kept the vectors in memory (the integer decode scores
// run it per 16 keys and 64 bytes).
ATTUNE_REGISTER_INLINE void transpose_16x16(__m512i r[16]) {
    const __mmask16 all = 0xFFFF;
    const __mmask8 all8 = 0xFF;
    __m512i t[16];
    ATTUNE_UNROLL_FULL for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_maskz_unpacklo_epi32(all, r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_maskz_unpackhi_epi32(all, r[2 * i], r[2 * i + 1]);
    }
    ATTUNE_UNROLL_FULL for (int i = 0; i < 4; ++i) {  // u[4i + k], 128-bit lane L: column 4L + k of rows 4i..4i+3
        r[4 * i] = _mm512_maskz_unpacklo_epi64(all8, t[4 * i], t[4 * i + 2]);
        r[4 * i + 1] = _mm512_maskz_unpackhi_epi64(all8, t[4 * i], t[4 * i + 2]);
        r[4 * i + 2] = _mm512_maskz_unpacklo_epi64(all8, t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = _mm512_maskz_unpackhi_epi64(all8, t[4 * i + 1], t[4 * i + 3]);
    }
    ATTUNE_UNROLL_FULL for (int k = 0; k < 4; ++k) {
        const __m512i x = _mm512_maskz_shuffle_i32x4(all, r[k], r[4 + k], 0x44), y = _mm512_maskz_shuffle_i32x4(all, r[k], r[4 + k], 0xee);
        const __m512i x2 = _mm512_maskz_shuffle_i32x4(all, r[8 + k], r[12 + k], 0x44);
        const __m512i y2 = _mm512_maskz_shuffle_i32x4(all, r[8 + k], r[12 + k], 0xee);
        t[k] = _mm512_maskz_shuffle_i32x4(all, x, x2, 0x88);
        t[4 + k] = _mm512_maskz_shuffle_i32x4(all, x, x2, 0xdd);
        t[8 + k] = _mm512_maskz_shuffle_i32x4(all, y, y2, 0x88);
        t[12 + k] = _mm512_maskz_shuffle_i32x4(all, y, y2, 0xdd);
    }
    ATTUNE_UNROLL_FULL for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// 4 × 4 transposes inside each 128-bit lane of four vectors: element k of lane L of v[i] into
// element i of lane L of v[k] (eight in-lane unpacks). With v[i] holding four keys' rows i … one
// key a lane, or four rows of four keys a lane, it turns one layout into the other.
ATTUNE_REGISTER_INLINE void transpose_4x4_lanes(__m512 (&v)[4]) {
    const __mmask16 all = 0xFFFF;
    const __mmask8 all8 = 0xFF;
    const __m512d lo01 = _mm512_castps_pd(_mm512_maskz_unpacklo_ps(all, v[0], v[1])),
                  hi01 = _mm512_castps_pd(_mm512_maskz_unpackhi_ps(all, v[0], v[1]));
    const __m512d lo23 = _mm512_castps_pd(_mm512_maskz_unpacklo_ps(all, v[2], v[3])),
                  hi23 = _mm512_castps_pd(_mm512_maskz_unpackhi_ps(all, v[2], v[3]));
    v[0] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(all8, lo01, lo23));
    v[1] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(all8, lo01, lo23));
    v[2] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(all8, hi01, hi23));
    v[3] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(all8, hi01, hi23));
}

// dst[j·dst_stride + r] = rows[r][j] for r < 16 and j < n_dst, 32-bit elements: elements j ≥ n_src
// and null rows read as zero. With `scale`, the elements are floats and are multiplied by it.
inline void transpose_rows_16(const void* const rows[16], index_t n_src, index_t n_dst, void* dst, index_t dst_stride,
                              const float* scale = nullptr) {
    auto* out = static_cast<std::uint32_t*>(dst);
    for (index_t j0 = 0; j0 < n_dst; j0 += 16) {
        const index_t live = n_src - j0 >= 16 ? 16 : (n_src > j0 ? n_src - j0 : 0);
        const __mmask16 m = static_cast<__mmask16>((1u << live) - 1u);
        __m512i r[16];
        for (int i = 0; i < 16; ++i)
            r[i] =
                rows[i] != nullptr ? _mm512_maskz_loadu_epi32(m, static_cast<const std::uint32_t*>(rows[i]) + j0) : _mm512_setzero_si512();
        transpose_16x16(r);
        const index_t cols = n_dst - j0 < 16 ? n_dst - j0 : 16;
        for (index_t i = 0; i < cols; ++i) {
            const __m512i v =
                scale != nullptr ? _mm512_castps_si512(_mm512_mul_ps(_mm512_castsi512_ps(r[i]), _mm512_set1_ps(*scale))) : r[i];
            _mm512_storeu_si512(out + (j0 + i) * dst_stride, v);
        }
    }
}

}  // namespace attune::simd
#endif

namespace attune::simd {
// transpose_rows_16 for the kernels above simd/, declared on every arch and usable where
// `caps<Arch>::transpose16`.
template <class Arch>
inline void pack_columns_16([[maybe_unused]] const void* const rows[16], [[maybe_unused]] index_t n_src, [[maybe_unused]] index_t n_dst,
                            [[maybe_unused]] void* dst, [[maybe_unused]] index_t dst_stride,
                            [[maybe_unused]] const float* scale = nullptr) {
    static_assert(caps<Arch>::transpose16, "pack_columns_16: needs caps<Arch>::transpose16");
#if XSIMD_WITH_AVX512F
    transpose_rows_16(rows, n_src, n_dst, dst, dst_stride, scale);
#endif
}
}  // namespace attune::simd
