#pragma once
// Sliding-window (local) attention with FlashAttention's (left, right) convention:
//
//     key j is visible to query position p  iff  p − left ≤ j ≤ p + right
//
// with p the absolute, bottom-right aligned position of the query (p = Lk − Lq + i). Both sides
// count tokens *besides* the query's own position, so
//   - a causal window of W tokens including the query itself is left = W − 1, right = 0
//     (`causal_window_of(W)`); Mistral's "sliding_window = 4096" is left = 4095;
//   - causal is sliding_window{unbounded, 0}; sliding_window{0, 0} sees only the key at p.
// Other systems differ by one (some count W without the query: their W is our left). A window
// longer than the sequence is valid: every key in range is visible. Negative sides throw
// attune::error.
//
// The visible keys of a row form one interval, keys(row); visible() and classify() are derived from
// it, so the element rule and the tile rule are the same inequality.
#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/mask/interval.hpp"

namespace attune {

/// Sliding window with FlashAttention's (left, right) convention: key j is visible to query position
/// p iff p − left ≤ j ≤ p + right (a causal window of W tokens including the query is left = W − 1).
class sliding_window : public interval_mask<sliding_window> {
public:
    /// Default: {unbounded, 0}, which is causal (variant<> keeps a default-constructed copy).
    sliding_window() noexcept : left_(unbounded), right_(0) {}
    /// left, right ≥ 0 (attune::unbounded for no limit on a side).
    sliding_window(index_t left, index_t right) : left_(left), right_(right) {
        detail::require(left >= 0, "sliding_window: left (", left, ") must be ≥ 0 (a causal window of W tokens is left = W − 1)");
        detail::require(right >= 0, "sliding_window: right (", right, ") must be ≥ 0 (0 for causal)");
    }

    index_t left() const noexcept { return left_; }    ///< keys visible before the query's position
    index_t right() const noexcept { return right_; }  ///< keys visible after it (0 for causal)

    /// [p − left, p + right], clamped below at key 0 (never overflows for unbounded sides).
    key_range keys_at(index_t p) const noexcept { return {detail::max_of(detail::sat_sub(p, left_), 0), detail::sat_add(p, right_)}; }

private:
    index_t left_;
    index_t right_;
};

/// Causal sliding window seeing `left` tokens before the query and itself: sliding_window{left, 0}.
inline sliding_window causal_window(index_t left) { return sliding_window(left, 0); }

/// Causal window of W tokens *including the query itself* (W ≥ 1): left = W − 1.
inline sliding_window causal_window_of(index_t tokens) {
    detail::require(tokens >= 1, "causal_window_of: a window of ", tokens, " tokens must hold at least the query itself (≥ 1)");
    return sliding_window(tokens - 1, 0);
}

}  // namespace attune
