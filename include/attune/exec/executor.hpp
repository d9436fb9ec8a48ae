#pragma once
// Executors run independent work items. The whole concept is two members:
//   index_t workers() const;                        how many items may run at once
//   template <class F> void parallel_for(index_t n, F&& f) const;   calls f(i) for i in [0, n)
// Items never share output memory, so any order and any thread assignment is correct.
#include <functional>

#include "attune/core/types.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace attune {

// Runs every item on the calling thread, in order.
struct serial_executor {
    index_t workers() const noexcept { return 1; }
    template <class F>
    void parallel_for(index_t n, F&& f) const {
        for (index_t i = 0; i < n; ++i) f(i);
    }
};

#if defined(_OPENMP)
// OpenMP with `threads` threads (0: OpenMP's default). Dynamic scheduling, because causal items
// differ in cost.
struct openmp_executor {
    int threads = 0;
    openmp_executor() = default;
    explicit openmp_executor(int n) : threads(n) {}
    index_t workers() const noexcept { return threads > 0 ? threads : omp_get_max_threads(); }
    template <class F>
    void parallel_for(index_t n, F&& f) const {
        const int t = static_cast<int>(workers() < n ? workers() : n);
        if (t <= 1) {
            for (index_t i = 0; i < n; ++i) f(i);
            return;
        }
#pragma omp parallel for schedule(dynamic, 1) num_threads(t)
        for (index_t i = 0; i < n; ++i) f(i);
    }
};
using default_executor = openmp_executor;
#else
using default_executor = serial_executor;
#endif

// Adapts a user's thread pool: give the number of workers and a function that runs
// body(i) for every i in [0, n) and returns when all are done.
class pool_executor {
public:
    using body_type = std::function<void(index_t)>;
    using run_type = std::function<void(index_t n, const body_type& body)>;
    pool_executor(index_t workers, run_type run) : workers_(workers), run_(std::move(run)) {}
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
