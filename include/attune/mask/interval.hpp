#pragma once
// Building blocks shared by the masks: key intervals, saturating position arithmetic, and the tile
// rules derived from a mask's element rule. A mask writes its rule once — as a per-row key interval
// or as an element predicate over a few classified parts — and its classify() comes from here, so
// the element test and the tile test cannot disagree.
#include <limits>

#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"

namespace attune {

namespace detail {

inline constexpr bool contains(const key_range& r, index_t k) noexcept { return r.first <= k && k <= r.last; }
inline constexpr bool is_empty(const key_range& r) noexcept { return r.first > r.last; }

// p − n and p + n, clamped to the index range (n ≥ 0), so unbounded sides never overflow.
inline constexpr index_t sat_sub(index_t p, index_t n) noexcept {
    return p < std::numeric_limits<index_t>::min() + n ? std::numeric_limits<index_t>::min() : p - n;
}
inline constexpr index_t sat_add(index_t p, index_t n) noexcept {
    return p > std::numeric_limits<index_t>::max() - n ? std::numeric_limits<index_t>::max() : p + n;
}
inline constexpr index_t max_of(index_t a, index_t b) noexcept { return a < b ? b : a; }
inline constexpr index_t min_of(index_t a, index_t b) noexcept { return a < b ? a : b; }

// Tile class of a mask whose visible keys of row p are one interval keys(p) = [lo(p), hi(p)] with
// lo and hi non-decreasing in p (causal, windows, sinks, a column band…). Correct from that
// monotonicity alone:
//   every row covers the tile  ⇐  lo(q_last) ≤ k_first and hi(q_first) ≥ k_last      → full
//   no row reaches the tile    ⇐  hi(q_last) < k_first or lo(q_first) > k_last        → empty
// and partial otherwise. It is exact (partial means some key visible and some not) when the
// intervals are non-empty and consecutive rows' intervals overlap or touch.
template <class KeysOfPos>
constexpr tile_class classify_monotone(const tile_context& t, const KeysOfPos& keys_of) noexcept {
    const key_range top = keys_of(t.q_first), bottom = keys_of(t.q_last);
    if (bottom.last < t.k_first || top.first > t.k_last) return tile_class::empty;
    if (bottom.first <= t.k_first && top.last >= t.k_last) return tile_class::full;
    return tile_class::partial;
}

// The smallest key range of tile t that holds every visible key of its rows, for the same
// monotone-interval masks: [max(lo(q_first), k_first), min(hi(q_last), k_last)] (empty when
// first > last). It always holds every visible key; it is tight when the rows' intervals are not
// empty. Offered as `key_range span(const tile_context&) const` so that an engine can
// compute only those keys of a partial tile (e.g. the 4 sink keys of a 64-key tile).
template <class KeysOfPos>
constexpr key_range span_monotone(const tile_context& t, const KeysOfPos& keys_of) noexcept {
    return {max_of(keys_of(t.q_first).first, t.k_first), min_of(keys_of(t.q_last).last, t.k_last)};
}
// The hull of two key ranges, ignoring an empty one.
inline constexpr key_range hull(const key_range& a, const key_range& b) noexcept {
    if (is_empty(a)) return b;
    if (is_empty(b)) return a;
    return {min_of(a.first, b.first), max_of(a.last, b.last)};
}

// A key set that is the intersection (and) / union (or) of two sets, from their tile classes.
inline constexpr tile_class and_classes(tile_class a, tile_class b) noexcept {
    if (a == tile_class::empty || b == tile_class::empty) return tile_class::empty;
    if (a == tile_class::full && b == tile_class::full) return tile_class::full;
    return tile_class::partial;
}
inline constexpr tile_class or_classes(tile_class a, tile_class b) noexcept {
    if (a == tile_class::full || b == tile_class::full) return tile_class::full;
    if (a == tile_class::empty && b == tile_class::empty) return tile_class::empty;
    return tile_class::partial;
}

// The part of tile t inside the rectangle of query positions [q0, q1] × keys [k0, k1] (inclusive);
// `ok` is false when they do not meet.
struct clipped_tile {
    tile_context tile;
    bool ok;
};
inline constexpr clipped_tile clip(const tile_context& t, index_t q0, index_t q1, index_t k0, index_t k1) noexcept {
    tile_context c = t;
    c.q_first = max_of(t.q_first, q0);
    c.q_last = min_of(t.q_last, q1);
    c.k_first = max_of(t.k_first, k0);
    c.k_last = min_of(t.k_last, k1);
    return {c, c.q_first <= c.q_last && c.k_first <= c.k_last};
}

// Whether the rectangle [q0, q1] × [k0, k1] holds the whole tile.
inline constexpr bool covers(const tile_context& t, index_t q0, index_t q1, index_t k0, index_t k1) noexcept {
    return q0 <= t.q_first && t.q_last <= q1 && k0 <= t.k_first && t.k_last <= k1;
}

}  // namespace detail
/// A mask whose visible keys form one interval per row, monotone in the query position: Derived
/// supplies `key_range keys_at(index_t p) const` and inherits every hook from that one rule.
template <class Derived>
class interval_mask {
public:
    using policy_kind = mask_kind;
    static constexpr bool is_none = false;
    using hooks = provides<hook::classify, hook::keys, hook::span>;

    /// The row's visible keys, keys_at(q_pos).
    key_range keys(const index_context& row) const noexcept { return self().keys_at(row.q_pos); }
    /// Whether k_pos lies in keys_at(q_pos).
    bool visible(const index_context& c) const noexcept { return detail::contains(self().keys_at(c.q_pos), c.k_pos); }
    /// The tile's class from the intervals of its first and last rows.
    tile_class classify(const tile_context& t) const noexcept {
        return detail::classify_monotone(t, [this](index_t p) { return self().keys_at(p); });
    }
    /// The keys of tile t that any of its rows sees.
    key_range span(const tile_context& t) const noexcept {
        return detail::span_monotone(t, [this](index_t p) { return self().keys_at(p); });
    }

private:
    const Derived& self() const noexcept { return static_cast<const Derived&>(*this); }
};

}  // namespace attune
