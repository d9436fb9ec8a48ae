// attune/score/music_relative.hpp: Music Transformer relative attention (a query-dependent score
// modifier) against the double-precision reference, which applies the formula element by element
// with the row's scaled query. Shared and per-head embeddings, fewer distance rows than the
// sequence (clipped distances) and more, prefill tiles (transposed queries, aligned and ragged
// head lanes) and decode (query rows), splits, GQA, composition with other modifiers, the sigmoid
// family, errors.
#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "score/check_variant.hpp"

using attune::index_t;
using namespace attune_test;

namespace {

attune::music_relative embeddings(index_t heads, index_t distances, index_t dim, float amp = 0.5f) {
    std::vector<float> e(static_cast<std::size_t>(heads * distances * dim));
    for (std::size_t i = 0; i < e.size(); ++i) e[i] = amp * std::sin(0.37f * static_cast<float>(i) + 0.1f);
    return attune::music_relative{std::move(e), heads, distances, dim};
}

}  // namespace

TEST_CASE("music_relative against the reference: shared and per-head embeddings, clipped distances", "[variants]") {
    for (index_t distances : {1, 9, 100, 2000}) {
        INFO("distances " << distances);
        sweep_built([&](const vcase& c) { return attune::variant(attune::causal{}, embeddings(1, distances, c.Dk)); },
                    static_cast<std::uint32_t>(10 * distances));
        sweep_built([&](const vcase& c) { return attune::variant(attune::causal{}, embeddings(c.Hq, distances, c.Dk)); },
                    static_cast<std::uint32_t>(10 * distances + 5000));
    }
}

TEST_CASE("music_relative without a mask (keys after the query get no term), composed, sigmoid", "[variants]") {
    sweep_built([](const vcase& c) { return attune::variant(embeddings(c.Hq, 40, c.Dk)); }, 100);
    sweep_built(
        [](const vcase& c) {
            return attune::variant(attune::causal{}, attune::compose{embeddings(1, 70, c.Dk, 1.0f), attune::softcap{4.0f}});
        },
        200);
    sweep_built(
        [](const vcase& c) {
            return attune::variant(attune::sliding_window(20, 0),
                                   attune::compose{attune::alibi{attune::alibi_slopes(c.Hq)}, embeddings(c.Hq, 30, c.Dk)});
        },
        300);
    sweep_built([](const vcase& c) { return attune::variant(attune::sigmoid{-2.0f}, attune::causal{}, embeddings(1, 50, c.Dk)); }, 400);
}

TEST_CASE("music_relative: the term is τ·q·E, bf16 inputs, errors", "[variants]") {
    vcase c;
    c.Hkv = 2;
    c.Hq = 4;
    c.Lq = c.Lk = 70;
    c.Dk = c.Dv = 32;
    // Zero embeddings change nothing.
    const vinputs<float> in(c, 1);
    tensor<float> plain(c.B, c.Hq, c.Lq, c.Dv), rel(c.B, c.Hq, c.Lq, c.Dv);
    run_variant(attune::variant(attune::causal{}), c, in, plain, nullptr);
    run_variant(attune::variant(attune::causal{}, embeddings(1, 70, 32, 0.0f)), c, in, rel, nullptr);
    CHECK(max_difference(plain, rel) == 0.0);
    run_variant(attune::variant(attune::causal{}, embeddings(1, 70, 32, 1.0f)), c, in, rel, nullptr);
    CHECK(max_difference(plain, rel) > 1e-3);  // and nonzero ones do change it

    check_variant<attune::variant<attune::causal, attune::music_relative>, attune::bf16>(
        attune::variant(attune::causal{}, embeddings(4, 70, 32)), c, 2);

    tensor<float> out(c.B, c.Hq, c.Lq, c.Dv);
    const auto run = [&](const auto& var) { run_variant(var, c, in, out, nullptr); };
    REQUIRE_THROWS_WITH(run(embeddings(1, 10, 64)), Catch::Contains("dim"));
    REQUIRE_THROWS_WITH(run(embeddings(2, 10, 32)), Catch::Contains("heads"));
    REQUIRE_THROWS_WITH(run(embeddings(1, 0, 32)), Catch::Contains("distance"));
    auto wrong = embeddings(1, 10, 32);
    wrong.embeddings.pop_back();
    REQUIRE_THROWS_WITH(run(wrong), Catch::Contains("embedding values"));
}
