#pragma once
// Causal mask, bottom-right aligned (as FlashAttention; PyTorch's is_causal is top-left): query
// position p sees key j iff j ≤ p,
// with p = Lk − Lq + i. Decode (Lq = 1) sees the whole cache; chunked prefill sees the past chunks.
// The element rule and the tile rule are written once, here, from the same inequality.
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"

namespace attune {

/// Causal mask, bottom-right aligned: query i of Lq (position p = Lk − Lq + i) sees key j iff j ≤ p.
struct causal {
    using policy_kind = mask_kind;
    static constexpr bool is_none = false;
    using hooks = provides<hook::classify, hook::keys>;
    /// Whether key c.k_pos is visible: k_pos ≤ q_pos.
    constexpr bool visible(const index_context& c) const noexcept { return c.k_pos <= c.q_pos; }
    /// The visible keys of a row form one interval, so the engine masks partial tiles with two
    /// vector compares instead of a call per element.
    constexpr key_range keys(const index_context& row) const noexcept { return {0, row.q_pos}; }
    /// Empty when every key follows every query, full when every key is at or before every query.
    constexpr tile_class classify(const tile_context& t) const noexcept {
        if (t.k_first > t.q_last) return tile_class::empty;  // every key is after every query
        if (t.k_last <= t.q_first) return tile_class::full;  // every key is at or before every query
        return tile_class::partial;
    }
};

}  // namespace attune
