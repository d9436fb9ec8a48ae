#pragma once
// Gather (top-k) attention over quantized K/V (attune/quantized.hpp): each query row attends to its
// listed keys of quant_views, as sparse::gather_attention does over float views.
//
//   attune::sparse::gather_attention(q, cache.keys(), cache.values(), idx, out);   // quant_kv_cache
//
// The listed rows' bytes are copied as they are (a format's row is self-contained: its scales are
// in the row, or in the format's per-head parameters), and the gathered tile is attended with the
// quantized kernels; the result equals gather_attention over the dequantized values within fp32
// rounding, and options::int8_query / int8_pv apply as in attune::attention.
#include <type_traits>

#include "attune/quantized.hpp"
#include "attune/sparse/gather.hpp"

namespace attune {
namespace sparse {
namespace detail {

template <class F>
struct gather_operand<quant::quant_view<F>> {
    using element = std::uint8_t;
    static index_t row_elems(const quant::quant_view<F>& x) noexcept { return x.row_bytes(); }
    static void require_data(const quant::quant_view<F>& x, const char* name) { attune::detail::require_quant_data(x, name); }
    template <class O>
    static void require_clear(const tensor_view<O>& out, const char* out_name, const quant::quant_view<F>& x, const char* x_name) {
        attune::detail::require(!attune::detail::overlaps(out.extent(), x.extent()), out_name, " overlaps ", x_name);
    }
    // The gathered rows of head hkv are head 0 of a one-head view: the format of that head alone.
    static quant::quant_view<F> tile(const quant::quant_view<F>& x, index_t hkv, const std::uint8_t* data, index_t m, index_t dim) {
        return quant::quant_view<F>(data, {1, 1, m, dim}, {0, 0, x.row_bytes()}, x.format().head_format(hkv));
    }
    template <class Q, class FV, class O>
    static auto problem(const tensor_view<Q>& q, const quant::quant_view<F>& k, const quant::quant_view<FV>& v, const tensor_view<O>& out,
                        const options& opt) {
        return attune::detail::make_quant_problem<std::remove_const_t<Q>, F, FV, O>(tensor_view<const Q>(q), k, v, out, opt);
    }
};

}  // namespace detail

/// Attention of each query row over its listed keys of quantized k and v only (sparse/gather.hpp),
/// for the variant `var` (no mask, a score modifier that reads no positions).
template <class Arch = default_arch, class Q, class FK, class FV, class O, class Var, class Exec = default_executor,
          std::enable_if_t<!std::is_same_v<std::decay_t<Var>, options>, int> = 0>
void gather_attention(const tensor_view<Q>& q, const quant::quant_view<FK>& k, const quant::quant_view<FV>& v, const index_view& idx,
                      const tensor_view<O>& out, const Var& var, const options& opt = {}, const Exec& exec = {}) {
    detail::run_gather<Arch>(q, k, v, idx, out, var, opt, exec);
}

/// The same, plain softmax.
template <class Arch = default_arch, class Q, class FK, class FV, class O, class Exec = default_executor>
void gather_attention(const tensor_view<Q>& q, const quant::quant_view<FK>& k, const quant::quant_view<FV>& v, const index_view& idx,
                      const tensor_view<O>& out, const options& opt = {}, const Exec& exec = {}) {
    gather_attention<Arch>(q, k, v, idx, out, variant<>{}, opt, exec);
}

}  // namespace sparse
}  // namespace attune
