#pragma once
// A grow-only, 64-byte aligned buffer: get(n) returns room for n elements, reallocating only when n
// exceeds every earlier request, so a loop of calls of one size allocates once. The kernels' scratch
// (kernel/scratch.hpp) and the policies' per-thread tables are these.
#include <cstddef>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/third_party.hpp"
#include "attune/core/types.hpp"

namespace attune::detail {

template <class T>
class grow_buffer {
public:
    // n elements; a size the allocator refuses is an attune::error, not std::bad_alloc.
    T* get(index_t n) {
        if (static_cast<std::size_t>(n) > data_.size()) checked_resize(data_, n, "attention workspace");
        return data_.data();
    }
    std::size_t bytes() const noexcept { return data_.capacity() * sizeof(T); }
    void release() noexcept { decltype(data_)().swap(data_); }

private:
    std::vector<T, xsimd::aligned_allocator<T, 64>> data_;
};

}  // namespace attune::detail
