// Sink policies (attune/sink/*) in the softmax family, built once per SIMD arch: each against the
// double-precision reference (which adds the sink's logit and value to every row), over
// check_variant.hpp's sweep — forced splits 1/2/3 and automatic splits across threads show that the
// sink enters each row exactly once. Rows with no visible key: o = 0 (sink logit) or v* (key bias),
// LSE = z (the LSE includes the sink). A sink with a score modifier: the modifier leaves it alone.
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include "score/check_variant.hpp"

using attune::index_t;
using namespace attune_test;
using arch = ATTUNE_TEST_ARCH;

namespace {

std::vector<float> logits(index_t heads) {
    std::vector<float> z(static_cast<std::size_t>(heads));
    for (index_t h = 0; h < heads; ++h) z[static_cast<std::size_t>(h)] = -2.0f + 1.3f * static_cast<float>(h);
    return z;
}

attune::key_bias_sink key_bias(index_t kv_heads, index_t dk, index_t dv, bool zero_value = false) {
    std::vector<float> k(static_cast<std::size_t>(kv_heads * dk)), v(static_cast<std::size_t>(kv_heads * dv));
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = 0.4f * std::cos(0.37f * static_cast<float>(i));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = zero_value ? 0.0f : std::sin(0.91f * static_cast<float>(i));
    return attune::key_bias_sink{k, v};
}

}  // namespace

TEST_CASE("sink_logit against the reference, each row once across splits", "[variants]") {
    sweep(attune::variant(attune::causal{}, attune::sink_logit{logits(8)}), 100);
    sweep(attune::variant(attune::sink_logit{logits(8)}), 200);
    sweep(attune::variant(attune::causal{}, attune::sink_logit{std::vector<float>(8, 0.0f)}), 300);  // softmax off by one
    // A sink that dominates (z far above the scores) and one that is nearly nothing.
    sweep(attune::variant(attune::causal{}, attune::sink_logit{std::vector<float>(8, 12.0f)}), 400);
    sweep(attune::variant(attune::sink_logit{std::vector<float>(8, -30.0f)}), 500);
}

TEST_CASE("key_bias_sink against the reference, each row once across splits", "[variants]") {
    // Head dims vary in the sweep (64 or 80): build the sink per case through a small adapter.
    std::uint32_t seed = 600;
    for (index_t D : {64, 80})
        for (index_t g : {1, 4})
            for (index_t splits : {1, 2, 3})
                for (bool causal : {true, false}) {
                    vcase c;
                    c.Hkv = 2;
                    c.Hq = 2 * g;
                    c.Lq = splits == 2 ? 1 : 65;
                    c.Lk = splits == 1 ? 65 : 300;
                    c.Dk = D;
                    c.Dv = D == 80 ? 48 : 64;  // Dk ≠ Dv
                    c.splits = splits;
                    const auto sink = key_bias(c.Hkv, c.Dk, c.Dv);
                    if (causal) check_variant(attune::variant(attune::causal{}, sink), c, seed++);
                    else check_variant(attune::variant(sink), c, seed++);
                }
    vcase c;  // decode, automatic splits on threads, v* = 0
    c.Hkv = 2;
    c.Hq = 8;
    c.Lk = 1000;
    c.threads = true;
    check_variant(attune::variant(key_bias(2, 64, 64, true)), c, seed++);
}

TEST_CASE("key_bias_sink in bf16 decode: v* enters accumulators that bf16 pairs hold split", "[variants][lowp]") {
    // Few rows with bf16 V accumulate whole 2·W column blocks split (simd/pairs.hpp): the sink's
    // value, written before the first tile, must be split too, and columns past the last whole block
    // (Dv 48, 80) stay in order.
    std::uint32_t seed = 700;
    struct dims {
        index_t Dk, Dv;
    };
    for (const dims d : {dims{64, 64}, dims{80, 48}, dims{128, 80}, dims{32, 128}})
        for (index_t g : {1, 4, 8})
            for (index_t splits : {1, 2}) {
                vcase c;
                c.Hkv = 2;
                c.Hq = 2 * g;
                c.Lq = 1;
                c.Lk = 300;
                c.Dk = d.Dk;
                c.Dv = d.Dv;
                c.splits = splits;
                c.lay = g == 4 ? layout::blhd : layout::bhld;
                const auto var = attune::variant(key_bias(c.Hkv, c.Dk, c.Dv));
                check_variant<std::decay_t<decltype(var)>, attune::bf16>(var, c, seed++);
            }
}

