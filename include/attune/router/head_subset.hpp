#pragma once
// head_subset<R>: router R restricted to chosen query heads (the others are inactive: not computed,
// zeros, LSE −inf). The probe and calibration passes use it to run only on the heads they measure
// or calibrate, so the other heads cost nothing.
#include <tuple>
#include <utility>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/policy.hpp"
#include "attune/router/router.hpp"

namespace attune {

/// Router `Router` restricted to chosen query heads; the others are inactive (zeros, LSE −inf).
template <class Router>
struct head_subset {
    using policy_kind = router_kind;
    static constexpr bool is_none = false;
    using hooks = provides<hook::active_fraction, hook::validate>;
    using parts = std::tuple<Router>;  ///< the inner router, for the variant's checks
    Router inner;                      ///< the router of the chosen heads
    std::vector<unsigned char> on;     ///< per query head: 1 when chosen

    head_subset() = default;  ///< no heads
    /// Router `r` on the listed `heads` of `q_heads` query heads.
    head_subset(Router r, index_t q_heads, const std::vector<index_t>& heads) : inner(std::move(r)) {
        detail::require(q_heads >= 1, "head_subset: q_heads must be ≥ 1, got ", q_heads);
        detail::checked_assign(on, q_heads, static_cast<unsigned char>(0), "head_subset: q_heads");
        for (index_t h : heads) {
            detail::require(h >= 0 && h < q_heads, "head_subset: head ", h, " is outside [0, ", q_heads, ")");
            on[static_cast<std::size_t>(h)] = 1;
        }
    }

    /// The inner gate on chosen heads, 0 elsewhere.
    float gate(const row_context& row) const { return on[static_cast<std::size_t>(row.q_head)] ? inner.gate(row) : 0.0f; }
    /// The fraction of rows that run.
    double active_fraction() const {
        std::size_t n = 0;
        for (unsigned char x : on) n += x;
        return on.empty() ? 0.0 : detail::router_density(inner) * static_cast<double>(n) / static_cast<double>(on.size());
    }
    /// Throws attune::error unless built for the call's query heads; validates the inner router.
    template <class Shape>
    void validate(const Shape& p) const {
        detail::require(static_cast<index_t>(on.size()) == p.q_heads, "head_subset: built for ", on.size(), " query heads, the call has ",
                        p.q_heads);
        detail::validate_policy(inner, p);
    }
};

}  // namespace attune
