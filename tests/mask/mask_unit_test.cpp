// The masks' tile rules against their element rules, arch-independent (attune/mask/*.hpp), through
// the public checker attune::testing::check_mask (attune/testing.hpp): on every tile of several
// grids and on random tiles (query positions may be negative, as when Lq > Lk), classify() says
// empty → no element of the tile is visible; full → every element is; span() holds every visible
// key; keys() / key_pair() are exactly the keys visible() accepts. Where a mask promises exactness
// (interval masks on rows at positions ≥ 0), partial → some element visible and some not, and spans
// are tight. Bad parameters throw attune::error with a message naming them.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/attune.hpp"
#include "attune/mask/masks.hpp"
#include "attune/mask/key_span.hpp"
#include "attune/mask/shifted_groups.hpp"
#include "attune/testing.hpp"
#include "mask/sparse_layout.hpp"

using attune::index_t;
using attune::tile_class;

namespace {

using attune::testing::check_mask;
using attune::testing::mask_report;
using attune::testing::mask_shape;

// A report's counts, for the log of a failed check.
std::string counts(const mask_report& r) {
    std::ostringstream os;
    os << r.tiles << " tiles (empty " << r.empty << ", partial " << r.partial << ", full " << r.full << "), partial with none visible "
       << r.partial_none_visible << ", with all visible " << r.partial_all_visible << ", spans " << r.spans << " (loose " << r.loose_spans
       << "), rows " << r.rows;
    return os.str();
}

// The mask's hooks agree with visible() on calls of Lk = L keys with queries at positions [q_min, L)
// (q_min < 0: Lq > Lk).
template <class M>
mask_report check(const M& m, index_t L, index_t q_min, index_t batches = 1) {
    const mask_report r = check_mask(m, mask_shape{L - q_min, L, batches});
    INFO(counts(r));
    CHECK(r.tiles > 0);
    return r;
}

// The call Lq = Lk = L (every position ≥ 0), where interval masks promise tight answers.
template <class M>
mask_report from_zero(const M& m, index_t L) {
    return check_mask(m, mask_shape{L, L});
}
bool exact_classes(const mask_report& r) { return r.partial_none_visible == 0 && r.partial_all_visible == 0; }

template <class M>
constexpr bool has_keys = attune::detail::mask_has_keys<M>::value;
template <class M>
constexpr bool has_key_pair = attune::detail::mask_has_key_pair<M>::value;

std::string thrown_message(const std::function<void()>& f) {
    try {
        f();
    } catch (const attune::error& e) {
        return e.what();
    }
    return "(nothing thrown)";
}

}  // namespace

TEST_CASE("sliding_window: classify and keys agree with visible", "[mask]") {
    const index_t L = 300;
    for (auto lr : std::vector<std::pair<index_t, index_t>>{{0, 0},
                                                            {5, 0},
                                                            {63, 0},
                                                            {64, 0},
                                                            {3, 7},
                                                            {0, 70},
                                                            {1000, 1000},
                                                            {attune::unbounded, 0},
                                                            {0, attune::unbounded},
                                                            {attune::unbounded, attune::unbounded}}) {
        INFO("left " << lr.first << " right " << lr.second);
        const attune::sliding_window m(lr.first, lr.second);
        check(m, L, -40);
        const mask_report e = from_zero(m, L);
        INFO(counts(e));
        CHECK(e.exact());  // exact classes, tight spans
    }
    // Causal is window {∞, 0}: the same tile classes as attune::causal.
    const attune::sliding_window w(attune::unbounded, 0);
    const attune::causal c;
    for (index_t q = -70; q < 300; q += 7)
        for (index_t k = 0; k < 300; k += 11) {
            const attune::tile_context t{0, 0, q, q + 20, k, k + 30};
            REQUIRE(w.classify(t) == c.classify(t));
        }
    STATIC_REQUIRE(has_keys<attune::sliding_window>);
}

