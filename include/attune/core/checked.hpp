#pragma once
// Size arithmetic that cannot wrap. Every product or sum of user-given sizes (view shapes, cache
// capacities, table lengths, index values) goes through these, so a size that does not fit in
// index_t is an attune::error naming the argument instead of a small wrapped number that passes
// validation and then indexes past a buffer.
#include <cstddef>
#include <limits>
#include <new>
#include <stdexcept>
#include <vector>

#include "attune/core/error.hpp"
#include "attune/core/types.hpp"

namespace attune::detail {

inline constexpr index_t index_max = std::numeric_limits<index_t>::max();

/// a · b, or attune::error naming `what` when the product leaves index_t.
inline index_t checked_mul(index_t a, index_t b, const char* what) {
    index_t r = 0;
    if (__builtin_mul_overflow(a, b, &r)) fail(what, ": size overflows (", a, " × ", b, ")");
    return r;
}

/// a + b, or attune::error naming `what` when the sum leaves index_t.
inline index_t checked_add(index_t a, index_t b, const char* what) {
    index_t r = 0;
    if (__builtin_add_overflow(a, b, &r)) fail(what, ": size overflows (", a, " + ", b, ")");
    return r;
}

/// The product of non-negative sizes, checked; attune::error naming `what` on overflow.
template <class... I>
inline index_t checked_product(const char* what, I... dims) {
    index_t r = 1;
    ((r = checked_mul(r, static_cast<index_t>(dims), what)), ...);
    return r;
}

/// `n` elements of T as a byte count that fits size_t and a vector's max_size.
template <class T>
inline std::size_t checked_count(index_t n, const char* what) {
    require(n >= 0, what, ": negative size (", n, ")");
    const auto limit = std::vector<T>().max_size();
    require(static_cast<std::size_t>(n) <= limit, what, ": ", n, " elements cannot be allocated");
    return static_cast<std::size_t>(n);
}

/// Runs `grow` (an allocation of n elements) so that a size the allocator refuses is an
/// attune::error naming `what`, not std::bad_alloc / std::length_error escaping a library call.
template <class F>
inline void allocating(index_t n, const char* what, F&& grow) {
    try {
        grow();
    } catch (const std::bad_alloc&) {
        fail(what, ": cannot allocate ", n, " elements");
    } catch (const std::length_error&) {
        fail(what, ": cannot allocate ", n, " elements");
    }
}

/// v.assign(n, value), v.resize(n) and v.reserve(n) with the checks above.
template <class T, class A>
inline void checked_assign(std::vector<T, A>& v, index_t n, const T& value, const char* what) {
    const std::size_t count = checked_count<T>(n, what);
    allocating(n, what, [&] { v.assign(count, value); });
}
template <class T, class A>
inline void checked_resize(std::vector<T, A>& v, index_t n, const char* what) {
    const std::size_t count = checked_count<T>(n, what);
    allocating(n, what, [&] { v.resize(count); });
}
template <class T, class A>
inline void checked_reserve(std::vector<T, A>& v, index_t n, const char* what) {
    const std::size_t count = checked_count<T>(n, what);
    allocating(n, what, [&] { v.reserve(count); });
}

}  // namespace attune::detail
