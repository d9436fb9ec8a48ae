// simd/transpose.hpp: the 16 × 16 transpose of 32-bit lanes, the 4 × 4 transposes inside 128-bit
// lanes, and the row packer built on the first, element
// by element: tails of the source rows (zeros), null rows, a destination wider than the source and
// the float scale. AVX-512 builds only.
#include <cstdint>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/simd/transpose.hpp"

#if XSIMD_WITH_AVX512F
using attune::index_t;

TEST_CASE("transpose_16x16 moves lane j of row i to lane i of row j", "[simd]") {
    alignas(64) std::uint32_t in[16][16], out[16][16];
    for (int i = 0; i < 16; ++i)
        for (int j = 0; j < 16; ++j) in[i][j] = static_cast<std::uint32_t>(100 * i + j);
    __m512i r[16];
    for (int i = 0; i < 16; ++i) r[i] = _mm512_load_si512(in[i]);
    attune::simd::transpose_16x16(r);
    for (int i = 0; i < 16; ++i) _mm512_store_si512(out[i], r[i]);
    int wrong = 0;
    for (int i = 0; i < 16; ++i)
        for (int j = 0; j < 16; ++j) wrong += out[j][i] != in[i][j];
    CHECK(wrong == 0);
}

TEST_CASE("transpose_4x4_lanes moves element k of lane L of v[i] to element i of lane L of v[k]", "[simd]") {
    alignas(64) float in[4][16], out[4][16];
    for (int i = 0; i < 4; ++i)
        for (int e = 0; e < 16; ++e) in[i][e] = static_cast<float>(100 * i + e);
    __m512 v[4];
    for (int i = 0; i < 4; ++i) v[i] = _mm512_load_ps(in[i]);
    attune::simd::transpose_4x4_lanes(v);
    for (int i = 0; i < 4; ++i) _mm512_store_ps(out[i], v[i]);
    int wrong = 0;
    for (int i = 0; i < 4; ++i)
        for (int lane = 0; lane < 4; ++lane)
            for (int k = 0; k < 4; ++k) wrong += out[k][4 * lane + i] != in[i][4 * lane + k];
    CHECK(wrong == 0);
}

TEST_CASE("transpose_rows_16 packs rows as columns: tails, null rows, scale", "[simd]") {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
    for (index_t n_src : {1, 15, 16, 17, 40, 64})
        for (index_t extra : {0, 3, 16})
            for (bool scaled : {false, true}) {
                const index_t n_dst = n_src + extra, stride = 16 + 5;
                INFO("n_src " << n_src << " n_dst " << n_dst << " scaled " << scaled);
                std::vector<std::vector<float>> rows(16, std::vector<float>(static_cast<std::size_t>(n_src) + 1));
                const void* src[16];
                for (int i = 0; i < 16; ++i) {
                    for (auto& x : rows[static_cast<std::size_t>(i)]) x = dist(rng);
                    src[i] = i % 5 == 3 ? nullptr : rows[static_cast<std::size_t>(i)].data();  // some rows absent
                }
                std::vector<float> dst(static_cast<std::size_t>(n_dst * stride), 99.0f);
                const float scale = 0.375f;
                attune::simd::transpose_rows_16(src, n_src, n_dst, dst.data(), stride, scaled ? &scale : nullptr);
                int wrong = 0;
                for (index_t j = 0; j < n_dst; ++j)
                    for (index_t r = 0; r < stride; ++r) {
                        const float got = dst[static_cast<std::size_t>(j * stride + r)];
                        float want = 99.0f;  // lanes past the 16 rows are not written
                        if (r < 16) {
                            const bool absent = src[r] == nullptr || j >= n_src;
                            want = absent ? 0.0f : rows[static_cast<std::size_t>(r)][static_cast<std::size_t>(j)] * (scaled ? scale : 1.0f);
                        }
                        wrong += got != want;
                    }
                CHECK(wrong == 0);
            }
}
#endif
