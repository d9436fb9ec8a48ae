#pragma once
// The token store of the caches that take a storage type or a format (the landmark caches):
//   growable_cache<T>          kv_cache<T> for an element type, quant_kv_cache<T> for a format
//   make_growable_cache<T>(heads, dk, dv, max_tokens, k_format, v_format)
//   row_as_float<Arch>(x, h, t, out)   a stored row of x (keys() or values()) as floats
//   require_clear_of_rows(out, name, x, x_name)   out shares no memory with x's rows
// Overloads on the store's views (tensor_view, quant_view) keep the caches' code one for both.
#include <type_traits>

#include "attune/cache/kv_cache.hpp"
#include "attune/cache/quant_kv_cache.hpp"
#include "attune/core/error.hpp"
#include "attune/core/overlap.hpp"
#include "attune/core/view.hpp"
#include "attune/quantized.hpp"
#include "attune/simd/vec.hpp"

namespace attune {

namespace detail {

// The growable cache of one sequence in storage T: kv_cache for an element type, quant_kv_cache for
// a format (the landmark caches keep their tokens in it).
template <class T>
using growable_cache = std::conditional_t<quant::is_format_v<T>, quant_kv_cache<T>, kv_cache<T>>;

template <class T>
growable_cache<T> make_growable_cache(index_t heads, index_t dk, index_t dv, index_t max_tokens, const T& kf, const T& vf) {
    if constexpr (quant::is_format_v<T>) return quant_kv_cache<T>(heads, dk, dv, kf, vf, kv_cache_options{max_tokens, 0});
    else return kv_cache<T>(heads, dk, dv, max_tokens);
}

// Row t of head h of a cache's keys or values (x: keys() or values()) as x.dim() floats.
template <class Arch, class T>
void row_as_float(const tensor_view<const T>& x, index_t h, index_t t, float* out) {
    simd::convert_row<Arch>(x.row(0, h, t), out, x.dim());
}
template <class Arch, class F>
void row_as_float(const quant::quant_view<F>& x, index_t h, index_t t, float* out) {
    quant::dequantize_row<Arch>(x.format(), h, x.row(0, h, t), out, x.dim());
}

// out shares no memory with a cache's keys or values (x).
template <class O, class T>
void require_clear_of_rows(const tensor_view<O>& out, const char* out_name, const tensor_view<const T>& x, const char* x_name) {
    require_disjoint_output(out, out_name, named(x, x_name));
}
template <class O, class F>
void require_clear_of_rows(const tensor_view<O>& out, const char* out_name, const quant::quant_view<F>& x, const char* x_name) {
    require(!overlaps(out.extent(), x.extent()), out_name, " overlaps ", x_name);
}

}  // namespace detail

}  // namespace attune
