#pragma once
// Executors run independent work items. The whole concept is two members:
//   index_t workers() const;                                   how many items may run at once
//   template <class F> void parallel_for(index_t n, F&& f) const;   calls f(i) for i in [0, n)
// Items never share output memory, so any order and any thread assignment is correct. The library
// runs its regions through detail::parallel_for (exec/region.hpp), which rethrows an item's
// exception on the caller and checks that body(i) ran exactly once for every i.
// Built-ins: serial_executor, openmp_executor (= default_executor), pool_executor.
#include "attune/exec/openmp.hpp"
#include "attune/exec/pool.hpp"
#include "attune/exec/serial.hpp"
