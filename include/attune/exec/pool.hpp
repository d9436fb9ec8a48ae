#pragma once
#include <functional>

#include "attune/core/error.hpp"
#include "attune/core/types.hpp"

namespace attune {

/// Adapts a user's thread pool: give the number of workers and a function that runs
/// body(i) exactly once for every i in [0, n) and returns when all are done. The library checks
/// that contract (exec/region.hpp): an index out of range, an item run twice or never is an
/// attune::error after the call, and an exception from body(i) reaches the caller of attune.
class pool_executor {
public:
    using body_type = std::function<void(index_t)>;                          ///< one item's work
    using run_type = std::function<void(index_t n, const body_type& body)>;  ///< runs body(i) for i in [0, n)
    /// An executor of `workers` workers (≥ 1) whose parallel_for calls `run`.
    pool_executor(index_t workers, run_type run) : workers_(workers), run_(std::move(run)) {
        detail::require(workers_ >= 1, "pool_executor: workers must be ≥ 1, got ", workers_);
        detail::require(static_cast<bool>(run_), "pool_executor: run is an empty function");
    }
    index_t workers() const noexcept { return workers_; }  ///< how many items may run at once
    /// Calls f(i) for every i in [0, n) through the user's `run`.
    template <class F>
    void parallel_for(index_t n, F&& f) const {
        run_(n, body_type(std::ref(f)));
    }

private:
    index_t workers_;
    run_type run_;
};

}  // namespace attune
