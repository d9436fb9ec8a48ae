// attune/simd/caps.hpp: what each arch tag can do, and the register block that follows from it —
// by the tag's inheritance, so an arch the file does not list takes its nearest parent's answer.
#include <catch2/catch.hpp>

#include "attune/simd/caps.hpp"
#include "attune/simd/vec.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

namespace caps_test {
using attune::simd::caps;
using attune::simd::gemm_shape;

// Every tag xsimd 8.1 declares, available here or not: the answers are compile-time facts.
static_assert(caps<attune::simd::scalar>::registers == 0 && !caps<attune::simd::scalar>::avx512);
static_assert(caps<xsimd::sse2>::registers == 16 && caps<xsimd::sse4_2>::registers == 16);
static_assert(caps<xsimd::avx>::registers == 16 && caps<xsimd::fma3<xsimd::avx2>>::registers == 16);
static_assert(caps<xsimd::avx512f>::registers == 32);
// Unlisted tags inherit: avx512bw → avx512dq → avx512cd → avx512f; neon64 is listed (32 registers), neon not (16).
static_assert(caps<xsimd::avx512bw>::registers == 32 && caps<xsimd::avx512cd>::registers == 32);
static_assert(caps<xsimd::neon>::registers == 16 && caps<xsimd::neon64>::registers == 32);
// 32 registers: 6 × 4 accumulators + 4 + 1; 16: 4 × 3 + 3 + 1; the scalar path 4 × 4.
static_assert(gemm_shape<xsimd::avx512bw>::rows == 6 && gemm_shape<xsimd::avx512bw>::colvecs == 4);
static_assert(gemm_shape<xsimd::fma3<xsimd::avx2>>::rows == 4 && gemm_shape<xsimd::fma3<xsimd::avx2>>::colvecs == 3);
static_assert(gemm_shape<xsimd::neon64>::rows == 6 && gemm_shape<attune::simd::scalar>::colvecs == 4);
// simd::fma rounds once with FMA3 and in the scalar path (std::fma), not with SSE2 or AVX2 alone.
static_assert(caps<attune::simd::scalar>::fused_multiply_add && caps<xsimd::fma3<xsimd::avx2>>::fused_multiply_add);
static_assert(!caps<xsimd::sse2>::fused_multiply_add && !caps<xsimd::avx2>::fused_multiply_add);
// No narrower arch borrows AVX-512's shuffles.
static_assert(!caps<xsimd::avx2>::transpose16 && !caps<xsimd::avx2>::bf16_pairs && !caps<xsimd::avx2>::quads && !caps<xsimd::avx2>::amx);
}  // namespace caps_test

TEST_CASE("caps: the test arch's block fills its register file without spilling", "[simd][caps]") {
    using arch = ATTUNE_TEST_ARCH;
    using shape = attune::simd::gemm_shape<arch>;
    const int regs = attune::simd::caps<arch>::registers;
    // Accumulators, one vector of B per column vector, one broadcast.
    if (regs > 0) CHECK(shape::rows * shape::colvecs + shape::colvecs + 1 <= regs);
    CHECK(attune::simd::caps<arch>::quads == attune::simd::has_quads<arch>);
    // The 512-bit capabilities come together, and only with AVX-512.
    CHECK(attune::simd::caps<arch>::transpose16 == attune::simd::caps<arch>::avx512);
    CHECK(attune::simd::caps<arch>::bf16_pairs == attune::simd::caps<arch>::avx512);
    if (attune::simd::caps<arch>::amx) CHECK(attune::simd::caps<arch>::avx512);
    if (attune::simd::caps<arch>::avx512) CHECK(attune::simd::caps<arch>::fused_multiply_add);
}
