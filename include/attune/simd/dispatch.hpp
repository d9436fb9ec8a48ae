#pragma once
// Run-time choice of the SIMD path: one binary for every CPU.
//
// The kernels are templates on the arch, and an arch's code needs that arch's compiler flags, so a
// binary for every CPU compiles the same calls once per arch, each in a translation unit of its own
// (cmake/dispatch.cmake: attune_dispatch(<target>) adds them). Every instantiation of the engine's
// drivers (kernel::run, kernel::run_batch) registers itself here, for its arch, at static
// initialisation; each call then asks route() for the widest registered instantiation of the
// same signature that the CPU runs, and jumps to it (an indirect call: a few nanoseconds). A
// program with no per-arch units registers only its own arch and runs it, as before.
//
// Levels, widest first: avx512 (AVX-512 F/CD/DQ/BW/VL; its unit also carries the AMX tiles, used
// where the CPU and OS grant them), avx2 (with FMA and F16C), sse2 (the x86-64 baseline; SSE3–AVX tags
// too), neon (aarch64), scalar (attune's one-lane path). An arch tag sits at the level of its
// nearest listed base (xsimd's tags derive from the tag they extend).
//
// The override, for tests and for users who pin a path: the environment variable ATTUNE_ARCH
// (scalar, sse2, avx2, avx512, neon; read once, at the first call) or pin(level). A pinned level
// is a ceiling: the widest registered instantiation at or below it runs. Pinning a level the CPU
// cannot run is an attune::error.
#include <atomic>
#include <cstdlib>
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#endif
#include <cstring>
#include <string>
#include <type_traits>

#include "attune/core/error.hpp"
#include "attune/core/third_party.hpp"
#include "attune/simd/arch.hpp"

namespace attune::dispatch {

/// The SIMD levels a call can run at, narrowest first.
enum class level : int {
    scalar = 0,  ///< attune's one-lane path
    sse2 = 1,    ///< x86-64 baseline (SSE2 … AVX without AVX2)
    avx2 = 2,    ///< AVX2 + FMA (+ F16C)
    avx512 = 3,  ///< AVX-512 F/CD/DQ/BW/VL (+ AMX tiles where granted)
    neon = 4,    ///< aarch64 NEON
};

inline constexpr int level_count = 5;

/// The level's name as ATTUNE_ARCH spells it.
inline const char* name(level l) noexcept {
    switch (l) {
        case level::scalar:
            return "scalar";
        case level::sse2:
            return "sse2";
        case level::avx2:
            return "avx2";
        case level::avx512:
            return "avx512";
        case level::neon:
            return "neon";
    }
    return "?";
}

/// The level of an arch tag: its nearest listed base.
template <class Arch>
constexpr level level_of() noexcept {
#if XSIMD_WITH_NEON || XSIMD_WITH_NEON64
    if constexpr (std::is_base_of_v<xsimd::neon, Arch>) return level::neon;
#endif
    if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) return level::avx512;
    else if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) return level::avx2;
    else if constexpr (std::is_base_of_v<xsimd::sse2, Arch> || std::is_base_of_v<xsimd::avx, Arch>) return level::sse2;
    else return level::scalar;
}

namespace detail {

// Below a level in the order a call falls back through: x86 levels down to sse2, then scalar;
// neon down to scalar.
constexpr int fallback(int l) noexcept { return l == static_cast<int>(level::neon) ? 0 : l - 1; }

// F16C, which the avx2 unit is built with (fp16 widening): CPUID leaf 1, ECX bit 29. xsimd 8 does
// not report it, and clang 14's __builtin_cpu_supports does not know it.
inline bool has_f16c() noexcept {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) != 0;
#else
    return false;
#endif
}

// The widest level this CPU runs (xsimd's cpuid), computed once.
inline level cpu_level() noexcept {
    static const level l = [] {
        const unsigned best = xsimd::available_architectures().best;
#if XSIMD_WITH_NEON64
        if (best >= xsimd::neon64::version()) return level::neon;
#endif
        if (best >= xsimd::avx512bw::version()) return level::avx512;
        if (best >= xsimd::fma3<xsimd::avx2>::version() && has_f16c()) return level::avx2;
        if (best >= xsimd::sse2::version()) return level::sse2;
        return level::scalar;
    }();
    return l;
}

