#pragma once
// Shifted-group masks: LongLoRA's S²-Attn without wrap-around (Chen et al., "LongLoRA", 2023), and
// SinkLoRA's SF with global sink tokens (Zhang, "SinkLoRA", 2024).
//
//   attune::shifted_groups(group, heads)            LongLoRA S2: G = group, heads = the query heads
//   attune::shifted_groups(group, heads, sinks)     SinkLoRA SF: + the first `sinks` tokens for all
//   attune::shifted_groups::longlora(L, heads)      G = L / 4;  sinklora(L, heads, sinks = 4) likewise
//
// Query head h < heads/2 (floor) sees the keys of its group [⌊p/G⌋·G, p] (causal inside the group);
// head h ≥ heads/2 sees its shifted segment: [0, G/2), [G/2, G/2 + G), … (G/2 = ⌊G/2⌋), no
// wrap-around (the first segment is the half group [0, G/2)); both causal. With sinks S, keys
// j < S with j ≤ p are visible to every head as well. Positions are absolute, bottom-right aligned
// (p = Lk − Lq + i), like every mask.
//
// The rule differs per query head: visible() reads index_context::q_head and classify() the tile's
// query heads [q_head_first, q_head_last]; a tile whose heads straddle heads/2 (a GQA group across
// the middle) is the union of both halves' classes (empty only if both are, full only if both are).
// Each row's keys are two intervals (sinks, segment): key_pair(), masked lane-wise by the engine.
#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/mask/interval.hpp"

namespace attune {

/// Shifted-group mask: the first half of the query heads attend causally within groups of G
/// tokens, the second half within groups shifted by G/2; optional global sinks.
class shifted_groups {
public:
    using policy_kind = mask_kind;
    static constexpr bool is_none = false;
    using hooks = provides<hook::classify, hook::key_pair, hook::validate>;

    /// Default: one unbounded group, which is causal (variant<> keeps a default-constructed copy).
    shifted_groups() noexcept : group_(unbounded), heads_(1), sinks_(0) {}
    /// Groups of `group` tokens for `heads` query heads (the call's), plus the first `sinks` tokens
    /// visible to every head.
    shifted_groups(index_t group, index_t heads, index_t sinks = 0) : group_(group), heads_(heads), sinks_(sinks) {
        detail::require(group >= 1, "shifted_groups: group size (", group, ") must be ≥ 1");
        detail::require(heads >= 1, "shifted_groups: heads (", heads, ") must be ≥ 1");
        detail::require(sinks >= 0, "shifted_groups: sinks (", sinks, ") must be ≥ 0");
    }
    /// LongLoRA's S²-Attn for sequences of `length` tokens: G = length / 4, no sinks.
    static shifted_groups longlora(index_t length, index_t heads) { return {length / 4 > 0 ? length / 4 : 1, heads, 0}; }
    /// SinkLoRA's SF: G = length / 4 and `sinks` global tokens (4 by convention).
    static shifted_groups sinklora(index_t length, index_t heads, index_t sinks = 4) {
        return {length / 4 > 0 ? length / 4 : 1, heads, sinks};
    }

    index_t group() const noexcept { return group_; }                                ///< G
    index_t heads() const noexcept { return heads_; }                                ///< query heads
    index_t sinks() const noexcept { return sinks_; }                                ///< global sink tokens
    bool is_shifted(index_t q_head) const noexcept { return q_head >= heads_ / 2; }  ///< whether the head's groups are shifted

    /// First key of the (shifted) group holding position p.
    index_t segment_start(index_t p, bool shifted) const noexcept {
        if (p < 0) return 0;
        if (group_ == unbounded) return 0;
        if (!shifted) return p / group_ * group_;
        const index_t half = group_ / 2;
        return p < half ? 0 : half + (p - half) / group_ * group_;
    }
    /// The sinks row p sees.
    key_range sink_keys(index_t p) const noexcept { return {0, detail::min_of(sinks_ - 1, p)}; }
    /// The keys of row p's (shifted) group up to p.
    key_range group_keys(index_t p, bool shifted) const noexcept { return {segment_start(p, shifted), p}; }

    /// The row's sinks and group keys.
    key_range_pair key_pair(const index_context& c) const noexcept {
        return {sink_keys(c.q_pos), group_keys(c.q_pos, is_shifted(c.q_head))};
    }
    /// Whether the key is a visible sink or in the row's group.
    bool visible(const index_context& c) const noexcept {
        return detail::contains(sink_keys(c.q_pos), c.k_pos) || detail::contains(group_keys(c.q_pos, is_shifted(c.q_head)), c.k_pos);
    }
    /// The tile's class over its query heads (the union of both halves' when it straddles them).
    tile_class classify(const tile_context& t) const noexcept {
        const index_t first = detail::max_of(t.q_head_first, 0), last = detail::min_of(t.q_head_last, heads_ - 1);
        const bool plain = first < heads_ / 2, shifted = last >= heads_ / 2;
        if (plain && shifted) {
            const tile_class a = classify_half(t, false), b = classify_half(t, true);
            return a == b ? a : tile_class::partial;
        }
        return classify_half(t, shifted);
    }

    /// The mask is built for a number of query heads: it must be the call's.
    template <class Shape>
    void validate(const Shape& s) const {
        if (group_ == unbounded) return;  // one group: causal for every head, whatever their number
        detail::require(s.q_heads == heads_, "shifted_groups: built for ", heads_, " query heads, but q has ", s.q_heads);
    }

private:
    tile_class classify_half(const tile_context& t, bool shifted) const noexcept {
        const tile_class g = detail::classify_monotone(t, [&](index_t p) { return group_keys(p, shifted); });
        if (sinks_ == 0) return g;
        return detail::or_classes(g, detail::classify_monotone(t, [&](index_t p) { return sink_keys(p); }));
    }

    index_t group_, heads_, sinks_;
};

}  // namespace attune
