#pragma once
// Intel AMX for bf16 prefill: 16×16 blocks of fp32 sums per instruction (tdpbf16ps: 16 × 16 × 32
// bf16 products).
// - Scores S = Q·Kᵀ from the exact bf16 inputs (16 keys × 16 query rows × 32 d). The product of two
//   bf16 numbers is exact in fp32, so the scores match the float path up to the order of the sums.
// - P·V, when V is bf16 and the output is bf16 too: the weights P are rounded to bf16 (to nearest
//   even) and O += P·V runs on the tiles (16 query rows × 16 columns × 32 keys), as PyTorch's and
//   oneDNN's bf16 attention do. The error this adds, at most 2^-9 of the weighted mean |v| per
//   element, is the order of the bf16 output's own rounding. A float output keeps P in fp32 (the
//   fp32 micro-kernels), so asking for float output keeps float accuracy.
//
// Compiled in when the compiler targets AMX (-mamx-tile -mamx-bf16, e.g. -march=native on
// Sapphire Rapids and later); used only when the CPU reports AMX-BF16 and Linux grants the tile
// state (arch_prctl ARCH_REQ_XCOMP_PERM). `simd::set_amx_allowed(false)` turns it off (tests and
// benchmarks compare both paths). Everything else about a call is unchanged.
#include <atomic>
#include <cstdint>
#include <cstring>

#include "attune/core/types.hpp"
#include "attune/simd/transpose.hpp"
#include "attune/simd/vec.hpp"

#include "attune/simd/caps.hpp"

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if ATTUNE_AMX
#include <immintrin.h>
#endif

