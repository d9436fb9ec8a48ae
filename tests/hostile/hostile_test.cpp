// Hostile inputs, built once per SIMD arch (ATTUNE_TEST_ARCH): what attune::attention does with
// values and views a careful caller would not pass, checked against what attention.hpp documents.
//  - NaN in q, k or v reaches every output row that sees it (and its LSE, for q and k); rows that
//    do not see it (another kv head's group, a masked tile) stay finite and equal to a clean run.
//  - ±inf in q, k or v: not documented; checked only to stay inside the rows that see it.
//  - huge scores (|s| up to 1e30, and a max that jumps by orders of magnitude from tile to tile):
//    softmax never overflows to inf/NaN and matches the float64 reference; sigmoid saturates.
//  - lengths 0 and 1: Lq = 0 writes nothing, Lk = 0 gives zeros with LSE −inf (or the sink's);
//    zero batch/heads/dim throw.
//  - aliasing: out over q/k/v throws; an LSE over q, k, v or out throws.
//  - query heads not divisible by kv heads, more kv heads than query heads, null data: throw.
//  - negative strides (tokens stored in reverse) and more key splits than keys: same function.
//  - a kv_cache used past its max_tokens: attune::error, the cache keeps its tokens and still serves.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/cache/kv_cache.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;
using namespace attune_test;
using arch = ATTUNE_TEST_ARCH;
using Catch::Matchers::Contains;

namespace {

const float nan_f = std::numeric_limits<float>::quiet_NaN();
const float inf_f = std::numeric_limits<float>::infinity();

struct problem {
    index_t B = 1, Hq = 4, Hkv = 2, Lq = 70, Lk = 150, D = 32;
    tensor<float> q, k, v, out;
    lse_buffer lse;
    problem(index_t hq, index_t hkv, index_t lq, index_t lk, index_t d, std::uint32_t seed)
        : B(1),
          Hq(hq),
          Hkv(hkv),
          Lq(lq),
          Lk(lk),
          D(d),
          q(1, hq, lq, d),
          k(1, hkv, lk, d),
          v(1, hkv, lk, d),
          out(1, hq, lq, d),
          lse(1, hq, lq) {
        std::mt19937 rng(seed);
        q.fill_random(rng);
        k.fill_random(rng);
        v.fill_random(rng);
    }
    template <class Var = attune::variant<>>
    void run(const Var& var = {}, index_t splits = 0, bool with_lse = true) {
        out.poison();
        attune::options opt;
        if (with_lse) opt.lse = lse.view;
        opt.kv_splits = splits;
        attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, var, opt, attune::serial_executor{});
    }
    bool row_all_nan(index_t h, index_t t) const {
        for (index_t d = 0; d < D; ++d)
            if (!std::isnan(out.view(0, h, t, d))) return false;
        return true;
    }
    bool row_finite(index_t h, index_t t) const {
        for (index_t d = 0; d < D; ++d)
            if (!std::isfinite(out.view(0, h, t, d))) return false;
        return true;
    }
    float lse_at(index_t h, index_t t) const { return *lse.view.row(0, h, t); }
};

// The output and LSE of a clean run, to compare the rows a poisoned input must not reach.
struct snapshot {
    std::vector<float> out, lse;
    explicit snapshot(const problem& p) {
        for (index_t h = 0; h < p.Hq; ++h)
            for (index_t t = 0; t < p.Lq; ++t) {
                lse.push_back(p.lse_at(h, t));
                for (index_t d = 0; d < p.D; ++d) out.push_back(p.out.view(0, h, t, d));
            }
    }
    // Finite and equal up to float rounding (rows of one tile share rescale decisions, so a NaN in
    // another row of the tile may change the rounding, not the value).
    bool same_row(const problem& p, index_t h, index_t t) const {
        const std::size_t r = static_cast<std::size_t>(h * p.Lq + t);
        const auto close = [](float a, float b) { return std::isfinite(b) && std::abs(a - b) <= 1e-5f * (1.0f + std::abs(a)); };
        if (!close(lse[r], p.lse_at(h, t))) return false;
        for (index_t d = 0; d < p.D; ++d)
            if (!close(out[r * static_cast<std::size_t>(p.D) + static_cast<std::size_t>(d)], p.out.view(0, h, t, d))) return false;
        return true;
    }
};

}  // namespace

