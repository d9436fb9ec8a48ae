#pragma once
// DuoAttention (Xiao et al., "DuoAttention: Efficient Long-Context LLM Inference with Retrieval and
// Streaming Heads", 2024): every kv head is a retrieval head (full causal attention over the
// whole cache) or a streaming head (the first `sinks` tokens plus the `recent` newest, the query
// included: sinks_window(sinks, recent)); deployment defaults S = 64, R = 256. duo_heads is the mask
// of that choice: classify() answers per kv head, so a streaming head's tiles between its sinks and
// its window are skipped and cost nothing. Heads are classified from per-head gate values α ∈ [0, 1]
// (learned by DuoAttention's optimisation) by a threshold (α < τ → streaming) or by a sparsity
// quantile (the fraction `sparsity` of heads with the lowest α stream; ties: lower index first).
// α and τ must be finite (a NaN would silently classify, or break the sort's ordering). A mask
// built from a list of heads must get one class per kv head of the call; the default streams none.
// The memory saving needs a cache that stores only S + R tokens for streaming heads (attune/cache).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/mask/causal.hpp"
#include "attune/mask/sinks_window.hpp"

namespace attune {

/// DuoAttention's mask: causal for retrieval kv heads, sinks + window for streaming kv heads.
class duo_heads {
public:
    using policy_kind = mask_kind;
    static constexpr bool is_none = false;
    using hooks = provides<hook::classify, hook::key_pair, hook::span, hook::validate>;

    duo_heads() = default;  ///< no head streams: plain causal
    /// kv head h streams iff `streaming_kv_heads[h]` (one entry per kv head of the call), attending
    /// to its first `sinks` tokens and the `recent` newest (DuoAttention's defaults 64 and 256).
    explicit duo_heads(std::vector<bool> streaming_kv_heads, index_t sinks = 64, index_t recent = 256)
        : streaming_(std::move(streaming_kv_heads)), window_(sinks, recent), chosen_(true) {}

    /// Streaming heads by threshold: head h streams iff alpha[h] < threshold (all finite).
    static std::vector<bool> by_threshold(const std::vector<float>& alpha, float threshold) {
        detail::require(std::isfinite(threshold), "duo_heads::by_threshold: threshold must be finite, got ", threshold);
        require_finite(alpha, "duo_heads::by_threshold: alpha");
        std::vector<bool> s(alpha.size());
        for (std::size_t h = 0; h < alpha.size(); ++h) s[h] = alpha[h] < threshold;
        return s;
    }
    /// Streaming heads by quantile: the fraction `sparsity` of heads with the lowest alpha stream
    /// (ties: lower index first).
    static std::vector<bool> by_sparsity(const std::vector<float>& alpha, double sparsity = 0.5) {
        detail::require(sparsity >= 0.0 && sparsity <= 1.0, "duo_heads: sparsity must be in [0, 1], got ", sparsity);
        require_finite(alpha, "duo_heads::by_sparsity: alpha");
        std::vector<std::size_t> order(alpha.size());
        std::iota(order.begin(), order.end(), std::size_t(0));
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return alpha[a] < alpha[b]; });
        std::vector<bool> s(alpha.size(), false);
        const auto n = static_cast<std::size_t>(sparsity * static_cast<double>(alpha.size()) + 0.5);
        for (std::size_t i = 0; i < n; ++i) s[order[i]] = true;
        return s;
    }

    /// Whether kv head `kv_head` streams.
    bool streaming(index_t kv_head) const noexcept {
        return kv_head < static_cast<index_t>(streaming_.size()) && streaming_[static_cast<std::size_t>(kv_head)];
    }
    const sinks_window& window() const noexcept { return window_; }  ///< the streaming heads' mask

    /// The streaming heads' sinks + window rule or the retrieval heads' causal rule.
    bool visible(const index_context& c) const noexcept { return streaming(c.kv_head) ? window_.visible(c) : causal{}.visible(c); }
    /// The tile's class under its kv head's rule.
    tile_class classify(const tile_context& t) const noexcept { return streaming(t.kv_head) ? window_.classify(t) : causal{}.classify(t); }
    /// The row's visible keys as two intervals (the second empty for a retrieval head).
    key_range_pair key_pair(const index_context& row) const noexcept {
        if (streaming(row.kv_head)) return window_.key_pair(row);
        return {causal{}.keys(row), key_range{0, -1}};
    }
    /// The keys of a tile some row may see.
    key_range span(const tile_context& t) const noexcept {
        if (streaming(t.kv_head)) return window_.span(t);
        return {t.k_first, t.k_last < t.q_last ? t.k_last : t.q_last};
    }

    /// Throws attune::error unless a mask built from a list has one class per kv head.
    template <class Shape>
    void validate(const Shape& p) const {
        if (!chosen_) return;  // default: no head streams, plain causal at any head count
        detail::require(static_cast<index_t>(streaming_.size()) == p.kv_heads, "duo_heads: ", streaming_.size(), " head classes for ",
                        p.kv_heads, " kv heads");
    }

private:
    static void require_finite(const std::vector<float>& alpha, const char* what) {
        for (std::size_t h = 0; h < alpha.size(); ++h)
            detail::require(std::isfinite(alpha[h]), what, "[", h, "] must be finite, got ", alpha[h]);
    }
    std::vector<bool> streaming_;
    sinks_window window_;
    bool chosen_ = false;
};

}  // namespace attune
