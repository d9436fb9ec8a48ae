#pragma once
// The probability mass and value sum of one query row over a few keys (the sinks):
//   m = Σ_{j∈keys} p_ij,  u += Σ_{j∈keys} p_ij·v_j,  p_ij = exp(s_ij − LSE_i),
// with s_ij the variant's score (scale, score modifier) where its mask admits j: the function the
// tile engine computes, evaluated key by key. The calibration patches need it for |S| ≪ Lk keys,
// where a tile pass would cost a Q packing and an output store per row for a handful of keys.
#include <cmath>
#include <type_traits>

#include "attune/core/index_context.hpp"
#include "attune/core/row_state.hpp"
#include "attune/core/view.hpp"
#include "attune/score/modifier.hpp"
#include "attune/simd/math.hpp"
#include "attune/simd/vec.hpp"

namespace attune::detail {

// What the sink terms of a call read: q, k and v as const views, τ and the GQA group size.
template <class TQ, class TK, class TV>
struct sink_inputs {
    tensor_view<const TQ> q;
    tensor_view<const TK> k;
    tensor_view<const TV> v;
    float scale;
    index_t group;
    // Query row (b, h, i): its τ·q into qs (dk floats), and its index context (k_pos unset).
    template <class Arch>
    index_context load_row(index_t b, index_t h, index_t i, float* qs) const {
        simd::convert_row<Arch>(q.row(b, h, i), qs, q.dim(), scale);
        return {b, h, h / group, k.tokens() - q.tokens() + i, 0};
    }
};

// scale: the call's options::scale (0 means 1/√dk).
template <class Q, class K, class V>
auto make_sink_inputs(const Q& q, const K& k, const V& v, float scale) {
    using TQ = std::remove_const_t<typename Q::element_type>;
    using TK = std::remove_const_t<typename K::element_type>;
    using TV = std::remove_const_t<typename V::element_type>;
    return sink_inputs<TQ, TK, TV>{tensor_view<const TQ>(q), tensor_view<const TK>(k), tensor_view<const TV>(v),
                                   scale > 0.0f ? scale : 1.0f / std::sqrt(static_cast<float>(q.dim())), q.heads() / k.heads()};
}

// qs: the row's τ·q (dk floats); kbuf: dk floats of scratch; u: dv floats, accumulated into.
template <class Arch, class Var, class TK, class TV>
float sink_terms(const Var& var, const float* qs, const tensor_view<const TK>& k, const tensor_view<const TV>& v, const index_context& row,
                 const index_t* keys, index_t n, float lse, float* kbuf, float* u) {
    using score_t = typename Var::score_type;
    const index_t dk = k.dim(), dv = v.dim();
    float mass = 0.0f;
    for (index_t x = 0; x < n; ++x) {
        index_context c = row;
        c.k_pos = keys[x];
        if (!var.mask().visible(c)) continue;
        const float* kr;
        if constexpr (std::is_same_v<TK, float>) {
            kr = k.row(c.batch, c.kv_head, c.k_pos);
        } else {
            simd::convert_row<Arch>(k.row(c.batch, c.kv_head, c.k_pos), kbuf, dk);
            kr = kbuf;
        }
        float s = simd::dot<Arch>(qs, kr, dk);
        if constexpr (!is_none_v<score_t>) s = static_cast<float>(score_hooks::call(var.score(), s, c, query_row<float>{qs, 1, dk}));
        if (s == neg_inf) continue;
        const float p = std::exp(s - lse);
        mass += p;
        const TV* vr = v.row(c.batch, c.kv_head, c.k_pos);
        for (index_t d = 0; d < dv; ++d) u[d] += p * to_float(vr[d]);
    }
    return mass;
}

}  // namespace attune::detail
