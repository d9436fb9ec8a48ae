#pragma once
// Masks over key positions alone, the same for every query (combine them with a causal or window
// mask through and_mask). The calibration passes use them to split one attention into disjoint
// key sets whose results ⊕ merges back (calibration/var.hpp):
//   key_span_mask{first, last}           keys first ≤ j ≤ last are visible
//   outside_key_span_mask{first, last}   keys j < first or j > last are visible
//   key_set_mask                         a list of keys per query head (or per batch and head, or one for all)
// Both span masks expose their intervals (keys / key_pair), so the engine masks them lane-wise;
// all three know the keys of a tile any row sees (span), so partial tiles compute only those.
#include <algorithm>
#include <utility>
#include <vector>

#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/mask/interval.hpp"

namespace attune {

/// Keys first ≤ j ≤ last are visible to every query.
class key_span_mask : public interval_mask<key_span_mask> {
public:
    key_span_mask() noexcept : first_(0), last_(-1) {}  ///< nothing visible
    /// Keys [first, last] visible (first ≥ 0; last < first: none).
    key_span_mask(index_t first, index_t last) : first_(first), last_(last) {
        detail::require(first >= 0, "key_span_mask: first (", first, ") must be ≥ 0");
    }
    key_range keys_at(index_t) const noexcept { return {first_, last_}; }  ///< [first, last] for every row

private:
    index_t first_, last_;
};

/// Keys j < first or j > last are visible to every query (the complement of key_span_mask).
class outside_key_span_mask {
public:
    using policy_kind = mask_kind;
    static constexpr bool is_none = false;
    using hooks = provides<hook::classify, hook::key_pair, hook::span>;

    outside_key_span_mask() noexcept : first_(0), last_(-1) {}  ///< an empty span: every key visible
    /// Every key outside [first, last] visible (first ≥ 0).
    outside_key_span_mask(index_t first, index_t last) : first_(first), last_(last) {
        detail::require(first >= 0, "outside_key_span_mask: first (", first, ") must be ≥ 0");
    }

    /// Whether k_pos lies outside [first, last].
    bool visible(const index_context& c) const noexcept { return c.k_pos < first_ || c.k_pos > last_; }
    /// The keys before and after the span.
    key_range_pair key_pair(const index_context&) const noexcept {
        if (last_ < first_) return {{0, unbounded}, {1, 0}};
        return {{0, first_ - 1}, {detail::sat_add(last_, 1), unbounded}};
    }
    /// Full outside the span, empty inside it, partial across its edges.
    tile_class classify(const tile_context& t) const noexcept {
        if (last_ < first_ || t.k_last < first_ || t.k_first > last_) return tile_class::full;
        if (first_ <= t.k_first && t.k_last <= last_) return tile_class::empty;
        return tile_class::partial;
    }
    /// The tile's keys outside the span (their hull).
    key_range span(const tile_context& t) const noexcept {
        const key_range inside{detail::max_of(first_, t.k_first), detail::min_of(last_, t.k_last)};
        if (detail::is_empty(inside)) return {t.k_first, t.k_last};
        // The tile minus the span: its left part, its right part, or their hull.
        const key_range left{t.k_first, inside.first - 1}, right{inside.last + 1, t.k_last};
        return detail::hull(left, right);
    }

private:
    index_t first_, last_;
};

/// A list of visible keys per query head (or per batch and query head, or one for all).
class key_set_mask {
public:
    using policy_kind = mask_kind;
    static constexpr bool is_none = false;
    using hooks = provides<hook::classify, hook::span, hook::validate>;

    key_set_mask() = default;  ///< nothing visible
    /// One list of key positions per query head (any order; duplicates ignored), or with q_heads > 0
    /// one per (batch, query head): list b·q_heads + h.
    explicit key_set_mask(std::vector<std::vector<index_t>> lists, index_t q_heads = 0) : keys_(std::move(lists)), heads_(q_heads) {
        detail::require(q_heads >= 0, "key_set_mask: q_heads must be ≥ 0, got ", q_heads);
        for (auto& k : keys_) tidy(k);
    }
    /// The same keys for every query head.
    static key_set_mask shared(std::vector<index_t> keys) {
        key_set_mask m;
        m.keys_.push_back(std::move(keys));
        tidy(m.keys_.back());
        m.shared_ = true;
        return m;
    }

    /// The sorted keys visible to (batch, q_head).
    const std::vector<index_t>& keys_of(index_t batch, index_t q_head) const {
        if (shared_) return keys_[0];
        return keys_[static_cast<std::size_t>(heads_ > 0 ? batch * heads_ + q_head : q_head)];
    }

    /// Whether k_pos is in the row's list.
    bool visible(const index_context& c) const {
        const auto& k = keys_of(c.batch, c.q_head);
        return std::binary_search(k.begin(), k.end(), c.k_pos);
    }
    /// Empty when no listed key falls in the tile, partial otherwise.
    tile_class classify(const tile_context& t) const { return detail::is_empty(span(t)) ? tile_class::empty : tile_class::partial; }
    /// The hull of the tile's keys in the lists of the tile's heads.
    key_range span(const tile_context& t) const {
        key_range r{1, 0};
        const index_t per_batch = shared_ ? 1 : heads_ > 0 ? heads_ : static_cast<index_t>(keys_.size());
        const index_t h_last = shared_ ? 0 : detail::min_of(t.q_head_last, per_batch - 1);
        for (index_t h = shared_ ? 0 : t.q_head_first; h <= h_last; ++h) {
            const auto& k = keys_of(t.batch, h);
            const auto lo = std::lower_bound(k.begin(), k.end(), t.k_first);
            const auto hi = std::upper_bound(lo, k.end(), t.k_last);
            if (lo != hi) r = detail::hull(r, key_range{*lo, *(hi - 1)});
        }
        return r;
    }

    /// Throws attune::error unless there is one list per query head (or per batch and head).
    template <class Shape>
    void validate(const Shape& p) const {
        if (shared_) return;
        if (heads_ > 0) {
            detail::require(heads_ == p.q_heads && static_cast<index_t>(keys_.size()) == p.batch * p.q_heads,
                            "key_set_mask: ", keys_.size(), " key lists for ", heads_, " heads per batch; the call has batch ", p.batch,
                            " and ", p.q_heads, " query heads");
        } else {
            detail::require(static_cast<index_t>(keys_.size()) == p.q_heads, "key_set_mask: ", keys_.size(), " key lists for ", p.q_heads,
                            " query heads (one per query head, or key_set_mask::shared)");
        }
    }

private:
    static void tidy(std::vector<index_t>& k) {
        std::sort(k.begin(), k.end());
        k.erase(std::unique(k.begin(), k.end()), k.end());
        detail::require(k.empty() || k.front() >= 0, "key_set_mask: key positions must be ≥ 0, got ", k.empty() ? 0 : k.front());
    }
    std::vector<std::vector<index_t>> keys_;
    index_t heads_ = 0;
    bool shared_ = false;
};

}  // namespace attune
