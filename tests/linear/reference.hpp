#pragma once
// Naive double-precision references of the linear family, written from SPEC.md §1/§3 with the
// weight matrices materialised (w_ij for every query/key pair), independent of the kernels'
// chunking, state and feature-map code. Results as attune::reference::result (double outputs).
#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "attune/core/view.hpp"
#include "attune/reference/softmax.hpp"

namespace linear_ref {

using attune::index_t;
using fmap = std::function<double(double)>;

inline double elu1(double x) { return x > 0 ? x + 1 : std::exp(x); }
inline double relu(double x) { return x > 0 ? x : 0.0; }
inline double ident(double x) { return x; }
inline double sigm(double x) { return 1.0 / (1.0 + std::exp(-x)); }

template <class T>
std::vector<double> row(const attune::tensor_view<T>& x, index_t b, index_t h, index_t t, const fmap& f = ident, double pre = 1.0) {
    std::vector<double> r(static_cast<std::size_t>(x.dim()));
    for (index_t d = 0; d < x.dim(); ++d) r[static_cast<std::size_t>(d)] = f(pre * static_cast<double>(attune::to_float(x(b, h, t, d))));
    return r;
}
inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
}

inline attune::reference::result make(index_t B, index_t H, index_t L, index_t D) {
    attune::reference::result r;
    r.batch = B, r.heads = H, r.tokens = L, r.dim = D;
    r.out.assign(static_cast<std::size_t>(B * H * L * D), 0.0);
    r.lse.assign(static_cast<std::size_t>(B * H * L), 0.0);
    return r;
}

// o_i = Σ_j w_ij v_j / (Σ_j w_ij + eps) (or without the division), w_ij = φ(q_i)·φ(k_j) over visible j.
// Causal: query i sees keys j ≤ i (Lq == Lk). A zero divisor gives zeros.
template <class TQ, class TK, class TV>
attune::reference::result kernelised(const attune::tensor_view<TQ>& q, const attune::tensor_view<TK>& k, const attune::tensor_view<TV>& v,
                                     const fmap& phi, bool causal, bool normalize, double eps) {
    const index_t B = q.batch(), Hq = q.heads(), group = Hq / k.heads(), Lq = q.tokens(), Lk = k.tokens(), Dv = v.dim();
    auto r = make(B, Hq, Lq, Dv);
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < Hq; ++h) {
            const index_t hk = h / group;
            std::vector<std::vector<double>> K, Vr;
            for (index_t j = 0; j < Lk; ++j) K.push_back(row(k, b, hk, j, phi)), Vr.push_back(row(v, b, hk, j));
            for (index_t i = 0; i < Lq; ++i) {
                const auto Q = row(q, b, h, i, phi);
                std::vector<double> w(static_cast<std::size_t>(Lk), 0.0);
                double den = 0;
                for (index_t j = 0; j < Lk; ++j)
                    if (!causal || j <= i) den += (w[static_cast<std::size_t>(j)] = dot(Q, K[static_cast<std::size_t>(j)]));
                const double f = normalize ? (den + eps == 0 ? 0.0 : 1.0 / (den + eps)) : 1.0;
                for (index_t d = 0; d < Dv; ++d) {
                    double s = 0;
                    for (index_t j = 0; j < Lk; ++j)
                        s += w[static_cast<std::size_t>(j)] * Vr[static_cast<std::size_t>(j)][static_cast<std::size_t>(d)];
                    r.at(b, h, i, d) = s * f;
                }
            }
        }
    return r;
}

