// attune/simd/gemm.hpp for ATTUNE_TEST_ARCH: the one GEMM block and the product built on it,
// against a float64 product, over every edge shape of the register block, both B loads (aligned
// float, any storage type widened, bf16 as pairs), accumulation, the triangles and a split B.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/simd/gemm.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

namespace gemm_test {
using attune::index_t;
using arch = ATTUNE_TEST_ARCH;
constexpr index_t GW = static_cast<index_t>(attune::simd::width<arch>);

// 64-byte aligned buffers (also where alignment is not needed: with std::allocator, GCC 13.3 at -O2
// reports a false -Wfree-nonheap-object on the ragged-sizes case's vectors).
template <class T>
using aligned_vector = std::vector<T, xsimd::aligned_allocator<T, 64>>;

template <class T>
aligned_vector<T> random_values(index_t n, unsigned seed) {
    std::mt19937 g(seed);
    std::normal_distribution<float> d;
    aligned_vector<T> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = T(d(g));
    return v;
}

// C[r][c] (+)= Σ_k a[r·rs + k·ks]·B[k][c] in float64.
template <class TB>
double expected(const float* a, index_t rs, index_t ks, const TB* b, index_t bs, index_t nk, index_t r, index_t c, double start) {
    double s = start;
    for (index_t k = 0; k < nk; ++k) s += double(a[r * rs + k * ks]) * double(attune::to_float(b[k * bs + c]));
    return s;
}
}  // namespace gemm_test

TEST_CASE("gemm_block: every edge shape, aligned and widened B, accumulate or not", "[simd][gemm]") {
    using namespace gemm_test;
    constexpr int RR = attune::simd::gemm_shape<arch>::rows, CC = attune::simd::gemm_shape<arch>::colvecs;
    const index_t nk = 37, cs = CC * GW + 3;
    const auto a = random_values<float>(RR * nk, 1);
    const auto b = random_values<float>(nk * CC * GW, 2);
    const auto b16 = random_values<attune::bf16>(nk * CC * GW, 3);
    for (int rr = 1; rr <= RR; ++rr)
        for (int cc = 1; cc <= CC; ++cc)
            for (const bool accumulate : {false, true}) {
                INFO("block " << rr << " × " << cc << (accumulate ? ", accumulating" : ""));
                const attune::simd::scalar_columns A{a.data(), 1, RR};  // A(r, k) = a[k·RR + r]: Aᵀ stored
                auto c = random_values<float>(RR * cs, 4);
                auto c16 = c;
                const auto c0 = c;
                attune::simd::no_prefetch none;
                const attune::simd::vector_rows<arch, float, true> B{b.data(), CC * GW};
                const attune::simd::vector_rows<arch, attune::bf16> B16{b16.data(), CC * GW};
                if (accumulate) {
                    attune::simd::gemm_block_of<arch, true, false>(rr, cc, A, B, nk, c.data(), cs, none);
                    attune::simd::gemm_block_of<arch, true, false>(rr, cc, A, B16, nk, c16.data(), cs, none);
                } else {
                    attune::simd::gemm_block_of<arch, false, false>(rr, cc, A, B, nk, c.data(), cs, none);
                    attune::simd::gemm_block_of<arch, false, false>(rr, cc, A, B16, nk, c16.data(), cs, none);
                }
                for (index_t r = 0; r < RR; ++r)
                    for (index_t col = 0; col < cs; ++col) {
                        const std::size_t i = static_cast<std::size_t>(r * cs + col);
                        if (r >= rr || col >= cc * GW) {  // outside the block: untouched
                            REQUIRE(c[i] == c0[i]);
                            REQUIRE(c16[i] == c0[i]);
                            continue;
                        }
                        const double start = accumulate ? double(c0[i]) : 0.0;
                        REQUIRE(c[i] == Approx(expected(a.data(), 1, RR, b.data(), CC * GW, nk, r, col, start)).margin(1e-4));
                        REQUIRE(c16[i] == Approx(expected(a.data(), 1, RR, b16.data(), CC * GW, nk, r, col, start)).margin(1e-4));
                    }
            }
}