TEST_CASE("NaN in q reaches exactly its own row (output and LSE)", "[hostile]") {
    for (index_t splits : {1, 3}) {
        problem p(4, 2, 70, 150, 32, 1);
        p.run(attune::variant<>{}, splits);
        const snapshot clean(p);
        p.q.view(0, 1, 9, 5) = nan_f;
        p.run(attune::variant<>{}, splits);
        for (index_t h = 0; h < p.Hq; ++h)
            for (index_t t = 0; t < p.Lq; ++t) {
                CAPTURE(splits, h, t);
                if (h == 1 && t == 9) {
                    CHECK(p.row_all_nan(h, t));
                    CHECK(std::isnan(p.lse_at(h, t)));
                } else {
                    CHECK(clean.same_row(p, h, t));
                }
            }
    }
}

TEST_CASE("NaN in k or v reaches every row that sees it, and only those", "[hostile]") {
    for (bool in_k : {true, false})
        for (index_t splits : {1, 2}) {
            // Causal, Lq = Lk = 200: key 130 is seen by rows 130.. of the 2 query heads of kv head 1.
            // Rows below 128 are in query tiles whose tiles holding key 130 are masked whole, so the
            // documented promise (finite and unchanged) holds for them; rows 128, 129 share a partly
            // visible tile with it and may get NaN through 0·NaN.
            problem p(4, 2, 200, 200, 32, 2);
            p.run(attune::causal{}, splits);
            const snapshot clean(p);
            (in_k ? p.k : p.v).view(0, 1, 130, 3) = nan_f;
            p.run(attune::causal{}, splits);
            index_t wrong_seen = 0, wrong_unseen = 0, lse_wrong = 0;
            for (index_t h = 0; h < p.Hq; ++h)
                for (index_t t = 0; t < p.Lq; ++t) {
                    const bool sees = h >= 2 && t >= 130;
                    if (sees) {
                        // NaN in k[130][3] poisons the score, so the whole row; in v[130][3] only column 3.
                        if (in_k) wrong_seen += !p.row_all_nan(h, t);
                        else {
                            wrong_seen += !std::isnan(p.out.view(0, h, t, 3));
                            for (index_t d = 0; d < p.D; ++d) wrong_seen += d != 3 && !std::isfinite(p.out.view(0, h, t, d));
                        }
                        // k poisons the scores, hence the LSE; v only the output.
                        lse_wrong += in_k ? !std::isnan(p.lse_at(h, t)) : !std::isfinite(p.lse_at(h, t));
                    } else if (h < 2 || t < 128) {
                        wrong_unseen += !clean.same_row(p, h, t);
                    }
                }
            CAPTURE(in_k, splits);
            CHECK(wrong_seen == 0);
            CHECK(wrong_unseen == 0);
            CHECK(lse_wrong == 0);
        }
}

TEST_CASE("±inf in q, k or v stays in the rows that see it", "[hostile]") {
    // Not documented: an infinite score or value makes the rows that see it inf or NaN; every other
    // row (the other kv head's group) must be untouched.
    for (int where = 0; where < 3; ++where)
        for (float x : {inf_f, -inf_f}) {
            problem p(4, 2, 33, 90, 16, 3);
            p.run();
            const snapshot clean(p);
            if (where == 0) p.q.view(0, 3, 7, 2) = x;
            if (where == 1) p.k.view(0, 1, 40, 2) = x;
            if (where == 2) p.v.view(0, 1, 40, 2) = x;
            REQUIRE_NOTHROW(p.run());
            index_t changed_elsewhere = 0;
            for (index_t h = 0; h < p.Hq; ++h)
                for (index_t t = 0; t < p.Lq; ++t) {
                    const bool reached = where == 0 ? (h == 3 && t == 7) : h >= 2;
                    if (!reached) changed_elsewhere += !clean.same_row(p, h, t);
                }
            CAPTURE(where, x);
            CHECK(changed_elsewhere == 0);
            CHECK(p.out.clobbered_padding() == 0);
        }
}

