#pragma once
// OpenMP threads: the default executor. attune::attune links OpenMP when CMake finds it; a build
// without OpenMP still compiles this executor and runs its items serially (workers() == 1).
#include "attune/core/types.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace attune {

/// Runs items on `threads` OpenMP threads (0: OpenMP's default), the default executor. Dynamic
/// scheduling, because causal items differ in cost and because a thread may run slower than the
/// others (a core shared with other work): decode's key splits are cut finer than the threads for
/// that (kernel/problem.hpp).
struct openmp_executor {
    int threads = 0;  ///< threads to use; 0: OpenMP's default (omp_get_max_threads())
    /// OpenMP's default number of threads.
    openmp_executor() = default;
    /// `n` threads (0: OpenMP's default).
    explicit openmp_executor(int n) : threads(n) {}
    /// How many items may run at once (1 in a build without OpenMP).
    index_t workers() const noexcept {
#if defined(_OPENMP)
        return threads > 0 ? threads : omp_get_max_threads();
#else
        return 1;
#endif
    }
    /// Calls f(i) for every i in [0, n). The team is always workers() threads (those without an
    /// item idle through the region), so consecutive regions and calls reuse one OpenMP team
    /// instead of resizing it, which decode at many threads depends on; measurements in
    /// bench/RESULTS.md.
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
};

/// The executor attune's entry points use when the caller gives none.
using default_executor = openmp_executor;

}  // namespace attune
