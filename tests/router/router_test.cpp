// Head routing (attune/router/*, score/uniform_heads.hpp), built per SIMD arch: every router against
// the reference applied head by head with the same gates, masks and modifiers, over
// check_variant.hpp's sizes (GQA 1/4/8, decode, splits, threads); rows switched off give zeros and
// LSE −inf; top-k = every routed head equals dense; uniform heads give the mean of the visible
// values; the MoH and soft-mixture gate formulas; errors.
#include <cmath>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "score/check_variant.hpp"

using attune::index_t;
using namespace attune_test;

namespace {

// Gates per (token, head): 0 with probability `off`, else a value in [0.5, 2).
attune::token_gates random_gates(index_t B, index_t L, index_t H, double off, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::vector<float> g(static_cast<std::size_t>(B * L * H));
    for (auto& x : g) x = u(rng) < off ? 0.0f : 0.5f + 1.5f * u(rng);
    return attune::token_gates(std::move(g), B, L, H);
}

}  // namespace

TEST_CASE("head_gates: pruned and scaled heads against the reference", "[router]") {
    sweep_built([](const vcase& c) { return attune::variant(attune::causal{}, attune::head_gates::pruned(c.Hq, {0, c.Hq - 1})); }, 100);
    sweep_built([](const vcase& c) { return attune::variant(attune::head_gates::scaled(c.Hq, {c.Hq / 2}, 2.0f)); }, 200);
    // All heads pruned: zeros and LSE −inf everywhere, and a sigmoid family too.
    sweep_built(
        [](const vcase& c) {
            std::vector<index_t> all(static_cast<std::size_t>(c.Hq));
            for (index_t h = 0; h < c.Hq; ++h) all[static_cast<std::size_t>(h)] = h;
            return attune::variant(attune::sigmoid{-1.0f}, attune::causal{}, attune::head_gates::pruned(c.Hq, all));
        },
        300);
}

TEST_CASE("token_gates: per-(token, head) activity against the reference", "[router]") {
    for (double off : {0.0, 0.5, 0.9, 1.0}) {
        INFO("fraction off " << off);
        sweep_built([&](const vcase& c) { return attune::variant(attune::causal{}, random_gates(c.B, c.Lq, c.Hq, off, 7)); },
                    static_cast<std::uint32_t>(400 + 100 * off));
        sweep_built(
            [&](const vcase& c) {
                return attune::variant(attune::sinks_window(3, 20), attune::alibi{attune::alibi_slopes(c.Hq)},
                                       random_gates(c.B, c.Lq, c.Hq, off, 8));
            },
            static_cast<std::uint32_t>(900 + 100 * off));
    }
    // With sinks, a modifier that reads the query (music) and a per-head modifier.
    sweep_built(
        [](const vcase& c) {
            std::vector<float> e(static_cast<std::size_t>(c.Hq * 50 * c.Dk));
            for (std::size_t i = 0; i < e.size(); ++i) e[i] = 0.3f * std::sin(0.2f * static_cast<float>(i));
            return attune::variant(attune::causal{}, attune::sink_logit{std::vector<float>(static_cast<std::size_t>(c.Hq), 0.5f)},
                                   attune::compose{attune::music_relative{e, c.Hq, 50, c.Dk}, attune::softcap{5.0f}},
                                   random_gates(c.B, c.Lq, c.Hq, 0.5, 9));
        },
        2000);
}