TEST_CASE("huge scores: softmax does not overflow, matches the reference", "[hostile]") {
    // q and k scaled so that |s| reaches 1e30 (float's range is 3.4e38): exp(s − m) must be taken
    // against the running max, never of s itself.
    for (float magnitude : {1e4f, 1e15f})
        for (index_t splits : {1, 3})
            for (bool causal : {false, true}) {
                problem p(2, 1, 65, 130, 64, 4);
                for (auto* t : {&p.q, &p.k})
                    for (auto& x : t->buf)
                        if (!std::isnan(x)) x *= magnitude;
                if (causal) p.run(attune::causal{}, splits);
                else p.run(attune::variant<>{}, splits);
                CAPTURE(magnitude, splits, causal);
                CHECK(p.out.nan_count() == 0);
                const auto ref = causal ? attune::reference::attention(p.q.cview(), p.k.cview(), p.v.cview(), attune::causal{})
                                        : attune::reference::attention(p.q.cview(), p.k.cview(), p.v.cview());
                // LSE ~ 1e30: compare it relatively (float keeps 24 bits).
                tolerance tol = fp32_tolerance();
                tol.lse_abs = 1e-5 * static_cast<double>(magnitude) * static_cast<double>(magnitude);
                check_against_reference(p.out, ref, tol, &p.lse);
            }
}

TEST_CASE("huge scores: a max that grows by orders of magnitude from tile to tile", "[hostile]") {
    // Key j's score is ~ 10^(j/10) along q's direction: every key tile raises the row max far above
    // the last, so the online rescale (lazy or not) must never compute exp of a huge positive value.
    problem p(1, 1, 1, 300, 8, 5);
    for (index_t d = 0; d < p.D; ++d) p.q.view(0, 0, 0, d) = 1.0f;
    for (index_t j = 0; j < p.Lk; ++j)
        for (index_t d = 0; d < p.D; ++d)
            p.k.view(0, 0, j, d) = std::pow(10.0f, static_cast<float>(j % 300) / 10.0f - 5.0f) / static_cast<float>(p.D);
    for (index_t splits : {1, 4}) {
        p.run(attune::variant<>{}, splits);
        CAPTURE(splits);
        CHECK(p.out.nan_count() == 0);
        CHECK(std::isfinite(p.lse_at(0, 0)));
        // The last key dominates: the output is v of key 299.
        for (index_t d = 0; d < p.D; ++d) CHECK(p.out.view(0, 0, 0, d) == Approx(p.v.view(0, 0, p.Lk - 1, d)).margin(1e-5));
    }
}

TEST_CASE("huge scores: sigmoid saturates to 0 and 1 without NaN", "[hostile]") {
    problem p(2, 2, 20, 70, 16, 6);
    for (auto* t : {&p.q, &p.k})
        for (auto& x : t->buf)
            if (!std::isnan(x)) x *= 1e15f;
    p.run(attune::variant(attune::sigmoid{0.0f}), 2, false);
    CHECK(p.out.nan_count() == 0);
    check_against_reference(p.out,
                            attune::reference::attention(p.q.cview(), p.k.cview(), p.v.cview(), attune::variant(attune::sigmoid{0.0f})),
                            fp32_tolerance());
}

