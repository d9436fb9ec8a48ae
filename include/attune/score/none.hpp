#pragma once
// No score modifier: s' = s.
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"

namespace attune {

/// No score modifier: s' = s (the default of variant).
struct no_score {
    using policy_kind = score_kind;
    static constexpr bool is_none = true;
    using hooks = provides<>;
    /// Returns s unchanged.
    template <class T>
    constexpr T operator()(T s, const index_context&) const noexcept {
        return s;
    }
};

}  // namespace attune
