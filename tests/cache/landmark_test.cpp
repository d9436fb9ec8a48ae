// landmark_cache (attune/cache/landmark.hpp) against the double reference: landmarks are block
// means; the retrieved blocks are the naive top-k by q·landmark per query head; the output is the
// reference over the retrieved blocks plus the window; capacity and shapes are checked.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/cache/landmark.hpp"
#include "sparse/helpers.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;
using namespace attune_test;
using namespace sparse_test;
using arch = ATTUNE_TEST_ARCH;

TEST_CASE("mean_key_landmark_cache: retrieval of the naive top-k blocks, attention over them plus the window", "[cache]") {
    const index_t Hkv = 2, Hq = 6, D = 16, Bk = 16, L = 333;
    std::mt19937 rng(5);
    tensor<float> k(1, Hkv, L, D), v(1, Hkv, L, D), q(1, Hq, 40, D);
    k.fill_random(rng);
    v.fill_random(rng);
    q.fill_random(rng, 2.0f);
    attune::mean_key_landmark_cache<float> cache(Hkv, D, D, Bk);
    index_t at = 0;
    for (index_t n : {1, 20, 100, 15, 197}) {
        cache.append(tokens_of(k.view, at, n), tokens_of(v.view, at, n));
        at += n;
    }
    REQUIRE(cache.blocks() == L / Bk);
    // Landmarks are the blocks' mean keys.
    double lm_err = 0;
    for (index_t h = 0; h < Hkv; ++h)
        for (index_t c = 0; c < cache.blocks(); ++c)
            for (index_t d = 0; d < D; ++d) {
                double m = 0;
                for (index_t j = 0; j < Bk; ++j) m += k.view(0, h, c * Bk + j, d);
                lm_err = std::max(lm_err, std::abs(m / Bk - cache.landmark(h, c)[d]));
            }
    CHECK(lm_err < 1e-5);
    for (index_t Lq : {1, 5, 40})  // 40 rows: windows of different widths (their starts jump by blocks)
        for (index_t top : {0, 3, 100})
            for (index_t window : {1, 20, 64}) {
                INFO("Lq " << Lq << " top_k " << top << " window " << window);
                const attune::tensor_view<const float> qs(q.view.row(0, 0, 0), {1, Hq, Lq, D}, q.view.strides());
                tensor<float> out(1, Hq, Lq, D);
                out.poison();
                lse_buffer lse(1, Hq, Lq);
                attune::options opt;
                opt.lse = lse.view;
                cache.attend<arch>(qs, out.view, top, window, opt);
                auto ref = attune::reference::result::zeros(1, Hq, Lq, D);
                for (index_t h = 0; h < Hq; ++h)
                    for (index_t i = 0; i < Lq; ++i) {
                        const index_t p = L - Lq + i, w = std::max<index_t>(p - window + 1, 0) / Bk * Bk, cands = w / Bk;
                        std::vector<double> sc(static_cast<std::size_t>(cands));
                        for (index_t c = 0; c < cands; ++c)
                            for (index_t d = 0; d < D; ++d)
                                sc[static_cast<std::size_t>(c)] += static_cast<double>(qs(0, h, i, d)) * cache.landmark(h / 3, c)[d];
                        std::vector<index_t> order(static_cast<std::size_t>(cands));
                        std::iota(order.begin(), order.end(), 0);
                        std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) {
                            return sc[static_cast<std::size_t>(a)] > sc[static_cast<std::size_t>(b)];
                        });
                        order.resize(static_cast<std::size_t>(std::min(top, cands)));
                        std::sort(order.begin(), order.end());
                        std::vector<index_t> got;
                        for (index_t e = 0; e < top; ++e) {
                            const index_t c = cache.selected()[static_cast<std::size_t>((h * Lq + i) * top + e)];
                            if (c >= 0) got.push_back(c);
                        }
                        CHECK(got == order);
                        std::vector<index_t> keys;
                        for (index_t c : order)
                            for (index_t j = 0; j < Bk; ++j) keys.push_back(c * Bk + j);
                        for (index_t j = w; j <= p; ++j) keys.push_back(j);
                        const auto kg = gather_rows(k.view, 0, h / 3, keys), vg = gather_rows(v.view, 0, h / 3, keys);
                        const attune::tensor_view<const float> qr(qs.row(0, h, i), {1, 1, 1, D}, {0, 0, 0});
                        put(ref, attune::reference::attention(qr, kg.cview(), vg.cview()), 0, h, i);
                    }
                check_against_reference(out, ref, fp32_tolerance(), &lse);
            }
    tensor<float> q_bad(1, 5, 1, D), out(1, 5, 1, D);
    CHECK_THROWS_WITH(cache.attend<arch>(q_bad.cview(), out.view, 2, 8), Catch::Contains("multiple of the cache's kv heads"));
    CHECK_THROWS_AS(cache.landmark(0, cache.blocks()), attune::error);
    CHECK_THROWS_AS((attune::mean_key_landmark_cache<float>(1, 8, 8, 0)), attune::error);
    attune::mean_key_landmark_cache<float> small(Hkv, D, D, Bk, /*max_tokens*/ 40);
    small.append(tokens_of(k.view, 0, 32), tokens_of(v.view, 0, 32));
    CHECK_THROWS_WITH(small.append(tokens_of(k.view, 0, 9), tokens_of(v.view, 0, 9)), Catch::Contains("capacity exceeded"));
    CHECK(small.blocks() == 2);
    tensor<float> q_long(1, Hq, 33, D), out_long(1, Hq, 33, D);
    CHECK_THROWS_WITH(small.attend<arch>(q_long.cview(), out_long.view, 1, 8), Catch::Contains("33 queries but the cache holds 32"));
}

TEST_CASE("landmark_cache: the former name is the mean-key cache", "[cache]") {
    static_assert(std::is_same_v<attune::landmark_cache<float>, attune::mean_key_landmark_cache<float>>);
    CHECK_THROWS_WITH((attune::landmark_cache<float>(1, 8, 8, 0)), Catch::Contains("mean_key_landmark_cache: block (0)"));
}
