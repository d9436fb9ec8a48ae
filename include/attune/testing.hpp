#pragma once
/// @file
/// Checks a mask's hooks against its own visible() on a shape you choose: the check attune's tests
/// run on every built-in mask, for yours (no test framework needed).
///
///     #include <attune/testing.hpp>
///     attune::testing::mask_report r = attune::testing::check_mask(my_mask{}, {/*lq*/ 300, /*lk*/ 300});
///
/// The tiles are those of several grids (the engine's 64-key tiles, single rows as in decode, odd
/// sizes; at aligned and shifted offsets) and a few hundred random ones, for every batch and kv
/// head, each over the runs of query heads of the kv head's group a tile may hold (a router leaves
/// some out). On each:
///  - classify() says empty only if no element of the tile is visible, full only if every one is;
///  - span() holds every key of the tile that some row sees;
/// and for every row (batch, query head, position) keys() / key_pair() hold exactly the keys
/// visible() accepts, over keys [0, lk). A hook the mask does not define is not checked. The first
/// mismatch throws attune::error naming the hook, the tile or row, and the key; otherwise the
/// report says what was checked and where an answer was correct but slower than it could be (a
/// partial tile that is in fact empty or full, a span wider than the keys the rows see).
#include <cstdint>
#include <sstream>
#include <string>

#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/types.hpp"
#include "attune/mask/traits.hpp"

namespace attune::testing {

/// The calls a mask is checked for: query i of lq sits at position lk − lq + i (negative when
/// lq > lk), as attention() gives it; keys are 0 … lk − 1; q_heads is a multiple of kv_heads.
struct mask_shape {
    index_t lq;
    index_t lk;
    index_t batch = 1;
    index_t q_heads = 1;
    index_t kv_heads = 1;
};

/// How many random tiles to add to the grids, and their seed.
struct mask_check_options {
    index_t random_tiles = 400;
    std::uint64_t seed = 1;
};

/// What check_mask() checked. The counts of slow answers are not errors: partial is always correct.
struct mask_report {
    index_t tiles = 0;                 ///< tiles classified
    index_t empty = 0;                 ///< … classified empty
    index_t partial = 0;               ///< … classified partial
    index_t full = 0;                  ///< … classified full
    index_t partial_none_visible = 0;  ///< partial tiles with no visible element (empty would skip them)
    index_t partial_all_visible = 0;   ///< partial tiles with every element visible (full would skip the test)
    index_t spans = 0;                 ///< tiles whose span() was checked
    index_t loose_spans = 0;           ///< spans wider than the keys the tile's rows see
    index_t rows = 0;                  ///< rows whose keys() or key_pair() was checked
    /// Whether every answer was as tight as it could be.
    bool exact() const noexcept { return partial_none_visible == 0 && partial_all_visible == 0 && loose_spans == 0; }
};

namespace detail {

// splitmix64: the same tiles on every platform (std's distributions are not specified exactly).
struct tile_rng {
    std::uint64_t s;
    index_t below(index_t n) {  // in [0, n), n ≥ 1
        s += 0x9E3779B97F4A7C15ull;
        std::uint64_t z = s;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return static_cast<index_t>((z ^ (z >> 31)) % static_cast<std::uint64_t>(n));
    }
};

inline std::string describe(const tile_context& t) {
    std::ostringstream os;
    os << "the tile of batch " << t.batch << ", kv head " << t.kv_head << ", query heads [" << t.q_head_first << ", " << t.q_head_last
       << "], positions [" << t.q_first << ", " << t.q_last << "] × keys [" << t.k_first << ", " << t.k_last << "]";
    return os.str();
}
inline std::string describe(const index_context& row) {
    std::ostringstream os;
    os << "the row of batch " << row.batch << ", query head " << row.q_head << " at position " << row.q_pos;
    return os.str();
}

template <class Mask>
class mask_checker {
public:
    mask_checker(const Mask& m, const mask_shape& s) : m_(m), s_(s), group_(s.q_heads / s.kv_heads), q0_(s.lk - s.lq) {}

