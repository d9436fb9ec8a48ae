#pragma once
// Titans' neural long-term memory (Behrouz, Zhong & Mirrokni, "Titans: Learning to Memorize at
// Test Time", 2024, §3), per (batch, kv head), a memory M learned at test time on the loss
//   ℓ(M; x_t) = ‖M(k_t) − v_t‖²                                           (Eq. 12)
// by gradient descent with momentum S and weight decay:
//   S_t = η_t S_{t−1} − θ_t ∇ℓ(M_{t−1}; x_t)                              (Eq. 14)
//   M_t = (1 − α_t) M_{t−1} + S_t                                          (Eq. 13)
//   y_t = M_t(q_t)      retrieval, a forward pass without update           (Eq. 15)
// Eq. 15 writes M*; read after token t's write by default, or before it (titans_read::before_update,
// y_t = M_{t−1}(q_t), the order of MAC's Eq. 21).
// θ (learning rate), η (momentum decay) and α (forgetting) are per token and kv head, [B, Hkv, L, 1],
// used as given (the model makes them in (0, 1) from x_t). q and k are L2-normalised first (§4.4;
// titans_options::normalize_qk; a zero vector stays zero). The gradient is that of Eq. 12 itself,
// factor 2 included. Query heads of one kv head read its memory (GQA).
//
//   linear::titans_state st(B, Hkv, dk, dv);          M(x) = W x     (W dv×dk)
//   linear::titans_linear(q, k, v, theta, eta, alpha, out, st);
//   linear::titans_state mst(B, Hkv, dk, dv, hidden); M(x) = W2 σ(W1 x); write M_0 into mst.weights()
//   linear::titans_mlp(q, k, v, theta, eta, alpha, out, mst, linear::gelu{}, {/*normalize*/ true, /*chunk*/ 16});
//
// Chunks (§3.2, "Parallelize the Long-term Memory Training"): with chunk b > 1 the gradients of a
// chunk's tokens are all taken at the memory of the chunk's start M_0 (mini-batch gradient descent),
// ∇ℓ(M_{t'}; x_t), t' = t − mod(t, b) (Eq. 16-18); chunk = 1 is the token-by-token recurrence above,
// exactly, and the default. Chunks start at each call's first token (a decode step is a chunk of one).
// Each gradient is a sum of rank-1 outer products D_i X_iᵀ per weight matrix (W: D = 2(Wk − v),
// X = k; MLP: W2 from D2 = 2(W2 z − v), X = z = σ(W1 k); W1 from D1 = σ'(W1 k) ⊙ W2ᵀD2, X = k), so
// unrolling Eq. 13-14 over a chunk with A_t = Π(1 − α), E_t = Π η (cumulative products from the
// chunk's start) gives, with no division,
//   W_t = A_t W_0 + B_t S_0 − Σ_{i≤t} C_ti θ_i D_i X_iᵀ,    S_t = E_t S_0 − Σ_{i≤t} P_ti θ_i D_i X_iᵀ,
//   P_ti = Π_{i<j≤t} η_j,  B_t = (1 − α_t) B_{t−1} + E_t,  C_ti = (1 − α_t) C_{t−1,i} + P_ti  (C_ii = 1),
// and the reads W_t x = A_t W_0 x + B_t S_0 x − Σ_i C_ti θ_i (X_i·x) D_i without forming W_t.
#include <cmath>
#include <vector>

#include "attune/exec/executor.hpp"
#include "attune/exec/region.hpp"
#include "attune/linear/check.hpp"
#include "attune/linear/kernels.hpp"
#include "attune/linear/memory_activation.hpp"
#include "attune/linear/titans_state.hpp"
#include "attune/simd/arch.hpp"

