// attune/simd/pairs.hpp for ATTUNE_TEST_ARCH: bf16 read as even/odd pairs, the split order of
// float rows and its inverse, and which part of a row pairs cover (none off AVX-512).
#include <cstdint>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/simd/pairs.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;
using arch = ATTUNE_TEST_ARCH;
namespace {
constexpr index_t PW = static_cast<index_t>(attune::simd::width<arch>);  // lanes (W is math_test's, in the unity build)
}  // namespace

TEST_CASE("paired_span: whole 2·W blocks on AVX-512, nothing elsewhere", "[simd][pairs]") {
    for (index_t n : {0, 1, 15, 16, 31, 32, 33, 48, 80, 128, 130}) {
        INFO("n " << n);
        const index_t expect = attune::simd::has_bf16_pairs<arch> ? n - n % (2 * PW) : 0;
        CHECK(attune::simd::paired_span<arch>(n) == expect);
    }
}

#if XSIMD_WITH_AVX512F
TEST_CASE("bf16 pairs: even and odd elements exactly; split and join are inverse permutations", "[simd][pairs]") {
    if constexpr (attune::simd::has_bf16_pairs<arch>) {
        std::mt19937 rng(31);
        std::normal_distribution<float> nd;
        std::vector<attune::bf16> x(2 * PW);
        for (auto& e : x) e = attune::bf16(nd(rng));
        attune::simd::vec<arch> even, odd;
        attune::simd::load_bf16_pairs<arch>(x.data(), even, odd);
        std::vector<float> e(PW), o(PW);
        attune::simd::store<arch>(e.data(), even);
        attune::simd::store<arch>(o.data(), odd);
        for (index_t i = 0; i < PW; ++i) {
            CHECK(e[i] == attune::to_float(x[2 * i]));
            CHECK(o[i] == attune::to_float(x[2 * i + 1]));
        }
        for (index_t n : {32, 48, 80, 96, 130}) {
            INFO("n " << n);
            std::vector<float> src(n), split(n), back;
            for (index_t i = 0; i < n; ++i) src[i] = static_cast<float>(i);
            attune::simd::split_pairs<arch>(src.data(), split.data(), n);
            const index_t span = attune::simd::paired_span<arch>(n);
            for (index_t i = 0; i < n; ++i) {
                const index_t block = i / (2 * PW) * (2 * PW), j = i % (2 * PW);
                const float expect = i >= span ? src[i] : src[block + (j < PW ? 2 * j : 2 * (j - PW) + 1)];
                CHECK(split[i] == expect);
            }
            back = split;
            attune::simd::join_pairs<arch>(back.data(), n);
            CHECK(back == src);
            std::vector<float> in_place = src;
            attune::simd::split_pairs_in_place<arch>(in_place.data(), n);
            CHECK(in_place == split);
        }
    } else {
        CHECK(attune::simd::paired_span<arch>(2 * PW) == 0);  // an AVX-512 build of an arch without pairs
    }
}
#endif
