#pragma once
// Flowformer flow attention (Wu et al. 2022), φ = sigmoid, ε = 1e-6, n queries, m keys,
// per (batch, head); products of two d-vectors are dot products:
//   non-causal  I_i = 1/((φq_i+ε)·(Σ_j φk_j + ε))          O_j = 1/((φk_j+ε)·(Σ_i φq_i + ε))
//               Î_i = (φq_i+ε)·(Σ_j φk_j O_j + ε)          Ô_j = clamp((φk_j+ε)·(Σ_i φq_i I_i + ε), ±c)
//               A_i = σ(Î_i·n/m)                          C_j = m·softmax_j(Ô_j)
//               o_i = A_i·(I_i φq_i)ᵀ Σ_j φk_j (C_j v_j)ᵀ
//   causal      sums over j ≤ i (prefix sums); the conservation refinement uses I'_i = (i+1)·I_i and
//               O'_j = (j+1)·O_j; Î_i, Ô_j are divided by (i+1), (j+1); A_i = σ(Î_i);
//               C_j = (j+1)·e^{Ô_j} / Σ_{l≤j} e^{Ô_l}; the output uses I_i, not I'_i (the authors'
//               causal code divides the (i+1) back out in its final causal dot product).
// The clamp bound c is the authors' "for stability" constant: 1 in their non-causal code, 10 in the
// causal code of their RL experiments (1 in Flow_Attention.py's causal class, 5 in the NLP one), so
// it is a flow_options field. After the O(L·d) pre-pass for these per-token scalars, the output is
// plain linear attention of (A_i I_i φq_i, φk_j, C_j v_j) with φ = identity and no normaliser, run on
// the same kernels as linear::attention / linear::causal (the causal one chunked).
// q [B, H, n, d], k [B, H, m, d], v [B, H, m, dv], out [B, H, n, dv]; causal needs n == m. No GQA.
#include <cmath>

#include "attune/exec/executor.hpp"
#include "attune/linear/check.hpp"
#include "attune/linear/kernels.hpp"
#include "attune/simd/arch.hpp"
#include "attune/exec/region.hpp"