TEST_CASE("sliding_window: FlashAttention's (left, right) convention and helpers", "[mask]") {
    const attune::sliding_window m(2, 1);  // p − 2 ≤ j ≤ p + 1
    const auto vis = [&](index_t p, index_t j) { return m.visible(attune::index_context{0, 0, 0, p, j}); };
    CHECK(!vis(10, 7));
    CHECK(vis(10, 8));
    CHECK(vis(10, 11));
    CHECK(!vis(10, 12));
    // A causal window of W tokens including the query itself is left = W − 1.
    const attune::sliding_window w4 = attune::causal_window_of(4);
    CHECK(w4.left() == 3);
    CHECK(w4.right() == 0);
    index_t seen = 0;
    for (index_t j = 0; j < 100; ++j) seen += w4.visible(attune::index_context{0, 0, 0, 50, j});
    CHECK(seen == 4);
    CHECK(attune::causal_window(7).left() == 7);
    CHECK_THROWS_AS(attune::sliding_window(-1, 0), attune::error);
    CHECK_THAT(thrown_message([] { attune::sliding_window(-1, 0); }), Catch::Contains("left (-1)"));
    CHECK_THAT(thrown_message([] { attune::sliding_window(0, -3); }), Catch::Contains("right (-3)"));
    CHECK_THROWS_AS(attune::causal_window_of(0), attune::error);
}

TEST_CASE("sinks_window: classify agrees with visible; SPEC's rule", "[mask]") {
    const index_t L = 300;
    for (auto sw : std::vector<std::pair<index_t, index_t>>{{0, 16}, {4, 32}, {4, 0}, {64, 64}, {1, 1}, {0, 0}, {500, 500}, {3, 1000}}) {
        const attune::sinks_window m(sw.first, sw.second);
        INFO("sinks " << sw.first << " window " << sw.second);
        check(m, L, -30);
        CHECK(from_zero(m, L).loose_spans == 0);
        for (index_t p = -3; p < L; p += 5)
            for (index_t j = 0; j < L; ++j) {
                const bool rule = j <= p && (j < sw.first || p - j < sw.second);
                REQUIRE(m.visible(attune::index_context{0, 0, 0, p, j}) == rule);
            }
    }
    // Tiles between the sinks and the window are skipped: the cost follows the visible keys.
    const attune::sinks_window m(4, 256);
    index_t tiles = 0;
    for (index_t k = 0; k < 2112; k += 64) tiles += m.classify({0, 0, 2000, 2063, k, k + 63}) != tile_class::empty;
    CHECK(tiles == 1 + 6);  // the sink tile and the tiles of keys [1745, 2063]
    STATIC_REQUIRE(!has_keys<attune::sinks_window>);
    STATIC_REQUIRE(has_key_pair<attune::sinks_window>);
    STATIC_REQUIRE(attune::detail::mask_row_intervals<attune::sinks_window> == 2);
    CHECK_THAT(thrown_message([] { attune::sinks_window(-1, 3); }), Catch::Contains("sinks (-1)"));
    CHECK_THAT(thrown_message([] { attune::sinks_window(1, -3); }), Catch::Contains("window (-3)"));
}

TEST_CASE("document_mask: classify agrees with visible", "[mask]") {
    const index_t L = 300;
    std::mt19937 rng(7);
    // Sorted: documents of lengths 1, 1, 5, 64, 1, … (many of length 1); unsorted: random ids.
    std::vector<index_t> lengths;
    for (index_t n = 0; n < L;) {
        const index_t len = std::min<index_t>(L - n, (rng() % 3 == 0) ? 1 : 1 + static_cast<index_t>(rng() % 70));
        lengths.push_back(len);
        n += len;
    }
    std::vector<std::int32_t> random_ids(static_cast<std::size_t>(L));
    for (auto& x : random_ids) x = static_cast<std::int32_t>(rng() % 4);
    std::vector<std::int32_t> two_rows = random_ids;  // batch 1: all one document
    two_rows.insert(two_rows.end(), static_cast<std::size_t>(L), 9);
    for (bool causal : {true, false}) {
        INFO("causal " << causal);
        check(attune::document_mask::from_lengths(lengths, causal), L, -20);
        check(attune::document_mask(random_ids, causal), L, -20);
        check(attune::document_mask(two_rows.data(), L, 2, causal), L, -20, 2);
        check(attune::document_mask::from_lengths(std::vector<index_t>(static_cast<std::size_t>(L), 1), causal), L, 0);
    }
    // Batch-aware: batch 1 sees its whole causal past; batch 0 only its own ids.
    const attune::document_mask m(two_rows.data(), L, 2);
    CHECK(m.visible({1, 0, 0, 200, 3}));
    CHECK(m.visible({0, 0, 0, 200, 3}) == (random_ids[3] == random_ids[200]));
    CHECK(m.classify({1, 0, 100, 120, 0, 63}) == tile_class::full);
    CHECK(!m.visible({2, 0, 0, 200, 3}));  // no ids for batch 2: nothing visible
    // Positions outside the ids see nothing.
    CHECK(!m.visible({0, 0, 0, L, 3}));
    CHECK(!m.visible({0, 0, 0, -1, 0}));
    CHECK_THROWS_AS(attune::document_mask(std::vector<std::vector<std::int32_t>>{{1, 2}, {3}}), attune::error);
    CHECK_THROWS_AS(attune::document_mask::from_lengths({3, -1}), attune::error);
}

