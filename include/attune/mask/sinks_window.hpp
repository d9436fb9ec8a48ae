#pragma once
// Sinks + window (StreamingLLM: Xiao et al., "Efficient Streaming Language Models with Attention
// Sinks", 2023; DuoAttention's streaming heads):
//
//     key j is visible to query position p  iff  j ≤ p  and  (j < sinks  or  p − j < window)
//
// i.e. the first `sinks` tokens (the attention sinks) plus the last `window` tokens up to and
// including the query itself (window W ⇔ sliding_window left = W − 1). sinks = 0 is a plain causal
// window; window = 0 leaves only the sinks; both may exceed the sequence. Positions are absolute
// and bottom-right aligned (p = Lk − Lq + i).
//
// The visible keys are two intervals, [0, min(sinks − 1, p)] and [p − window + 1, p]; visible() and
// classify() are both derived from them (classify is the union of the two monotone intervals'
// classes), so a tile between the sinks and the window is empty and skipped: the cost follows the
// visible keys, not L².
#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/mask/interval.hpp"

namespace attune {

/// Sinks + window: key j is visible to query position p iff j ≤ p and (j < sinks or p − j < window).
class sinks_window {
public:
    using policy_kind = mask_kind;
    static constexpr bool is_none = false;
    using hooks = provides<hook::classify, hook::key_pair, hook::span>;

    /// Default: no sinks, unbounded window, which is causal (variant<> keeps a default-constructed copy).
    sinks_window() noexcept : sinks_(0), window_(unbounded) {}
    /// The first `sinks` tokens plus the last `window` tokens up to and including the query (both ≥ 0).
    sinks_window(index_t sinks, index_t window) : sinks_(sinks), window_(window) {
        detail::require(sinks >= 0, "sinks_window: sinks (", sinks, ") must be ≥ 0");
        detail::require(window >= 0, "sinks_window: window (", window, ") must be ≥ 0 (tokens up to and including the query)");
    }

    index_t sinks() const noexcept { return sinks_; }    ///< sink tokens
    index_t window() const noexcept { return window_; }  ///< window length, the query included

    /// The sinks row p sees, [0, min(sinks − 1, p)].
    key_range sink_keys(index_t p) const noexcept { return {0, detail::min_of(sinks_ - 1, p)}; }
    /// Row p's window, [p − window + 1, p].
    key_range window_keys(index_t p) const noexcept { return {detail::max_of(detail::sat_add(detail::sat_sub(p, window_), 1), 0), p}; }

    /// Both parts at once: the engine masks partial tiles lane-wise with them.
    key_range_pair key_pair(const index_context& c) const noexcept { return {sink_keys(c.q_pos), window_keys(c.q_pos)}; }

    /// Whether the key is a visible sink or in the row's window.
    bool visible(const index_context& c) const noexcept {
        return detail::contains(sink_keys(c.q_pos), c.k_pos) || detail::contains(window_keys(c.q_pos), c.k_pos);
    }
    /// The union of the sinks' and the window's tile classes.
    tile_class classify(const tile_context& t) const noexcept {
        return detail::or_classes(detail::classify_monotone(t, [this](index_t p) { return sink_keys(p); }),
                                  detail::classify_monotone(t, [this](index_t p) { return window_keys(p); }));
    }

    /// The keys of tile t that any of its rows sees (the sinks' and the window's parts): on the
    /// tile holding the sinks, only keys [0, sinks) when the window is far (not yet used by the engine).
    key_range span(const tile_context& t) const noexcept {
        const key_range s = detail::span_monotone(t, [this](index_t p) { return sink_keys(p); });
        if (window_ == 0) return s;  // every window interval is empty
        return detail::hull(s, detail::span_monotone(t, [this](index_t p) { return window_keys(p); }));
    }

private:
    index_t sinks_;
    index_t window_;
};

}  // namespace attune
