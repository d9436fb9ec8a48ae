#pragma once
// Kernelised linear attention (Katharopoulos et al., "Transformers are RNNs", 2020; options.hpp has
// the formula, feature_map.hpp the maps):
//
//   linear::attention(q, k, v, out);                      non-causal, φ = elu+1, normalised, ε = 1e-6
//   linear::causal(q, k, v, out, linear::relu{}, {32});   causal, chunked form with chunks of 32 tokens
//   linear::state st(B, Hkv, dk, dv);                     recurrent state (state.hpp)
//   linear::prefill(q, k, v, out, st);                    causal, continuing from st and leaving it at the end
//   linear::step(q1, k1, v1, out1, st);                   recurrent form, token by token: O(dk·dv) per token
//
// q [B, Hq, Lq, dk], k [B, Hkv, Lk, dk], v [B, Hkv, Lk, dv], out [B, Hq, Lq, dv] (any strides, last dim
// contiguous), Hq % Hkv == 0: query head h reads kv head h / (Hq/Hkv). The causal forms need
// Lq == Lk (token i is query i and key i). Storage float, bf16 or half; arithmetic in float.
// Work items are (batch, kv head), run on the executor. Bad input throws attune::error.
#include <type_traits>

#include "attune/exec/executor.hpp"
#include "attune/linear/check.hpp"
#include "attune/linear/feature_map.hpp"
#include "attune/linear/kernels.hpp"
#include "attune/linear/options.hpp"
#include "attune/linear/state.hpp"
#include "attune/simd/arch.hpp"
#include "attune/exec/region.hpp"