// InLine: w_ij = c·(φq_i·φk_j − φq_i·k̄) + 1/N with c = scale/N (divide) or scale.
template <class TQ, class TK, class TV>
attune::reference::result inline_attn(const attune::tensor_view<TQ>& q, const attune::tensor_view<TK>& k, const attune::tensor_view<TV>& v,
                                      const fmap& phi, double scale, bool divide) {
    const index_t B = q.batch(), Hq = q.heads(), group = Hq / k.heads(), Lq = q.tokens(), N = k.tokens(), Dv = v.dim();
    const double c = divide ? scale / static_cast<double>(N) : scale;
    auto r = make(B, Hq, Lq, Dv);
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < Hq; ++h) {
            const index_t hk = h / group;
            std::vector<std::vector<double>> K, Vr;
            for (index_t j = 0; j < N; ++j) K.push_back(row(k, b, hk, j, phi)), Vr.push_back(row(v, b, hk, j));
            for (index_t i = 0; i < Lq; ++i) {
                const auto Q = row(q, b, h, i, phi);
                double mean_dot = 0;
                for (index_t s = 0; s < N; ++s) mean_dot += dot(Q, K[static_cast<std::size_t>(s)]) / static_cast<double>(N);
                for (index_t j = 0; j < N; ++j) {
                    const double w = c * (dot(Q, K[static_cast<std::size_t>(j)]) - mean_dot) + 1.0 / static_cast<double>(N);
                    for (index_t d = 0; d < Dv; ++d) r.at(b, h, i, d) += w * Vr[static_cast<std::size_t>(j)][static_cast<std::size_t>(d)];
                }
            }
        }
    return r;
}

// Flowformer (SPEC.md §3), with the weights A_i·I_i·(φq_i·φk_j)·C_j materialised. Causal: the
// refinement uses I'_i = (i+1)·I_i, O'_j = (j+1)·O_j, the output I_i; Ô clamped to [−clamp, clamp].
template <class TQ, class TK, class TV>
attune::reference::result flow(const attune::tensor_view<TQ>& q, const attune::tensor_view<TK>& k, const attune::tensor_view<TV>& v,
                               bool causal, double eps = 1e-6, double clamp = -1.0) {
    if (clamp < 0) clamp = causal ? 10.0 : 1.0;
    const index_t B = q.batch(), H = q.heads(), n = q.tokens(), m = k.tokens(), D = q.dim(), Dv = v.dim();
    auto r = make(B, H, n, Dv);
    auto edot = [&](const std::vector<double>& x, const std::vector<double>& y) {
        double s = 0;
        for (index_t f = 0; f < D; ++f) s += (x[static_cast<std::size_t>(f)] + eps) * (y[static_cast<std::size_t>(f)] + eps);
        return s;
    };
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < H; ++h) {
            std::vector<std::vector<double>> Q, K, Vr;
            for (index_t i = 0; i < n; ++i) Q.push_back(row(q, b, h, i, sigm));
            for (index_t j = 0; j < m; ++j) K.push_back(row(k, b, h, j, sigm)), Vr.push_back(row(v, b, h, j));
            // sums of φk over keys visible to query i / of φq over queries that see key j
            auto ksum = [&](index_t upto) {
                std::vector<double> s(static_cast<std::size_t>(D), 0.0);
                for (index_t j = 0; j < upto; ++j)
                    for (index_t f = 0; f < D; ++f)
                        s[static_cast<std::size_t>(f)] += K[static_cast<std::size_t>(j)][static_cast<std::size_t>(f)];
                return s;
            };
            auto qsum = [&](index_t upto) {
                std::vector<double> s(static_cast<std::size_t>(D), 0.0);
                for (index_t i = 0; i < upto; ++i)
                    for (index_t f = 0; f < D; ++f)
                        s[static_cast<std::size_t>(f)] += Q[static_cast<std::size_t>(i)][static_cast<std::size_t>(f)];
                return s;
            };
            std::vector<double> I(static_cast<std::size_t>(n)), O(static_cast<std::size_t>(m)), A(static_cast<std::size_t>(n)),
                C(static_cast<std::size_t>(m));
            for (index_t i = 0; i < n; ++i)
                I[static_cast<std::size_t>(i)] =
                    (causal ? double(i + 1) : 1.0) / edot(Q[static_cast<std::size_t>(i)], ksum(causal ? i + 1 : m));
            for (index_t j = 0; j < m; ++j)
                O[static_cast<std::size_t>(j)] =
                    (causal ? double(j + 1) : 1.0) / edot(K[static_cast<std::size_t>(j)], qsum(causal ? j + 1 : n));
            std::vector<double> Oh(static_cast<std::size_t>(m));
            for (index_t i = 0; i < n; ++i) {
                std::vector<double> s(static_cast<std::size_t>(D), 0.0);
                for (index_t j = 0; j < (causal ? i + 1 : m); ++j)
                    for (index_t f = 0; f < D; ++f)
                        s[static_cast<std::size_t>(f)] +=
                            K[static_cast<std::size_t>(j)][static_cast<std::size_t>(f)] * O[static_cast<std::size_t>(j)];
                const double Ih = edot(Q[static_cast<std::size_t>(i)], s) / (causal ? double(i + 1) : 1.0);  // O holds O'_j
                A[static_cast<std::size_t>(i)] = sigm(causal ? Ih : Ih * double(n) / double(m));
            }
            for (index_t j = 0; j < m; ++j) {
                std::vector<double> s(static_cast<std::size_t>(D), 0.0);
                for (index_t i = 0; i < (causal ? j + 1 : n); ++i)
                    for (index_t f = 0; f < D; ++f)
                        s[static_cast<std::size_t>(f)] +=
                            Q[static_cast<std::size_t>(i)][static_cast<std::size_t>(f)] * I[static_cast<std::size_t>(i)];
                Oh[static_cast<std::size_t>(j)] =
                    std::clamp(edot(K[static_cast<std::size_t>(j)], s) / (causal ? double(j + 1) : 1.0), -clamp, clamp);
            }
            for (index_t j = 0; j < m; ++j) {
                double z = 0;
                for (index_t l = 0; l < (causal ? j + 1 : m); ++l) z += std::exp(Oh[static_cast<std::size_t>(l)]);
                C[static_cast<std::size_t>(j)] = (causal ? double(j + 1) : double(m)) * std::exp(Oh[static_cast<std::size_t>(j)]) / z;
            }
            for (index_t i = 0; i < n; ++i)
                for (index_t j = 0; j < (causal ? i + 1 : m); ++j) {
                    const double Iout = I[static_cast<std::size_t>(i)] / (causal ? double(i + 1) : 1.0);  // I'_i → I_i
                    const double w = A[static_cast<std::size_t>(i)] * Iout *
                                     dot(Q[static_cast<std::size_t>(i)], K[static_cast<std::size_t>(j)]) * C[static_cast<std::size_t>(j)];
                    for (index_t d = 0; d < Dv; ++d) r.at(b, h, i, d) += w * Vr[static_cast<std::size_t>(j)][static_cast<std::size_t>(d)];
                }
        }
    return r;
}