namespace attune::linear {

/// Which memory token t's query reads.
enum class titans_read {
    after_update,   ///< y_t = M_t(q_t): the memory that has just written token t (Eq. 15 after Eq. 13)
    before_update,  ///< y_t = M_{t−1}(q_t): read, then write (as MAC's retrieval from M_{t−1}, Eq. 21)
};

/// Options of titans_linear and titans_mlp.
struct titans_options {
    bool normalize_qk = true;                      ///< L2-normalise q and k per token (Titans §4.4)
    index_t chunk = 1;                             ///< tokens whose gradients share the chunk's start memory (§3.2); 1: exact recurrence
    titans_read read = titans_read::after_update;  ///< the memory each query reads
};

namespace detail {

// y[0..n) += a·x[0..n)
template <class Arch>
inline void axpy(float a, const float* x, float* y, index_t n) {
    constexpr index_t W = lanes<Arch>;
    const simd::vec<Arch> av = simd::broadcast<Arch>(a);
    index_t i = 0;
    for (; i + W <= n; i += W) simd::store<Arch>(y + i, simd::fma(av, simd::load<Arch>(x + i), simd::load<Arch>(y + i)));
    for (; i < n; ++i) y[i] += a * x[i];
}

// One weight matrix W [rows][cols] of the memory with its momentum S, and the chunk's rank-1
// gradient factors: D_i (rows) and X_i (cols) of token i, rows i·rows and i·cols of D and X.
struct memory_layer {
    float* W;
    float* S;
    index_t rows, cols;
    float* D;
    float* X;
};

// The chunk's coefficients, c tokens: A_t, B_t and E_t (see the top of this file), C_ti·θ_i
// (row t of ct, stride C), and P_{c−1,i}·θ_i (the momentum at the chunk's end). Sized by
// titans_scratch::prepare.
struct titans_coefs {
    std::vector<float> A, B, E, ct, pend;
    index_t C = 0;
    void compute(const float* theta, const float* eta, const float* alpha, index_t c, index_t stride) {
        C = stride;
        std::vector<float>& P = pend;  // P_ti for the current t, over i ≤ t
        float a_prev = 1.0f, b_prev = 0.0f, e_prev = 1.0f;
        for (index_t t = 0; t < c; ++t) {
            const float keep = 1.0f - alpha[t];
            A[t] = a_prev * keep, E[t] = e_prev * eta[t], B[t] = keep * b_prev + E[t];
            a_prev = A[t], b_prev = B[t], e_prev = E[t];
            for (index_t i = 0; i < t; ++i) P[i] *= eta[t];
            P[t] = 1.0f;
            float* row = ct.data() + t * stride;
            for (index_t i = 0; i < t; ++i) row[i] = keep * row[i - stride] + P[i];
            row[t] = 1.0f;
        }
        for (index_t t = 0; t < c; ++t) {
            float* row = ct.data() + t * stride;
            for (index_t i = 0; i <= t; ++i) row[i] *= theta[i];
            pend[t] *= theta[t];
        }
    }
};

// r = W x for the memory after the chunk's first `upto` tokens (W_0 when upto is 0), from W_0, S_0
// and the factors of those tokens.
template <class Arch>
void layer_read(const memory_layer& l, const titans_coefs& cf, index_t upto, const float* x, float* r) {
    const index_t t = upto - 1;
    const float a = upto > 0 ? cf.A[t] : 1.0f, b = upto > 0 ? cf.B[t] : 0.0f;
    for (index_t o = 0; o < l.rows; ++o) {
        const float* w = l.W + o * l.cols;
        const float* s = l.S + o * l.cols;
        r[o] = a * simd::dot<Arch>(w, x, l.cols) + (b != 0.0f ? b * simd::dot<Arch>(s, x, l.cols) : 0.0f);
    }
    if (upto == 0) return;
    const float* ct = cf.ct.data() + t * cf.C;
    for (index_t i = 0; i <= t; ++i) axpy<Arch>(-ct[i] * simd::dot<Arch>(l.X + i * l.cols, x, l.cols), l.D + i * l.rows, r, l.rows);
}

// The chunk's end: W ← A W_0 + B S_0 − Σ_i C_{c−1,i} θ_i D_i X_iᵀ, then S ← E S_0 − Σ_i P_{c−1,i} θ_i D_i X_iᵀ.
template <class Arch>
void layer_update(const memory_layer& l, const titans_coefs& cf, index_t c) {
    const float a = cf.A[c - 1], b = cf.B[c - 1], e = cf.E[c - 1];
    const float* ct = cf.ct.data() + (c - 1) * cf.C;
    for (index_t o = 0; o < l.rows; ++o) {
        float* w = l.W + o * l.cols;
        float* s = l.S + o * l.cols;
        for (index_t j = 0; j < l.cols; ++j) w[j] = a * w[j] + b * s[j];
        for (index_t j = 0; j < l.cols; ++j) s[j] *= e;
        for (index_t i = 0; i < c; ++i) {
            const float d = l.D[i * l.rows + o];
            axpy<Arch>(-ct[i] * d, l.X + i * l.cols, w, l.cols);
            axpy<Arch>(-cf.pend[i] * d, l.X + i * l.cols, s, l.cols);
        }
    }
}

// Per-thread work space of one (batch, kv head) item: chunk C, dims dk, dv, MLP width H (0: linear).
struct titans_scratch {
    std::vector<float> k, q, pre, z, d1, d2, u, h, y, th, et, al;
    titans_coefs cf;
    static titans_scratch& local() {
        thread_local titans_scratch s;
        return s;
    }
    // Sizes checked (an error naming `fn`, not a wrapped size or std::bad_alloc); nothing shrinks.
    void prepare(const char* fn, index_t C, index_t dk, index_t dv, index_t H) {
        using attune::detail::checked_product;
        const auto grow = [fn](std::vector<float>& v, index_t n) {
            if (static_cast<index_t>(v.size()) < n) attune::detail::checked_resize(v, n, fn);
        };
        grow(k, checked_product(fn, C, dk));
        grow(q, dk);
        grow(d2, checked_product(fn, C, dv));
        for (auto* v : {&pre, &z, &d1}) grow(*v, checked_product(fn, C, H));
        grow(u, H > dv ? H : dv);
        grow(h, H);
        grow(y, dv);
        for (auto* v : {&th, &et, &al, &cf.A, &cf.B, &cf.E, &cf.pend}) grow(*v, C);
        grow(cf.ct, checked_product(fn, C, C));
    }
};

// One (b, kv head) over all tokens, chunk by chunk. Deep: the 2-layer MLP with activation Act.
template <bool Deep, class Act, class Arch, class TQ, class TK, class TV, class TT, class TE, class TA, class TO>
void titans_item(const char* fn, const titans_options& opt, const tensor_view<const TQ>& q, const tensor_view<const TK>& k,
                 const tensor_view<const TV>& v, const tensor_view<const TT>& theta, const tensor_view<const TE>& eta,
                 const tensor_view<const TA>& alpha, const tensor_view<TO>& out, titans_state& st, index_t b, index_t hkv, index_t group) {
    const index_t L = k.tokens(), dk = k.dim(), dv = v.dim(), H = st.hidden();
    const index_t C = opt.chunk < L ? opt.chunk : L;
    auto& ws = titans_scratch::local();
    ws.prepare(fn, C, dk, dv, H);
    float *kn = ws.k.data(), *qn = ws.q.data(), *d2 = ws.d2.data(), *pre = ws.pre.data(), *z = ws.z.data(), *d1 = ws.d1.data();
    float *u = ws.u.data(), *hq = ws.h.data(), *y = ws.y.data(), *th = ws.th.data(), *et = ws.et.data(), *al = ws.al.data();
    float* M = st.weights(b, hkv);
    float* S = st.momentum(b, hkv);
    // Linear: W [dv][dk]. MLP: W1 [H][dk] (first), W2 [dv][H].
    const memory_layer first{M, S, Deep ? H : dv, dk, Deep ? d1 : d2, kn};
    const memory_layer second{M + H * dk, S + H * dk, dv, H, d2, z};
    for (index_t t0 = 0; t0 < L; t0 += C) {
        const index_t c = L - t0 < C ? L - t0 : C;
        // Gradients at the chunk's start memory (Eq. 12), as rank-1 factors.
        for (index_t n = 0; n < c; ++n) {
            th[n] = to_float(*theta.row(b, hkv, t0 + n));
            et[n] = to_float(*eta.row(b, hkv, t0 + n));
            al[n] = to_float(*alpha.row(b, hkv, t0 + n));
            float* kr = kn + n * dk;
            load_normalised<Arch>(k.row(b, hkv, t0 + n), kr, dk, opt.normalize_qk, 1.0f);
            float* p = y;
            if constexpr (Deep) {
                float* a = pre + n * H;
                float* zr = z + n * H;
                for (index_t j = 0; j < H; ++j) a[j] = simd::dot<Arch>(M + j * dk, kr, dk), zr[j] = Act::value(a[j]);
                for (index_t o = 0; o < dv; ++o) p[o] = simd::dot<Arch>(second.W + o * H, zr, H);
            } else {
                for (index_t o = 0; o < dv; ++o) p[o] = simd::dot<Arch>(M + o * dk, kr, dk);
            }
            const TV* vr = v.row(b, hkv, t0 + n);
            float* dr = d2 + n * dv;
            for (index_t o = 0; o < dv; ++o) dr[o] = 2.0f * (p[o] - to_float(vr[o]));
            if constexpr (Deep) {
                float* g = d1 + n * H;
                for (index_t j = 0; j < H; ++j) g[j] = 0.0f;
                for (index_t o = 0; o < dv; ++o) axpy<Arch>(dr[o], second.W + o * H, g, H);  // W2ᵀ D2
                for (index_t j = 0; j < H; ++j) g[j] *= Act::derivative(pre[n * H + j]);
            }
        }
        ws.cf.compute(th, et, al, c, C);
        // Reads y_t = M_t(q_t) (Eq. 15), or M_{t−1}(q_t), of every query head of this kv head.
        const index_t lag = opt.read == titans_read::before_update ? 1 : 0;
        for (index_t n = 0; n < c; ++n)
            for (index_t gq = 0; gq < group; ++gq) {
                const index_t h = hkv * group + gq;
                load_normalised<Arch>(q.row(b, h, t0 + n), qn, dk, opt.normalize_qk, 1.0f);
                if constexpr (Deep) {
                    layer_read<Arch>(first, ws.cf, n + 1 - lag, qn, u);
                    for (index_t j = 0; j < H; ++j) hq[j] = Act::value(u[j]);
                    layer_read<Arch>(second, ws.cf, n + 1 - lag, hq, y);
                } else {
                    layer_read<Arch>(first, ws.cf, n + 1 - lag, qn, y);
                }
                store_scaled<Arch>(out.row(b, h, t0 + n), y, dv, 1.0f);
            }
        layer_update<Arch>(first, ws.cf, c);
        if constexpr (Deep) layer_update<Arch>(second, ws.cf, c);
    }
}

// The state's floats as a view, for the overlap checks.
inline tensor_view<const float> state_view(const titans_state& st) {
    return tensor_view<const float>(st.data().data(), {1, 1, static_cast<index_t>(st.data().size()), 1}, {0, 0, 1});
}

template <class Q, class K, class V, class Th, class Et, class Al, class O>
void check_titans(const char* fn, const Q& q, const K& k, const V& v, const Th& theta, const Et& eta, const Al& alpha, const O& out,
                  const titans_state& st, bool deep, const titans_options& opt) {
    check_qkvo(fn, q, k, v, out, true);
    check_per_token(fn, "theta", theta, k.batch(), k.heads(), k.tokens());
    check_per_token(fn, "eta", eta, k.batch(), k.heads(), k.tokens());
    check_per_token(fn, "alpha", alpha, k.batch(), k.heads(), k.tokens());
    require_no_alias(fn, out, named(theta, "theta"), named(eta, "eta"), named(alpha, "alpha"));
    require(!st.empty() && st.batch() == q.batch() && st.heads() == k.heads() && st.dk() == q.dim() && st.dv() == v.dim(), fn,
            ": state shape (batch ", st.batch(), ", kv heads ", st.heads(), ", dk ", st.dk(), ", dv ", st.dv(),
            ") does not match the inputs (batch ", q.batch(), ", kv heads ", k.heads(), ", dk ", q.dim(), ", dv ", v.dim(), ")");
    require((st.hidden() > 0) == deep, fn,
            deep ? ": the state holds a linear memory (hidden 0); titans_mlp needs hidden > 0"
                 : ": the state holds an MLP memory (hidden > 0); use titans_mlp");
    require(opt.chunk > 0, fn, ": titans_options::chunk must be ≥ 1, got ", opt.chunk);
    // The state is written while every input is read: none may live in it.
    const tensor_view<const float> sv = state_view(st);
    require(!attune::detail::shares_elements(out, sv), fn, ": out overlaps the state's memory");
    require(!attune::detail::shares_elements(q, sv) && !attune::detail::shares_elements(k, sv) && !attune::detail::shares_elements(v, sv),
            fn, ": q, k or v overlaps the state's memory (it is written during the call)");
    require(!attune::detail::shares_elements(theta, sv) && !attune::detail::shares_elements(eta, sv) &&
                !attune::detail::shares_elements(alpha, sv),
            fn, ": theta, eta or alpha overlaps the state's memory (it is written during the call)");
}

template <bool Deep, class Act, class Arch, class Q, class K, class V, class Th, class Et, class Al, class O, class Exec>
void titans_run(const char* fn, const Q& q_in, const K& k_in, const V& v_in, const Th& th_in, const Et& eta_in, const Al& al_in,
                const O& out_in, titans_state& st, const titans_options& opt, const Exec& exec) {
    const tensor_view<const element_t<Q>> q = q_in;
    const tensor_view<const element_t<K>> k = k_in;
    const tensor_view<const element_t<V>> v = v_in;
    const tensor_view<const element_t<Th>> theta = th_in;
    const tensor_view<const element_t<Et>> eta = eta_in;
    const tensor_view<const element_t<Al>> alpha = al_in;
    const tensor_view<element_t<O>> out = out_in;
    check_titans(fn, q, k, v, theta, eta, alpha, out, st, Deep, opt);
    const index_t group = q.heads() / k.heads(), kv_heads = k.heads(), L = q.tokens();
    // The calling thread's work space first: a size the allocator refuses fails before any state changes.
    if (L > 0) titans_scratch::local().prepare(fn, opt.chunk < L ? opt.chunk : L, q.dim(), v.dim(), st.hidden());
    if (L > 0)
        ::attune::detail::parallel_for(exec, q.batch() * kv_heads, [&](index_t item) {
            titans_item<Deep, Act, Arch>(fn, opt, q, k, v, theta, eta, alpha, out, st, item / kv_heads, item % kv_heads, group);
        });
    st.add_tokens(q.tokens());
}

}  // namespace detail

/// Titans' memory with a linear memory M(x) = W x (W dv×dk in `st`, hidden 0): prefill over L
/// tokens or a decode step (L = 1), continuing from `st` and leaving it at the last token. θ, η, α:
/// [B, Hkv, L, 1] (token_scalars). out [B, Hq, L, dv] gets y_t = M_t(q_t). See the top of this file.
template <class Arch = default_arch, class Q, class K, class V, class Th, class Et, class Al, class O, class Exec = default_executor>
void titans_linear(const Q& q, const K& k, const V& v, const Th& theta, const Et& eta, const Al& alpha, const O& out, titans_state& st,
                   const titans_options& opt = {}, const Exec& exec = {}) {
    detail::titans_run<false, gelu, Arch>("linear::titans_linear", q, k, v, theta, eta, alpha, out, st, opt, exec);
}

/// Titans' memory with a 2-layer MLP memory M(x) = W2 σ(W1 x) (`st` built with hidden > 0), σ the
/// activation policy `Act` (gelu, silu, or one with the same static value/derivative); otherwise
/// as titans_linear.
template <class Arch = default_arch, class Q, class K, class V, class Th, class Et, class Al, class O, class Act = gelu,
          class Exec = default_executor>
void titans_mlp(const Q& q, const K& k, const V& v, const Th& theta, const Et& eta, const Al& alpha, const O& out, titans_state& st,
                Act = {}, const titans_options& opt = {}, const Exec& exec = {}) {
    detail::titans_run<true, Act, Arch>("linear::titans_mlp", q, k, v, theta, eta, alpha, out, st, opt, exec);
}

}  // namespace attune::linear
