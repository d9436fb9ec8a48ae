#pragma once
// The epilogue: what an item leaves behind. A whole key range ends finalised into the output
// (o = acc / l and the LSE for families with row statistics, o = acc for those without, times a
// router's gate); a range that is one part of a row's keys ends as a partial result (m, l, acc)
// for the ⊕ merge (kernel/driver.hpp). Rows a router switched off get zeros and LSE −inf.
#include <type_traits>

#include "attune/core/policy.hpp"
#include "attune/core/row_state.hpp"
#include "attune/kernel/item.hpp"
#include "attune/router/router.hpp"
#include "attune/simd/vec.hpp"

namespace attune::kernel {

// Where a split item leaves its unnormalised result: rows × (m, l) and rows × dv accumulators.
struct partial_result {
    float* m;
    float* l;
    float* acc;  // [rows][dv]
};

// Writes one finished row. Families with row statistics (softmax): o = acc / l (zeros for an empty
// row) and its LSE. Without (sigmoid): o = acc, the plain sum of weighted values; row_sum families
// (normalised sigmoid): o = acc / (l + ε).
template <class Arch, class Family, class P>
inline void store_row(const P& p, index_t b, index_t h, index_t t, const float* acc, row_state st, float gate = 1.0f) {
    using TO = typename decltype(p.out)::value_type;
    TO* dst = p.out.row(b, h, t);
    // softmax: empty row → zeros; NaN stays NaN. sigmoid: 1. Times the router's gate.
    // row_sum (normalised sigmoid): o = acc / (l + ε); an empty row has acc = 0 and stays 0.
    float inv = 1.0f;
    if constexpr (Family::row_statistics) inv = st.l == 0.0f ? 0.0f : 1.0f / st.l;
    else if constexpr (::attune::detail::row_sum_v<Family>) inv = 1.0f / (st.l + Family::row_sum_eps);
    inv *= gate;
    // bf16 and half rounded a vector at a time (simd::store), as from_float rounds each element.
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    const simd::vec<Arch> s = simd::broadcast<Arch>(inv);
    index_t d = 0;
    for (; d + W <= p.dv; d += W) simd::store<Arch>(dst + d, simd::load<Arch>(acc + d) * s);
    for (; d < p.dv; ++d) dst[d] = from_float<TO>(acc[d] * inv);
    if constexpr (Family::has_lse)
        if (!p.lse.empty()) *p.lse.row(b, h, t) = st.lse();
}

// Rows a router switched off: zeros and LSE −inf, never computed.
template <class Router, class P>
inline void store_inactive_rows(const Router& router, const P& p, index_t b, index_t hkv, index_t i0, index_t nq) {
    if constexpr (!detail::is_none_v<Router>) {
        using TO = typename decltype(p.out)::value_type;
        for (index_t g = 0; g < p.group; ++g)
            for (index_t t = i0; t < i0 + nq; ++t) {
                const index_t h = hkv * p.group + g;
                if (router.gate(row_context{b, h, t, p.q_pos0() + t}) != 0.0f) continue;
                TO* dst = p.out.row(b, h, t);
                for (index_t d = 0; d < p.dv; ++d) dst[d] = from_float<TO>(0.0f);
                if (!p.lse.empty()) *p.lse.row(b, h, t) = neg_inf;
            }
    } else {
        (void)router, (void)p, (void)b, (void)hkv, (void)i0, (void)nq;
    }
}

// The item's rows into the output, or into `partial` when it is given.
template <class Arch, class It>
inline void finish(const It& it, const partial_result* partial) {
    using family = typename std::decay_t<decltype(it.var)>::family_type;
    if (partial != nullptr) {
        for (index_t r = 0; r < it.rows; ++r) {
            partial->m[r] = it.m[r];
            partial->l[r] = it.l[r];
            for (index_t d = 0; d < it.p.dv; ++d) partial->acc[r * it.p.dv + d] = it.acc[r * it.dvp + d];
        }
        return;
    }
    for (index_t r = 0; r < it.rows; ++r)
        store_row<Arch, family>(it.p, it.b, it.R.head[r], it.R.token[r], it.acc + r * it.dvp, row_state{it.m[r], it.l[r]},
                                it.R.gate ? it.R.gate[r] : 1.0f);
}

}  // namespace attune::kernel
