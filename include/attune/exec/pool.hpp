#pragma once
#include <functional>

#include "attune/core/error.hpp"
#include "attune/core/types.hpp"

namespace attune {

// Adapts a user's thread pool: give the number of workers and a function that runs
// body(i) exactly once for every i in [0, n) and returns when all are done. The library checks
// that contract (exec/region.hpp): an index out of range, an item run twice or never is an
// attune::error after the call, and an exception from body(i) reaches the caller of attune.
class pool_executor {
public:
    using body_type = std::function<void(index_t)>;
    using run_type = std::function<void(index_t n, const body_type& body)>;
    pool_executor(index_t workers, run_type run) : workers_(workers), run_(std::move(run)) {
        detail::require(workers_ >= 1, "pool_executor: workers must be ≥ 1, got ", workers_);
        detail::require(static_cast<bool>(run_), "pool_executor: run is an empty function");
    }
    index_t workers() const noexcept { return workers_; }
    template <class F>
    void parallel_for(index_t n, F&& f) const {
        run_(n, body_type(std::ref(f)));
    }

private:
    index_t workers_;
    run_type run_;
};

}  // namespace attune