TEST_CASE("MoH gates: SPEC formulas; top-k of every routed head equals dense", "[router]") {
    // One token, 2 shared + 4 routed heads, top-2.
    const std::vector<float> routed{1.0f, 3.0f, 2.0f, 0.0f}, shared{0.0f, 1.0f}, split{0.5f, -0.5f};
    const auto g = attune::moh_gates(1, 1, 2, 4, 2, routed, shared, split);
    double e[4], es = 0;
    for (int i = 0; i < 4; ++i) es += (e[i] = std::exp(static_cast<double>(routed[static_cast<std::size_t>(i)])));
    const double a1 = 2.0 / (1.0 + std::exp(-1.0)), a2 = 2.0 - a1;  // 2·softmax(0.5, −0.5)
    const double s0 = 1.0 / (1.0 + std::exp(1.0)), s1 = 1.0 - s0;
    CHECK(g.at(0, 0, 0) == Approx(a1 * 2 * s0));
    CHECK(g.at(0, 0, 1) == Approx(a1 * 2 * s1));
    const double top = e[1] / es + e[2] / es;  // heads 1 and 2 (logits 3 and 2)
    CHECK(g.at(0, 0, 2) == 0.0f);
    CHECK(g.at(0, 0, 3) == Approx(a2 * 2 * (e[1] / es) / top));
    CHECK(g.at(0, 0, 4) == Approx(a2 * 2 * (e[2] / es) / top));
    CHECK(g.at(0, 0, 5) == 0.0f);
    CHECK(g.active_fraction() == Approx(4.0 / 6.0));

    // Parameter-free router: the top-k heads by ‖q_h‖; top-k = all routed heads → every gate 1, so
    // the output equals dense attention exactly.
    std::mt19937 rng(3);
    const index_t H = 8, L = 70, D = 32;
    tensor<float> q(1, H, L, D), k(1, H, L, D), v(1, H, L, D), dense(1, H, L, D), routed_out(1, H, L, D);
    q.fill_random(rng);
    k.fill_random(rng);
    v.fill_random(rng);
    for (index_t t = 0; t < L; ++t)
        for (index_t d = 0; d < D; ++d) q.view(0, 5, t, d) *= 3.0f;  // head 5 has the largest norm
    const auto top1 = attune::moh_query_norm_gates(q.cview(), 2, 1);
    for (index_t t = 0; t < L; ++t) {
        CHECK(top1.at(0, t, 0) == 1.0f);
        CHECK(top1.at(0, t, 1) == 1.0f);
        for (index_t h = 2; h < H; ++h) CHECK(top1.at(0, t, h) == (h == 5 ? 1.0f : 0.0f));
    }
    const auto all = attune::moh_query_norm_gates(q.cview(), 2, H - 2);
    attune::attention<ATTUNE_TEST_ARCH>(q.cview(), k.cview(), v.cview(), dense.view, attune::causal{});
    attune::attention<ATTUNE_TEST_ARCH>(q.cview(), k.cview(), v.cview(), routed_out.view, attune::variant(attune::causal{}, all));
    CHECK(max_difference(dense, routed_out) == 0.0);
    check_variant(
        attune::variant(attune::causal{}, top1),
        [] {
            vcase c;
            c.Hq = c.Hkv = 8;
            c.Lq = c.Lk = 70;
            c.Dk = c.Dv = 32;
            return c;
        }(),
        3);

    const auto mix = attune::soft_mixture_gates(1, 2, 3, {0.0f, 1.0f, 2.0f, 5.0f, 5.0f, 5.0f});
    CHECK(mix.at(0, 0, 0) + mix.at(0, 0, 1) + mix.at(0, 0, 2) == Approx(1.0));
    CHECK(mix.at(0, 1, 1) == Approx(1.0 / 3.0));
}

TEST_CASE("uniform_heads: the output is the mean of the visible values", "[router]") {
    sweep_built(
        [](const vcase& c) {
            std::vector<bool> u(static_cast<std::size_t>(c.Hq), false);
            u[0] = true;
            return attune::variant(attune::causal{}, attune::uniform_heads(u));
        },
        4000);
    vcase c;
    c.Hq = c.Hkv = 2;
    c.Lq = c.Lk = 40;
    const vinputs<float> in(c, 6);
    tensor<float> out(c.B, c.Hq, c.Lq, c.Dv);
    run_variant(attune::variant(attune::causal{}, attune::uniform_heads({false, true})), c, in, out, nullptr);
    for (index_t t = 0; t < c.Lq; t += 7)
        for (index_t d = 0; d < c.Dv; d += 9) {
            double mean = 0;
            for (index_t j = 0; j <= t; ++j) mean += attune::to_float(in.v.view(0, 1, j, d));
            CHECK(out.view(0, 1, t, d) == Approx(mean / static_cast<double>(t + 1)).margin(1e-5));
        }
}

TEST_CASE("routers: errors name the problem", "[router]") {
    vcase c;
    c.Hq = 4;
    c.Hkv = 2;
    c.Lq = c.Lk = 10;
    const vinputs<float> in(c, 1);
    tensor<float> out(c.B, c.Hq, c.Lq, c.Dv);
    const auto run = [&](const auto& var) { run_variant(var, c, in, out, nullptr); };
    REQUIRE_THROWS_WITH(run(attune::head_gates(std::vector<float>(3, 1.0f))), Catch::Contains("3 gates for 4 query heads"));
    REQUIRE_THROWS_WITH(run(random_gates(1, 9, 4, 0.5, 1)), Catch::Contains("token_gates"));
    REQUIRE_THROWS_WITH(run(attune::uniform_heads(std::vector<bool>(2, true))), Catch::Contains("uniform_heads"));
    REQUIRE_THROWS_WITH(attune::head_gates::pruned(4, {4}), Catch::Contains("outside"));
    REQUIRE_THROWS_WITH(attune::moh_gates(1, 1, 0, 4, 5, std::vector<float>(4)), Catch::Contains("top_k"));
}
