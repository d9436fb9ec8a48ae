#pragma once
// Static per-head gates: head h's output is multiplied by gates[h]; a gate of 0 prunes
// the head (PH3: its rows are not computed, output zeros), α on chosen heads is VHR's
// amplification. `pruned(H, heads)` and `scaled(H, heads, α)` build the two common tables.
// One gate per query head of the call, each finite (any sign): attune::error naming gates otherwise.
#include <cmath>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/policy.hpp"
#include "attune/router/router.hpp"

namespace attune {

/// Static per-head gates: query head h's output is multiplied by gates[h]; 0 prunes the head.
struct head_gates {
    using policy_kind = router_kind;
    using hooks = provides<hook::validate>;
    static constexpr bool is_none = false;
    std::vector<float> gates;  ///< one per query head

    /// No gates (valid only for a call with no query heads).
    head_gates() = default;
    /// One finite gate per query head of the call.
    explicit head_gates(std::vector<float> g) : gates(std::move(g)) { check_values(); }

    /// Gates 1 for `q_heads` query heads except the listed `heads`, pruned (gate 0).
    static head_gates pruned(index_t q_heads, const std::vector<index_t>& heads) { return with(q_heads, heads, 0.0f); }
    /// Gates 1 for `q_heads` query heads except the listed `heads`, scaled by `alpha` (VHR: 2).
    static head_gates scaled(index_t q_heads, const std::vector<index_t>& heads, float alpha) { return with(q_heads, heads, alpha); }

    /// The gate of the row's query head.
    float gate(const row_context& row) const noexcept { return gates[static_cast<std::size_t>(row.q_head)]; }

    /// Throws attune::error unless there is one finite gate per query head.
    template <class Shape>
    void validate(const Shape& p) const {
        detail::require(static_cast<index_t>(gates.size()) == p.q_heads, "head_gates: ", gates.size(), " gates for ", p.q_heads,
                        " query heads");
        check_values();
    }

private:
    void check_values() const {
        for (std::size_t h = 0; h < gates.size(); ++h)
            detail::require(std::isfinite(gates[h]), "head_gates: gates[", h, "] must be finite, got ", gates[h]);
    }
    static head_gates with(index_t q_heads, const std::vector<index_t>& heads, float value) {
        detail::require(q_heads > 0, "head_gates: q_heads must be > 0, got ", q_heads);
        detail::require(std::isfinite(value), "head_gates: alpha must be finite, got ", value);
        std::vector<float> g;
        detail::checked_assign(g, q_heads, 1.0f, "head_gates: q_heads");
        for (index_t h : heads) {
            detail::require(h >= 0 && h < q_heads, "head_gates: head ", h, " is outside [0, ", q_heads, ")");
            g[static_cast<std::size_t>(h)] = value;
        }
        return head_gates(std::move(g));
    }
};

}  // namespace attune