namespace attune::simd {

namespace detail {
inline std::atomic<bool>& amx_allowed_flag() {
    static std::atomic<bool> allowed{true};
    return allowed;
}
}  // namespace detail

// Whether this CPU and OS run AMX tiles (probed once per process, the same in every translation
// unit whatever its flags: a unit without AMX may ask).
inline bool amx_supported() {
#if defined(__x86_64__) && defined(__linux__)
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

// What depends on this unit's flags lives in a namespace named by them: a program whose units are
// built with and without AMX (simd/dispatch.hpp) holds both, each unit calling its own, instead of
// one definition the linker would pick for all.
#if ATTUNE_AMX
inline namespace amx_compiled_in {
#else
inline namespace amx_not_compiled {
#endif

// Whether this unit contains the AMX path.
inline constexpr bool amx_compiled = ATTUNE_AMX != 0;

// Whether this unit's calls now take the AMX path where it applies.
inline bool amx_active() { return amx_compiled && detail::amx_allowed_flag().load(std::memory_order_relaxed) && amx_supported(); }

}  // namespace amx_compiled_in / amx_not_compiled

namespace amx {
// Keys of one AMX P·V tile (the engine's kv tile at most): the packed weights' row length.
inline constexpr index_t pv_max_keys = 64;
}  // namespace amx

#if ATTUNE_AMX
namespace amx {

// Every tile 16 rows × 64 bytes. Scores: C in tiles 0, 1 (16 keys × 16 fp32 rows), A in tile 4
// (16 keys × 32 bf16 of d), B in tiles 6, 7 (16 d-pairs × 16 rows × 2 bf16). P·V: C in tiles 0–3
// (2 × 2 blocks of 16 rows × 16 fp32 columns), A in tiles 4, 5 (16 rows × 32 bf16 weights), B in
// tiles 6, 7 (16 key pairs × 16 columns × 2 bf16). The 64-byte LDTILECFG operand: palette 1, bytes
// 16–47 the tiles' bytes per row (u16), bytes 48–63 their rows.
// A constant in memory, not a stack object: GCC's _tile_loadconfig tells the compiler it reads 8
// bytes only, so stores of the rest of a local configuration were removed as dead (a #GP).
alignas(64) inline constexpr std::uint8_t tile_config[64] = {
    1,  0,  0,  0,  0,  0,  0,  0,  0,  0, 0,  0, 0,  0, 0,  0,  // palette, start row, reserved
    64, 0,  64, 0,  64, 0,  64, 0,  64, 0, 64, 0, 64, 0, 64, 0,  // colsb, tiles 0–7
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 0,  0, 0,  0, 0,  0,  // colsb, tiles 8–15
    16, 16, 16, 16, 16, 16, 16, 16, 0,  0, 0,  0, 0,  0, 0,  0,  // rows, tiles 0–15
};

// Loads the configuration on this thread (cheap; done once per work item). Sessions nest: a policy
// may run attention from inside an item that holds the tiles (kernel/scratch.hpp), and the inner
// item's release must not drop the configuration under the outer one (its next tile instruction
// would fault). The configuration is one constant, so reloading it is harmless (no tile data lives
// across calls of this file's functions); only the outermost release gives the tiles back.
inline int& session_depth() noexcept {
    thread_local int depth = 0;
    return depth;
}
inline void configure() {
    _tile_loadconfig(tile_config);
    ++session_depth();
}
inline void release() {
    if (--session_depth() == 0) _tile_release();
}

// Q rows [rows][dk] (bf16) → VNNI pairs qp[(d/2)·rp + r] = (q[r][d], q[r][d+1]), d zero-padded to
// dk32 (a multiple of 32) and rows to rp (a multiple of 16). Unscaled: the exact bf16 inputs.
template <class RowAt>
inline void pack_q(const RowAt& row_at, index_t rows, index_t rp, index_t dk, index_t dk32, std::uint32_t* qp) {
    if (dk % 2 == 0) {  // each row as dk/2 pairs of 32 bits, transposed 16 rows at a time
        for (index_t r0 = 0; r0 < rp; r0 += 16) {
            const void* src[16];
            for (index_t i = 0; i < 16; ++i) src[i] = r0 + i < rows ? static_cast<const void*>(row_at(r0 + i)) : nullptr;
            transpose_rows_16(src, dk / 2, dk32 / 2, qp + r0, rp);
        }
        return;
    }
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
            for (index_t i = 0; i < kb; ++i)
                std::memcpy(static_cast<void*>(kpad + i * dk32), a + i * k_stride, sizeof(bf16) * static_cast<std::size_t>(dk));
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

// ---- P·V ----

// Weights S[n][r] (fp32, rows_padded apart, n < nk ≤ pv_max_keys) → bf16 rows pb[r][n], each
// pv_max_keys long, keys nk.. zero, rounded as attune::bf16 rounds (detail::bf16_bits). One 16 × 16
// transpose of key pairs per 32 keys × 16 rows.
inline void pack_weights(const float* s, index_t rp, index_t nk, bf16* pb) {
    using fb = xsimd::batch<float, xsimd::avx512f>;
    const index_t nk32 = (nk + 31) / 32 * 32;
    const __m512 zero = _mm512_setzero_ps();
    for (index_t r0 = 0; r0 < rp; r0 += 16)
        for (index_t n0 = 0; n0 < nk32; n0 += 32) {
            __m512i pairs[16];  // lane r: keys n0 + 2i (low half) and n0 + 2i + 1 (high half) of row r0 + r
            for (int i = 0; i < 16; ++i) {
                const index_t n = n0 + 2 * i;
                const __m512i even = detail::bf16_bits(fb(n < nk ? _mm512_loadu_ps(s + n * rp + r0) : zero));
                const __m512i odd = detail::bf16_bits(fb(n + 1 < nk ? _mm512_loadu_ps(s + (n + 1) * rp + r0) : zero));
                pairs[i] = _mm512_or_si512(even, _mm512_slli_epi32(odd, 16));
            }
            transpose_16x16(pairs);
            for (int r = 0; r < 16; ++r) _mm512_storeu_si512(pb + (r0 + r) * pv_max_keys + n0, pairs[r]);
        }
}

// V rows (bf16, v_stride apart, dv columns, n < nk) → key pairs vp[n/2][c] = (V[n][c], V[n+1][c])
// as 32 bits, dvp columns (a multiple of 16) per pair, columns dv.. and keys nk.. zero.
inline void pack_values(const bf16* v, index_t v_stride, index_t nk, index_t dv, index_t dvp, std::uint32_t* vp) {
    const index_t nk32 = (nk + 31) / 32 * 32;
    alignas(64) static constexpr std::uint16_t lo_index[32] = {0, 32, 1, 33, 2,  34, 3,  35, 4,  36, 5,  37, 6,  38, 7,  39,
                                                               8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
    alignas(64) static constexpr std::uint16_t hi_index[32] = {16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21, 53, 22, 54, 23, 55,
                                                               24, 56, 25, 57, 26, 58, 27, 59, 28, 60, 29, 61, 30, 62, 31, 63};
    const __m512i lo = _mm512_load_si512(lo_index), hi = _mm512_load_si512(hi_index);
    for (index_t c = 0; c < dvp; c += 32) {
        const index_t cols = dv - c < 32 ? (dv > c ? dv - c : 0) : 32;
        const __mmask32 m = cols == 32 ? ~__mmask32(0) : (__mmask32(1) << cols) - 1;
        for (index_t n = 0; n < nk32; n += 2) {
            const __m512i a = n < nk ? _mm512_maskz_loadu_epi16(m, v + n * v_stride + c) : _mm512_setzero_si512();
            const __m512i b = n + 1 < nk ? _mm512_maskz_loadu_epi16(m, v + (n + 1) * v_stride + c) : _mm512_setzero_si512();
            std::uint32_t* dst = vp + (n / 2) * dvp + c;
            _mm512_storeu_si512(dst, _mm512_permutex2var_epi16(a, lo, b));
            if (c + 16 < dvp) _mm512_storeu_si512(dst + 16, _mm512_permutex2var_epi16(a, hi, b));
        }
    }
}

// acc[r][c] += Σ_n pb[r][n]·V[n][c] for r < rp, c < dvp (both multiples of 16), over the keys of
// pack_weights and pack_values (nk rounded up to 32; the padding is zero). acc rows are dvp apart
// and all rp of them exist. Blocks of 2 × 2 output tiles: each weight and value tile load feeds
// two products.
inline void pv_tile(const bf16* pb, index_t rp, index_t nk, const std::uint32_t* vp, index_t dvp, float* acc) {
    const index_t nk32 = (nk + 31) / 32 * 32;
    const long c_bytes = static_cast<long>(dvp * 4), a_bytes = static_cast<long>(pv_max_keys * 2);
    for (index_t r0 = 0; r0 < rp; r0 += 32) {
        const bool two_rows = r0 + 16 < rp;
        for (index_t c0 = 0; c0 < dvp; c0 += 32) {
            const bool two_cols = c0 + 16 < dvp;
            float* o = acc + r0 * dvp + c0;
            _tile_loadd(0, o, c_bytes);
            if (two_cols) _tile_loadd(1, o + 16, c_bytes);
            if (two_rows) _tile_loadd(2, o + 16 * dvp, c_bytes);
            if (two_rows && two_cols) _tile_loadd(3, o + 16 * dvp + 16, c_bytes);
            for (index_t n0 = 0; n0 < nk32; n0 += 32) {
                const std::uint32_t* b = vp + (n0 / 2) * dvp + c0;
                _tile_loadd(4, pb + r0 * pv_max_keys + n0, a_bytes);
                _tile_loadd(6, b, c_bytes);
                _tile_dpbf16ps(0, 4, 6);
                if (two_cols) {
                    _tile_loadd(7, b + 16, c_bytes);
                    _tile_dpbf16ps(1, 4, 7);
                }
                if (two_rows) {
                    _tile_loadd(5, pb + (r0 + 16) * pv_max_keys + n0, a_bytes);
                    _tile_dpbf16ps(2, 5, 6);
                    if (two_cols) _tile_dpbf16ps(3, 5, 7);
                }
            }
            _tile_stored(0, o, c_bytes);
            if (two_cols) _tile_stored(1, o + 16, c_bytes);
            if (two_rows) _tile_stored(2, o + 16 * dvp, c_bytes);
            if (two_rows && two_cols) _tile_stored(3, o + 16 * dvp + 16, c_bytes);
        }
    }
}

}  // namespace amx
#else
namespace amx {
// Declared on every build so that kernels can name them under `if constexpr (caps<Arch>::amx)`;
// defined only where AMX is compiled in (`caps<Arch>::amx` is false everywhere else).
template <class RowAt>
void pack_q(const RowAt& row_at, index_t rows, index_t rp, index_t dk, index_t dk32, std::uint32_t* qp);
void score_tile(const bf16* k, index_t k_stride, index_t nk, index_t dk, index_t dk32, const std::uint32_t* qp, index_t rp, float scale,
                float* s, bf16* kpad);
void pack_weights(const float* s, index_t rp, index_t nk, bf16* pb);
void pack_values(const bf16* v, index_t v_stride, index_t nk, index_t dv, index_t dvp, std::uint32_t* vp);
void pv_tile(const bf16* pb, index_t rp, index_t nk, const std::uint32_t* vp, index_t dvp, float* acc);
}  // namespace amx
#endif

namespace amx {
// The tile state held for one work item, released however the item ends (a mask or modifier may
// throw mid-item). Does nothing where AMX is not compiled in.
class session {
public:
    session() = default;
    session(const session&) = delete;
    session& operator=(const session&) = delete;
    void start() {
#if ATTUNE_AMX
        configure();
        on_ = true;
#endif
    }
    void stop() noexcept {
#if ATTUNE_AMX
        if (on_) release(), on_ = false;
#endif
    }
    ~session() { stop(); }

private:
    [[maybe_unused]] bool on_ = false;
};
}  // namespace amx

}  // namespace attune::simd
