// positioned_score (attune/score/positioned.hpp) on position ids (attune/core/positions.hpp), through
// attune::attention of one SIMD arch (ATTUNE_TEST_ARCH), against the float64 reference of
// tests/positions_support.hpp, which applies each modifier's formula to the ids directly:
//  - ALiBi (both forms), the relative bias table, Music Transformer's query-dependent term and a
//    per-element modifier of the test's own, on permuted, StreamingLLM (in-cache, rotated ring),
//    prefix-shared and random ids, each with a mask on the same ids;
//  - identity ids reproduce the plain modifier bit for bit;
//  - prefix sharing: two candidates with the same ids after a shared context get what each gets alone;
//  - ids past 2^24 or not covering the call are attune::error.
// Sizes: Lq ≤ Lk ∈ {1, 7, 63, 65, 129}, GQA groups 1, 4, 8, head dims 32, 64, 80, 128, forced key
// splits 1–3 (serial) and automatic splits on a thread pool. Tolerances: support.hpp's float32 bounds.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/core/positions.hpp"
#include "attune/mask/masks.hpp"
#include "attune/mask/positioned.hpp"
#include "attune/score/music_relative.hpp"
#include "attune/score/positioned.hpp"
#include "positions_support.hpp"

namespace positioned_score_test {

using namespace positions_test;

std::vector<float> random_values(std::size_t n, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> x(n);
    for (float& e : x) e = u(rng);
    return x;
}

// A per-element modifier of the test's own (no tile hook): a bias of both positions.
struct tilt {
    using policy_kind = attune::score_kind;
    template <class T>
    T operator()(T s, const attune::index_context& c) const {
        return s + static_cast<T>(0.01) * static_cast<T>(c.q_pos - 2 * c.k_pos) + static_cast<T>(0.1 * static_cast<double>(c.q_head));
    }
};

// One modifier case over every id kind and size: make(shape, rng) → (modifier, its formula).
template <class Mask, class Rule, class Make>
void check_on_ids(const char* what, Mask mask, Rule rule, Make make, std::uint32_t seed) {
    for (id_kind kind : every_id_kind)
        for (const shape& s : sizes()) {
            INFO(what << " on " << name(kind) << " ids; " << describe(s) << " seed " << seed);
            std::mt19937 rng(seed);
            const ids_t ids = make_ids(kind, s.B, s.Lk, rng);
            const auto pos = attune::position_ids::dense(ids.data(), s.B, s.Lk);
            const auto mb = make(s, rng);
            const inputs in(s, seed++);
            tensor<float> out(s.B, s.Hq, s.Lq, s.D);
            lse_buffer lse(s.B, s.Hq, s.Lq);
            run(attune::variant(attune::with_positions(mask, pos), attune::with_positions(mb.first, pos)), s, in, out, lse);
            check_against_reference(out, reference(in, s, ids, of_ids(rule), mb.second), fp32_tolerance(), &lse);
        }
}

}  // namespace positioned_score_test

using namespace positioned_score_test;