inline bool parse_level(const char* s, level& out) noexcept {
    for (int i = 0; i < level_count; ++i)
        if (std::strcmp(s, name(static_cast<level>(i))) == 0) return out = static_cast<level>(i), true;
    return false;
}

// −1: not pinned; −2: not yet read from ATTUNE_ARCH.
inline std::atomic<int>& pin_state() noexcept {
    static std::atomic<int> s{-2};
    return s;
}

inline void check_runs(level l, const char* who) {
    const level cpu = cpu_level();
    const bool runs =
        l == level::scalar || l == cpu || (cpu != level::neon && l != level::neon && static_cast<int>(l) <= static_cast<int>(cpu));
    attune::detail::require(runs, who, ": ", name(l), " is not a path this CPU runs (its widest: ", name(cpu), ")");
}

// The ceiling of the next call: the pinned level, or the CPU's.
inline level ceiling() {
    int s = pin_state().load(std::memory_order_acquire);
    if (s == -2) {
        int from_env = -1;
        if (const char* e = std::getenv("ATTUNE_ARCH"); e && *e) {
            level l{};
            attune::detail::require(parse_level(e, l), "ATTUNE_ARCH=", e, ": not a level (scalar, sse2, avx2, avx512, neon)");
            check_runs(l, "ATTUNE_ARCH");
            from_env = static_cast<int>(l);
        }
        int expected = -2;
        pin_state().compare_exchange_strong(expected, from_env, std::memory_order_acq_rel);
        s = pin_state().load(std::memory_order_acquire);
    }
    return s >= 0 ? static_cast<level>(s) : cpu_level();
}

// The registered instantiations of one signature Fn, one slot per level.
template <class Fn>
struct table {
    static inline std::atomic<Fn*> slots[level_count] = {};
};

// Registers F (an instantiation for Arch) at static initialisation, where Arch's code can run.
template <class Fn, class Arch, Fn* F>
struct registrar {
    static inline const bool done = [] {
        if (simd::arch_available<Arch>()) table<Fn>::slots[static_cast<int>(level_of<Arch>())].store(F, std::memory_order_release);
        return true;
    }();
};

// The level of the instantiation that last ran on this thread (tests check the pinned path ran).
inline level& last_level() noexcept {
    thread_local level l = level::scalar;
    return l;
}

}  // namespace detail

/// The widest level this CPU runs.
inline level cpu() noexcept { return detail::cpu_level(); }

/// Pins every later call to `l` as a ceiling (the widest registered path at or below it runs).
/// Throws attune::error when the CPU cannot run `l`.
inline void pin(level l) {
    attune::detail::require(static_cast<int>(l) >= 0 && static_cast<int>(l) < level_count, "dispatch::pin: not a level");
    detail::check_runs(l, "dispatch::pin");
    detail::pin_state().store(static_cast<int>(l), std::memory_order_release);
}

/// Removes a pin (ATTUNE_ARCH included): calls run the widest registered path the CPU runs.
inline void unpin() noexcept { detail::pin_state().store(-1, std::memory_order_release); }

/// The ceiling calls run under now: the pinned level, or the CPU's.
inline level ceiling() { return detail::ceiling(); }

/// The level of the engine instantiation that last ran on the calling thread.
inline level last_run() noexcept { return detail::last_level(); }

/// In an engine driver instantiated for Arch: registers `Self` for Arch, and returns the
/// instantiation of the same signature that should run instead (the widest registered at or below
/// the ceiling), or nullptr when Self is it.
template <class Fn, class Arch, Fn* Self>
Fn* route() {
    (void)detail::registrar<Fn, Arch, Self>::done;
    const int top = static_cast<int>(ceiling());
    for (int l = top; l >= 0; l = detail::fallback(l)) {
        if (Fn* f = detail::table<Fn>::slots[l].load(std::memory_order_acquire)) {
            if (f != Self) return f;
            break;
        }
        if (l == 0) break;
    }
    detail::last_level() = level_of<Arch>();
    return nullptr;
}

}  // namespace attune::dispatch