TEST_CASE("gemm_block: bf16 B read as pairs holds each 2·W block's columns split", "[simd][gemm][pairs]") {
    using namespace gemm_test;
    if constexpr (attune::simd::caps<arch>::bf16_pairs) {
        constexpr int RR = attune::simd::gemm_shape<arch>::rows, CC = attune::simd::gemm_shape<arch>::colvecs;
        REQUIRE(CC % 2 == 0);  // pairs come in column blocks of 2·W
        const index_t nk = 21, cs = CC * GW;
        const auto a = random_values<float>(RR * nk, 5);
        const auto b = random_values<attune::bf16>(nk * cs, 6);
        aligned_vector<float> c(static_cast<std::size_t>(RR * cs), 0.0f);
        attune::simd::no_prefetch none;
        attune::simd::gemm_block_of<arch, true, true>(RR, CC, attune::simd::scalar_rows{a.data(), nk, 1},
                                                      attune::simd::vector_rows<arch, attune::bf16, false, true>{b.data(), cs}, nk,
                                                      c.data(), cs, none);
        for (index_t r = 0; r < RR; ++r) {
            attune::simd::join_pairs<arch>(c.data() + r * cs, cs);
            for (index_t col = 0; col < cs; ++col)
                REQUIRE(c[static_cast<std::size_t>(r * cs + col)] ==
                        Approx(expected(a.data(), nk, 1, b.data(), cs, nk, r, col, 0.0)).margin(1e-4));
        }
    } else {
        SUCCEED("no bf16 pairs on this arch");
    }
}

TEST_CASE("gemm: ragged sizes, triangles and a second B from a split row", "[simd][gemm]") {
    using namespace gemm_test;
    using attune::simd::triangle;
    for (const index_t m : {1, 7, 13, 64})
        for (const index_t nk : {1, 5, 33})
            for (const index_t colvecs : {1, 2, 5}) {
                INFO("m " << m << ", nk " << nk << ", column vectors " << colvecs);
                const index_t n = colvecs * GW;
                const auto a = random_values<float>(m * nk, 7);
                const auto b = random_values<float>(nk * n, 8);
                const attune::simd::vector_rows<arch, float> B{b.data(), n};
                // Plain, and B's rows from `split` on read from a copy elsewhere: the same sums.
                aligned_vector<float> c(static_cast<std::size_t>(m * n)), c_split(c.size());
                attune::simd::gemm<arch, false>(attune::simd::scalar_rows{a.data(), nk, 1}, B, m, nk, colvecs, c.data(), n);
                const index_t split = nk / 2;
                const aligned_vector<float> tail(b.begin() + split * n, b.end());
                const attune::simd::vector_rows<arch, float> B2{tail.data(), n};
                attune::simd::gemm<arch, false>(attune::simd::scalar_rows{a.data(), nk, 1}, B, m, nk, colvecs, c_split.data(), n, 0, split,
                                                &B2);
                for (index_t r = 0; r < m; ++r)
                    for (index_t col = 0; col < n; ++col) {
                        const double e = expected(a.data(), nk, 1, b.data(), n, nk, r, col, 0.0);
                        REQUIRE(c[static_cast<std::size_t>(r * n + col)] == Approx(e).margin(1e-4));
                        REQUIRE(c_split[static_cast<std::size_t>(r * n + col)] == c[static_cast<std::size_t>(r * n + col)]);
                    }
                // Triangles, exactly as the row blocks (of gemm_shape rows) cut them: `columns`
                // computes a block's columns up to its last row, in whole vectors, and leaves the
                // rest untouched; `depth` sums a block's rows over k < offset + its last row + 1.
                aligned_vector<float> ct(c.size(), -7.0f), cd(c.size(), -7.0f);
                attune::simd::gemm<arch, false, triangle::columns>(attune::simd::scalar_rows{a.data(), nk, 1}, B, m, nk, colvecs, ct.data(),
                                                                   n);
                const index_t offset = 2;
                attune::simd::gemm<arch, false, triangle::depth>(attune::simd::scalar_rows{a.data(), nk, 1}, B, m, nk, colvecs, cd.data(),
                                                                 n, offset);
                constexpr index_t RR = attune::simd::gemm_shape<arch>::rows;
                for (index_t r = 0; r < m; ++r) {
                    const index_t block_end = std::min(m, r - r % RR + RR);  // one past the block's last row
                    const index_t cols = std::min(n, (block_end + GW - 1) / GW * GW);
                    const index_t depth = std::min(nk, offset + block_end);
                    for (index_t col = 0; col < n; ++col) {
                        const std::size_t i = static_cast<std::size_t>(r * n + col);
                        if (col < cols) REQUIRE(ct[i] == c[i]);
                        else REQUIRE(ct[i] == -7.0f);
                        REQUIRE(cd[i] == Approx(expected(a.data(), nk, 1, b.data(), n, depth, r, col, 0.0)).margin(1e-4));
                    }
                }
            }
}
