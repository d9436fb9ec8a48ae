#pragma once
// Attention over quantized K/V (8- and 4-bit caches): the storage formats (quant/*.hpp), views of
// them, and attune::attention / attune::paged_attention taking them in place of float views.
//
//   auto kq = attune::quant::quantize(k, attune::quant::q8_0{});     // or your engine's own rows:
//   auto vq = attune::quant::view_blhd<attune::quant::q4_0>(v_bytes, B, L, Hkv, D);
//   attune::attention(q, kq.view(), vq, out, attune::causal{});
//   attune::paged_attention(q, q_offsets, attune::paged_quant_kv<q8_0>{k_pool, v_pool, table}, out, var);
//   attune::quant_kv_cache<q8_0> / attune::paged_kv_cache<q8_0>: caches that quantize on append
//
// Formats: int8 (per token and head), fp8_e4m3 / fp8_e5m2 (per tensor or head scale), q8_0 and
// q4_0 (llama.cpp's blocks, bit-compatible), int4_group<32|64|128> (asymmetric; 32 is ggml's q4_1).
// Every variant works as with float K/V. Decode dequantizes in registers (scale applied once per
// key); prefill dequantizes each K/V tile once into a float block for its GEMM. The result equals
// attention over the dequantized values within fp32 rounding. An output may not share memory with
// the quantized rows' byte range.
#include <type_traits>
#include <vector>

#include "attune/attention.hpp"
#include "attune/batch.hpp"
#include "attune/kernel/quant_source.hpp"
#include "attune/quant/blocks.hpp"
#include "attune/quant/fp8.hpp"
#include "attune/quant/int8.hpp"
#include "attune/quant/view.hpp"

namespace attune {

/// Quantized K and V pools ([pages, kv_heads, page_size, D] rows of a format) with the table of
/// pages each sequence reads: the keys of a paged batch (core/paged.hpp).
template <class FK, class FV = FK>
struct paged_quant_kv {
    quant::quant_view<FK> k_pages;
    quant::quant_view<FV> v_pages;
    page_table table;
};

namespace detail {

template <class F>
void require_quant_data(const quant::quant_view<F>& x, const char* name) {
    require(x.data() != nullptr || x.rows() == 0, name, " has null data");
}
// An output may not touch the bytes of quantized rows (their byte range: conservative).
template <class T, class FK, class FV>
void require_clear_of_quant(const tensor_view<T>& out, const char* name, const quant::quant_view<FK>& k, const char* k_name,
                            const quant::quant_view<FV>& v, const char* v_name) {
    require(!overlaps(out.extent(), k.extent()), name, " overlaps ", k_name);
    require(!overlaps(out.extent(), v.extent()), name, " overlaps ", v_name);
}

template <class TQ, class FK, class FV, class TO>
kernel::quant_problem<TQ, FK, FV, TO> make_quant_problem(const tensor_view<const TQ>& q, const quant::quant_view<FK>& k,
                                                         const quant::quant_view<FV>& v, const tensor_view<TO>& out, const options& opt) {
    require_quant_data(k, "k");
    require_quant_data(v, "v");
    kernel::quant_problem<TQ, FK, FV, TO> p{};
    check_and_fill(p, q, k.shape(), v.shape(), out, opt);
    p.kq = k;
    p.vq = v;
    p.int8_query = opt.int8_query;
    p.int8_pv = opt.int8_pv;
    require_disjoint_output(out, "out", named(q, "q"));
    require_clear_of_quant(out, "out", k, "k", v, "v");
    if (!opt.lse.empty()) {
        require_disjoint_output(opt.lse, "options::lse", named(q, "q"), named(out, "out"));
        require_clear_of_quant(opt.lse, "options::lse", k, "k", v, "v");
    }
    return p;
}

}  // namespace detail

/// Attention of q [B, Hq, Lq, Dk] over quantized k [B, Hkv, Lk, Dk] and v [B, Hkv, Lk, Dv]: as
/// attune::attention over the dequantized values. See the top of this file.
template <class Arch = default_arch, class Q, class FK, class FV, class O, class Var = variant<>, class Exec = default_executor>
void attention(const Q& q, const quant::quant_view<FK>& k, const quant::quant_view<FV>& v, const O& out, const Var& var = {},
               const options& opt = {}, const Exec& exec = {}) {
    using TQ = typename detail::view_element<Q>::type;
    using TO = typename detail::view_element<O>::type;
    static_assert(!std::is_const_v<typename O::element_type>, "attune::attention: out must be a view of non-const elements");
    const auto p = detail::make_quant_problem<TQ, FK, FV, TO>(q, k, v, out, opt);
    detail::require(opt.kv_splits >= 0, "kv_splits must be ≥ 0, got ", opt.kv_splits);
    if constexpr (std::is_same_v<typename as_variant<Var>::type, Var>) detail::run_variant<Arch>(p, var, opt, exec);
    else detail::run_variant<Arch>(p, to_variant(var), opt, exec);
}

/// Attention of a ragged batch over paged quantized keys: as attune::paged_attention.
template <class Arch = default_arch, class Q, class FK, class FV, class O, class Var = variant<>, class Exec = default_executor>
void paged_attention(const Q& q, const seq_offsets& q_offsets, const paged_quant_kv<FK, FV>& kv, const O& out, const Var& var = {},
                     const options& opt = {}, const Exec& exec = {}) {
    using TQ = typename detail::view_element<Q>::type;
    using TO = typename detail::view_element<O>::type;
    static_assert(!std::is_const_v<typename O::element_type>, "attune::paged_attention: out must be a view of non-const elements");
    static constexpr const char* who = "paged_attention";
    const tensor_view<const TQ> qc = q;
    const auto& kp = kv.k_pages;
    const auto& vp = kv.v_pages;
    detail::require_quant_data(kp, "paged_quant_kv::k_pages");
    detail::require_quant_data(vp, "paged_quant_kv::v_pages");
    detail::check_paged_batch(who, "paged_quant_kv::table", kp, vp, qc, q_offsets, out, kv.table, opt);
    detail::require_disjoint_output(out, "out", detail::named(qc, "q"));
    detail::require_clear_of_quant(out, "out", kp, "k_pages", vp, "v_pages");
    if (!opt.lse.empty()) {
        detail::require_disjoint_output(opt.lse, "options::lse", detail::named(qc, "q"), detail::named(out, "out"));
        detail::require_clear_of_quant(opt.lse, "options::lse", kp, "k_pages", vp, "v_pages");
    }
    const index_t count = q_offsets.sequences;
    std::vector<kernel::quant_problem<TQ, FK, FV, TO, true>> problems(static_cast<std::size_t>(count));
    for (index_t s = 0; s < count; ++s) {
        auto& p = problems[static_cast<std::size_t>(s)];
        detail::fill_sequence(p, qc, out, opt, s, count, q_offsets.begin(s), q_offsets.length(s), kv.table.length(s), kp.heads(), vp.dim());
        p.kq = kp;
        p.vq = vp;
        p.pages = kv.table.pages(s);
        p.int8_query = opt.int8_query;
        p.int8_pv = opt.int8_pv;
    }
    detail::run_batch_any<Arch>(problems, var, opt, exec);
}

}  // namespace attune
