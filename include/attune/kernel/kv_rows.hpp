#pragma once
// How a stage reaches the rows of a K or V tile: row(n) of key n of the tile.
//   strided_rows  rows at one stride from the first (a dense view, a page, a converted copy)
//   pointer_rows  a table of row addresses (the rows of a paged cache, scattered over pages); the
//                 table holds the rows a decode kernel prefetches ahead of the tile as well
#include <cstdint>

#include "attune/core/buffer.hpp"
#include "attune/core/types.hpp"
#include "attune/kernel/problem.hpp"
#include "attune/simd/vec.hpp"

namespace attune::kernel {

template <class T>
struct strided_rows {
    const T* first;
    index_t stride;
    const T* row(index_t n) const noexcept { return first + n * stride; }
};

template <class T>
struct pointer_rows {
    const T* const* rows;
    const T* row(index_t n) const noexcept { return rows[n]; }
};

// The addresses of rows [n0, n0 + n) of a paged pool (row_at(page, slot), `stride` elements apart
// within a page), one page lookup per page; past the last key (lk), the last key again.
template <class T, class RowAt>
pointer_rows<T> page_row_table(const RowAt& row_at, const std::int32_t* pages, index_t page_size, index_t stride, index_t lk, index_t n0,
                               index_t n, detail::grow_buffer<const void*>& buf) {
    const void** rows = buf.get(n);
    const index_t end = n0 + n < lk ? n0 + n : lk;
    index_t i = 0;
    for (index_t key = n0; key < end;) {
        const T* row = row_at(pages[key / page_size], key % page_size);
        for (index_t s = key % page_size; s < page_size && key < end; ++s, ++key, row += stride) rows[i++] = row;
    }
    for (; i < n; ++i) rows[i] = rows[i - 1];
    return {reinterpret_cast<const T* const*>(rows)};
}

// nk rows made into float rows of `width` in `tile` (the padding past `dim` zero): convert(n, out)
// writes row n's dim values (a widening copy, a dequantization).
template <class Convert>
strided_rows<float> rows_to_float(index_t nk, index_t dim, index_t width, detail::grow_buffer<float>& tile, const Convert& convert) {
    float* buf = tile.get(work_plan::kv_tile * width);
    for (index_t n = 0; n < nk; ++n) {
        convert(n, buf + n * width);
        for (index_t d = dim; d < width; ++d) buf[n * width + d] = 0.0f;
    }
    return {buf, width};
}

// nk rows of `dim` elements (from.row(n)) converted to float rows of `width` (the padding zero) in `tile`.
template <class Arch, class Rows>
strided_rows<float> convert_rows(const Rows& from, index_t nk, index_t dim, index_t width, detail::grow_buffer<float>& tile) {
    return rows_to_float(nk, dim, width, tile, [&](index_t n, float* out) { simd::convert_row<Arch>(from.row(n), out, dim); });
}

}  // namespace attune::kernel
