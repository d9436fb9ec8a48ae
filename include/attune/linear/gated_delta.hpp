#pragma once
// Gated delta rule (Yang et al., Gated Delta Networks, 2024), per (batch, kv head) with state
// S (dk×dv, o = Sᵀq):
//   S_t = α_t S_{t−1} + β_t k_t (v_t − α_t S_{t−1}ᵀ k_t)ᵀ,   o_t = S_tᵀ (τ q_t),   α_t = e^{g_t}
// q and k are L2-normalised first (gated_delta_options::normalize_qk; a zero vector stays zero),
// τ = 1/√dk unless scale says otherwise. g [B, Hkv, L, 1] (log-gates, g ≤ 0 in the model; any finite
// value computes) and β [B, Hkv, L, 1] (in (0, 1) in the model) are per token and kv head.
//
//   linear::state st(B, Hkv, dk, dv);                           S lives in linear::state (its z is unused)
//   linear::gated_delta_step(q, k, v, g, beta, out, st);        recurrent: O(dk·dv) per token
//   linear::gated_delta_chunked(q, k, v, g, beta, out, st);     chunked, continuing from st
//
// Chunked form (the WY representation): within a chunk of c tokens with cumulative log-gates G_t
// (γ_t = e^{G_t}), S_t = γ_t S_0 + Σ_{i≤t} (γ_t/γ_i) k_i u_iᵀ, where the rows u_i solve the unit
// lower-triangular system (I + diag(β)·L) U = diag(β)(V − diag(γ) K S_0), L_ti = (γ_t/γ_i) k_t·k_i
// for i < t. Solving for [Ũ | W] with right-hand side [diag(β) V | diag(βγ) K] gives U = Ũ − W·S_0, then
//   O = τ·[diag(γ) Q S_0 + (Q Kᵀ ⊙ Γ ⊙ M) U]  (Γ_ti = γ_t/γ_i, M lower incl. diagonal),
//   S_c = γ_c S_0 + (diag(γ_c/γ) K)ᵀ U.
// Ratios γ_t/γ_i are taken as e^{G_t − G_i}, so strong decay underflows to 0 rather than overflowing.
#include <cmath>

#include "attune/exec/executor.hpp"
#include "attune/linear/check.hpp"
#include "attune/linear/kernels.hpp"
#include "attune/linear/state.hpp"
#include "attune/simd/arch.hpp"
#include "attune/exec/region.hpp"

