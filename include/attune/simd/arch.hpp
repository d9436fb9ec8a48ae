#pragma once
// Arch tags for the micro-kernels. Vector archs are xsimd's tags; `scalar` is attune's own
// one-lane path, used where xsimd has no arch for the target and in tests as the plainest kernel.
// Every kernel is a template on the arch; `default_arch` is the best one the compile flags enable
// (build with -march=native, or -mavx2 -mfma, … to get the wide paths).
#include "attune/core/third_party.hpp"

namespace attune::simd {

struct scalar {
    static constexpr const char* name() noexcept { return "scalar"; }
    static constexpr bool available() noexcept { return true; }
};

using default_arch = std::conditional_t<std::is_same_v<xsimd::default_arch, xsimd::unavailable>, scalar, xsimd::default_arch>;

template <class Arch>
inline bool arch_available() noexcept {
    if constexpr (std::is_same_v<Arch, scalar>) return true;
    else return xsimd::available_architectures().best >= Arch::version();
}

template <class Arch>
inline const char* arch_name() noexcept {
    return Arch::name();
}

}  // namespace attune::simd

namespace attune {
using default_arch = simd::default_arch;
}
