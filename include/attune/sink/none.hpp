#pragma once
// No sink: a row starts from the empty state (−inf, 0, 0).
#include "attune/core/policy.hpp"
#include "attune/sink/sink.hpp"

namespace attune {

/// No sink: a row starts from the empty state (the default of variant).
struct no_sink {
    using policy_kind = sink_kind;
    static constexpr bool is_none = true;
    using hooks = provides<>;
    /// Leaves the empty state as it is.
    template <class T>
    void start(const basic_sink_row<T>&, T&, T&, T*) const noexcept {}
};

}  // namespace attune
