// attune::softmax::update_tile (attune/family/softmax.hpp), built once per SIMD arch: the optional
// live_rows hint changes nothing on the live rows (weights, m, l, alpha and the rescale answer),
// over tiles of 1 to 67 keys (whole groups of four and tails) and 1 to 4 live rows, with masked
// (−inf) entries, across two consecutive tiles. The engine-level results are in the sweeps of
// kernel/attention_test.cpp.
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/family/softmax.hpp"
#include "attune/kernel/scratch.hpp"

using attune::index_t;
using arch = ATTUNE_TEST_ARCH;

TEST_CASE("softmax update_tile: the live_rows hint gives the same weights and row state on live rows", "[variants][softmax]") {
    constexpr index_t W = static_cast<index_t>(attune::simd::width<arch>);
    std::mt19937 rng(77);
    std::normal_distribution<float> nd(0.0f, 3.0f);
    for (index_t live = 1; live <= 4 && live <= W; ++live)
        for (index_t nk : {1, 3, 4, 5, 8, 64, 67}) {
            INFO("live rows " << live << " keys " << nk);
            const index_t rp = W;  // one row vector, as in decode
            attune::kernel::buffer bufs[2][5];
            float* S[2];
            float *m[2], *l[2], *a[2];
            for (int v = 0; v < 2; ++v) {
                S[v] = bufs[v][0].get(nk * rp);
                m[v] = bufs[v][1].get(rp);
                l[v] = bufs[v][2].get(rp);
                a[v] = bufs[v][3].get(rp);
                for (index_t r = 0; r < rp; ++r) m[v][r] = -std::numeric_limits<float>::infinity(), l[v][r] = 0.0f;
            }
            for (int tile = 0; tile < 2; ++tile) {
                for (index_t i = 0; i < nk * rp; ++i) {
                    const index_t r = i % rp;
                    // The second tile's scores jump by 20 for row 0: its reference must move (a rescale).
                    float x = r < live ? nd(rng) + (tile == 1 && r == 0 ? 20.0f : 0.0f) : 0.0f;
                    if (r < live && i % 7 == 3) x = -std::numeric_limits<float>::infinity();  // masked
                    S[0][i] = S[1][i] = x;
                }
                const bool plain = attune::softmax::update_tile<arch>(S[0], nk, rp, m[0], l[0], a[0]);
                const bool hinted = attune::softmax::update_tile<arch>(S[1], nk, rp, m[1], l[1], a[1], live);
                CHECK(plain == hinted);
                for (index_t r = 0; r < live; ++r) {
                    CHECK(m[1][r] == m[0][r]);
                    CHECK(a[1][r] == a[0][r]);
                    CHECK(l[1][r] == Approx(l[0][r]).epsilon(1e-6));  // the sum's order may differ
                    for (index_t k = 0; k < nk; ++k) CHECK(S[1][k * rp + r] == S[0][k * rp + r]);
                }
            }
        }
}
