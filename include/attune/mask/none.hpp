#pragma once
// No mask: every key is visible to every query.
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"

namespace attune {

/// No mask: every key is visible to every query (the default of variant).
struct no_mask {
    using policy_kind = mask_kind;
    static constexpr bool is_none = true;
    using hooks = provides<hook::classify>;
    constexpr tile_class classify(const tile_context&) const noexcept { return tile_class::full; }  ///< always full
    constexpr bool visible(const index_context&) const noexcept { return true; }                    ///< always true
};

}  // namespace attune