namespace attune::linear {

struct gated_delta_options {
    float scale = 0.0f;        // τ; 0 means 1/√dk
    bool normalize_qk = true;  // L2-normalise q and k per token
    index_t chunk = 64;        // tokens per chunk of the chunked form
};

namespace detail {

template <class T>
inline float scalar_at(const tensor_view<const T>& x, index_t b, index_t h, index_t t) {
    return to_float(*x.row(b, h, t));
}

template <class Arch, class TQ, class TK, class TV, class TG, class TB, class TO>
void gated_delta_step_item(const gated_delta_options& opt, float tau, const tensor_view<const TQ>& q, const tensor_view<const TK>& k,
                           const tensor_view<const TV>& v, const tensor_view<const TG>& g, const tensor_view<const TB>& beta,
                           const tensor_view<TO>& out, index_t b, index_t hkv, index_t group, float* S) {
    const index_t L = k.tokens(), dk = q.dim(), dv = v.dim(), dvp = padded(dv), cv = colvecs<Arch>(dv);
    auto& ws = linear_scratch::local();
    float* kn = ws.kphi.get(dk);
    float* qn = ws.qphi.get(dk);
    float* u = ws.vc.get(2 * dvp);
    float* w = u + dvp;
    float* o = ws.o.get(dvp);
    for (index_t t = 0; t < L; ++t) {
        const float alpha = std::exp(scalar_at(g, b, hkv, t)), bt = scalar_at(beta, b, hkv, t);
        load_normalised<Arch>(k.row(b, hkv, t), kn, dk, opt.normalize_qk, 1.0f);
        gemm<Arch, false>(kn, 0, 1, S, dvp, 1, dk, cv, u, dvp);  // u = Sᵀk
        const TV* vr = v.row(b, hkv, t);
        for (index_t j = 0; j < dv; ++j) w[j] = bt * (to_float(vr[j]) - alpha * u[j]);
        for (index_t j = dv; j < dvp; ++j) w[j] = 0.0f;
        for (index_t i = 0; i < dk * dvp; ++i) S[i] *= alpha;
        gemm<Arch, true>(kn, 1, 0, w, 0, dk, 1, cv, S, dvp);  // S += k·wᵀ
        for (index_t gq = 0; gq < group; ++gq) {
            const index_t h = hkv * group + gq;
            load_normalised<Arch>(q.row(b, h, t), qn, dk, opt.normalize_qk, tau);
            gemm<Arch, false>(qn, 0, 1, S, dvp, 1, dk, cv, o, dvp);  // o = Sᵀ(τq)
            store_scaled<Arch>(out.row(b, h, t), o, dv, 1.0f);
        }
    }
}

// The chunked form's work space (per-thread scratch) and its shapes: chunk C, padded dims, the
// row strides e = dk + cp of [γτQ | P] and xw = dvp + dkp of [Ũ | W].
struct delta_chunk {
    index_t C, dk, dv, dvp, dkp, cp, cv, e, xw;
    float* kn;    // normalised K rows [c][dk]
    float* G;     // cumulative log-gates [c]
    float* bt;    // β [c]
    float* kdec;  // K rows scaled by γ_c/γ_i
    float* kt;    // Kᵀ [dk][cp]
    float* ext;   // [γ_t τq_t | P_t] rows, then reused for K·Kᵀ
    float* su;    // [S_0 ; U] rows
    float* U;
    float* X;  // [Ũ | W] rows [c][dvp + dkp]
    float* o;
};

template <class Arch>
delta_chunk make_delta_chunk(index_t chunk, index_t L, index_t dk, index_t dv) {
    delta_chunk w;
    w.C = chunk < L ? chunk : L;
    w.dk = dk, w.dv = dv;
    w.dvp = padded(dv), w.dkp = padded(dk), w.cp = padded(w.C), w.cv = colvecs<Arch>(dv), w.e = dk + w.cp, w.xw = w.dvp + w.dkp;
    auto& ws = linear_scratch::local();
    w.kn = ws.kphi.get(w.C * dk + 3 * w.C);  // normalised K rows [c][dk], then G, β, decay-to-end
    w.G = w.kn + w.C * dk;
    w.bt = w.G + w.C;
    w.kdec = ws.den.get(w.C * dk);
    w.kt = ws.kt.get(dk * w.cp);
    w.ext = ws.qphi.get(w.C * w.e);
    w.su = ws.vc.get((dk + w.C) * w.dvp);
    w.U = w.su + dk * w.dvp;
    w.X = ws.a.get(w.C * w.xw);
    w.o = ws.o.get(w.C * w.dvp);
    return w;
}

// Tokens t0 … t0 + c: cumulative log-gates G, β, normalised K rows and Kᵀ (zero-padded to whole vectors).
template <class Arch, class TK, class TG, class TB>
void delta_chunk_keys(const delta_chunk& w, const gated_delta_options& opt, const tensor_view<const TK>& k, const tensor_view<const TG>& g,
                      const tensor_view<const TB>& beta, index_t b, index_t hkv, index_t t0, index_t c) {
    constexpr index_t W = lanes<Arch>;
    const index_t dk = w.dk, cp = w.cp;
    float cum = 0.0f;
    for (index_t n = 0; n < c; ++n) {
        cum += scalar_at(g, b, hkv, t0 + n);
        w.G[n] = cum;
        w.bt[n] = scalar_at(beta, b, hkv, t0 + n);
        float* kr = w.kn + n * dk;
        load_normalised<Arch>(k.row(b, hkv, t0 + n), kr, dk, opt.normalize_qk, 1.0f);
        for (index_t i = 0; i < dk; ++i) w.kt[i * cp + n] = kr[i];
    }
    for (index_t i = 0; i < dk; ++i)
        for (index_t n = c; n < colvecs<Arch>(c) * W; ++n) w.kt[i * cp + n] = 0.0f;
}

// K·Kᵀ (lower triangle) into ext's score columns, the system's rows [Ũ | W] in X by forward
// substitution, then U = Ũ − W·S_0.
template <class Arch, class TV>
void delta_chunk_solve(const delta_chunk& w, const tensor_view<const TV>& v, index_t b, index_t hkv, index_t t0, index_t c) {
    constexpr index_t W = lanes<Arch>;
    const index_t dk = w.dk, dv = w.dv, dvp = w.dvp, dkp = w.dkp, e = w.e, xw = w.xw;
    const float *G = w.G, *bt = w.bt, *kn = w.kn;
    float* X = w.X;
    float* kk = w.ext + dk;
    gemm<Arch, false, triangle::columns>(kn, dk, 1, w.kt, w.cp, c, dk, colvecs<Arch>(c), kk, e);
    for (index_t t = 0; t < c; ++t) {
        float* xr = X + t * xw;
        const TV* vr = v.row(b, hkv, t0 + t);
        const float gam = std::exp(G[t]);
        for (index_t j = 0; j < dv; ++j) xr[j] = bt[t] * to_float(vr[j]);
        for (index_t j = dv; j < dvp; ++j) xr[j] = 0.0f;
        for (index_t i = 0; i < dk; ++i) xr[dvp + i] = bt[t] * gam * kn[t * dk + i];
        for (index_t i = dk; i < dkp; ++i) xr[dvp + i] = 0.0f;
        // Forward substitution: X_t −= β_t Σ_{i<t} e^{G_t − G_i} (k_t·k_i) X_i
        for (index_t i = 0; i < t; ++i) {
            const float coef = -bt[t] * std::exp(G[t] - G[i]) * kk[t * e + i];
            const simd::vec<Arch> cvec = simd::broadcast<Arch>(coef);
            const float* xi = X + i * xw;
            for (index_t j = 0; j < xw; j += W)
                simd::store<Arch>(xr + j, simd::fma(cvec, simd::load<Arch>(xi + j), simd::load<Arch>(xr + j)));
        }
    }
    // U = Ũ − W·S_0
    gemm<Arch, false>(X + dvp, xw, 1, w.su, dvp, c, dk, w.cv, w.o, dvp);
    for (index_t t = 0; t < c; ++t)
        for (index_t j = 0; j < dvp; ++j) w.U[t * dvp + j] = X[t * xw + j] - w.o[t * dvp + j];
}

// Query head h: O = τ·[diag(γ) Q S_0 + (Q Kᵀ ⊙ Γ ⊙ M) U] for tokens t0 … t0 + c.
template <class Arch, class TQ, class TO>
void delta_chunk_output(const delta_chunk& w, const gated_delta_options& opt, float tau, const tensor_view<const TQ>& q,
                        const tensor_view<TO>& out, index_t b, index_t h, index_t t0, index_t c) {
    constexpr int RR = gemm_shape<Arch>::rows;
    const index_t dk = w.dk, e = w.e;
    const float* G = w.G;
    float* ext = w.ext;
    for (index_t t = 0; t < c; ++t) load_normalised<Arch>(q.row(b, h, t0 + t), ext + t * e, dk, opt.normalize_qk, tau);
    float* p = ext + dk;
    gemm<Arch, false, triangle::columns>(ext, e, 1, w.kt, w.cp, c, dk, colvecs<Arch>(c), p, e);  // τQ·Kᵀ
    for (index_t t = 0; t < c; ++t) {
        float* pr = p + t * e;
        for (index_t i = 0; i <= t; ++i) pr[i] *= std::exp(G[t] - G[i]);
        const index_t end = t + RR < c ? t + RR : c;
        for (index_t i = t + 1; i < end; ++i) pr[i] = 0.0f;
        store_scaled<Arch>(ext + t * e, ext + t * e, dk, std::exp(G[t]));  // γ_t τq_t
    }
    gemm<Arch, false, triangle::depth>(ext, e, 1, w.su, w.dvp, c, dk + c, w.cv, w.o, w.dvp, dk);
    for (index_t t = 0; t < c; ++t) store_scaled<Arch>(out.row(b, h, t0 + t), w.o + t * w.dvp, w.dv, 1.0f);
}

// S_c = γ_c S_0 + (diag(γ_c/γ) K)ᵀ U
template <class Arch>
void delta_chunk_state(const delta_chunk& w, index_t c) {
    const index_t dk = w.dk, dvp = w.dvp;
    const float gam_c = std::exp(w.G[c - 1]);
    for (index_t i = 0; i < dk * dvp; ++i) w.su[i] *= gam_c;
    for (index_t t = 0; t < c; ++t) store_scaled<Arch>(w.kdec + t * dk, w.kn + t * dk, dk, std::exp(w.G[c - 1] - w.G[t]));
    gemm<Arch, true>(w.kdec, 1, dk, w.U, dvp, dk, c, w.cv, w.su, dvp);
}

template <class Arch, class TQ, class TK, class TV, class TG, class TB, class TO>
void gated_delta_chunk_item(const gated_delta_options& opt, float tau, const tensor_view<const TQ>& q, const tensor_view<const TK>& k,
                            const tensor_view<const TV>& v, const tensor_view<const TG>& g, const tensor_view<const TB>& beta,
                            const tensor_view<TO>& out, index_t b, index_t hkv, index_t group, float* S) {
    const index_t L = k.tokens();
    const delta_chunk w = make_delta_chunk<Arch>(opt.chunk, L, q.dim(), v.dim());
    const index_t n_state = w.dk * w.dvp;
    for (index_t i = 0; i < n_state; ++i) w.su[i] = S[i];
    for (index_t t0 = 0; t0 < L; t0 += w.C) {
        const index_t c = L - t0 < w.C ? L - t0 : w.C;
        delta_chunk_keys<Arch>(w, opt, k, g, beta, b, hkv, t0, c);
        delta_chunk_solve<Arch>(w, v, b, hkv, t0, c);
        for (index_t gq = 0; gq < group; ++gq) delta_chunk_output<Arch>(w, opt, tau, q, out, b, hkv * group + gq, t0, c);
        delta_chunk_state<Arch>(w, c);
    }
    for (index_t i = 0; i < n_state; ++i) S[i] = w.su[i];
}

template <class Q, class K, class V, class G, class B, class O>
void check_gated_delta(const char* fn, const Q& q, const K& k, const V& v, const G& g, const B& beta, const O& out, const state& st,
                       const gated_delta_options& opt) {
    check_qkvo(fn, q, k, v, out, true);
    check_per_token(fn, "g", g, k.batch(), k.heads(), k.tokens());
    check_per_token(fn, "beta", beta, k.batch(), k.heads(), k.tokens());
    require_no_alias(fn, out, named(g, "g"), named(beta, "beta"));
    require(!st.empty() && st.batch() == q.batch() && st.heads() == k.heads() && st.dk() == q.dim() && st.dv() == v.dim(), fn,
            ": state shape (batch ", st.batch(), ", kv heads ", st.heads(), ", dk ", st.dk(), ", dv ", st.dv(),
            ") does not match the inputs (batch ", q.batch(), ", kv heads ", k.heads(), ", dk ", q.dim(), ", dv ", v.dim(), ")");
    require(std::isfinite(opt.scale) && opt.scale >= 0.0f, fn, ": scale must be finite and ≥ 0 (0 selects 1/sqrt(dk)), got ", opt.scale);
    require(opt.chunk > 0, fn, ": gated_delta_options::chunk must be ≥ 1, got ", opt.chunk);
}

template <bool Chunked, class Arch, class Q, class K, class V, class G, class B, class O, class Exec>
void gated_delta_run(const char* fn, const Q& q_in, const K& k_in, const V& v_in, const G& g_in, const B& b_in, const O& out_in, state& st,
                     const gated_delta_options& opt, const Exec& exec) {
    const tensor_view<const element_t<Q>> q = q_in;
    const tensor_view<const element_t<K>> k = k_in;
    const tensor_view<const element_t<V>> v = v_in;
    const tensor_view<const element_t<G>> g = g_in;
    const tensor_view<const element_t<B>> beta = b_in;
    const tensor_view<element_t<O>> out = out_in;
    check_gated_delta(fn, q, k, v, g, beta, out, st, opt);
    const float tau = opt.scale > 0.0f ? opt.scale : 1.0f / std::sqrt(static_cast<float>(q.dim()));
    const index_t group = q.heads() / k.heads(), kv_heads = k.heads();
    if (q.tokens() > 0)
        ::attune::detail::parallel_for(exec, q.batch() * kv_heads, [&](index_t item) {
            const index_t b = item / kv_heads, h = item % kv_heads;
            if constexpr (Chunked) gated_delta_chunk_item<Arch>(opt, tau, q, k, v, g, beta, out, b, h, group, st.s(b, h));
            else gated_delta_step_item<Arch>(opt, tau, q, k, v, g, beta, out, b, h, group, st.s(b, h));
        });
    st.add_tokens(q.tokens());
}

}  // namespace detail

template <class Arch = default_arch, class Q, class K, class V, class G, class B, class O, class Exec = default_executor>
void gated_delta_step(const Q& q, const K& k, const V& v, const G& g, const B& beta, const O& out, state& st,
                      const gated_delta_options& opt = {}, const Exec& exec = {}) {
    detail::gated_delta_run<false, Arch>("linear::gated_delta_step", q, k, v, g, beta, out, st, opt, exec);
}

template <class Arch = default_arch, class Q, class K, class V, class G, class B, class O, class Exec = default_executor>
void gated_delta_chunked(const Q& q, const K& k, const V& v, const G& g, const B& beta, const O& out, state& st,
                         const gated_delta_options& opt = {}, const Exec& exec = {}) {
    detail::gated_delta_run<true, Arch>("linear::gated_delta_chunked", q, k, v, g, beta, out, st, opt, exec);
}

}  // namespace attune::linear