TEST_CASE("lengths 0 and 1", "[hostile]") {
    SECTION("Lk = 0: every row sees nothing, zeros and LSE -inf (the sink's logit with a sink)") {
        for (index_t splits : {0, 1, 3}) {
            problem p(4, 2, 5, 0, 16, 7);
            p.run(attune::variant<>{}, splits);
            CHECK(p.out.nan_count() == 0);
            for (index_t h = 0; h < p.Hq; ++h)
                for (index_t t = 0; t < p.Lq; ++t) {
                    CHECK(p.lse_at(h, t) == -inf_f);
                    for (index_t d = 0; d < p.D; ++d) CHECK(p.out.view(0, h, t, d) == 0.0f);
                }
            p.run(attune::variant(attune::sink_logit{std::vector<float>{0.5f, 1.0f, 1.5f, 2.0f}}), splits);
            for (index_t h = 0; h < p.Hq; ++h) CHECK(p.lse_at(h, 2) == Approx(0.5f * static_cast<float>(h + 1)));
            CHECK(p.out.nan_count() == 0);
            // Null data is allowed for an empty view.
            p.out.poison();
            attune::attention<arch>(p.q.cview(), attune::tensor_view<const float>(nullptr, {1, 2, 0, 16}, {0, 0, 16}),
                                    attune::tensor_view<const float>(nullptr, {1, 2, 0, 16}, {0, 0, 16}), p.out.view, attune::causal{});
            CHECK(p.out.nan_count() == 0);
        }
    }
    SECTION("Lq = 0: nothing to compute, nothing written") {
        problem p(4, 2, 0, 9, 16, 8);
        p.run();
        CHECK(p.out.clobbered_padding() == 0);
    }
    SECTION("Lq = Lk = 1, D = 1") {
        problem p(2, 1, 1, 1, 1, 9);
        p.run(attune::causal{});
        check_against_reference(p.out, attune::reference::attention(p.q.cview(), p.k.cview(), p.v.cview(), attune::causal{}),
                                fp32_tolerance(), &p.lse);
        CHECK(p.out.view(0, 0, 0, 0) == Approx(p.v.view(0, 0, 0, 0)));
    }
    SECTION("zero batch, heads or head dim throw") {
        std::vector<float> buf(64, 0.0f);
        const auto one = attune::view_bhld<const float>(buf.data(), 1, 1, 2, 4);
        REQUIRE_THROWS_AS(attune::attention<arch>(attune::view_bhld<const float>(buf.data(), 0, 1, 2, 4), one, one,
                                                  attune::view_bhld(buf.data() + 32, 0, 1, 2, 4)),
                          attune::error);
        REQUIRE_THROWS_AS(attune::attention<arch>(attune::view_bhld<const float>(buf.data(), 1, 1, 2, 0), one, one,
                                                  attune::view_bhld(buf.data() + 32, 1, 1, 2, 4)),
                          attune::error);
    }
}

TEST_CASE("more key splits than keys or tiles", "[hostile]") {
    for (index_t lk : {1, 3, 65})
        for (index_t splits : {2, 7, 1000}) {
            problem p(2, 1, 4, lk, 16, 10);
            p.run(attune::causal{}, splits);
            CAPTURE(lk, splits);
            check_against_reference(p.out, attune::reference::attention(p.q.cview(), p.k.cview(), p.v.cview(), attune::causal{}),
                                    fp32_tolerance(), &p.lse);
        }
}

TEST_CASE("negative strides: tokens stored in reverse", "[hostile]") {
    problem p(2, 1, 40, 100, 16, 11);
    // Views over the same buffers walking tokens backwards.
    const auto rev = [](const attune::tensor_view<float>& v) {
        const auto s = v.strides();
        return attune::tensor_view<float>(v.row(0, 0, v.tokens() - 1), v.shape(), {s[0], s[1], -s[2]});
    };
    const auto q = rev(p.q.view), k = rev(p.k.view), v = rev(p.v.view);
    attune::options opt;
    opt.lse = p.lse.view;
    p.out.poison();
    attune::attention<arch>(attune::tensor_view<const float>(q), attune::tensor_view<const float>(k), attune::tensor_view<const float>(v),
                            p.out.view, attune::causal{}, opt);
    check_against_reference(p.out,
                            attune::reference::attention(attune::tensor_view<const float>(q), attune::tensor_view<const float>(k),
                                                         attune::tensor_view<const float>(v), attune::causal{}),
                            fp32_tolerance(), &p.lse);
}

