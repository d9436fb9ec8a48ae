#pragma once
// Quantized K or V: a 4-D view [batch, heads, tokens, dim] of rows in a storage format
// (quant/format.hpp), each row F::row_bytes(dim) contiguous bytes; the other strides count bytes
// and are free (llama.cpp's [tokens, heads] cache rows, a page pool, PyTorch's B,H,L order).
//
//   quant_view<q8_0> k = attune::quant::view_bhld<q8_0>(bytes, B, H, L, D);
//   quantized<int8> kq = attune::quant::quantize(k_float, int8{});   // owning, [B, H, L, D]
//   attune::attention(q, kq.view(), vq.view(), out, attune::causal{});  (attune/quantized.hpp)
#include <array>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/view.hpp"
#include "attune/quant/format.hpp"
#include "attune/simd/arch.hpp"
#include "attune/simd/dispatch.hpp"
#include "attune/simd/vec.hpp"

namespace attune::quant {

template <class F>
class quant_view {
public:
    using format_type = F;
    quant_view() = default;
    /// Rows of `data` with shape {batch, heads, tokens, dim} and byte strides of the first three
    /// dimensions; throws attune::error when the format cannot hold the dim, on a negative shape
    /// or when a size overflows.
    quant_view(const void* data, std::array<index_t, 4> shape, std::array<index_t, 3> byte_strides, F format = {})
        : data_(static_cast<const std::uint8_t*>(data)), shape_(shape), strides_(byte_strides), format_(format) {
        for (int i = 0; i < 4; ++i)
            attune::detail::require(shape_[i] >= 0, "quantized view dimension ", i, " is negative (", shape_[i], ")");
        format_.check(shape_[1], shape_[3], "quantized view");
        row_bytes_ = F::row_bytes(shape_[3]);
        const index_t rows = attune::detail::checked_product("quantized view shape", shape_[0], shape_[1], shape_[2]);
        if (rows > 0) {
            index_t lo = 0, hi = row_bytes_;
            for (int i = 0; i < 3; ++i) {
                const index_t reach = attune::detail::checked_mul(shape_[i] - 1, strides_[i], "quantized view strides");
                (reach < 0 ? lo : hi) = attune::detail::checked_add(reach < 0 ? lo : hi, reach, "quantized view strides");
            }
            attune::detail::checked_add(hi, -lo, "quantized view strides");
            lo_ = lo, hi_ = hi;
        }
        rows_ = rows;
    }

