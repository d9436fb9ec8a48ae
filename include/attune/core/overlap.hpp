#pragma once
// One definition of overlap for every entry point with an output: two views overlap when they
// share an element (a byte of memory), computed from their strides — not when their address
// ranges merely interleave. So an output interleaved with q in one fused [L, 3, H, D] buffer is
// accepted, and an output whose own rows share memory (a head stride of 0, a token stride smaller
// than the row) is rejected: its rows would be written by two threads.
//
// Cost: O(1) in the usual cases (disjoint address ranges; strides nested so that no two rows meet);
// otherwise the rows' byte ranges are listed and sorted, O(R log R) for R rows.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <utility>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/view.hpp"

namespace attune::detail {

struct byte_range {
    std::uintptr_t lo, hi;  // [lo, hi)
    bool operator<(const byte_range& o) const noexcept { return lo < o.lo; }
};

// The byte range a view's address range covers, or an empty one.
template <class T>
inline byte_range bounds_of(const tensor_view<T>& v) noexcept {
    const auto e = v.extent();
    if (e.first == nullptr) return {0, 0};
    return {reinterpret_cast<std::uintptr_t>(e.first), reinterpret_cast<std::uintptr_t>(e.second)};
}

// Whether the view's rows are nested so that no two can meet: with the dims sorted by |stride|,
// each stride is at least the span of everything inside it (the row itself innermost).
template <class T>
inline bool rows_provably_disjoint(const tensor_view<T>& v) noexcept {
    std::array<std::pair<index_t, index_t>, 3> dims{};  // (|stride|, shape) of dims with shape > 1
    int n = 0;
    for (int i = 0; i < 3; ++i)
        if (v.shape()[i] > 1) dims[n++] = {std::abs(v.strides()[i]), v.shape()[i]};
    for (int i = 1; i < n; ++i)  // insertion sort of at most 3 (std::sort trips GCC 12's -Warray-bounds)
        for (int j = i; j > 0 && dims[j] < dims[j - 1]; --j) std::swap(dims[j], dims[j - 1]);
    index_t span = v.dim();  // elements covered by everything inside the current dim
    for (int i = 0; i < n; ++i) {
        if (dims[i].first < span) return false;
        span = dims[i].first * (dims[i].second - 1) + span;  // fits: extent() checked it at construction
    }
    return true;
}

// Byte ranges of the view's distinct rows, sorted by start. An axis of stride 0 repeats the same
// rows, so it is walked once: a broadcast input (K shared by every batch) lists only its own rows.
// The list is allocated through the checked helpers: a size the allocator refuses is an
// attune::error naming `name`, not std::bad_alloc.
template <class T>
inline std::vector<byte_range> sorted_rows(const tensor_view<T>& v, const char* name) {
    std::array<index_t, 3> n{};
    for (int i = 0; i < 3; ++i) n[i] = v.strides()[i] == 0 ? 1 : v.shape()[i];
    std::vector<byte_range> rows;
    checked_reserve(rows, checked_product(name, n[0], n[1], n[2]), name);
    const std::uintptr_t row_bytes = static_cast<std::uintptr_t>(v.dim()) * sizeof(T);
    for (index_t b = 0; b < n[0]; ++b)
        for (index_t h = 0; h < n[1]; ++h)
            for (index_t t = 0; t < n[2]; ++t) {
                const auto lo = reinterpret_cast<std::uintptr_t>(v.row(b, h, t));
                rows.push_back({lo, lo + row_bytes});
            }
    std::sort(rows.begin(), rows.end());
    return rows;
}

/// Whether the view writes some element twice (two of its rows share memory). O(1) when a
/// repeated axis (stride 0) or more elements than its address range holds prove it — an output
/// broadcast over 2^40 rows is rejected without listing them.
template <class T>
inline bool overlaps_itself(const tensor_view<T>& v, const char* name = "view") {
    if (v.size() == 0 || rows_provably_disjoint(v)) return false;
    for (int i = 0; i < 3; ++i)
        if (v.shape()[i] > 1 && v.strides()[i] == 0) return true;
    const auto e = v.extent();
    const auto span = static_cast<std::uintptr_t>(static_cast<const T*>(e.second) - static_cast<const T*>(e.first));
    if (static_cast<std::uintptr_t>(v.size()) > span) return true;  // pigeonhole
    const auto rows = sorted_rows(v, name);
    for (std::size_t i = 1; i < rows.size(); ++i)
        if (rows[i].lo < rows[i - 1].hi) return true;
    return false;
}

/// Whether two views share an element.
template <class A, class B>
inline bool shares_elements(const tensor_view<A>& a, const tensor_view<B>& b) {
    if (a.size() == 0 || b.size() == 0) return false;
    const byte_range ra = bounds_of(a), rb = bounds_of(b);
    if (ra.hi <= rb.lo || rb.hi <= ra.lo) return false;
    const auto rows_a = sorted_rows(a, "overlap check");
    const auto rows_b = sorted_rows(b, "overlap check");
    // Sweep both sorted lists: a row of one meets a row of the other iff some pair intersects;
    // keeping the furthest end reached so far on each side covers rows nested inside others.
    std::size_t i = 0, j = 0;
    std::uintptr_t reach_a = 0, reach_b = 0;
    while (i < rows_a.size() || j < rows_b.size()) {
        const bool take_a = j == rows_b.size() || (i < rows_a.size() && rows_a[i].lo <= rows_b[j].lo);
        if (take_a) {
            if (rows_a[i].lo < reach_b) return true;
            reach_a = std::max(reach_a, rows_a[i].hi);
            ++i;
        } else {
            if (rows_b[j].lo < reach_a) return true;
            reach_b = std::max(reach_b, rows_b[j].hi);
            ++j;
        }
    }
    return false;
}

/// An output view that may not share an element with itself or with any of `inputs`
/// ({view, name} pairs); attune::error naming both otherwise.
template <class O, class... In>
inline void require_disjoint_output(const tensor_view<O>& out, const char* out_name,
                                    const std::pair<tensor_view<In>, const char*>&... inputs) {
    require(!overlaps_itself(out, out_name), out_name, " overlaps itself: two of its rows share memory (check its strides)");
    (require(!shares_elements(out, inputs.first), out_name, " overlaps ", inputs.second,
             ": outputs may not share memory with inputs or other outputs"),
     ...);
}

/// {view, name}: an argument of require_disjoint_output.
template <class T>
inline std::pair<tensor_view<T>, const char*> named(const tensor_view<T>& v, const char* name) {
    return {v, name};
}

}  // namespace attune::detail