TEST_CASE("aliasing: out over an input throws, also with other layouts", "[hostile]") {
    problem p(2, 2, 8, 8, 16, 12);
    // out = q itself, and out in blhd over k's buffer (other strides, same memory).
    REQUIRE_THROWS_WITH(attune::attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.q.view), Contains("overlaps"));
    const attune::tensor_view<float> over_k(p.k.buf.data(), {1, 2, 8, 16}, {2 * 8 * 16, 16, 2 * 16});
    REQUIRE_THROWS_WITH(attune::attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), over_k), Contains("overlaps"));
    // Output interleaved with q (q in the even rows of a buffer, out in the odd ones): the extents
    // overlap but no element is shared, so it runs, and equals the same call on separate buffers.
    std::vector<float> both(2 * 2 * 8 * 16 * 2, 0.5f);
    for (std::size_t i = 0; i < both.size(); ++i) both[i] = 0.01f * static_cast<float>(i % 97);
    const attune::tensor_view<const float> qi(both.data(), {1, 2, 8, 16}, {2 * 8 * 32, 8 * 32, 32});
    const attune::tensor_view<float> oi(both.data() + 16, {1, 2, 8, 16}, {2 * 8 * 32, 8 * 32, 32});
    tensor<float> q_alone(1, 2, 8, 16), expected(1, 2, 8, 16);
    for (index_t h = 0; h < 2; ++h)
        for (index_t t = 0; t < 8; ++t)
            for (index_t d = 0; d < 16; ++d) q_alone.view(0, h, t, d) = qi(0, h, t, d);
    attune::attention<arch>(q_alone.cview(), p.k.cview(), p.v.cview(), expected.view);
    attune::attention<arch>(qi, p.k.cview(), p.v.cview(), oi);
    for (index_t h = 0; h < 2; ++h)
        for (index_t t = 0; t < 8; ++t)
            for (index_t d = 0; d < 16; ++d) CHECK(oi(0, h, t, d) == expected.view(0, h, t, d));
    // An output whose rows share memory (head stride 0): two threads would write one row.
    tensor<float> o1(1, 1, 8, 16);
    const attune::tensor_view<float> self(o1.view.data(), {1, 2, 8, 16}, {0, 0, 16});
    REQUIRE_THROWS_WITH(attune::attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), self), Contains("out overlaps itself"));
}

TEST_CASE("aliasing: an LSE output over q, k, v or out is rejected", "[hostile]") {
    // The LSE is written after each row's keys are done, so an LSE over q or k would change inputs
    // other rows still read: attention() rejects any overlap with attune::error, writing nothing.
    for (int target = 0; target < 4; ++target) {
        problem r(2, 2, 8, 8, 16, 13);
        tensor<float>& host = target == 0 ? r.q : target == 1 ? r.k : target == 2 ? r.v : r.out;
        r.out.poison();
        attune::options opt;
        opt.lse = attune::lse_view(host.view.data(), 1, 2, 8);
        CAPTURE(target);
        REQUIRE_THROWS_WITH(
            attune::attention<arch>(r.q.cview(), r.k.cview(), r.v.cview(), r.out.view, attune::variant<>{}, opt, attune::serial_executor{}),
            Contains("options::lse overlaps"));
        CHECK(r.out.clobbered_padding() == 0);
    }
}

