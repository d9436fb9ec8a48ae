#pragma once
// How a cache stores a K or V row of `dim` values, for caches whose storage T is an element type
// (rows of T, converted on append) or a quantized format (rows of T::row_bytes(dim) bytes,
// quantized on append, quant/format.hpp):
//   element          what the storage vector holds (T, or std::uint8_t)
//   elems(dim)       elements a row takes
//   write<Arch>(fmt, head, src, dst, dim, tmp)   one appended row (tmp: dim floats, for a format
//                    fed bf16 / half rows)
//   write_rows<Arch>(fmt, head, src, src_stride, dst, dst_stride, rows, dim, tmp)   evenly strided rows
//   view(fmt, data, shape, strides)   the rows as attention's K/V operand (a tensor_view, or a
//                    quant_view carrying the format)
//   reserve_widening(tmp, dk, dv, what)   tmp sized for write's widened row (a format's; none else)
#include <array>
#include <cstdint>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/types.hpp"
#include "attune/core/view.hpp"
#include "attune/quantized.hpp"

namespace attune::detail {

template <class T, bool Format = quant::is_format_v<T>>
struct cache_rows {
    using element = T;
    static index_t elems(index_t dim) noexcept { return dim; }
    template <class Arch = default_arch, class S>
    static void write(const T&, index_t, const S* src, T* dst, index_t dim, float*) {
        copy_row(src, dst, dim);
    }
    template <class Arch = default_arch, class S>
    static void write_rows(const T&, index_t, const S* src, index_t src_stride, T* dst, index_t dst_stride, index_t rows, index_t dim,
                           float*) {
        for (index_t r = 0; r < rows; ++r) copy_row(src + r * src_stride, dst + r * dst_stride, dim);
    }
    static void reserve_widening(std::vector<float>&, index_t, index_t, const char*) noexcept {}
    static tensor_view<const T> view(const T&, const T* data, const std::array<index_t, 4>& shape, const std::array<index_t, 3>& strides) {
        return tensor_view<const T>(data, shape, strides);
    }
};
template <class F>
struct cache_rows<F, true> {
    using element = std::uint8_t;
    static index_t elems(index_t dim) noexcept { return F::row_bytes(dim); }
    template <class Arch = default_arch, class S>
    static void write(const F& f, index_t head, const S* src, std::uint8_t* dst, index_t dim, float* tmp) {
        quant::detail::quantize_rows<Arch>(f, head, src, 0, dst, 0, 1, dim, tmp);
    }
    template <class Arch = default_arch, class S>
    static void write_rows(const F& f, index_t head, const S* src, index_t src_stride, std::uint8_t* dst, index_t dst_stride, index_t rows,
                           index_t dim, float* tmp) {
        quant::detail::quantize_rows<Arch>(f, head, src, src_stride, dst, dst_stride, rows, dim, tmp);
    }
    static void reserve_widening(std::vector<float>& tmp, index_t dk, index_t dv, const char* what) {
        checked_resize(tmp, dk > dv ? dk : dv, what);
    }
    static quant::quant_view<F> view(const F& f, const std::uint8_t* data, const std::array<index_t, 4>& shape,
                                     const std::array<index_t, 3>& strides) {
        return quant::quant_view<F>(data, shape, strides, f);
    }
};

}  // namespace attune::detail