namespace attune::linear {

/// Options of flow_attention / flow_causal (Flowformer, Wu et al. 2022).
struct flow_options {
    float eps = 1e-6f;             ///< ε added to features and sums (the authors' 1e-6)
    index_t chunk = 64;            ///< chunk of the causal form's linear-attention pass
    float noncausal_clamp = 1.0f;  ///< Ô_j clamped to [−c, c] in the non-causal form (authors: 1)
    float causal_clamp = 10.0f;    ///< Ô_j clamped to [−c, c] in the causal form (authors' causal code: 10)
};

namespace detail {

struct flow_scratch {
    kernel::buffer qf, kf, vf, scalars, sums;
    static flow_scratch& local() {
        thread_local flow_scratch s;
        return s;
    }
};

// (x + ε)·(y + ε) over n features.
inline float eps_dot(const float* x, const float* y, index_t n, float eps) {
    float s = 0.0f;
    for (index_t i = 0; i < n; ++i) s += (x[i] + eps) * (y[i] + eps);
    return s;
}

// The per-token arrays of one (batch, head): feature rows and the flow scalars.
struct flow_buffers {
    float* qf;   // φq, later A_i I_i φq_i   [n][d]
    float* kf;   // φk                       [m][d]
    float* vf;   // C_j v_j                  [m][dv]
    float* I;    // [n]
    float* A;    // [n]
    float* Ob;   // O_j, then C_j            [m]
    float* Oh;   // Ô_j                      [m]
    float* sum;  // two d-vectors of sums
    float* sum2;
};

inline void zero_features(float* x, index_t d) {
    for (index_t f = 0; f < d; ++f) x[f] = 0.0f;
}

// Non-causal: I, O, then Î → A and Ô → C (sums over all tokens).
template <class Arch>
void flow_noncausal_scalars(const flow_buffers& x, index_t n, index_t m, index_t d, float eps, float c) {
    float *qf = x.qf, *kf = x.kf, *I = x.I, *A = x.A, *Ob = x.Ob, *Oh = x.Oh, *sum = x.sum, *sum2 = x.sum2;
    zero_features(sum, d);
    for (index_t j = 0; j < m; ++j) add_to<Arch>(sum, kf + j * d, d);
    for (index_t i = 0; i < n; ++i) I[i] = 1.0f / eps_dot(qf + i * d, sum, d, eps);
    zero_features(sum, d);
    for (index_t i = 0; i < n; ++i) add_to<Arch>(sum, qf + i * d, d);
    for (index_t j = 0; j < m; ++j) Ob[j] = 1.0f / eps_dot(kf + j * d, sum, d, eps);
    zero_features(sum, d);
    zero_features(sum2, d);
    for (index_t j = 0; j < m; ++j)
        for (index_t f = 0; f < d; ++f) sum[f] += kf[j * d + f] * Ob[j];  // Σ φk_j O_j
    for (index_t i = 0; i < n; ++i)
        for (index_t f = 0; f < d; ++f) sum2[f] += qf[i * d + f] * I[i];  // Σ φq_i I_i
    const float ratio = static_cast<float>(n) / static_cast<float>(m);
    for (index_t i = 0; i < n; ++i) A[i] = 1.0f / (1.0f + std::exp(-eps_dot(qf + i * d, sum, d, eps) * ratio));
    float mx = -c;
    for (index_t j = 0; j < m; ++j) {
        const float v = eps_dot(kf + j * d, sum2, d, eps);
        Oh[j] = v < -c ? -c : (v > c ? c : v);
        mx = Oh[j] > mx ? Oh[j] : mx;
    }
    float z = 0.0f;
    for (index_t j = 0; j < m; ++j) z += (Ob[j] = std::exp(Oh[j] - mx));
    for (index_t j = 0; j < m; ++j) Ob[j] *= static_cast<float>(m) / z;
}

// Causal (n == m): the same with prefix sums over t ≤ i.
template <class Arch>
void flow_causal_scalars(const flow_buffers& x, index_t n, index_t d, float eps, float c) {
    float *qf = x.qf, *kf = x.kf, *I = x.I, *A = x.A, *Ob = x.Ob, *Oh = x.Oh, *sum = x.sum, *sum2 = x.sum2;
    zero_features(sum, d);
    zero_features(sum2, d);
    for (index_t t = 0; t < n; ++t) {  // prefix sums of φk and φq
        add_to<Arch>(sum, kf + t * d, d);
        add_to<Arch>(sum2, qf + t * d, d);
        I[t] = static_cast<float>(t + 1) / eps_dot(qf + t * d, sum, d, eps);
        Ob[t] = static_cast<float>(t + 1) / eps_dot(kf + t * d, sum2, d, eps);
    }
    zero_features(sum, d);
    zero_features(sum2, d);
    float z = 0.0f, mx = -c;  // z = Σ_{l≤t} e^{Ô_l − mx}, rescaled when the running max mx grows
    for (index_t t = 0; t < n; ++t) {
        for (index_t f = 0; f < d; ++f) {
            sum[f] += kf[t * d + f] * Ob[t];
            sum2[f] += qf[t * d + f] * I[t];
        }
        const float inv = 1.0f / static_cast<float>(t + 1);
        A[t] = 1.0f / (1.0f + std::exp(-eps_dot(qf + t * d, sum, d, eps) * inv));
        float v = eps_dot(kf + t * d, sum2, d, eps) * inv;
        v = v < -c ? -c : (v > c ? c : v);
        if (v > mx) z *= std::exp(mx - v), mx = v;
        const float ex = std::exp(v - mx);
        z += ex;
        Oh[t] = static_cast<float>(t + 1) * ex / z;  // C_t
        I[t] *= inv;                                 // I'_t → I_t for the output
    }
    for (index_t t = 0; t < n; ++t) Ob[t] = Oh[t];
}

// The output as plain linear attention of (A_i I_i φq_i, φk_j, C_j v_j): φ = identity, no normaliser.
template <class Arch, class TO>
void flow_linear_pass(bool causal, const flow_options& fo, const flow_buffers& x, const tensor_view<TO>& out, index_t b, index_t h,
                      index_t n, index_t m, index_t d, index_t dv) {
    const tensor_view<const float> qv(x.qf, {1, 1, n, d}, {0, 0, d}), kv(x.kf, {1, 1, m, d}, {0, 0, d}),
        vv(x.vf, {1, 1, m, dv}, {0, 0, dv});
    const tensor_view<TO> ov(out.row(b, h, 0), {1, 1, n, dv}, {0, 0, out.strides()[2]});
    options lin;
    lin.normalize = false;
    lin.chunk = fo.chunk;
    if (!causal) {
        noncausal_item<Arch>(identity{}, lin, qv, kv, vv, ov, 0, 0, 1);
    } else {
        float* st = flow_scratch::local().sums.get(d * padded(dv) + padded(d));
        for (index_t i = 0; i < d * padded(dv) + padded(d); ++i) st[i] = 0.0f;
        causal_item<Arch>(identity{}, lin, qv, kv, vv, ov, 0, 0, 1, st, st + d * padded(dv));
    }
}

template <class Arch, class TQ, class TK, class TV, class TO>
void flow_item(bool causal, const flow_options& fo, const tensor_view<const TQ>& q, const tensor_view<const TK>& k,
               const tensor_view<const TV>& v, const tensor_view<TO>& out, index_t b, index_t h) {
    const index_t n = q.tokens(), m = k.tokens(), d = q.dim(), dv = v.dim();
    auto& ws = flow_scratch::local();
    flow_buffers x;
    x.qf = ws.qf.get(n * d);
    x.kf = ws.kf.get(m * d);
    x.vf = ws.vf.get(m * dv);
    x.I = ws.scalars.get(2 * n + 2 * m);
    x.A = x.I + n;
    x.Ob = x.A + n;
    x.Oh = x.Ob + m;
    x.sum = ws.sums.get(2 * d);
    x.sum2 = x.sum + d;
    for (index_t i = 0; i < n; ++i) apply_map<Arch>(sigmoid_map{}, q.row(b, h, i), x.qf + i * d, d);
    for (index_t j = 0; j < m; ++j) apply_map<Arch>(sigmoid_map{}, k.row(b, h, j), x.kf + j * d, d);
    if (!causal) flow_noncausal_scalars<Arch>(x, n, m, d, fo.eps, fo.noncausal_clamp);
    else flow_causal_scalars<Arch>(x, n, d, fo.eps, fo.causal_clamp);
    for (index_t i = 0; i < n; ++i) store_scaled<Arch>(x.qf + i * d, x.qf + i * d, d, x.A[i] * x.I[i]);
    for (index_t j = 0; j < m; ++j) {
        const TV* vr = v.row(b, h, j);
        for (index_t f = 0; f < dv; ++f) x.vf[j * dv + f] = x.Ob[j] * to_float(vr[f]);
    }
    flow_linear_pass<Arch>(causal, fo, x, out, b, h, n, m, d, dv);
}

template <bool Causal, class Arch, class Q, class K, class V, class O, class Exec>
void flow_run(const char* fn, const Q& q_in, const K& k_in, const V& v_in, const O& out_in, const flow_options& fo, const Exec& exec) {
    const tensor_view<const element_t<Q>> q = q_in;
    const tensor_view<const element_t<K>> k = k_in;
    const tensor_view<const element_t<V>> v = v_in;
    const tensor_view<element_t<O>> out = out_in;
    check_qkvo(fn, q, k, v, out, Causal);
    require(q.heads() == k.heads(), fn, ": q heads (", q.heads(), ") must equal k heads (", k.heads(), "): no GQA here");
    require(std::isfinite(fo.eps) && fo.eps > 0.0f, fn, ": flow_options::eps must be finite and > 0, got ", fo.eps);
    require(fo.chunk > 0, fn, ": flow_options::chunk must be ≥ 1, got ", fo.chunk);
    require(std::isfinite(fo.noncausal_clamp) && fo.noncausal_clamp > 0.0f, fn,
            ": flow_options::noncausal_clamp must be finite and > 0, got ", fo.noncausal_clamp);
    require(std::isfinite(fo.causal_clamp) && fo.causal_clamp > 0.0f, fn, ": flow_options::causal_clamp must be finite and > 0, got ",
            fo.causal_clamp);
    require(Causal || k.tokens() > 0 || q.tokens() == 0, fn, ": no keys (m = 0) for ", q.tokens(), " queries");
    if (q.tokens() == 0) return;
    ::attune::detail::parallel_for(exec, q.batch() * q.heads(),
                                   [&](index_t item) { flow_item<Arch>(Causal, fo, q, k, v, out, item / q.heads(), item % q.heads()); });
}

}  // namespace detail

template <class Arch = default_arch, class Q, class K, class V, class O, class Exec = default_executor>
void flow_attention(const Q& q, const K& k, const V& v, const O& out, const flow_options& fo = {}, const Exec& exec = {}) {
    detail::flow_run<false, Arch>("linear::flow_attention", q, k, v, out, fo, exec);
}

template <class Arch = default_arch, class Q, class K, class V, class O, class Exec = default_executor>
void flow_causal(const Q& q, const K& k, const V& v, const O& out, const flow_options& fo = {}, const Exec& exec = {}) {
    detail::flow_run<true, Arch>("linear::flow_causal", q, k, v, out, fo, exec);
}

}  // namespace attune::linear
