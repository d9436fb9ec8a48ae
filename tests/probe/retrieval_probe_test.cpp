// The retrieval-head probe (attune/probe/retrieval_probe.hpp), built per SIMD arch: a head scores
// when the token being generated is in the needle and its top key is that token's needle position;
// scores are the fraction of the needle each head retrieved from; bad input throws.
#include <vector>

#include <catch2/catch.hpp>

#include "attune/probe/retrieval_probe.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;

TEST_CASE("retrieval_probe: heads that attend to the needle token being generated score", "[probe]") {
    // 4 query heads over 2 kv heads, 30 context keys; needle at positions 10..14 with tokens 100..104.
    const index_t Hq = 4, Hkv = 2, Lk = 30, D = 16;
    std::vector<int> tokens(static_cast<std::size_t>(Lk));
    for (index_t j = 0; j < Lk; ++j) tokens[static_cast<std::size_t>(j)] = static_cast<int>(j % 7);
    for (index_t j = 10; j < 15; ++j) tokens[static_cast<std::size_t>(j)] = static_cast<int>(100 + j - 10);
    std::vector<float> k(static_cast<std::size_t>(Hkv * Lk * D), 0.0f), q(static_cast<std::size_t>(Hq * D), 0.0f);
    for (index_t h = 0; h < Hkv; ++h)
        for (index_t j = 0; j < Lk; ++j)
            k[static_cast<std::size_t>((h * Lk + j) * D + j % D)] =
                2.0f - 0.01f * static_cast<float>(j);  // earlier keys win ties of direction
    attune::retrieval_probe probe(Hq, {10, 11, 12, 13, 14});
    const auto kv = attune::view_bhld(k.data(), 1, Hkv, Lk, D);
    // Step generating token 102 (position 12): head 0 looks at 12, head 1 at 3, heads 2, 3 at 12.
    const auto point = [&](index_t h, index_t j) {
        for (index_t d = 0; d < D; ++d) q[static_cast<std::size_t>(h * D + d)] = d == j % D ? 1.0f : 0.0f;
    };
    point(0, 12), point(1, 3), point(2, 12), point(3, 12);
    auto hits = probe.observe<ATTUNE_TEST_ARCH>(attune::view_bhld(q.data(), 1, Hq, 1, D), kv, tokens, 102);
    CHECK(hits == std::vector<index_t>{0, 2, 3});
    // Generating a token outside the needle scores nothing; a head on the wrong needle token neither.
    CHECK(probe.observe<ATTUNE_TEST_ARCH>(attune::view_bhld(q.data(), 1, Hq, 1, D), kv, tokens, 5).empty());
    point(2, 13);
    hits = probe.observe<ATTUNE_TEST_ARCH>(attune::view_bhld(q.data(), 1, Hq, 1, D), kv, tokens, 102);
    CHECK(hits == std::vector<index_t>{0, 3});
    const auto s = probe.scores();
    CHECK(s == std::vector<float>{0.2f, 0.0f, 0.2f, 0.2f});
    REQUIRE_THROWS_WITH(probe.observe(attune::view_bhld(q.data(), 1, Hq, 1, D), kv, std::vector<int>(3), 1), Catch::Contains("token ids"));
    REQUIRE_THROWS_WITH(attune::retrieval_probe(4, {}), Catch::Contains("needle"));
}