    // One tile: its class and span against the elements it covers.
    void tile(const tile_context& t, mask_report& r) const {
        index_t visible = 0, hidden = 0, first = 0, last = -1;
        const tile_class cls = attune::detail::classify_tile(m_, t);
        for (index_t h = t.q_head_first; h <= t.q_head_last; ++h)
            for (index_t p = t.q_first; p <= t.q_last; ++p)
                for (index_t j = t.k_first; j <= t.k_last; ++j) {
                    const bool v = m_.visible(index_context{t.batch, h, t.kv_head, p, j});
                    if (v && cls == tile_class::empty)
                        attune::detail::fail("check_mask: classify() says empty for ", describe(t), ", but query head ", h, " at position ",
                                             p, " sees key ", j);
                    if (!v && cls == tile_class::full)
                        attune::detail::fail("check_mask: classify() says full for ", describe(t), ", but query head ", h, " at position ",
                                             p, " does not see key ", j);
                    if (!v) {
                        ++hidden;
                        continue;
                    }
                    if (visible++ == 0 || j < first) first = j;
                    if (j > last) last = j;
                }
        ++r.tiles;
        if (cls == tile_class::empty) ++r.empty;
        if (cls == tile_class::full) ++r.full;
        if (cls == tile_class::partial) {
            ++r.partial;
            r.partial_none_visible += visible == 0;
            r.partial_all_visible += hidden == 0;
        }
        if constexpr (attune::detail::mask_has_span<Mask>::value) {
            const key_range sp = m_.span(t);
            ++r.spans;
            if (visible > 0 && (first < sp.first || last > sp.last)) {
                // Find the key outside the span, for the message.
                for (index_t h = t.q_head_first; h <= t.q_head_last; ++h)
                    for (index_t p = t.q_first; p <= t.q_last; ++p)
                        for (index_t j = t.k_first; j <= t.k_last; ++j)
                            if ((j < sp.first || j > sp.last) && m_.visible(index_context{t.batch, h, t.kv_head, p, j}))
                                attune::detail::fail("check_mask: span() is [", sp.first, ", ", sp.last, "] for ", describe(t),
                                                     ", but query head ", h, " at position ", p, " sees key ", j);
            }
            const index_t a = sp.first > t.k_first ? sp.first : t.k_first, b = sp.last < t.k_last ? sp.last : t.k_last;
            r.loose_spans += a <= b && (visible == 0 || a != first || b != last);
        }
    }

    // Every row's keys() / key_pair() against visible() over keys [0, lk).
    void rows(mask_report& r) const {
        constexpr bool keys = attune::detail::mask_has_keys<Mask>::value, pair = attune::detail::mask_has_key_pair<Mask>::value;
        if constexpr (keys || pair) {
            for (index_t b = 0; b < s_.batch; ++b)
                for (index_t h = 0; h < s_.q_heads; ++h)
                    for (index_t p = q0_; p < s_.lk; ++p) {
                        const index_context row{b, h, h / group_, p, 0};
                        ++r.rows;
                        for (index_t j = 0; j < s_.lk; ++j) {
                            const bool v = m_.visible(index_context{b, h, h / group_, p, j});
                            if constexpr (keys) {
                                const key_range k = m_.keys(row);
                                if (v != (k.first <= j && j <= k.last))
                                    attune::detail::fail("check_mask: keys() is [", k.first, ", ", k.last, "] for ", describe(row),
                                                         ", but visible() says key ", j, v ? " is visible" : " is not visible");
                            }
                            if constexpr (pair) {
                                const key_range_pair k = m_.key_pair(row);
                                const bool in = (k.first.first <= j && j <= k.first.last) || (k.second.first <= j && j <= k.second.last);
                                if (v != in)
                                    attune::detail::fail("check_mask: key_pair() is [", k.first.first, ", ", k.first.last, "] ∪ [",
                                                         k.second.first, ", ", k.second.last, "] for ", describe(row),
                                                         ", but visible() says key ", j, v ? " is visible" : " is not visible");
                            }
                        }
                    }
        } else {
            (void)r;
        }
    }