TEST_CASE("positions: score modifiers on ids against the float64 reference", "[positions]") {
    const auto causal_rule = [](index_t p, index_t j) { return j <= p; };
    SECTION("alibi, causal form") {
        check_on_ids(
            "alibi", attune::causal{}, causal_rule,
            [](const shape& s, std::mt19937&) {
                const std::vector<float> m = attune::alibi_slopes(s.Hq);
                return std::make_pair(attune::alibi{m}, [m](index_t h, index_t p, index_t j, const std::vector<double>&) {
                    return -double{m[static_cast<std::size_t>(h)]} * static_cast<double>(p - j);
                });
            },
            100);
    }
    SECTION("alibi, symmetric form, sliding window") {
        check_on_ids(
            "alibi symmetric", attune::sliding_window(9, 2), [](index_t p, index_t j) { return p - 9 <= j && j <= p + 2; },
            [](const shape& s, std::mt19937& rng) {
                const std::vector<float> m = random_values(static_cast<std::size_t>(s.Hq), rng);  // any sign
                return std::make_pair(attune::alibi{m, attune::alibi_form::symmetric},
                                      [m](index_t h, index_t p, index_t j, const std::vector<double>&) {
                                          return -double{m[static_cast<std::size_t>(h)]} * std::abs(static_cast<double>(p - j));
                                      });
            },
            200);
    }
    SECTION("relative bias, sinks + window") {
        check_on_ids(
            "relative_bias", attune::sinks_window(3, 20), [](index_t p, index_t j) { return j <= p && (j < 3 || j > p - 20); },
            [](const shape& s, std::mt19937& rng) {
                const index_t R = 6;
                const std::vector<float> t = random_values(static_cast<std::size_t>(s.Hq * (2 * R + 1)), rng);
                return std::make_pair(attune::relative_bias{t, R}, [t, R](index_t h, index_t p, index_t j, const std::vector<double>&) {
                    const index_t d = std::min(std::max(j - p, -R), R);
                    return double{t[static_cast<std::size_t>(h * (2 * R + 1) + d + R)]};
                });
            },
            300);
    }
    SECTION("music relative (query-dependent), causal") {
        check_on_ids(
            "music_relative", attune::causal{}, causal_rule,
            [](const shape& s, std::mt19937& rng) {
                const index_t R = 10, D = s.D, H = s.Hq;
                const std::vector<float> e = random_values(static_cast<std::size_t>(H * R * D), rng);
                return std::make_pair(
                    attune::music_relative{e, H, R, D}, [e, D](index_t h, index_t p, index_t j, const std::vector<double>& tq) {
                        if (p < j) return 0.0;
                        const index_t row = R - 1 - std::min(p - j, R - 1);
                        double x = 0;
                        for (index_t d = 0; d < D; ++d)
                            x += tq[static_cast<std::size_t>(d)] * double{e[static_cast<std::size_t>((h * R + row) * D + d)]};
                        return x;
                    });
            },
            400);
    }
    SECTION("a per-element modifier, causal") {
        check_on_ids(
            "tilt", attune::causal{}, causal_rule,
            [](const shape&, std::mt19937&) {
                return std::make_pair(tilt{}, [](index_t h, index_t p, index_t j, const std::vector<double>&) {
                    return 0.01 * static_cast<double>(p - 2 * j) + 0.1 * static_cast<double>(h);
                });
            },
            500);
    }
}