TEST_CASE("block_sparse: classify combines the blocks a tile overlaps", "[mask]") {
    const index_t L = 300;
    std::uint32_t seed = 200;  // the layouts' pattern
    for (auto b : std::vector<std::pair<index_t, index_t>>{{16, 32}, {7, 13}, {64, 64}, {128, 16}, {1, 1}, {100, 300}}) {
        INFO("blocks " << b.first << " x " << b.second);
        const auto m = attune_test::sparse_layout(L, b.first, b.second, seed++);
        check(m, L, -20);
        const attune::block_sparse<attune::no_mask> plain(b.first, b.second, {0, 1, 1, 2}, {0, 1}, {0, 1});
        check(plain, L, -20);
    }
    // Query block 1 is empty: its rows see nothing and its tiles are empty.
    const attune::block_sparse<> m(16, 16, {0, 1, 1, 3}, {0, 0, 2}, {1, 1, 0});
    CHECK(m.classify({0, 0, 16, 31, 0, 63}) == tile_class::empty);
    CHECK(m.classify({0, 0, 0, 15, 0, 15}) == tile_class::full);
    CHECK(m.classify({0, 0, 32, 47, 32, 47}) == tile_class::partial);  // causal inside a partial block
    CHECK(m.classify({0, 0, 32, 47, 16, 31}) == tile_class::empty);    // not listed
    CHECK(m.classify({0, 0, 48, 60, 0, 15}) == tile_class::empty);     // past the layout
    CHECK_THAT(thrown_message([] { attune::block_sparse<>(16, 16, {0, 2}, {1, 1}, {0, 0}); }), Catch::Contains("listed twice"));
    CHECK_THAT(thrown_message([] { attune::block_sparse<>(16, 16, {0, 2}, {1}, {0}); }), Catch::Contains("row_offsets ends at 2"));
    CHECK_THAT(thrown_message([] { attune::block_sparse<>(0, 16, {0}, {}, {}); }), Catch::Contains("block sizes"));
}

TEST_CASE("prefix_sharing: segments see the shared context and themselves only", "[mask]") {
    for (bool causal : {true, false}) {
        const attune::prefix_sharing m(40, {1, 30, 60, 2, 100, 67}, causal);
        INFO("causal " << causal);
        REQUIRE(m.length() == 300);
        check(m, 300, -10);
        check(attune::prefix_sharing(0, {100, 100, 100}, causal), 300, 0);
        const auto vis = [&](index_t p, index_t j) { return m.visible(attune::index_context{0, 0, 0, p, j}); };
        CHECK(vis(45, 39));   // segment 2 sees the context
        CHECK(!vis(45, 40));  // … not segment 1
        CHECK(vis(45, 41));   // … itself
        CHECK(vis(45, 50) == !causal);
        CHECK(!vis(20, 45));  // the context does not see the segments
        CHECK(vis(20, 30) == !causal);
        CHECK(!vis(299, 200));  // last segment starts at 233
        CHECK(vis(299, 233));
    }
    check(attune::prefix_keys(50), 300, -10);
    CHECK(from_zero(attune::prefix_keys(50), 300).loose_spans == 0);
}

