#pragma once
// Intel AMX-INT8 for int8 Q·Kᵀ (options::int8_qk; SageAttention, Zhang et al., ICLR 2025): 16 keys
// × 16 query rows of int32 sums per instruction (tdpbssd: 16 × 16 × 64 signed byte products), from
// K rows of int8 (A: 16 keys × 64 bytes of d) and Q as quads (B: 16 d-quads × 16 rows × 4 bytes,
// simd/int8_dot.hpp's layout). The same tiles, configuration and session as the bf16 path
// (simd/amx.hpp): tiles 0, 1 the sums, 4 the keys, 6, 7 the queries, each 16 rows × 64 bytes.
//
// Compiled in where the compiler targets AMX-INT8 as well as AMX-BF16 (-mamx-int8, e.g.
// -march=native on Sapphire Rapids and later); used only when the CPU also reports AMX-INT8
// (CPUID leaf 7, EDX bit 25) and the bf16 path is active (amx_active(): tiles granted, allowed).
#include <cstdint>

#include "attune/core/types.hpp"
#include "attune/simd/amx.hpp"

#if ATTUNE_AMX && defined(__AMX_INT8__)
#define ATTUNE_AMX_INT8 1
#else
#define ATTUNE_AMX_INT8 0
#endif

namespace attune::simd {

// Whether this CPU reports AMX-INT8 (the OS grant and AMX-TILE: amx_supported()).
inline bool amx_int8_supported() {
#if defined(__x86_64__) && defined(__linux__)
    static const bool ok = [] {
        unsigned a = 0, b = 0, c = 0, d = 0;
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
        return ((d >> 25) & 1u) != 0 && amx_supported();
    }();
    return ok;
#else
    return false;
#endif
}

#if ATTUNE_AMX_INT8
inline namespace amx_int8_compiled_in {
#else
inline namespace amx_int8_not_compiled {
#endif

// Whether this unit contains the AMX-INT8 path.
inline constexpr bool amx_int8_compiled = ATTUNE_AMX_INT8 != 0;

// Whether this unit's int8 score products now run on the tiles.
inline bool amx_int8_active() { return amx_int8_compiled && amx_active() && amx_int8_supported(); }

}  // namespace amx_int8_compiled_in / amx_int8_not_compiled

namespace amx {
#if ATTUNE_AMX_INT8
// acc[n][r] = Σ_d k̂[n][d]·q̂[r][d] (int32) for the nk keys, r < rp (a multiple of 16). kq: the keys'
// int8 rows, dp bytes apart (dp a multiple of 64), round_up(nk, 16) of them (the padding rows zero);
// qp: Q as quads [dp/4][rp]; acc: round_up(nk, 16) rows of rp. Needs the tile configuration of a
// session (simd/amx.hpp).
inline void int8_score_tile(const std::uint8_t* kq, index_t dp, index_t nk, const std::uint32_t* qp, index_t rp, std::int32_t* acc) {
    const long a_bytes = static_cast<long>(dp), b_bytes = static_cast<long>(rp * 4);
    for (index_t n0 = 0; n0 < nk; n0 += 16) {
        const std::uint8_t* a = kq + n0 * dp;
        for (index_t r0 = 0; r0 < rp; r0 += 32) {
            const bool two = r0 + 16 < rp;
            _tile_zero(0);
            _tile_zero(1);
            for (index_t d0 = 0; d0 < dp; d0 += 64) {
                _tile_loadd(4, a + d0, a_bytes);
                _tile_loadd(6, qp + (d0 / 4) * rp + r0, b_bytes);
                _tile_dpbssd(0, 4, 6);
                if (two) {
                    _tile_loadd(7, qp + (d0 / 4) * rp + r0 + 16, b_bytes);
                    _tile_dpbssd(1, 4, 7);
                }
            }
            std::int32_t* out = acc + n0 * rp + r0;
            _tile_stored(0, out, b_bytes);
            if (two) _tile_stored(1, out + 16, b_bytes);
        }
    }
}
#else
// Declared on every build so that a stage can name it under `if constexpr (amx_int8_compiled)`.
void int8_score_tile(const std::uint8_t* kq, index_t dp, index_t nk, const std::uint32_t* qp, index_t rp, std::int32_t* acc);
#endif
}  // namespace amx

}  // namespace attune::simd
