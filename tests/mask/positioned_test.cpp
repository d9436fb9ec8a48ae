// positioned_mask (attune/mask/positioned.hpp) on position ids (attune/core/positions.hpp), through
// attune::attention of one SIMD arch (ATTUNE_TEST_ARCH):
//  - identity ids reproduce the plain mask bit for bit (outputs and LSE), and classify every tile
//    as the plain mask does;
//  - scattered ids (a permutation), StreamingLLM's in-cache ids (sinks, then a rotated ring),
//    prefix-shared ids (two candidates with the same ids) and random ids with repeats, against the
//    float64 reference of tests/positions_support.hpp, which applies each mask's formula to the ids;
//  - check_mask on the adapter; ids that do not cover the call are attune::error, before any write.
// Sizes: Lq ≤ Lk ∈ {1, 7, 63, 65, 129}, GQA groups 1, 4, 8, head dims 32, 64, 80, 128, forced key
// splits 1–3 (serial) and automatic splits on a thread pool. Tolerances: support.hpp's float32 bounds.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/core/positions.hpp"
#include "attune/mask/masks.hpp"
#include "attune/mask/positioned.hpp"
#include "attune/testing.hpp"
#include "positions_support.hpp"

namespace positioned_mask_test {

using namespace positions_test;

// ---- The masks: each built for the id space [0, E) and its formula on ids (query p, key j).

// A mask's element and tile rules without keys() / key_pair(): the engine then computes and masks a partial
// tile as it does for positioned_mask (keys() lets it skip the blocks of a tile no row sees, which
// changes the summation's grouping, not the result beyond rounding).
template <class Mask>
struct without_keys {
    using policy_kind = attune::mask_kind;
    using hooks = attune::provides<attune::hook::classify, attune::hook::span>;
    Mask m;
    bool visible(const attune::index_context& c) const { return m.visible(c); }
    attune::tile_class classify(const attune::tile_context& t) const { return m.classify(t); }
    attune::key_range span(const attune::tile_context& t) const { return m.span(t); }
};

// Each case: what(), make(E) (the mask over ids [0, E)), rule(p, j, E) (its formula on ids) and
// twin(L) (what identity ids must reproduce bit for bit: the mask itself, or without its keys() /
// key_pair() where those let the engine skip blocks inside a tile: windows, sinks).
struct causal_case {
    static const char* what() { return "causal"; }
    static attune::causal make(index_t) { return {}; }
    static attune::causal twin(index_t) { return {}; }
    static bool rule(index_t p, index_t j, index_t) { return j <= p; }
};
struct window_case {
    static const char* what() { return "sliding_window(9, 2)"; }
    static attune::sliding_window make(index_t) { return attune::sliding_window(9, 2); }
    static without_keys<attune::sliding_window> twin(index_t) { return {make(0)}; }
    static bool rule(index_t p, index_t j, index_t) { return p - 9 <= j && j <= p + 2; }
};
struct sinks_case {
    static const char* what() { return "sinks_window(3, 20)"; }
    static attune::sinks_window make(index_t) { return attune::sinks_window(3, 20); }
    static without_keys<attune::sinks_window> twin(index_t) { return {make(0)}; }
    static bool rule(index_t p, index_t j, index_t) { return j <= p && (j < 3 || j > p - 20); }
};
// Documents of 11 positions each (ids 0, 1, 2…), causal inside a document.
struct document_case {
    static const char* what() { return "document_mask(11 per document)"; }
    static attune::document_mask make(index_t E) {
        std::vector<attune::document_mask::id_type> doc(static_cast<std::size_t>(E));
        for (index_t x = 0; x < E; ++x) doc[static_cast<std::size_t>(x)] = static_cast<attune::document_mask::id_type>(x / 11);
        return attune::document_mask(doc);
    }
    static attune::document_mask twin(index_t L) { return make(L); }
    static bool rule(index_t p, index_t j, index_t) { return p / 11 == j / 11 && j <= p; }
};
// A context of E/4 positions, then segments of 5 positions (the last takes the rest), not causal.
struct prefix_case {
    static const char* what() { return "prefix_sharing(E/4, 5…, bidirectional)"; }
    static index_t prefix(index_t E) { return E / 4; }
    static attune::prefix_sharing make(index_t E) {
        std::vector<index_t> lens;
        for (index_t at = prefix(E); at < E; at += 5) lens.push_back(std::min<index_t>(5, E - at));
        return attune::prefix_sharing(prefix(E), lens, false);
    }
    static attune::prefix_sharing twin(index_t L) { return make(L); }
    static bool rule(index_t p, index_t j, index_t E) {
        const index_t P = prefix(E);
        const auto seg = [P](index_t x) { return x < P ? index_t{-1} : (x - P) / 5; };
        return seg(p) == seg(j) || (j < P && p >= P);
    }
};

// The mask on ids of every kind against the reference, over every size.
template <class Case>
void check_on_ids(std::uint32_t seed) {
    for (id_kind kind : every_id_kind)
        for (const shape& s : sizes()) {
            INFO(Case::what() << " on " << name(kind) << " ids; " << describe(s) << " seed " << seed);
            std::mt19937 rng(seed);
            const ids_t ids = make_ids(kind, s.B, s.Lk, rng);
            const index_t E = extent(ids);
            const inputs in(s, seed++);
            tensor<float> out(s.B, s.Hq, s.Lq, s.D);
            lse_buffer lse(s.B, s.Hq, s.Lq);
            run(attune::with_positions(Case::make(E), attune::position_ids::dense(ids.data(), s.B, s.Lk)), s, in, out, lse);
            const auto ref = reference(in, s, ids, of_ids([E](index_t p, index_t j) { return Case::rule(p, j, E); }), no_bias{});
            check_against_reference(out, ref, fp32_tolerance(), &lse);
        }
}

// Identity ids: the same bits as the plain mask (its twin; same executor, same splits), and within
// float32 rounding of the plain mask itself.
template <class Case>
void check_identity(std::uint32_t seed) {
    for (const shape& s : sizes()) {
        INFO(Case::what() << ", identity ids against the plain mask; " << describe(s) << " seed " << seed);
        std::mt19937 rng(seed);
        const ids_t ids = make_ids(id_kind::identity, s.B, s.Lk, rng);
        const inputs in(s, seed++);
        tensor<float> plain(s.B, s.Hq, s.Lq, s.D), positioned(s.B, s.Hq, s.Lq, s.D);
        lse_buffer plain_lse(s.B, s.Hq, s.Lq), positioned_lse(s.B, s.Hq, s.Lq);
        run(Case::twin(s.Lk), s, in, plain, plain_lse);
        run(attune::with_positions(Case::make(s.Lk), attune::position_ids::dense(ids.data(), s.B, s.Lk)), s, in, positioned,
            positioned_lse);
        CHECK(plain.nan_count() == 0);
        CHECK(std::memcmp(plain.buf.data(), positioned.buf.data(), plain.buf.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(plain_lse.data.data(), positioned_lse.data.data(), plain_lse.data.size() * sizeof(float)) == 0);
        run(Case::make(s.Lk), s, in, plain, plain_lse);
        CHECK(max_difference(plain, positioned) <= 1e-6);
    }
}

// check_mask on the adapter; with identity ids its tile classes are the plain mask's. The tables
// hold 80 ids past Lk: check_mask's random tiles may reach 79 positions past the call.
template <class Case>
void check_hooks(std::uint32_t seed) {
    const attune::testing::mask_shape ms{65, 129, 2, 4, 2};
    const index_t L = ms.lk + 80;
    std::mt19937 rng(seed);
    const ids_t identity = make_ids(id_kind::identity, ms.batch, L, rng);
    const auto plain = attune::testing::check_mask(Case::make(L), ms);
    const auto same =
        attune::testing::check_mask(attune::with_positions(Case::make(L), attune::position_ids::dense(identity.data(), ms.batch, L)), ms);
    CHECK(same.tiles == plain.tiles);
    CHECK(same.empty == plain.empty);
    CHECK(same.full == plain.full);
    CHECK(same.partial == plain.partial);
    CHECK(same.loose_spans == plain.loose_spans);
    for (id_kind kind : {id_kind::permuted, id_kind::streaming, id_kind::shared_prefix, id_kind::random}) {
        INFO(Case::what() << " on " << name(kind) << " ids");
        const ids_t ids = make_ids(kind, ms.batch, L, rng);
        const auto r = attune::testing::check_mask(
            attune::with_positions(Case::make(extent(ids)), attune::position_ids::dense(ids.data(), ms.batch, L)), ms);
        CHECK(r.tiles == plain.tiles);
        CHECK(r.empty + r.full + r.partial == r.tiles);
    }
}

// check(Case{}, seed) for the five masks in turn, seeds first, first + step, first + 2·step, …
template <class Check>
void each_mask(std::uint32_t first, std::uint32_t step, Check check) {
    check(causal_case{}, first);
    check(window_case{}, first + step);
    check(sinks_case{}, first + 2 * step);
    check(document_case{}, first + 3 * step);
    check(prefix_case{}, first + 4 * step);
}

}  // namespace positioned_mask_test

using namespace positioned_mask_test;

TEST_CASE("positions: identity ids reproduce the plain mask bit for bit", "[positions]") {
    each_mask(100, 100, [](auto c, std::uint32_t seed) { check_identity<decltype(c)>(seed); });
}

TEST_CASE("positions: masks on ids against the float64 reference", "[positions]") {
    SECTION("causal") { check_on_ids<causal_case>(1000); }
    SECTION("sliding window") { check_on_ids<window_case>(2000); }
    SECTION("sinks + window") { check_on_ids<sinks_case>(3000); }
    SECTION("document") { check_on_ids<document_case>(4000); }
    SECTION("prefix sharing") { check_on_ids<prefix_case>(5000); }
}

TEST_CASE("positions: check_mask accepts the adapter's hooks on any ids", "[positions]") {
    each_mask(11, 1, [](auto c, std::uint32_t seed) { check_hooks<decltype(c)>(seed); });
}

TEST_CASE("positions: a shared row and CSR rows give the dense table's results", "[positions]") {
    shape s;
    s.B = 3, s.Hq = 4, s.Hkv = 2, s.Lq = 65, s.Lk = 129, s.D = 64;
    std::mt19937 rng(7);
    const ids_t row = make_ids(id_kind::streaming, 1, s.Lk, rng);
    const inputs in(s, 8);
    // Shared: one row for every batch.
    ids_t dense;
    for (index_t b = 0; b < s.B; ++b) dense.insert(dense.end(), row.begin(), row.end());
    tensor<float> a(s.B, s.Hq, s.Lq, s.D), c(s.B, s.Hq, s.Lq, s.D), r(s.B, s.Hq, s.Lq, s.D);
    lse_buffer la(s.B, s.Hq, s.Lq), lc(s.B, s.Hq, s.Lq), lr(s.B, s.Hq, s.Lq);
    run(attune::with_positions(attune::causal{}, attune::position_ids::shared(row.data(), s.Lk)), s, in, a, la);
    const auto causal = of_ids([](index_t p, index_t j) { return j <= p; });
    check_against_reference(a, reference(in, s, dense, causal, no_bias{}), fp32_tolerance(), &la);
    // CSR: sequences of different lengths (the ids past Lk unused), each its own ids.
    const ids_t other = make_ids(id_kind::permuted, s.B, s.Lk, rng);
    ids_t packed;
    std::vector<std::int32_t> at{0};
    for (index_t b = 0; b < s.B; ++b) {
        packed.insert(packed.end(), other.begin() + b * s.Lk, other.begin() + (b + 1) * s.Lk);
        for (index_t extra = 0; extra < 5 * b; ++extra) packed.push_back(-1);  // never read
        at.push_back(static_cast<std::int32_t>(packed.size()));
    }
    const attune::seq_offsets offsets{at.data(), s.B};
    run(attune::with_positions(attune::sliding_window(9, 2), attune::position_ids::ragged(packed.data(), offsets)), s, in, c, lc);
    const auto window = of_ids([](index_t p, index_t j) { return window_case::rule(p, j, 0); });
    check_against_reference(c, reference(in, s, other, window, no_bias{}), fp32_tolerance(), &lc);
}

TEST_CASE("positions: ids that do not cover the call are attune::error, before any write", "[positions]") {
    shape s;
    s.B = 2, s.Hq = 2, s.Hkv = 1, s.Lq = 7, s.Lk = 65, s.D = 32;
    const inputs in(s, 9);
    std::mt19937 rng(9);
    ids_t ids = make_ids(id_kind::permuted, s.B, s.Lk, rng);
    tensor<float> out(s.B, s.Hq, s.Lq, s.D);
    lse_buffer lse(s.B, s.Hq, s.Lq);
    const auto fails = [&](const attune::position_ids& pos, const char* why) {
        INFO(why);
        CHECK_THROWS_AS(run(attune::with_positions(attune::causal{}, pos), s, in, out, lse), attune::error);
        CHECK(out.nan_count() == s.B * s.Hq * s.Lq * s.D);  // nothing written
    };
    fails(attune::position_ids::dense(ids.data(), s.B, s.Lk - 1), "rows shorter than Lk");
    fails(attune::position_ids::dense(ids.data(), s.B - 1, s.Lk), "a row missing");
    fails(attune::position_ids(), "no ids");
    ids[static_cast<std::size_t>(s.Lk + 3)] = -2;
    fails(attune::position_ids::dense(ids.data(), s.B, s.Lk), "a negative id");
    ids[static_cast<std::size_t>(s.Lk + 3)] = 3;
    std::vector<std::int32_t> at{0, static_cast<std::int32_t>(s.Lk), static_cast<std::int32_t>(2 * s.Lk - 1)};
    fails(attune::position_ids::ragged(ids.data(), attune::seq_offsets{at.data(), 2}), "a CSR sequence shorter than Lk");
    // Lq > Lk: the first queries have no token of their own.
    {
        shape t = s;
        t.Lq = 9, t.Lk = 5;
        const inputs in2(t, 10);
        tensor<float> out2(t.B, t.Hq, t.Lq, t.D);
        lse_buffer lse2(t.B, t.Hq, t.Lq);
        CHECK_THROWS_AS(run(attune::with_positions(attune::causal{}, attune::position_ids::dense(ids.data(), t.B, 9)), t, in2, out2, lse2),
                        attune::error);
    }
    // Malformed tables at construction.
    CHECK_THROWS_AS(attune::position_ids(ids.data(), 2, 65, 64), attune::error);                               // rows overlap
    CHECK_THROWS_AS(attune::position_ids(ids.data(), 2, 65, 0), attune::error);                                // stride 0 with two rows
    CHECK_THROWS_AS(attune::position_ids(nullptr, 2, 65, 65), attune::error);                                  // null ids
    CHECK_THROWS_AS(attune::position_ids(ids.data(), -1, 65, 65), attune::error);                              // negative rows
    CHECK_THROWS_AS(attune::position_ids(ids.data(), index_t{1} << 40, 65, index_t{1} << 40), attune::error);  // offsets overflow
    std::vector<std::int32_t> down{0, 70, 60};
    CHECK_THROWS_AS(attune::position_ids::ragged(ids.data(), attune::seq_offsets{down.data(), 2}), attune::error);
    std::vector<std::int32_t> late{3, 70, 130};
    CHECK_THROWS_AS(attune::position_ids::ragged(ids.data(), attune::seq_offsets{late.data(), 2}), attune::error);
    CHECK_THROWS_AS(attune::position_ids::ragged(ids.data(), attune::seq_offsets{nullptr, 2}), attune::error);
    // A document mask over ids is checked in position space: its table must span 1 + the largest id.
    {
        shape t = s;
        const inputs in3(t, 11);
        ids_t wide = make_ids(id_kind::identity, t.B, t.Lk, rng);
        wide[static_cast<std::size_t>(t.Lk - 1)] = 200;  // the id space is [0, 201)
        const auto pos = attune::position_ids::dense(wide.data(), t.B, t.Lk);
        CHECK_THROWS_AS(run(attune::with_positions(document_case::make(t.Lk), pos), t, in3, out, lse), attune::error);
        CHECK_NOTHROW(run(attune::with_positions(document_case::make(201), pos), t, in3, out, lse));
    }
}
