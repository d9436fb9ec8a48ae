// The masks' tile rules against their element rules, arch-independent (attune/mask/*.hpp).
//
// For every mask, on random tiles (query positions may be negative, as when Lq > Lk): classify()
// says empty → no element of the tile is visible; full → every element is. Where a mask promises
// exactness (interval masks on rows at positions ≥ 0), partial → some element visible and some not.
// Masks with keys() agree with visible() on every key of every row. Bad parameters throw
// attune::error with a message naming them.
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
#include "mask/sparse_layout.hpp"

using attune::index_t;
using attune::tile_class;

namespace {

const char* name_of(tile_class c) { return c == tile_class::empty ? "empty" : c == tile_class::full ? "full" : "partial"; }

struct tile_census {
    index_t visible = 0, hidden = 0;
};

template <class M>
tile_census census(const M& m, const attune::tile_context& t) {
    tile_census c;
    for (index_t p = t.q_first; p <= t.q_last; ++p)
        for (index_t j = t.k_first; j <= t.k_last; ++j) {
            if (m.visible(attune::index_context{t.batch, 0, t.kv_head, p, j})) ++c.visible;
            else ++c.hidden;
        }
    return c;
}

// Random tiles over keys [0, L) and query positions [q_min, L): heights 1..80, widths 1..64, plus
// the engine's own grid (64-key tiles).
template <class M>
void check_classify(const M& m, index_t L, index_t q_min, std::uint32_t seed, bool exact = false, index_t batches = 1) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<index_t> qd(q_min, L - 1), kd(0, L - 1), hd(1, 80), wd(1, 64), bd(0, batches - 1);
    index_t counts[3] = {0, 0, 0};
    for (int n = 0; n < 600; ++n) {
        attune::tile_context t{bd(rng), 0, 0, 0, 0, 0};
        if (n < 200) {  // the engine's grid: 64-key tiles, query tiles of 16
            t.k_first = (n % 8) * 64 % L;
            t.q_first = q_min + (n / 8) * 16 % (L - q_min);
            t.k_last = std::min(t.k_first + 63, L - 1);
            t.q_last = std::min(t.q_first + 15, L - 1);
        } else {
            t.q_first = qd(rng);
            t.k_first = kd(rng);
            t.q_last = std::min(t.q_first + hd(rng) - 1, L - 1);
            t.k_last = std::min(t.k_first + wd(rng) - 1, L - 1);
        }
        const tile_class cls = m.classify(t);
        ++counts[static_cast<int>(cls)];
        const tile_census c = census(m, t);
        INFO("tile b " << t.batch << " q [" << t.q_first << ", " << t.q_last << "] k [" << t.k_first << ", " << t.k_last << "]: "
                       << name_of(cls) << ", " << c.visible << " visible, " << c.hidden << " hidden");
        if (cls == tile_class::empty) REQUIRE(c.visible == 0);
        if (cls == tile_class::full) REQUIRE(c.hidden == 0);
        if (exact && cls == tile_class::partial && t.q_first >= 0) REQUIRE((c.visible > 0 && c.hidden > 0));
    }
    INFO("classes seen: empty " << counts[0] << " partial " << counts[1] << " full " << counts[2]);
    CHECK(counts[0] + counts[1] + counts[2] == 600);
}

// keys(row) is exactly the set visible() accepts, for rows at positions [q_min, L).
template <class M>
void check_keys(const M& m, index_t L, index_t q_min) {
    for (index_t p = q_min; p < L; ++p) {
        const attune::key_range r = m.keys(attune::index_context{0, 0, 0, p, 0});
        for (index_t j = 0; j < L; ++j) {
            INFO("row " << p << " key " << j << " keys() [" << r.first << ", " << r.last << "]");
            REQUIRE(m.visible(attune::index_context{0, 0, 0, p, j}) == (r.first <= j && j <= r.last));
        }
    }
}

