#pragma once
// OpenMP threads: the default executor. attune::attune links OpenMP when CMake finds it; a build
// without OpenMP still compiles this executor and runs its items serially (workers() == 1).
#include "attune/core/types.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace attune {

// Hint that every item costs the same (decode's key splits): an executor may then give each
// worker a fixed share, so repeated calls touch the same data from the same core.
struct uniform_work_t {};
inline constexpr uniform_work_t uniform_work{};

// `threads` threads (0: OpenMP's default). Dynamic scheduling, because causal items differ in cost.
struct openmp_executor {
    int threads = 0;
    openmp_executor() = default;
    explicit openmp_executor(int n) : threads(n) {}
    index_t workers() const noexcept {
#if defined(_OPENMP)
        return threads > 0 ? threads : omp_get_max_threads();
#else
        return 1;
#endif
    }
    // The team is always workers() threads (those without an item idle through the region), so
    // consecutive regions and calls reuse one OpenMP team instead of resizing it. With the
    // one-region split merge (kernel/driver.hpp), decode Lk 1024 at 16 threads on the Xeon went
    // from 0.55 to 0.043 ms (bench/RESULTS.md, run 4).
    template <class F>
    void parallel_for(index_t n, F&& f) const {
        const int t = static_cast<int>(workers());
        if (t <= 1 || n <= 1) {
            for (index_t i = 0; i < n; ++i) f(i);
            return;
        }
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 1) num_threads(t)
#endif
        for (index_t i = 0; i < n; ++i) f(i);
    }
    template <class F>
    void parallel_for(index_t n, F&& f, uniform_work_t) const {
        const int t = static_cast<int>(workers());
        if (t <= 1 || n <= 1) {
            for (index_t i = 0; i < n; ++i) f(i);
            return;
        }
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) num_threads(t)
#endif
        for (index_t i = 0; i < n; ++i) f(i);
    }
};

using default_executor = openmp_executor;

}  // namespace attune
