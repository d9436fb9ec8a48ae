#pragma once
#include "attune/core/types.hpp"

namespace attune {

/// Runs every item on the calling thread, in order.
struct serial_executor {
    index_t workers() const noexcept { return 1; }  ///< always 1
    /// Calls f(0), f(1), …, f(n − 1) in order.
    template <class F>
    void parallel_for(index_t n, F&& f) const {
        for (index_t i = 0; i < n; ++i) f(i);
    }
};

}  // namespace attune