TEST_CASE("and_mask / or_mask: classes combine as sets, keys() for and of intervals, key_pair() for or", "[mask]") {
    const index_t L = 300;
    const auto docs = attune::document_mask::from_lengths({1, 50, 7, 100, 1, 141});
    check(attune::and_mask(attune::causal{}, docs), L, -10);
    check(attune::and_mask(attune::sliding_window(40, 10), attune::causal{}), L, -10);
    CHECK(exact_classes(from_zero(attune::and_mask(attune::sliding_window(40, 10), attune::causal{}), L)));
    check(attune::or_mask(attune::sliding_window(16, 0), attune::prefix_keys(8)), L, -10);
    check(attune::or_mask(docs, attune::sinks_window(4, 20)), L, -10);
    check(attune::and_mask(attune::or_mask(attune::sliding_window(5, 5), docs), attune::no_mask{}), L, -10);
    STATIC_REQUIRE(has_keys<attune::and_mask<attune::sliding_window, attune::causal>>);
    STATIC_REQUIRE(!has_keys<attune::and_mask<attune::sliding_window, attune::document_mask>>);
    STATIC_REQUIRE(!has_keys<attune::or_mask<attune::sliding_window, attune::causal>>);
    STATIC_REQUIRE(has_key_pair<attune::or_mask<attune::sliding_window, attune::prefix_keys>>);
    STATIC_REQUIRE(!has_key_pair<attune::or_mask<attune::sliding_window, attune::document_mask>>);
    STATIC_REQUIRE(std::is_same_v<attune::variant<attune::or_mask<attune::causal, attune::document_mask>>::mask_type,
                                  attune::or_mask<attune::causal, attune::document_mask>>);
    // and: empty if either is; full if both are. or: full if either is; empty if both are.
    const attune::tile_context t{0, 0, 100, 110, 50, 100};  // causal: full; window 40 back: partial
    CHECK(attune::and_mask(attune::causal{}, attune::sliding_window(40, 0)).classify(t) == tile_class::partial);
    CHECK(attune::or_mask(attune::causal{}, attune::sliding_window(40, 0)).classify(t) == tile_class::full);
    CHECK(attune::and_mask(attune::causal{}, attune::sliding_window(attune::unbounded, 0)).classify(t) == tile_class::full);
    CHECK(attune::or_mask(attune::sliding_window(5, 0), attune::sliding_window(2, 0)).classify({0, 0, 100, 110, 0, 50}) ==
          tile_class::empty);
}

TEST_CASE("region_mask: rectangles in query indices for cross-attention", "[mask]") {
    // Lq 60 image tokens × Lk 300 text tokens: absolute positions start at Lk − Lq = 240.
    const attune::region_mask m(60, 300, {{0, 20, 0, 100}, {20, 50, 100, 180}, {10, 30, 250, 300}});
    check(m, 300, 240);
    const auto vis = [&](index_t i, index_t j) { return m.visible(attune::index_context{0, 0, 0, 240 + i, j}); };
    CHECK(vis(0, 0));
    CHECK(!vis(0, 100));
    CHECK(vis(20, 100));
    CHECK(vis(15, 299));
    CHECK(!vis(55, 10));  // rows 50..59 are in no region
    CHECK(m.classify({0, 0, 290, 299, 0, 299}) == tile_class::empty);
    CHECK(m.classify({0, 0, 240, 259, 0, 63}) == tile_class::full);
    const auto a = attune::region_mask::absolute(60, 300, {{240, 260, 0, 100}});
    CHECK(a.visible({0, 0, 0, 240, 0}));
    // Lq > Lk: positions are negative; the index form hides it.
    const attune::region_mask wide(300, 60, {{100, 300, 0, 30}});
    check(wide, 60, -240);
    CHECK(wide.visible({0, 0, 0, 100 - 240, 29}));
    CHECK_THAT(thrown_message([] { attune::region_mask(60, 300, {{0, 61, 0, 10}}); }), Catch::Contains("query range [0, 61)"));
    CHECK_THAT(thrown_message([] { attune::region_mask(60, 300, {{0, 6, 0, 301}}); }), Catch::Contains("key range"));
}

namespace {
// Deliberately wrong masks for the checker: causal visible(), with one hook that lies.
struct causal_rule {
    using policy_kind = attune::mask_kind;
    bool visible(const attune::index_context& c) const { return c.k_pos <= c.q_pos; }
};
struct full_too_often : causal_rule {  // full where the diagonal hides keys
    tile_class classify(const attune::tile_context& t) const { return t.k_first > t.q_last ? tile_class::empty : tile_class::full; }
};
struct empty_too_often : causal_rule {  // empty one key too early
    tile_class classify(const attune::tile_context& t) const { return t.k_first >= t.q_last ? tile_class::empty : tile_class::partial; }
};
struct short_span : causal_rule {  // misses the diagonal key of the last row
    attune::key_range span(const attune::tile_context& t) const { return {t.k_first, std::min(t.k_last, t.q_last - 1)}; }
};
struct keys_off_by_one : causal_rule {
    attune::key_range keys(const attune::index_context& row) const { return {0, row.q_pos + 1}; }
};
struct key_pair_gap : causal_rule {  // forgets key 5
    attune::key_range_pair key_pair(const attune::index_context& row) const {
        return {{0, std::min<index_t>(4, row.q_pos)}, {6, row.q_pos}};
    }
};
// Per-head rule: even query heads causal, odd heads only the key at their own position.
struct per_head : causal_rule {
    bool visible(const attune::index_context& c) const { return c.q_head % 2 == 0 ? c.k_pos <= c.q_pos : c.k_pos == c.q_pos; }
    tile_class classify(const attune::tile_context& t) const {  // the causal classes: wrong for the odd heads
        return t.k_first > t.q_last ? tile_class::empty : t.k_last <= t.q_first ? tile_class::full : tile_class::partial;
    }
};
}  // namespace

