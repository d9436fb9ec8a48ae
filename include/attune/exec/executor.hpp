#pragma once
// Executors run independent work items. The whole concept is two members:
//   index_t workers() const;                                   how many items may run at once
//   template <class F> void parallel_for(index_t n, F&& f) const;   calls f(i) for i in [0, n)
// Items never share output memory, so any order and any thread assignment is correct.
// Built-ins: serial_executor, openmp_executor (= default_executor with OpenMP), pool_executor.
#include "attune/exec/openmp.hpp"
#include "attune/exec/pool.hpp"
#include "attune/exec/serial.hpp"
