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
// append_items: how a cache splits an appended chunk's rows into work for an executor.
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/types.hpp"
#include "attune/core/view.hpp"
#include "attune/exec/region.hpp"
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

// An appended chunk of n tokens as items [K or V][head][range of `tokens` tokens]: a prompt's many
// rows spread over an executor's workers, each item with a float row of its own (for rows widened
// from bf16 / half into a format); a decode step's few rows stay on the caller, with one row.
struct append_items {
    static constexpr index_t tokens = 128;  // of one head's K or V in an item
    struct item {
        bool key;  // K, else V
        index_t head;
        index_t t0, t1;  // the chunk's tokens [t0, t1)
    };
    append_items(index_t n, index_t heads) noexcept
        : n_(n),
          heads_(heads),
          ranges_(n / tokens + (n % tokens != 0)),
          count_(2 * heads * ranges_),
          on_caller_(n < tokens && heads < tokens && n * heads < tokens) {}  // the product cannot overflow
    index_t count() const noexcept { return count_; }
    /// Widening rows the items need at once.
    index_t buffers() const noexcept { return on_caller_ ? 1 : count_; }
    item operator[](index_t i) const noexcept {
        const index_t r = i % ranges_, t0 = r * tokens;
        return {i < heads_ * ranges_, i / ranges_ % heads_, t0, std::min(n_, t0 + tokens)};
    }
    /// f(item, row) for every item, row = rows + (its buffer) · row_floats, or null without rows.
    template <class Exec, class F>
    void run(const Exec& exec, float* rows, index_t row_floats, F&& f) const {
        if (on_caller_) {
            for (index_t i = 0; i < count_; ++i) f((*this)[i], rows);
        } else {
            parallel_for(exec, count_, [&](index_t i) { f((*this)[i], rows != nullptr ? rows + i * row_floats : nullptr); });
        }
    }

private:
    index_t n_, heads_, ranges_, count_;
    bool on_caller_;
};

}  // namespace attune::detail
