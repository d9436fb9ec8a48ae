// DuoAttention's cache (attune/cache/duo_cache.hpp), built per SIMD arch: chunked prefill then
// decode steps equal the duo_heads mask over the whole history (double reference); streaming heads
// hold sinks + recent tokens only; bad shapes throw.
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/cache/duo_cache.hpp"
#include "attune/attune.hpp"
#include "attune/mask/duo_heads.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;
using namespace attune_test;

TEST_CASE("duo_cache: chunked prefill then decode equals the duo_heads mask over the whole history", "[cache]") {
    const index_t Hq = 8, Hkv = 4, D = 32, S = 3, R = 20;
    const std::vector<bool> streaming{true, false, false, true};
    const std::vector<index_t> chunks{37, 50, 1, 1, 64, 1, 1, 1, 9, 1};
    index_t L = 0;
    for (index_t n : chunks) L += n;
    std::mt19937 rng(21);
    tensor<float> q(1, Hq, L, D), k(1, Hkv, L, D), v(1, Hkv, L, D), out(1, Hq, L, D);
    q.fill_random(rng);
    k.fill_random(rng);
    v.fill_random(rng);
    out.poison();
    const auto slice = [](const attune::tensor_view<float>& x, index_t t0, index_t n) {
        return attune::tensor_view<float>(x.row(0, 0, t0), {1, x.heads(), n, x.dim()}, x.strides());
    };
    attune::duo_cache<float> cache(streaming, Hq, D, D, S, R);
    index_t t0 = 0;
    for (index_t n : chunks) {
        cache.step<ATTUNE_TEST_ARCH>(attune::tensor_view<const float>(slice(q.view, t0, n)),
                                     attune::tensor_view<const float>(slice(k.view, t0, n)),
                                     attune::tensor_view<const float>(slice(v.view, t0, n)), slice(out.view, t0, n));
        t0 += n;
    }
    CHECK(cache.seen() == L);
    check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), attune::duo_heads(streaming, S, R)),
                            fp32_tolerance());
    // Memory: the two streaming heads hold S + R tokens, the retrieval heads all L.
    CHECK(cache.bytes() == static_cast<std::size_t>((2 * L + 2 * (S + R)) * 2 * D) * sizeof(float));
    attune::duo_cache<float> bad(streaming, Hq, D, D, S, R);
    REQUIRE_THROWS_WITH(bad.step(q.cview(), k.cview(), v.cview(), slice(out.view, 0, L - 1)), Catch::Contains("out"));
    REQUIRE_THROWS_WITH(attune::duo_cache<float>(streaming, 6, D, D), Catch::Contains("multiple"));
}

TEST_CASE("duo_cache: step with a variant equals the duo_heads mask under that variant", "[cache]") {
    // Softcap, ALiBi (history positions on the streaming heads), per-head sink logits, and the
    // sigmoid family with symmetric ALiBi: head-indexed policies see the whole call's heads.
    const index_t Hq = 8, Hkv = 4, D = 16, S = 2, R = 9;
    const std::vector<bool> streaming{true, false, true, false};
    const std::vector<index_t> chunks{15, 1, 1, 1, 12, 1, 1, 1, 1, 1, 4, 1};
    index_t L = 0;
    for (index_t n : chunks) L += n;
    std::mt19937 rng(22);
    tensor<float> q(1, Hq, L, D), k(1, Hkv, L, D), v(1, Hkv, L, D), out(1, Hq, L, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    const auto slice = [](const attune::tensor_view<float>& x, index_t t0, index_t n) {
        return attune::tensor_view<const float>(x.row(0, 0, t0), {1, x.heads(), n, x.dim()}, x.strides());
    };
    const auto out_slice = [](const attune::tensor_view<float>& x, index_t t0, index_t n) {
        return attune::tensor_view<float>(x.row(0, 0, t0), {1, x.heads(), n, x.dim()}, x.strides());
    };
    std::vector<float> z;
    for (index_t h = 0; h < Hq; ++h) z.push_back(0.3f * static_cast<float>(h) - 1.0f);
    const auto slopes = attune::alibi_slopes(Hq);
    const attune::duo_heads mask(streaming, S, R);
    auto run = [&](const auto& var, const auto& ref) {
        out.poison();
        attune::duo_cache<float> cache(streaming, Hq, D, D, attune::duo_cache_options{S, R, 5});
        index_t t0 = 0;
        for (index_t n : chunks) {
            cache.step<ATTUNE_TEST_ARCH>(slice(q.view, t0, n), slice(k.view, t0, n), slice(v.view, t0, n), out_slice(out.view, t0, n), var);
            t0 += n;
        }
        CHECK(cache.tokens() == L);
        check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), ref), fp32_tolerance());
    };
    {
        INFO("softcap");
        run(attune::softcap{2.0f}, attune::variant(mask, attune::softcap{2.0f}));
    }
    {
        INFO("alibi");
        run(attune::alibi(slopes), attune::variant(mask, attune::alibi(slopes)));
    }
    {
        INFO("sink logit");
        run(attune::sink_logit(z), attune::variant(mask, attune::sink_logit(z)));
    }
    {
        INFO("sigmoid with symmetric alibi");
        run(attune::variant(attune::sigmoid{-1.0f}, attune::alibi(slopes, attune::alibi_form::symmetric)),
            attune::variant(attune::sigmoid{-1.0f}, mask, attune::alibi(slopes, attune::alibi_form::symmetric)));
    }
    // A mask is refused naming the variant, too few sink logits fail validation: both before any head changes.
    attune::duo_cache<float> cache(streaming, Hq, D, D, S, R);
    CHECK_THROWS_WITH(cache.step<ATTUNE_TEST_ARCH>(slice(q.view, 0, 3), slice(k.view, 0, 3), slice(v.view, 0, 3), out_slice(out.view, 0, 3),
                                                   attune::causal{}),
                      Catch::Contains("duo_cache::step: variant"));
    CHECK_THROWS_WITH(cache.step<ATTUNE_TEST_ARCH>(slice(q.view, 0, 3), slice(k.view, 0, 3), slice(v.view, 0, 3), out_slice(out.view, 0, 3),
                                                   attune::sink_logit(std::vector<float>(Hq - 1, 0.0f))),
                      Catch::Contains("sink_logit"));
    CHECK(cache.tokens() == 0);
    CHECK(cache.bytes() == attune::duo_cache<float>(streaming, Hq, D, D, S, R).bytes());
}