    // Tiles of query positions [q, q + height) × keys [k, k + width), clipped to the call, for
    // every batch, kv head and head run.
    void grid(index_t height, index_t width, index_t q_offset, index_t k_offset, mask_report& r) const {
        for (index_t q = q0_ - q_offset; q < s_.lk; q += height)
            for (index_t k = -k_offset; k < s_.lk; k += width) {
                const index_t qa = q > q0_ ? q : q0_, ka = k > 0 ? k : 0;
                const index_t qb = q + height - 1 < s_.lk - 1 ? q + height - 1 : s_.lk - 1;
                const index_t kb = k + width - 1 < s_.lk - 1 ? k + width - 1 : s_.lk - 1;
                if (qa > qb || ka > kb) continue;
                every_head_run(qa, qb, ka, kb, r);
            }
    }

    void random(index_t n, std::uint64_t seed, mask_report& r) const {
        tile_rng rng{seed};
        for (index_t i = 0; i < n; ++i) {
            const index_t qa = q0_ + rng.below(s_.lq), ka = rng.below(s_.lk);
            // One draw each, then clamped (drawing again in the clamp's test let tiles reach past Lk).
            const index_t qd = rng.below(80), kd = rng.below(64);
            const index_t qb = qa + qd < s_.lk - 1 ? qa + qd : s_.lk - 1;
            const index_t kb = ka + kd < s_.lk - 1 ? ka + kd : s_.lk - 1;
            const index_t b = rng.below(s_.batch), g = rng.below(s_.kv_heads);
            const index_t h0 = g * group_ + rng.below(group_);
            const index_t h1 = h0 + rng.below(g * group_ + group_ - h0);
            tile(tile_context{b, g, qa, qb > qa ? qb : qa, ka, kb > ka ? kb : ka, h0, h1}, r);
        }
    }

private:
    // The group's query heads as the engine may hand them to a tile (a router leaves some out):
    // every run of consecutive heads for groups of up to 4, else the group, its halves and each head.
    void every_head_run(index_t qa, index_t qb, index_t ka, index_t kb, mask_report& r) const {
        for (index_t b = 0; b < s_.batch; ++b)
            for (index_t g = 0; g < s_.kv_heads; ++g) {
                const index_t first = g * group_, last = first + group_ - 1;
                const auto run = [&](index_t h0, index_t h1) { tile(tile_context{b, g, qa, qb, ka, kb, h0, h1}, r); };
                if (group_ <= 4) {
                    for (index_t h0 = first; h0 <= last; ++h0)
                        for (index_t h1 = h0; h1 <= last; ++h1) run(h0, h1);
                    continue;
                }
                run(first, last);
                run(first, first + group_ / 2 - 1);
                run(first + group_ / 2, last);
                for (index_t h = first; h <= last; ++h) run(h, h);
            }
    }

    const Mask& m_;
    mask_shape s_;
    index_t group_;
    index_t q0_;
};

}  // namespace detail

/// Checks mask's classify(), span(), keys() and key_pair() (those it defines) against its
/// visible() on the calls of `shape`; throws attune::error at the first mismatch.
template <class Mask>
mask_report check_mask(const Mask& mask, const mask_shape& shape, const mask_check_options& options = {}) {
    attune::detail::require(shape.lq >= 1 && shape.lk >= 1 && shape.batch >= 1 && shape.q_heads >= 1 && shape.kv_heads >= 1,
                            "check_mask: lq, lk, batch, q_heads and kv_heads must be ≥ 1, got ", shape.lq, ", ", shape.lk, ", ",
                            shape.batch, ", ", shape.q_heads, ", ", shape.kv_heads);
    attune::detail::require(shape.q_heads % shape.kv_heads == 0, "check_mask: q_heads (", shape.q_heads,
                            ") must be a multiple of kv_heads (", shape.kv_heads, ")");
    const detail::mask_checker<Mask> c(mask, shape);
    mask_report r;
    c.rows(r);
    struct size {
        index_t height, width;
    };
    for (const size z : {size{16, 64}, size{1, 64}, size{64, 64}, size{7, 13}}) {
        c.grid(z.height, z.width, 0, 0, r);
        c.grid(z.height, z.width, z.height / 2, z.width / 2 + 1, r);
    }
    c.random(options.random_tiles, options.seed, r);
    return r;
}

}  // namespace attune::testing