TEST_CASE("sinks with a score modifier: the modifier leaves the sink alone", "[variants]") {
    sweep(attune::variant(attune::causal{}, attune::alibi{attune::alibi_slopes(8)}, attune::sink_logit{logits(8)}), 700);
    vcase c;
    c.Hkv = 2;
    c.Hq = 8;
    c.Lq = c.Lk = 129;
    c.splits = 3;
    c.sigma = 2.0f;
    check_variant(attune::variant(attune::causal{}, attune::softcap{5.0f}, key_bias(2, 64, 64)), c, 800);
}

TEST_CASE("sinks: rows with no visible key give 0 or v*, LSE = z", "[variants]") {
    // Causal with Lq > Lk: query i sits at position Lk − Lq + i, so the first Lq − Lk rows see nothing.
    for (index_t splits : {1, 2}) {
        vcase c;
        c.Hkv = 1;
        c.Hq = 2;
        c.Lq = 70;
        c.Lk = 66;
        c.Dk = c.Dv = 64;
        c.splits = splits;
        CAPTURE(splits);
        const vinputs<float> in(c, 900);
        const std::vector<float> z{0.5f, -1.5f};
        {
            tensor<float> out(1, 2, c.Lq, c.Dv);
            lse_buffer lse(1, 2, c.Lq);
            run_variant(attune::variant(attune::causal{}, attune::sink_logit{z}), c, in, out, &lse);
            for (index_t h = 0; h < 2; ++h)
                for (index_t t = 0; t < 4; ++t) {
                    CHECK(*lse.view.row(0, h, t) == z[static_cast<std::size_t>(h)]);
                    for (index_t d = 0; d < c.Dv; ++d) CHECK(out.view(0, h, t, d) == 0.0f);
                }
            check_against_reference(out,
                                    attune::reference::attention(in.q.cview(), in.k.cview(), in.v.cview(),
                                                                 attune::variant(attune::causal{}, attune::sink_logit{z})),
                                    fp32_tolerance(), &lse);
        }
        {
            const auto sink = key_bias(1, c.Dk, c.Dv);
            tensor<float> out(1, 2, c.Lq, c.Dv);
            lse_buffer lse(1, 2, c.Lq);
            run_variant(attune::variant(attune::causal{}, sink), c, in, out, &lse);
            for (index_t h = 0; h < 2; ++h)
                for (index_t t = 0; t < 4; ++t) {
                    double zq = 0.0;  // τ·q·k*
                    for (index_t d = 0; d < c.Dk; ++d) zq += double(in.q.view(0, h, t, d)) * sink.k_star[static_cast<std::size_t>(d)];
                    CHECK(*lse.view.row(0, h, t) == Approx(zq / 8.0).margin(1e-5));
                    for (index_t d = 0; d < c.Dv; ++d) CHECK(out.view(0, h, t, d) == sink.v_star[static_cast<std::size_t>(d)]);
                }
            check_against_reference(
                out, attune::reference::attention(in.q.cview(), in.k.cview(), in.v.cview(), attune::variant(attune::causal{}, sink)),
                fp32_tolerance(), &lse);
        }
    }
}

TEST_CASE("sinks: parameter errors", "[variants]") {
    vcase c;
    c.Hkv = 2;
    c.Hq = 4;
    c.Lq = c.Lk = 9;
    const vinputs<float> in(c, 1);
    tensor<float> out(c.B, c.Hq, c.Lq, c.Dv);
    const auto run = [&](const auto& var) { run_variant(var, c, in, out, nullptr); };
    REQUIRE_THROWS_WITH(run(attune::sink_logit{logits(3)}), Catch::Contains("query heads"));
    REQUIRE_THROWS_AS(run(attune::sink_logit{std::vector<float>(4, std::numeric_limits<float>::quiet_NaN())}), attune::error);
    REQUIRE_THROWS_AS(run(key_bias(1, 64, 64)), attune::error);
    REQUIRE_NOTHROW(run(key_bias(2, 64, 64)));
}
