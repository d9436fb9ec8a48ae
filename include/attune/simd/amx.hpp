#pragma once
// Intel AMX for the score tiles of bf16 prefill: S = Q·Kᵀ with bf16 operands and fp32 sums, 16×16
// blocks per instruction (tdpbf16ps: 16 keys × 16 query rows × 32 d). The products of two bf16
// numbers are exact in fp32, so the scores match the float path up to the order of the sums; P·V
// stays on the fp32 micro-kernels (P is never rounded to bf16).
//
// Compiled in when the compiler targets AMX (-mamx-tile -mamx-bf16, e.g. -march=native on
// Sapphire Rapids and later); used only when the CPU reports AMX-BF16 and Linux grants the tile
// state (arch_prctl ARCH_REQ_XCOMP_PERM). `simd::set_amx_allowed(false)` turns it off (tests and
// benchmarks compare both paths). Everything else about a call is unchanged.
#include <atomic>
#include <cstdint>
#include <cstring>

#include "attune/core/types.hpp"

#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AVX512F__) && defined(__linux__) && defined(__x86_64__)
#define ATTUNE_AMX 1
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#else
#define ATTUNE_AMX 0
#endif

namespace attune::simd {

namespace detail {
inline std::atomic<bool>& amx_allowed_flag() {
    static std::atomic<bool> allowed{true};
    return allowed;
}
}  // namespace detail

// Whether this build contains the AMX path.
inline constexpr bool amx_compiled = ATTUNE_AMX != 0;

// Whether this CPU and OS run AMX tiles (probed once per process).
inline bool amx_supported() {
#if ATTUNE_AMX
    static const bool ok = [] {
        unsigned a = 0, b = 0, c = 0, d = 0;
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
        if (!((d >> 22) & 1u) || !((d >> 24) & 1u)) return false;  // AMX-BF16, AMX-TILE
        constexpr long arch_req_xcomp_perm = 0x1023, xfeature_xtiledata = 18;
        return syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) == 0;
    }();
    return ok;
#else
    return false;
#endif
}

// Allows or forbids the AMX path for later calls (default: allowed). Returns the previous value.
inline bool set_amx_allowed(bool allowed) { return detail::amx_allowed_flag().exchange(allowed); }

// Whether calls now take the AMX path where it applies.
inline bool amx_active() { return amx_compiled && detail::amx_allowed_flag().load(std::memory_order_relaxed) && amx_supported(); }

#if ATTUNE_AMX
namespace amx {

// Every tile 16 rows × 64 bytes: C (tiles 0, 1: 16 keys × 16 fp32 rows), A (tile 4: 16 keys × 32
// bf16 of d), B (tiles 6, 7: 16 d-pairs × 16 rows × 2 bf16). The 64-byte LDTILECFG operand:
// palette 1, bytes 16–47 the tiles' bytes per row (u16), bytes 48–63 their rows.
// A constant in memory, not a stack object: GCC's _tile_loadconfig tells the compiler it reads 8
// bytes only, so stores of the rest of a local configuration were removed as dead (a #GP).
alignas(64) inline constexpr std::uint8_t tile_config[64] = {
    1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,          // palette, start row, reserved
    64, 0, 64, 0, 0, 0, 0, 0, 64, 0, 0, 0, 64, 0, 64, 0,     // colsb, tiles 0–7
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,          // colsb, tiles 8–15
    16, 16, 0, 0, 16, 0, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0,     // rows, tiles 0–15
};

// Loads the configuration on this thread (cheap; done once per work item).
inline void configure() { _tile_loadconfig(tile_config); }
inline void release() { _tile_release(); }

// Q rows [rows][dk] (bf16) → VNNI pairs qp[(d/2)·rp + r] = (q[r][d], q[r][d+1]), d zero-padded to
// dk32 (a multiple of 32) and rows to rp (a multiple of 16). Unscaled: the exact bf16 inputs.
template <class RowAt>
inline void pack_q(const RowAt& row_at, index_t rows, index_t rp, index_t dk, index_t dk32, std::uint32_t* qp) {
    for (index_t r = 0; r < rp; ++r) {
        const std::uint16_t* src = r < rows ? reinterpret_cast<const std::uint16_t*>(row_at(r)) : nullptr;
        for (index_t d = 0; d < dk32; d += 2) {
            const std::uint32_t lo = src != nullptr && d < dk ? src[d] : 0u;
            const std::uint32_t hi = src != nullptr && d + 1 < dk ? src[d + 1] : 0u;
            qp[(d / 2) * rp + r] = lo | (hi << 16);
        }
    }
}

// S[n][r] = scale · Σ_d K[n][d]·Q[r][d] for n < nk, r < rp (rp a multiple of 16). K rows are read
// 32 bf16 at a time: `k` (k_stride elements apart) when dk is a multiple of 32 and all 16 rows of a
// block exist; otherwise each block is first copied into `kpad` (16 × dk32 bf16, zero-padded).
inline void score_tile(const bf16* k, index_t k_stride, index_t nk, index_t dk, index_t dk32, const std::uint32_t* qp, index_t rp,
                       float scale, float* s, bf16* kpad) {
    const bool direct_ok = dk == dk32;
    for (index_t n0 = 0; n0 < nk; n0 += 16) {
        const bf16* a = k + n0 * k_stride;
        index_t a_stride = k_stride;
        const index_t kb = nk - n0 < 16 ? nk - n0 : 16;
        if (!direct_ok || kb < 16) {
            std::memset(static_cast<void*>(kpad), 0, sizeof(bf16) * static_cast<std::size_t>(16 * dk32));
            for (index_t i = 0; i < kb; ++i) std::memcpy(static_cast<void*>(kpad + i * dk32), a + i * k_stride, sizeof(bf16) * static_cast<std::size_t>(dk));
            a = kpad;
            a_stride = dk32;
        }
        const long a_bytes = static_cast<long>(a_stride * 2), b_bytes = static_cast<long>(rp * 4);
        for (index_t r0 = 0; r0 < rp; r0 += 32) {
            const bool two = r0 + 16 < rp;
            _tile_zero(0);
            _tile_zero(1);
            for (index_t d0 = 0; d0 < dk32; d0 += 32) {
                _tile_loadd(4, a + d0, a_bytes);
                _tile_loadd(6, qp + (d0 / 2) * rp + r0, b_bytes);
                _tile_dpbf16ps(0, 4, 6);
                if (two) {
                    _tile_loadd(7, qp + (d0 / 2) * rp + r0 + 16, b_bytes);
                    _tile_dpbf16ps(1, 4, 7);
                }
            }
            float* out = s + n0 * rp + r0;
            _tile_stored(0, out, b_bytes);
            if (two) _tile_stored(1, out + 16, b_bytes);
            // The scale, on the rows of this block (16 keys × 16 or 32 lanes).
            const __m512 sc = _mm512_set1_ps(scale);
            for (index_t i = 0; i < kb; ++i) {
                _mm512_storeu_ps(out + i * rp, _mm512_mul_ps(_mm512_loadu_ps(out + i * rp), sc));
                if (two) _mm512_storeu_ps(out + i * rp + 16, _mm512_mul_ps(_mm512_loadu_ps(out + i * rp + 16), sc));
            }
        }
    }
}

}  // namespace amx
#endif

}  // namespace attune::simd