// Gated delta rule, the recurrence itself in double: S_t = α_t S + β_t k_t (v_t − α_t Sᵀk_t)ᵀ, o_t = S_tᵀ(τ q_t),
// q and k L2-normalised when `normalize`. S0 (optional): [B][Hkv][dk][dv] start state, updated in place.
template <class TQ, class TK, class TV>
attune::reference::result gated_delta(const attune::tensor_view<TQ>& q, const attune::tensor_view<TK>& k, const attune::tensor_view<TV>& v,
                                      const std::vector<float>& g, const std::vector<float>& beta, double tau, bool normalize,
                                      std::vector<double>* S0 = nullptr) {
    const index_t B = q.batch(), Hq = q.heads(), Hk = k.heads(), group = Hq / Hk, L = q.tokens(), Dk = q.dim(), Dv = v.dim();
    auto r = make(B, Hq, L, Dv);
    std::vector<double> Sall = S0 ? *S0 : std::vector<double>(static_cast<std::size_t>(B * Hk * Dk * Dv), 0.0);
    auto unit = [&](std::vector<double> x) {
        if (!normalize) return x;
        const double n = std::sqrt(dot(x, x));
        for (auto& e : x) e = n > 0 ? e / n : 0.0;
        return x;
    };
    for (index_t b = 0; b < B; ++b)
        for (index_t hk = 0; hk < Hk; ++hk) {
            double* S = Sall.data() + (b * Hk + hk) * Dk * Dv;
            for (index_t t = 0; t < L; ++t) {
                const double a = std::exp(static_cast<double>(g[static_cast<std::size_t>((b * Hk + hk) * L + t)]));
                const double be = beta[static_cast<std::size_t>((b * Hk + hk) * L + t)];
                const auto kk = unit(row(k, b, hk, t)), vv = row(v, b, hk, t);
                std::vector<double> u(static_cast<std::size_t>(Dv), 0.0);
                for (index_t i = 0; i < Dk; ++i)
                    for (index_t j = 0; j < Dv; ++j) u[static_cast<std::size_t>(j)] += S[i * Dv + j] * kk[static_cast<std::size_t>(i)];
                for (index_t i = 0; i < Dk; ++i)
                    for (index_t j = 0; j < Dv; ++j)
                        S[i * Dv + j] = a * S[i * Dv + j] + be * kk[static_cast<std::size_t>(i)] *
                                                                (vv[static_cast<std::size_t>(j)] - a * u[static_cast<std::size_t>(j)]);
                for (index_t gq = 0; gq < group; ++gq) {
                    const index_t h = hk * group + gq;
                    const auto qq = unit(row(q, b, h, t));
                    for (index_t j = 0; j < Dv; ++j) {
                        double s = 0;
                        for (index_t i = 0; i < Dk; ++i) s += S[i * Dv + j] * tau * qq[static_cast<std::size_t>(i)];
                        r.at(b, h, t, j) = s;
                    }
                }
            }
        }
    if (S0) *S0 = Sall;
    return r;
}

