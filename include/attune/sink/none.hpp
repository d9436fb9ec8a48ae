#pragma once
// No sink: a row starts from the empty state (−inf, 0, 0).
#include "attune/core/policy.hpp"

namespace attune {

struct no_sink {
    using policy_kind = sink_kind;
    static constexpr bool is_none = true;
};

}  // namespace attune