namespace attune::linear {

namespace detail {

inline void check_state(const char* fn, const state& st, index_t batch, index_t kv_heads, index_t dk, index_t dv) {
    require(!st.empty(), fn, ": the state has no shape (default-constructed)");
    require(st.batch() == batch && st.heads() == kv_heads && st.dk() == dk && st.dv() == dv, fn, ": state shape (batch ", st.batch(),
            ", kv heads ", st.heads(), ", dk ", st.dk(), ", dv ", st.dv(), ") does not match the inputs (batch ", batch, ", kv heads ",
            kv_heads, ", dk ", dk, ", dv ", dv, ")");
}

}  // namespace detail

/// Non-causal kernelised linear attention: every query attends to every key,
/// o_i = φ(q_i)ᵀS / (φ(q_i)ᵀz + ε) with S = Σ_j φ(k_j) v_jᵀ and z = Σ_j φ(k_j) (`map` is φ).
template <class Arch = default_arch, class Q, class K, class V, class O, class Map = elu_plus_one, class Exec = default_executor>
void attention(const Q& q_in, const K& k_in, const V& v_in, const O& out_in, const Map& map = {}, const options& opt = {},
               const Exec& exec = {}) {
    static_assert(!std::is_const_v<typename O::element_type>, "attune::linear: out must be a view of non-const elements");
    const tensor_view<const detail::element_t<Q>> q = q_in;
    const tensor_view<const detail::element_t<K>> k = k_in;
    const tensor_view<const detail::element_t<V>> v = v_in;
    const tensor_view<detail::element_t<O>> out = out_in;
    detail::check_qkvo("linear::attention", q, k, v, out, false);
    detail::check_options("linear::attention", opt);
    const index_t group = q.heads() / k.heads(), kv_heads = k.heads();
    ::attune::detail::parallel_for(exec, q.batch() * kv_heads, [&](index_t item) {
        detail::noncausal_item<Arch>(map, opt, q, k, v, out, item / kv_heads, item % kv_heads, group);
    });
}

/// Causal, chunked form, continuing from the state `st` and leaving it after the last token
/// (Lq == Lk: token i is query i and key i).
template <class Arch = default_arch, class Q, class K, class V, class O, class Map = elu_plus_one, class Exec = default_executor>
void prefill(const Q& q_in, const K& k_in, const V& v_in, const O& out_in, state& st, const Map& map = {}, const options& opt = {},
             const Exec& exec = {}) {
    static_assert(!std::is_const_v<typename O::element_type>, "attune::linear: out must be a view of non-const elements");
    const tensor_view<const detail::element_t<Q>> q = q_in;
    const tensor_view<const detail::element_t<K>> k = k_in;
    const tensor_view<const detail::element_t<V>> v = v_in;
    const tensor_view<detail::element_t<O>> out = out_in;
    detail::check_qkvo("linear::prefill", q, k, v, out, true);
    detail::check_options("linear::prefill", opt);
    detail::check_state("linear::prefill", st, q.batch(), k.heads(), q.dim(), v.dim());
    const index_t group = q.heads() / k.heads(), kv_heads = k.heads();
    if (q.tokens() > 0)
        ::attune::detail::parallel_for(exec, q.batch() * kv_heads, [&](index_t item) {
            const index_t b = item / kv_heads, h = item % kv_heads;
            detail::causal_item<Arch>(map, opt, q, k, v, out, b, h, group, st.s(b, h), st.z(b, h));
        });
    st.add_tokens(q.tokens());
}

/// Causal from an empty state (chunked form). The state lives in per-thread scratch: no allocation
/// after the first call of a shape.
template <class Arch = default_arch, class Q, class K, class V, class O, class Map = elu_plus_one, class Exec = default_executor>
void causal(const Q& q_in, const K& k_in, const V& v_in, const O& out_in, const Map& map = {}, const options& opt = {},
            const Exec& exec = {}) {
    static_assert(!std::is_const_v<typename O::element_type>, "attune::linear: out must be a view of non-const elements");
    const tensor_view<const detail::element_t<Q>> q = q_in;
    const tensor_view<const detail::element_t<K>> k = k_in;
    const tensor_view<const detail::element_t<V>> v = v_in;
    const tensor_view<detail::element_t<O>> out = out_in;
    detail::check_qkvo("linear::causal", q, k, v, out, true);
    detail::check_options("linear::causal", opt);
    const index_t group = q.heads() / k.heads(), kv_heads = k.heads(), dk = q.dim();
    const index_t state_size = dk * detail::padded(v.dim()) + detail::padded(dk);
    if (q.tokens() > 0)
        ::attune::detail::parallel_for(exec, q.batch() * kv_heads, [&](index_t item) {
            float* S = detail::linear_scratch::local().state.get(state_size);
            for (index_t i = 0; i < state_size; ++i) S[i] = 0.0f;
            detail::causal_item<Arch>(map, opt, q, k, v, out, item / kv_heads, item % kv_heads, group, S, S + dk * detail::padded(v.dim()));
        });
}

/// Recurrent form: the tokens of q/k/v (usually 1) are folded into `st` one at a time, each output
/// read right after its own token. Allocation-free after the first call of a shape.
template <class Arch = default_arch, class Q, class K, class V, class O, class Map = elu_plus_one, class Exec = default_executor>
void step(const Q& q_in, const K& k_in, const V& v_in, const O& out_in, state& st, const Map& map = {}, const options& opt = {},
          const Exec& exec = {}) {
    static_assert(!std::is_const_v<typename O::element_type>, "attune::linear: out must be a view of non-const elements");
    const tensor_view<const detail::element_t<Q>> q = q_in;
    const tensor_view<const detail::element_t<K>> k = k_in;
    const tensor_view<const detail::element_t<V>> v = v_in;
    const tensor_view<detail::element_t<O>> out = out_in;
    detail::check_qkvo("linear::step", q, k, v, out, true);
    detail::check_options("linear::step", opt);
    detail::check_state("linear::step", st, q.batch(), k.heads(), q.dim(), v.dim());
    const index_t group = q.heads() / k.heads(), kv_heads = k.heads();
    if (q.tokens() > 0)
        ::attune::detail::parallel_for(exec, q.batch() * kv_heads, [&](index_t item) {
            const index_t b = item / kv_heads, h = item % kv_heads;
            detail::step_item<Arch>(map, opt, q, k, v, out, b, h, group, st.s(b, h), st.z(b, h));
        });
    st.add_tokens(q.tokens());
}

}  // namespace attune::linear