template <class M>
constexpr bool has_keys = attune::detail::mask_has_keys<M>::value;
template <class M>
constexpr bool has_key_pair = attune::detail::mask_has_key_pair<M>::value;

// key_pair(row) is exactly the set visible() accepts (the union of its two parts).
template <class M>
void check_key_pair(const M& m, index_t L, index_t q_min) {
    for (index_t p = q_min; p < L; ++p) {
        const attune::key_range_pair r = m.key_pair(attune::index_context{0, 0, 0, p, 0});
        for (index_t j = 0; j < L; ++j) {
            INFO("row " << p << " key " << j << " key_pair() [" << r.first.first << ", " << r.first.last << "] ∪ [" << r.second.first
                        << ", " << r.second.last << "]");
            const bool in = (r.first.first <= j && j <= r.first.last) || (r.second.first <= j && j <= r.second.last);
            REQUIRE(m.visible(attune::index_context{0, 0, 0, p, j}) == in);
        }
    }
}

// span(tile) holds every visible key of the tile, and is tight at both ends for rows at p ≥ 0
// (its first and last keys are visible to some row) unless it is empty.
template <class M>
void check_span(const M& m, index_t L, index_t q_min, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<index_t> qd(q_min, L - 1), kd(0, L - 1), hd(1, 80), wd(1, 64);
    for (int n = 0; n < 400; ++n) {
        attune::tile_context t{0, 0, qd(rng), 0, kd(rng), 0};
        t.q_last = std::min(t.q_first + hd(rng) - 1, L - 1);
        t.k_last = std::min(t.k_first + wd(rng) - 1, L - 1);
        const attune::key_range sp = m.span(t);
        index_t first = L, last = -1;
        for (index_t p = t.q_first; p <= t.q_last; ++p)
            for (index_t j = t.k_first; j <= t.k_last; ++j)
                if (m.visible(attune::index_context{0, 0, 0, p, j})) {
                    first = std::min(first, j);
                    last = std::max(last, j);
                }
        INFO("tile q [" << t.q_first << ", " << t.q_last << "] k [" << t.k_first << ", " << t.k_last << "]: span [" << sp.first << ", "
                        << sp.last << "], visible keys [" << first << ", " << last << "]");
        if (last >= 0) REQUIRE((sp.first <= first && last <= sp.last));
        if (t.q_first >= 0 && sp.first <= sp.last) REQUIRE((sp.first == first && sp.last == last));
    }
}

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
    std::uint32_t seed = 1;
    for (auto lr : std::vector<std::pair<index_t, index_t>>{{0, 0}, {5, 0}, {63, 0}, {64, 0}, {3, 7}, {0, 70}, {1000, 1000},
                                                            {attune::unbounded, 0}, {0, attune::unbounded}, {attune::unbounded, attune::unbounded}}) {
        INFO("left " << lr.first << " right " << lr.second);
        const attune::sliding_window m(lr.first, lr.second);
        check_classify(m, L, -40, seed++, /*exact*/ true);
        check_keys(m, L, -10);
        check_span(m, L, -40, seed++);
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
    std::uint32_t seed = 100;
    for (auto sw : std::vector<std::pair<index_t, index_t>>{{0, 16}, {4, 32}, {4, 0}, {64, 64}, {1, 1}, {0, 0}, {500, 500}, {3, 1000}}) {
        const attune::sinks_window m(sw.first, sw.second);
        INFO("sinks " << sw.first << " window " << sw.second);
        check_classify(m, L, -30, seed++);
        check_span(m, L, -30, seed++);
        check_key_pair(m, L, -30);
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
        check_classify(attune::document_mask::from_lengths(lengths, causal), L, -20, 11);
        check_classify(attune::document_mask(random_ids, causal), L, -20, 12);
        check_classify(attune::document_mask(two_rows.data(), L, 2, causal), L, -20, 13, false, 2);
        check_classify(attune::document_mask::from_lengths(std::vector<index_t>(static_cast<std::size_t>(L), 1), causal), L, 0, 14);
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
    std::uint32_t seed = 200;
    for (auto b : std::vector<std::pair<index_t, index_t>>{{16, 32}, {7, 13}, {64, 64}, {128, 16}, {1, 1}, {100, 300}}) {
        INFO("blocks " << b.first << " x " << b.second);
        const auto m = attune_test::sparse_layout(L, b.first, b.second, seed);
        check_classify(m, L, -20, seed++);
        const attune::block_sparse<attune::no_mask> plain(b.first, b.second, {0, 1, 1, 2}, {0, 1}, {0, 1});
        check_classify(plain, L, -20, seed++);
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
        check_classify(m, 300, -10, 300);
        check_classify(attune::prefix_sharing(0, {100, 100, 100}, causal), 300, 0, 301);
        const auto vis = [&](index_t p, index_t j) { return m.visible(attune::index_context{0, 0, 0, p, j}); };
        CHECK(vis(45, 39));    // segment 2 sees the context
        CHECK(!vis(45, 40));   // … not segment 1
        CHECK(vis(45, 41));    // … itself
        CHECK(vis(45, 50) == !causal);
        CHECK(!vis(20, 45));   // the context does not see the segments
        CHECK(vis(20, 30) == !causal);
        CHECK(!vis(299, 200));  // last segment starts at 233
        CHECK(vis(299, 233));
    }
    check_classify(attune::prefix_keys(50), 300, -10, 302, /*exact*/ false);
    check_keys(attune::prefix_keys(50), 300, -5);
    check_span(attune::prefix_keys(50), 300, -10, 303);
}

TEST_CASE("and_mask / or_mask: classes combine as sets, keys() for and of intervals, key_pair() for or", "[mask]") {
    const index_t L = 300;
    const auto docs = attune::document_mask::from_lengths({1, 50, 7, 100, 1, 141});
    check_classify(attune::and_mask(attune::causal{}, docs), L, -10, 400);
    check_classify(attune::and_mask(attune::sliding_window(40, 10), attune::causal{}), L, -10, 401, /*exact*/ true);
    check_keys(attune::and_mask(attune::sliding_window(40, 10), attune::causal{}), L, -5);
    check_classify(attune::or_mask(attune::sliding_window(16, 0), attune::prefix_keys(8)), L, -10, 402);
    check_classify(attune::or_mask(docs, attune::sinks_window(4, 20)), L, -10, 403);
    check_classify(attune::and_mask(attune::or_mask(attune::sliding_window(5, 5), docs), attune::no_mask{}), L, -10, 404);
    STATIC_REQUIRE(has_keys<attune::and_mask<attune::sliding_window, attune::causal>>);
    STATIC_REQUIRE(!has_keys<attune::and_mask<attune::sliding_window, attune::document_mask>>);
    STATIC_REQUIRE(!has_keys<attune::or_mask<attune::sliding_window, attune::causal>>);
    STATIC_REQUIRE(has_key_pair<attune::or_mask<attune::sliding_window, attune::prefix_keys>>);
    STATIC_REQUIRE(!has_key_pair<attune::or_mask<attune::sliding_window, attune::document_mask>>);
    check_key_pair(attune::or_mask(attune::sliding_window(16, 0), attune::prefix_keys(8)), L, -10);
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
    check_classify(m, 300, 240, 500);
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
    check_classify(wide, 60, -240, 501);
    CHECK(wide.visible({0, 0, 0, 100 - 240, 29}));
    CHECK_THAT(thrown_message([] { attune::region_mask(60, 300, {{0, 61, 0, 10}}); }), Catch::Contains("query range [0, 61)"));
    CHECK_THAT(thrown_message([] { attune::region_mask(60, 300, {{0, 6, 0, 301}}); }), Catch::Contains("key range"));
}