TEST_CASE("head counts that do not divide, null data: attune::error naming the problem", "[hostile]") {
    std::vector<float> buf(4096, 0.25f), o(4096);
    const auto view = [&](index_t h) { return attune::view_bhld<const float>(buf.data(), 1, h, 4, 8); };
    const auto out = [&](index_t h) { return attune::view_bhld(o.data(), 1, h, 4, 8); };
    REQUIRE_THROWS_WITH(attune::attention<arch>(view(6), view(4), view(4), out(6)), Contains("not divisible"));
    REQUIRE_THROWS_WITH(attune::attention<arch>(view(2), view(4), view(4), out(2)), Contains("not divisible"));
    REQUIRE_THROWS_WITH(attune::attention<arch>(view(3), view(2), view(2), out(3)), Contains("not divisible"));
    REQUIRE_NOTHROW(attune::attention<arch>(view(8), view(1), view(1), out(8)));  // MQA
    const attune::tensor_view<const float> null_q(nullptr, {1, 2, 4, 8}, {64, 32, 8});
    REQUIRE_THROWS_WITH(attune::attention<arch>(null_q, view(2), view(2), out(2)), Contains("null"));
    REQUIRE_THROWS_WITH(attune::attention<arch>(view(2), view(2), view(2), attune::tensor_view<float>(nullptr, {1, 2, 4, 8}, {64, 32, 8})),
                        Contains("null"));
    // Policy parameters that do not fit the shapes.
    REQUIRE_THROWS_AS(attune::attention<arch>(view(4), view(2), view(2), out(4), attune::alibi{std::vector<float>{0.5f, 0.25f}}),
                      attune::error);
    REQUIRE_THROWS_AS(attune::attention<arch>(view(2), view(2), view(2), out(2), attune::sink_logit{std::vector<float>{0.0f, nan_f}}),
                      attune::error);
    REQUIRE_THROWS_AS(
        attune::attention<arch>(view(2), view(2), view(2), out(2), attune::key_bias_sink{std::vector<float>(3), std::vector<float>(16)}),
        attune::error);
}

TEST_CASE("a kv_cache used past its capacity throws and keeps its tokens", "[hostile]") {
    problem p(4, 2, 3, 10, 16, 14);
    attune::kv_cache<float> cache(2, 16, 16, /*max_tokens*/ 10);
    const auto part = [&](const tensor<float>& t, index_t first, index_t n) {
        return attune::tensor_view<const float>(t.view.row(0, 0, first), {1, 2, n, 16}, t.view.strides());
    };
    cache.append(part(p.k, 0, 6), part(p.v, 0, 6));
    cache.append(part(p.k, 6, 4), part(p.v, 6, 4));
    REQUIRE(cache.tokens() == 10);
    REQUIRE_THROWS_WITH(cache.append(part(p.k, 0, 1), part(p.v, 0, 1)), Contains("capacity"));
    REQUIRE_THROWS_AS(cache.keys(5, 6), attune::error);  // a range past the tokens held
    CHECK(cache.tokens() == 10);
    // The cache still holds the 10 tokens: attention over it equals attention over the inputs.
    attune::options opt;
    opt.lse = p.lse.view;
    p.out.poison();
    attune::attention<arch>(p.q.cview(), cache.keys(), cache.values(), p.out.view, attune::causal{}, opt);
    check_against_reference(p.out, attune::reference::attention(p.q.cview(), p.k.cview(), p.v.cview(), attune::causal{}), fp32_tolerance(),
                            &p.lse);
}

TEST_CASE("the float64 reference propagates NaN as the library does", "[hostile]") {
    // A test against the reference must not pass for the wrong reason: a NaN q gives a NaN row and
    // LSE there too (not zeros), and a NaN value reaches exactly the rows that see its key.
    problem p(2, 1, 6, 6, 8, 21);
    p.q.view(0, 1, 2, 3) = nan_f;
    p.v.view(0, 0, 4, 0) = nan_f;
    const auto ref = attune::reference::attention(p.q.cview(), p.k.cview(), p.v.cview(), attune::causal{});
    for (index_t h = 0; h < 2; ++h)
        for (index_t t = 0; t < 6; ++t) {
            CAPTURE(h, t);
            const bool nan_q = h == 1 && t == 2, sees_v = t >= 4;
            CHECK(std::isnan(ref.lse_at(0, h, t)) == nan_q);
            for (index_t d = 0; d < 8; ++d) CHECK(std::isnan(ref.at(0, h, t, d)) == (nan_q || (sees_v && d == 0)));
        }
}