    const std::uint8_t* data() const noexcept { return data_; }
    const std::array<index_t, 4>& shape() const noexcept { return shape_; }
    const std::array<index_t, 3>& strides() const noexcept { return strides_; }  ///< bytes
    index_t batch() const noexcept { return shape_[0]; }
    index_t heads() const noexcept { return shape_[1]; }
    index_t tokens() const noexcept { return shape_[2]; }
    index_t dim() const noexcept { return shape_[3]; }
    index_t row_bytes() const noexcept { return row_bytes_; }
    index_t rows() const noexcept { return rows_; }
    bool empty() const noexcept { return data_ == nullptr; }
    const F& format() const noexcept { return format_; }
    const std::uint8_t* row(index_t b, index_t h, index_t t) const noexcept {
        return data_ + b * strides_[0] + h * strides_[1] + t * strides_[2];
    }
    /// The bytes the rows span, [first, last); both null when the view holds no row.
    std::pair<const void*, const void*> extent() const noexcept {
        if (rows_ == 0 || data_ == nullptr) return {nullptr, nullptr};
        return {data_ + lo_, data_ + hi_};
    }

private:
    const std::uint8_t* data_ = nullptr;
    std::array<index_t, 4> shape_{0, 0, 0, 0};
    std::array<index_t, 3> strides_{0, 0, 0};
    F format_{};
    index_t row_bytes_ = 0, rows_ = 0, lo_ = 0, hi_ = 0;
};

/// Rows stored [batch][heads][tokens] (PyTorch's order), contiguous.
template <class F>
quant_view<F> view_bhld(const void* data, index_t batch, index_t heads, index_t tokens, index_t dim, F format = {}) {
    format.check(heads, dim, "quant::view_bhld");
    const index_t rb = F::row_bytes(dim);
    const index_t sh = attune::detail::checked_product("quant::view_bhld", tokens, rb);
    return quant_view<F>(data, {batch, heads, tokens, dim}, {attune::detail::checked_product("quant::view_bhld", heads, sh), sh, rb},
                         format);
}
/// Rows stored [batch][tokens][heads] (llama.cpp's and the inference engines' order), contiguous.
template <class F>
quant_view<F> view_blhd(const void* data, index_t batch, index_t tokens, index_t heads, index_t dim, F format = {}) {
    format.check(heads, dim, "quant::view_blhd");
    const index_t rb = F::row_bytes(dim);
    const index_t st = attune::detail::checked_product("quant::view_blhd", heads, rb);
    return quant_view<F>(data, {batch, heads, tokens, dim}, {attune::detail::checked_product("quant::view_blhd", tokens, st), rb, st},
                         format);
}

/// Owning quantized rows [batch, heads, tokens, dim], contiguous in that order.
template <class F>
class quantized {
public:
    quantized() = default;
    quantized(index_t batch, index_t heads, index_t tokens, index_t dim, F format = {})
        : format_(format), shape_{batch, heads, tokens, dim} {
        format_.check(heads, dim, "quantized");
        bytes_.resize(static_cast<std::size_t>(attune::detail::checked_product("quantized", batch, heads, tokens, F::row_bytes(dim))));
    }
    quant_view<F> view() const { return view_bhld<F>(bytes_.data(), shape_[0], shape_[1], shape_[2], shape_[3], format_); }
    std::uint8_t* row(index_t b, index_t h, index_t t) noexcept {
        return bytes_.data() + ((b * shape_[1] + h) * shape_[2] + t) * F::row_bytes(shape_[3]);
    }
    std::vector<std::uint8_t>& bytes() noexcept { return bytes_; }
    const std::vector<std::uint8_t>& bytes() const noexcept { return bytes_; }
    const F& format() const noexcept { return format_; }
    const std::array<index_t, 4>& shape() const noexcept { return shape_; }

private:
    F format_{};
    std::array<index_t, 4> shape_{0, 0, 0, 0};
    std::vector<std::uint8_t> bytes_;
};

namespace detail {
// Row x (dim values of T) quantized into `row` for kv head h on Arch's vectors, through tmp (dim
// floats; unused for float rows) for bf16/half.
template <class Arch = simd::default_arch, class F, class T>
void quantize_one(const F& f, index_t h, const T* x, std::uint8_t* row, index_t dim, float* tmp) {
    if constexpr (std::is_same_v<T, float>) {
        (void)tmp;
        f.template quantize_row<Arch>(h, x, row, dim);
    } else {
        simd::convert_row<Arch>(x, tmp, dim);
        f.template quantize_row<Arch>(h, tmp, row, dim);
    }
}
template <class Arch = simd::default_arch, class F, class T>
void quantize_one(const F& f, index_t h, const T* x, std::uint8_t* row, index_t dim, std::vector<float>& tmp) {
    if constexpr (!std::is_same_v<T, float>) tmp.resize(static_cast<std::size_t>(dim));
    quantize_one<Arch>(f, h, x, row, dim, tmp.data());
}
// Rows x + r·x_stride, r < rows (dim values of T each) quantized into out + r·out_stride for kv
// head h, through tmp (dim floats, for bf16/half). The caches' appends call this: in a binary built
// with attune_dispatch() the widest registered instantiation runs (simd/dispatch.hpp), so a
// baseline-compiled caller quantizes at the CPU's width too.
template <class Arch = simd::default_arch, class F, class T>
void quantize_rows(const F& f, index_t h, const T* x, index_t x_stride, std::uint8_t* out, index_t out_stride, index_t rows, index_t dim,
                   float* tmp) {
    using signature = void(const F&, index_t, const T*, index_t, std::uint8_t*, index_t, index_t, index_t, float*);
    if (signature* wider = dispatch::route<signature, Arch, &quantize_rows<Arch, F, T>>())
        return wider(f, h, x, x_stride, out, out_stride, rows, dim, tmp);
    for (index_t r = 0; r < rows; ++r) quantize_one<Arch>(f, h, x + r * x_stride, out + r * out_stride, dim, tmp);
}
}  // namespace detail

/// x [B, H, L, D] (float, bf16 or half) quantized to format f.
template <class F, class T>
quantized<F> quantize(const tensor_view<T>& x, F f = {}) {
    attune::detail::require(x.data() != nullptr || x.size() == 0, "quantize: x has null data");
    quantized<F> q(x.batch(), x.heads(), x.tokens(), x.dim(), f);
    std::vector<float> tmp(std::is_same_v<std::remove_const_t<T>, float> ? 0 : static_cast<std::size_t>(x.dim()));
    for (index_t b = 0; b < x.batch(); ++b)
        for (index_t h = 0; h < x.heads(); ++h)
            if (x.tokens() > 0)
                detail::quantize_rows(q.format(), h, x.row(b, h, 0), x.strides()[2], q.row(b, h, 0), F::row_bytes(x.dim()), x.tokens(),
                                      x.dim(), tmp.data());
    return q;
}

/// The values of quantized rows, into out [B, H, L, D] (float).
template <class F, class Arch = default_arch>
void dequantize(const quant_view<F>& x, const tensor_view<float>& out) {
    attune::detail::require(out.shape() == x.shape(), "dequantize: out shape differs from the quantized view's");
    attune::detail::require(x.data() != nullptr || x.rows() == 0, "dequantize: x has null data");
    for (index_t b = 0; b < x.batch(); ++b)
        for (index_t h = 0; h < x.heads(); ++h)
            for (index_t t = 0; t < x.tokens(); ++t) dequantize_row<Arch>(x.format(), h, x.row(b, h, t), out.row(b, h, t), x.dim());
}

}  // namespace attune::quant