// Softmax attention of one query (q [B, Hq, 1, dk]) over every prefix of the keys: out[t] over keys 0..t.
template <class TQ, class TK, class TV>
attune::reference::result prefix_softmax(const attune::tensor_view<TQ>& q, const attune::tensor_view<TK>& k,
                                         const attune::tensor_view<TV>& v, double tau) {
    const index_t B = q.batch(), Hq = q.heads(), group = Hq / k.heads(), L = k.tokens(), Dv = v.dim();
    auto r = make(B, Hq, L, Dv);
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < Hq; ++h) {
            const auto Q = row(q, b, h, 0);
            std::vector<double> s(static_cast<std::size_t>(L));
            for (index_t j = 0; j < L; ++j) s[static_cast<std::size_t>(j)] = tau * dot(Q, row(k, b, h / group, j));
            for (index_t t = 0; t < L; ++t) {
                double mx = -INFINITY, z = 0;
                for (index_t j = 0; j <= t; ++j) mx = std::max(mx, s[static_cast<std::size_t>(j)]);
                for (index_t j = 0; j <= t; ++j) z += std::exp(s[static_cast<std::size_t>(j)] - mx);
                for (index_t j = 0; j <= t; ++j) {
                    const double p = std::exp(s[static_cast<std::size_t>(j)] - mx) / z;
                    const auto vv = row(v, b, h / group, j);
                    for (index_t d = 0; d < Dv; ++d) r.at(b, h, t, d) += p * vv[static_cast<std::size_t>(d)];
                }
            }
        }
    return r;
}

// InLine's local term alone: the 3×3 depthwise cross-correlation of V on the grid, zero padding.
template <class TV, class TW>
attune::reference::result local_conv(const attune::tensor_view<TV>& v, const attune::tensor_view<TW>& w, index_t gh, index_t gw) {
    const index_t B = v.batch(), H = v.heads(), Dv = v.dim();
    auto r = make(B, H, v.tokens(), Dv);
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < H; ++h)
            for (index_t y = 0; y < gh; ++y)
                for (index_t x = 0; x < gw; ++x)
                    for (index_t c = 0; c < Dv; ++c) {
                        double s = 0;
                        for (index_t dy = -1; dy <= 1; ++dy)
                            for (index_t dx = -1; dx <= 1; ++dx) {
                                const index_t yy = y + dy, xx = x + dx;
                                if (yy < 0 || yy >= gh || xx < 0 || xx >= gw) continue;
                                s += static_cast<double>(attune::to_float(w(b, h, c, (dy + 1) * 3 + dx + 1))) *
                                     static_cast<double>(attune::to_float(v(b, h, yy * gw + xx, c)));
                            }
                        r.at(b, h, y * gw + x, c) = s;
                    }
    return r;
}

}  // namespace linear_ref
