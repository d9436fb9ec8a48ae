#pragma once
// A quantized storage format for K or V rows. A row of `dim` values is row_bytes(dim) bytes; a view
// of such rows (quant/view.hpp) is a K/V source of the tile engine, which dequantizes in registers
// inside its tile loop. Every format is a small value type (it may carry scales) with:
//
//   name()                          "q8_0", …
//   group                           dims must be a multiple of it (1: any dim)
//   row_bytes(dim)                  bytes per row
//   check(heads, dim, what)         throws attune::error when the format cannot hold such rows
//   head(h) → head_params           what a kv head's rows share (fp8's scale)
//   head_format(h)                  the format of head h's rows alone, as head 0 of a one-head cache
//                                   (duo_cache keeps each kv head in a cache of its own)
//   row_scale(hp, row)              one factor for the whole row (int8's scale; 1 for block formats)
//   load<Arch>(hp, row, d)          width<Arch> values from d (d a multiple of the width, which
//                                   divides `group` or the dim), without row_scale
//   value(hp, row, e)               one value, without row_scale (tails, tests)
//   quantize_row<Arch>(h, x, row, dim)  float → row (on append), on Arch's vectors; the scalar
//                                   arch's loop is the reference every arch's bytes equal
//
// so that the value of element e is row_scale(hp, row) · value(hp, row, e). A format may also
// offer a faster load for rows without special values (finite_load = true, row_finite<Arch>(row,
// bytes), load_finite<Arch>(hp, row, d)): decode uses it for tiles whose every row passes.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "attune/core/error.hpp"
#include "attune/core/types.hpp"
#include "attune/simd/vec.hpp"

namespace attune::quant {

// The fp16 bits of x (round to nearest even, as F16C and ggml's GGML_FP32_TO_FP16), and back.
inline std::uint16_t half_bits(float x) noexcept { return half(x).x; }
inline float half_value(const std::uint8_t* p) noexcept {
    std::uint16_t b;
    std::memcpy(&b, p, sizeof b);
    return static_cast<float>(half(Eigen::half_impl::raw_uint16_to_half(b)));
}
inline void store_half(std::uint8_t* p, float x) noexcept {
    const std::uint16_t b = half_bits(x);
    std::memcpy(p, &b, sizeof b);
}

// Row `row` dequantized into out[0, dim): vectors where the width divides the dim, then values.
template <class Arch, class F>
inline void dequantize_row(const F& f, index_t h, const std::uint8_t* row, float* out, index_t dim) {
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    const auto hp = f.head(h);
    const float rs = F::row_scale(hp, row);
    const simd::vec<Arch> s = simd::broadcast<Arch>(rs);
    static_assert(F::group == 1 || F::group % W == 0, "dequantize_row: a vector may not straddle a block");
    index_t d = 0;
    for (; d + W <= dim; d += W) simd::store<Arch>(out + d, F::template load<Arch>(hp, row, d) * s);
    if constexpr (F::group == 1)  // block formats have no tail: the width divides the group, the group the dim
        for (; d < dim; ++d) out[d] = rs * F::value(hp, row, d);
}

/// Whether T is a storage format of this folder (it has F::row_bytes), rather than an element type.
template <class T, class = void>
struct is_format : std::false_type {};
template <class T>
struct is_format<T, std::void_t<decltype(T::row_bytes(index_t(1)))>> : std::true_type {};
template <class T>
inline constexpr bool is_format_v = is_format<T>::value;

/// Whether format F has load_finite (its `finite_load` is true).
template <class F, class = void>
struct has_finite_load : std::false_type {};
template <class F>
struct has_finite_load<F, std::enable_if_t<F::finite_load>> : std::true_type {};
template <class F>
inline constexpr bool has_finite_load_v = has_finite_load<F>::value;

namespace detail {
// a · b rounded to float before any add: a compiler may not fuse it into an fma (-ffp-contract),
// so quantized bytes are the same under every flag.
inline float unfused_product(float a, float b) noexcept {
    volatile float p = a * b;
    return p;
}
inline void check_group(index_t dim, index_t group, const char* format, const char* what) {
    attune::detail::require(dim > 0 && dim % group == 0, what, ": format ", format, " needs a head dim that is a multiple of ", group,
                            ", got ", dim);
}
}  // namespace detail

}  // namespace attune::quant