TEST_CASE("check_mask: the built-in masks pass; masks whose hooks lie are caught with the tile, row and key", "[mask]") {
    CHECK(from_zero(attune::causal{}, 200).exact());
    CHECK(from_zero(attune::no_mask{}, 100).exact());
    check(attune::causal{}, 200, -50);
    check(attune::key_span_mask(30, 90), 200, -20);
    check(attune::outside_key_span_mask(30, 90), 200, -20);
    check(attune::key_set_mask::shared({1, 5, 64, 65, 130}), 200, -20);
    CHECK(check_mask(attune::key_set_mask({{1, 2, 3}, {70, 71}, {}, {199}}), mask_shape{50, 200, 1, 4, 2}).tiles > 0);
    CHECK(check_mask(attune::shifted_groups(8, 4, 2), mask_shape{30, 30, 1, 4, 2}).tiles > 0);
    CHECK(check_mask(attune::shifted_groups(37, 6, 3), mask_shape{9, 517, 1, 6, 3}).tiles > 0);
    CHECK(check_mask(attune::shifted_groups(16, 4, 0), mask_shape{100, 100, 1, 4, 1}).tiles > 0);
    CHECK(check_mask(attune::duo_heads({true, false}, 4, 32), mask_shape{150, 150, 1, 4, 2}).tiles > 0);
    // A mask without classify(): every tile partial, always correct.
    const mask_report r = check_mask(causal_rule{}, mask_shape{100, 100});
    CHECK(r.partial == r.tiles);
    CHECK(r.partial_none_visible > 0);
    CHECK(!r.exact());

    CHECK_THAT(
        thrown_message([] {
            check_mask(full_too_often{}, mask_shape{100, 100});
        }),
        Catch::Contains("classify() says full for the tile of batch 0, kv head 0, query heads [0, 0], positions [0, 15] × keys [0, 63], "
                        "but query head 0 at position 0 does not see key 1"));
    CHECK_THAT(thrown_message([] {
                   check_mask(empty_too_often{}, mask_shape{100, 100});
               }),
               Catch::Contains("classify() says empty") && Catch::Contains("sees key"));
    CHECK_THAT(
        thrown_message([] {
            check_mask(short_span{}, mask_shape{100, 100});
        }),
        Catch::Contains("span() is [0, 14] for the tile of batch 0, kv head 0, query heads [0, 0], positions [0, 15] × keys [0, 63], "
                        "but query head 0 at position 15 sees key 15"));
    CHECK_THAT(
        thrown_message([] {
            check_mask(keys_off_by_one{}, mask_shape{10, 10});
        }),
        Catch::Contains("keys() is [0, 1] for the row of batch 0, query head 0 at position 0, but visible() says key 1 is not visible"));
    CHECK_THAT(thrown_message([] {
                   check_mask(key_pair_gap{}, mask_shape{10, 10});
               }),
               Catch::Contains("key_pair() is [0, 4] ∪ [6, 5] for the row of batch 0, query head 0 at position 5") &&
                   Catch::Contains("key 5 is visible"));
    // Right for the even heads, wrong for the odd ones: the message names the heads of the tile.
    CHECK_THAT(
        thrown_message([] {
            check_mask(per_head{}, mask_shape{100, 100, 1, 2, 1});
        }),
        Catch::Contains("classify() says full") && Catch::Contains("query heads [0, 1]") && Catch::Contains("query head 1 at position"));
    CHECK_THAT(thrown_message([] { check_mask(attune::causal{}, mask_shape{10, 10, 1, 3, 2}); }), Catch::Contains("multiple of kv_heads"));
}