TEST_CASE("positions: identity ids reproduce the plain score modifier bit for bit", "[positions]") {
    std::uint32_t seed = 600;
    for (const shape& s : sizes()) {
        INFO(describe(s) << " seed " << seed);
        std::mt19937 rng(seed);
        const ids_t ids = make_ids(id_kind::identity, s.B, s.Lk, rng);
        const auto pos = attune::position_ids::dense(ids.data(), s.B, s.Lk);
        const inputs in(s, seed++);
        tensor<float> a(s.B, s.Hq, s.Lq, s.D), b(s.B, s.Hq, s.Lq, s.D);
        lse_buffer la(s.B, s.Hq, s.Lq), lb(s.B, s.Hq, s.Lq);
        const attune::alibi al{attune::alibi_slopes(s.Hq)};
        run(attune::variant(attune::causal{}, al), s, in, a, la);
        run(attune::variant(attune::causal{}, attune::with_positions(al, pos)), s, in, b, lb);
        CHECK(a.nan_count() == 0);
        CHECK(std::memcmp(a.buf.data(), b.buf.data(), a.buf.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(la.data.data(), lb.data.data(), la.data.size() * sizeof(float)) == 0);
        const attune::relative_bias rb{random_values(static_cast<std::size_t>(s.Hq * 13), rng), 6};
        run(attune::variant(attune::causal{}, rb), s, in, a, la);
        run(attune::variant(attune::causal{}, attune::with_positions(rb, pos)), s, in, b, lb);
        CHECK(std::memcmp(a.buf.data(), b.buf.data(), a.buf.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(la.data.data(), lb.data.data(), la.data.size() * sizeof(float)) == 0);
    }
}

TEST_CASE("positions: prefix-shared candidates get what each gets alone", "[positions]") {
    // [context P][candidate A: C][candidate B: C]; both candidates carry ids P … P + C − 1. Under
    // prefix_sharing (on token indices) and ALiBi on the ids, each candidate's rows are those of
    // [context][that candidate] under plain causal ALiBi.
    const index_t P = 37, C = 29, L = P + 2 * C, H = 4, D = 64;
    ids_t ids(static_cast<std::size_t>(L));
    for (index_t t = 0; t < L; ++t) ids[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(t < P + C ? t : t - C);
    shape s;
    s.Hq = s.Hkv = H, s.Lq = s.Lk = L, s.D = D;
    const inputs in(s, 700);
    tensor<float> out(1, H, L, D);
    lse_buffer lse(1, H, L);
    const attune::alibi al{attune::alibi_slopes(H)};
    run(attune::variant(attune::prefix_sharing(P, {C, C}), attune::with_positions(al, attune::position_ids::shared(ids.data(), L))), s, in,
        out, lse);
    for (int cand = 0; cand < 2; ++cand) {
        INFO("candidate " << cand);
        shape a = s;
        a.Lq = a.Lk = P + C;
        inputs alone(a, 701);  // overwritten: the context and this candidate's rows
        for (index_t h = 0; h < H; ++h)
            for (index_t t = 0; t < P + C; ++t) {
                const index_t src = t < P ? t : t + cand * C;
                for (index_t d = 0; d < D; ++d) {
                    alone.q.view(0, h, t, d) = in.q.view(0, h, src, d);
                    alone.k.view(0, h, t, d) = in.k.view(0, h, src, d);
                    alone.v.view(0, h, t, d) = in.v.view(0, h, src, d);
                }
            }
        tensor<float> o(1, H, P + C, D);
        lse_buffer l(1, H, P + C);
        run(attune::variant(attune::causal{}, al), a, alone, o, l);
        double worst = 0;
        for (index_t h = 0; h < H; ++h)
            for (index_t t = P; t < P + C; ++t)
                for (index_t d = 0; d < D; ++d)
                    worst = std::max(worst, std::abs(double{out.view(0, h, t + cand * C, d)} - double{o.view(0, h, t, d)}));
        CHECK(worst <= 1e-5);
    }
}

TEST_CASE("positions: ids a score modifier cannot use are attune::error", "[positions]") {
    shape s;
    s.B = 2, s.Hq = 2, s.Hkv = 1, s.Lq = 7, s.Lk = 65, s.D = 32;
    const inputs in(s, 800);
    std::mt19937 rng(800);
    ids_t ids = make_ids(id_kind::permuted, s.B, s.Lk, rng);
    tensor<float> out(s.B, s.Hq, s.Lq, s.D);
    lse_buffer lse(s.B, s.Hq, s.Lq);
    const attune::alibi al{attune::alibi_slopes(s.Hq)};
    ids[static_cast<std::size_t>(s.Lk + 5)] = std::int32_t{1} << 24;  // past floats' exact integers
    const auto pos = attune::position_ids::dense(ids.data(), s.B, s.Lk);
    CHECK_THROWS_AS(run(attune::with_positions(al, pos), s, in, out, lse), attune::error);
    CHECK(out.nan_count() == s.B * s.Hq * s.Lq * s.D);
    CHECK_NOTHROW(run(attune::with_positions(attune::causal{}, pos), s, in, out, lse));  // masks take any int32 id
    ids[static_cast<std::size_t>(s.Lk + 5)] = 5;
    CHECK_THROWS_AS(run(attune::with_positions(al, attune::position_ids::dense(ids.data(), s.B, s.Lk - 1)), s, in, out, lse),
                    attune::error);
    CHECK_THROWS_AS(run(attune::with_positions(al, attune::position_ids::dense(ids.data(), 1, s.Lk)), s, in, out, lse), attune::error);
    // The inner modifier is still validated: too few slopes.
    CHECK_THROWS_AS(run(attune::with_positions(attune::alibi{attune::alibi_slopes(1)}, pos), s, in, out, lse), attune::error);
}

TEST_CASE("positions: queries without keys give zeros, whatever the ids", "[positions]") {
    shape s;
    s.B = 1, s.Hq = 2, s.Hkv = 1, s.Lq = 3, s.Lk = 0, s.D = 32;
    const inputs in(s, 900);
    tensor<float> out(s.B, s.Hq, s.Lq, s.D);
    lse_buffer lse(s.B, s.Hq, s.Lq);
    run(attune::variant(attune::with_positions(attune::causal{}, attune::position_ids()),
                        attune::with_positions(attune::alibi{attune::alibi_slopes(2)}, attune::position_ids())),
        s, in, out, lse);
    CHECK(max_difference(out, tensor<float>(s.B, s.Hq, s.Lq, s.D)) == 0.0);
    CHECK(std::isinf(lse.data[0]));
}
