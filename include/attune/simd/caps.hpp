#pragma once
// What an arch tag can do, asked in one place. The kernels above simd/ branch on these constants
// with `if constexpr` and never test a compiler macro themselves; the functions behind each
// capability are declared for every arch and refuse, at compile time, to be instantiated for an
// arch that lacks it.
//
// Register counts follow the arch tag's inheritance: xsimd's tags derive from the tag they extend
// (avx512bw → avx512dq → avx512cd → avx512f, fma3<avx2> → avx2 → avx, neon64 → neon), so an arch
// this file does not list gets the answer of its nearest listed parent.
#include <type_traits>

#include "attune/core/third_party.hpp"
#include "attune/simd/arch.hpp"

// AMX tiles: compiled in when the compiler targets them (-mamx-tile -mamx-bf16, e.g.
// -march=native on Sapphire Rapids and later) on x86-64 Linux, the one OS whose grant of the tile
// state (arch_prctl) simd/amx.hpp implements.
#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AVX512F__) && defined(__linux__) && defined(__x86_64__)
#define ATTUNE_AMX 1
#else
#define ATTUNE_AMX 0
#endif

namespace attune::simd {

namespace detail {
template <class Arch, class Base>
inline constexpr bool arch_is = std::is_base_of_v<Base, Arch>;

// Vector registers of the register file, by overload on the tag's bases (the most derived wins).
constexpr int vector_registers(const scalar&) { return 0; }           // one lane in general registers
constexpr int vector_registers(const xsimd::generic&) { return 16; }  // sse*, avx*, neon (32-bit)
constexpr int vector_registers(const xsimd::avx512f&) { return 32; }
constexpr int vector_registers(const xsimd::neon64&) { return 32; }
}  // namespace detail

template <class Arch>
struct caps {
    static constexpr int registers = detail::vector_registers(Arch{});
    // 512-bit integer shuffles: the 16 × 16 transposes (simd/transpose.hpp), bf16 read as pairs
    // (simd/pairs.hpp) and four-lane quads (simd/vec.hpp).
    static constexpr bool avx512 = XSIMD_WITH_AVX512F && detail::arch_is<Arch, xsimd::avx512f>;
    static constexpr bool transpose16 = avx512;
    static constexpr bool bf16_pairs = avx512;
    static constexpr bool quads = avx512;
    // simd::fma / fnma round once (a fused instruction, or std::fma for scalar); SSE2 alone has none.
    static constexpr bool fused_multiply_add = std::is_same_v<Arch, scalar> || avx512 || detail::arch_is<Arch, xsimd::fma3<xsimd::avx2>> ||
                                               (XSIMD_WITH_NEON64 && detail::arch_is<Arch, xsimd::neon64>);
    // AMX bf16 tiles compiled in (whether the CPU grants them is a run-time question: amx_active()).
    static constexpr bool amx = ATTUNE_AMX && avx512;
};

// The register block of the GEMM micro-kernel (kernel/gemm.hpp): rows × column vectors of
// accumulators, plus one vector per column and one broadcast, filling the register file without
// spilling. 32 registers: 6 × 4 + 4 + 1; 16: 4 × 3 + 3 + 1.
template <class Arch>
struct gemm_shape {
    static constexpr int rows = caps<Arch>::registers >= 32 ? 6 : 4;
    static constexpr int colvecs = caps<Arch>::registers >= 32 ? 4 : caps<Arch>::registers >= 16 ? 3 : 4;
};

}  // namespace attune::simd
