#pragma once
// The default router: every row active, gate 1 (the engine then skips the routing work entirely).
#include "attune/core/policy.hpp"
#include "attune/router/router.hpp"

namespace attune {

/// The default router: every row runs, gate 1.
struct all_heads {
    using policy_kind = router_kind;
    static constexpr bool is_none = true;
    using hooks = provides<>;
    constexpr float gate(const row_context&) const noexcept { return 1.0f; }  ///< always 1
};

}  // namespace attune
