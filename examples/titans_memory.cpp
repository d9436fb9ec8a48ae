// Three memories that learn at test time, on one small sequence, each checked against a direct
// computation: the gated delta rule (Yang et al., 2024), and Titans' neural memory (Behrouz et al.,
// 2024) with a linear memory (momentum, weight decay; token by token) and a 2-layer GELU MLP
// (chunks of 4 tokens: gradients at the chunk's start, §3.2). With no momentum (η = 0), no decay
// (α = 0, g = 0) and θ = β/2, Titans' linear memory is the delta rule: shown too.
#include <attune/linear.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace lin = attune::linear;
using vec = std::vector<double>;

static vec unit(const float* x, int n) {
    double s = 0;
    for (int i = 0; i < n; ++i) s += double(x[i]) * x[i];
    vec r(n);
    for (int i = 0; i < n; ++i) r[i] = s > 0 ? x[i] / std::sqrt(s) : 0.0;
    return r;
}
static double gelu(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
static double gelu_prime(double x) { return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI); }

static double max_err(const std::vector<float>& got, const std::vector<double>& want) {
    double e = 0;
    for (std::size_t i = 0; i < got.size(); ++i) e = std::max(e, std::abs(got[i] - want[i]));
    return e;
}

int main() {
    const int L = 16, D = 16, Hd = 32, chunk = 4;
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    std::uniform_real_distribution<float> u01(0.05f, 0.5f);
    std::vector<float> q(L * D), k(L * D), v(L * D), theta(L), eta(L), alpha(L), g(L), beta(L), out(L * D);
    for (auto* x : {&q, &k, &v})
        for (float& e : *x) e = normal(rng);
    for (int t = 0; t < L; ++t) theta[t] = 0.5f * u01(rng), eta[t] = 0.9f, alpha[t] = 0.1f * u01(rng), g[t] = -u01(rng), beta[t] = u01(rng);
    const auto Q = attune::view_bhld<const float>(q.data(), 1, 1, L, D), K = attune::view_bhld<const float>(k.data(), 1, 1, L, D),
               V = attune::view_bhld<const float>(v.data(), 1, 1, L, D);
    const auto O = attune::view_bhld(out.data(), 1, 1, L, D);
    const auto scalars = [&](std::vector<float>& s) { return lin::token_scalars<const float>(s.data(), 1, 1, L); };
    bool ok = true;

    // 1. Gated delta rule: S_t = a S + β k (v − a Sᵀk)ᵀ, o_t = S_tᵀ q (a = e^g, τ = 1).
    {
        lin::state st(1, 1, D, D);
        lin::gated_delta_options opt;
        opt.scale = 1.0f;
        lin::gated_delta_step(Q, K, V, scalars(g), scalars(beta), O, st, opt);
        vec S(D * D, 0.0), want(L * D);  // S[i][j], dk × dv
        for (int t = 0; t < L; ++t) {
            const vec kt = unit(&k[t * D], D), qt = unit(&q[t * D], D);
            const double a = std::exp(double(g[t]));
            for (int j = 0; j < D; ++j) {
                double sk = 0;
                for (int i = 0; i < D; ++i) sk += S[i * D + j] * kt[i];
                for (int i = 0; i < D; ++i) S[i * D + j] = a * S[i * D + j] + beta[t] * kt[i] * (v[t * D + j] - a * sk);
            }
            for (int j = 0; j < D; ++j) {
                want[t * D + j] = 0;
                for (int i = 0; i < D; ++i) want[t * D + j] += S[i * D + j] * qt[i];
            }
        }
        const double e = max_err(out, want);
        std::printf("gated delta rule            max |error| %.2e\n", e);
        ok = ok && e < 1e-4;
    }

    // 2. Titans, linear memory W (dv × dk): S = η S − θ·2(W k − v)kᵀ, W = (1 − α) W + S, y = W q.
    {
        lin::titans_state st(1, 1, D, D);
        lin::titans_linear(Q, K, V, scalars(theta), scalars(eta), scalars(alpha), O, st);
        vec W(D * D, 0.0), S(D * D, 0.0), want(L * D);
        for (int t = 0; t < L; ++t) {
            const vec kt = unit(&k[t * D], D), qt = unit(&q[t * D], D);
            for (int o = 0; o < D; ++o) {
                double e = -v[t * D + o];
                for (int i = 0; i < D; ++i) e += W[o * D + i] * kt[i];
                for (int i = 0; i < D; ++i)
                    S[o * D + i] = eta[t] * S[o * D + i] - theta[t] * 2 * e * kt[i],
                              W[o * D + i] = (1 - alpha[t]) * W[o * D + i] + S[o * D + i];
            }
            for (int o = 0; o < D; ++o) {
                want[t * D + o] = 0;
                for (int i = 0; i < D; ++i) want[t * D + o] += W[o * D + i] * qt[i];
            }
        }
        const double e = max_err(out, want);
        std::printf("Titans, linear memory       max |error| %.2e\n", e);
        ok = ok && e < 1e-4;
    }

    // 3. Titans, MLP memory W2 gelu(W1 x), chunks of 4: every gradient of a chunk at its first memory.
    {
        lin::titans_state st(1, 1, D, D, Hd);
        vec W1(Hd * D), W2(D * Hd), S1(Hd * D, 0.0), S2(D * Hd, 0.0), want(L * D);
        for (int i = 0; i < Hd * D; ++i) st.weights(0, 0)[i] = normal(rng) / std::sqrt(float(D)), W1[i] = st.weights(0, 0)[i];
        for (int i = 0; i < D * Hd; ++i)
            st.weights(0, 0)[Hd * D + i] = normal(rng) / std::sqrt(float(Hd)), W2[i] = st.weights(0, 0)[Hd * D + i];
        lin::titans_options opt;
        opt.chunk = chunk;
        lin::titans_mlp(Q, K, V, scalars(theta), scalars(eta), scalars(alpha), O, st, lin::gelu{}, opt);
        vec W1c, W2c;
        for (int t = 0; t < L; ++t) {
            if (t % chunk == 0) W1c = W1, W2c = W2;
            const vec kt = unit(&k[t * D], D), qt = unit(&q[t * D], D);
            vec a(Hd, 0.0), z(Hd), d(D), dz(Hd, 0.0);
            for (int j = 0; j < Hd; ++j) {
                for (int i = 0; i < D; ++i) a[j] += W1c[j * D + i] * kt[i];
                z[j] = gelu(a[j]);
            }
            for (int o = 0; o < D; ++o) {
                d[o] = -2.0 * v[t * D + o];
                for (int j = 0; j < Hd; ++j) d[o] += 2.0 * W2c[o * Hd + j] * z[j];
                for (int j = 0; j < Hd; ++j) dz[j] += W2c[o * Hd + j] * d[o];
            }
            for (int j = 0; j < Hd; ++j)
                for (int i = 0; i < D; ++i) {
                    const int x = j * D + i;
                    S1[x] = eta[t] * S1[x] - theta[t] * dz[j] * gelu_prime(a[j]) * kt[i], W1[x] = (1 - alpha[t]) * W1[x] + S1[x];
                }
            for (int o = 0; o < D; ++o)
                for (int j = 0; j < Hd; ++j) {
                    const int x = o * Hd + j;
                    S2[x] = eta[t] * S2[x] - theta[t] * d[o] * z[j], W2[x] = (1 - alpha[t]) * W2[x] + S2[x];
                }
            vec h(Hd, 0.0);
            for (int j = 0; j < Hd; ++j) {
                for (int i = 0; i < D; ++i) h[j] += W1[j * D + i] * qt[i];
                h[j] = gelu(h[j]);
            }
            for (int o = 0; o < D; ++o) {
                want[t * D + o] = 0;
                for (int j = 0; j < Hd; ++j) want[t * D + o] += W2[o * Hd + j] * h[j];
            }
        }
        const double e = max_err(out, want);
        std::printf("Titans, MLP memory, chunk 4 max |error| %.2e\n", e);
        ok = ok && e < 1e-4;
    }

    // 4. η = 0, α = 0, θ = β/2 against the gated delta rule with g = 0: the same memory.
    {
        std::vector<float> zero(L, 0.0f), half(L), out2(L * D);
        for (int t = 0; t < L; ++t) half[t] = 0.5f * beta[t];
        lin::titans_state st(1, 1, D, D);
        lin::titans_linear(Q, K, V, scalars(half), scalars(zero), scalars(zero), O, st);
        lin::state gd(1, 1, D, D);
        lin::gated_delta_options opt;
        opt.scale = 1.0f;
        lin::gated_delta_step(Q, K, V, scalars(zero), scalars(beta), attune::view_bhld(out2.data(), 1, 1, L, D), gd, opt);
        double e = 0;
        for (int i = 0; i < L * D; ++i) e = std::max(e, double(std::abs(out[i] - out2[i])));
        std::printf("Titans (η=0, α=0) vs delta  max |difference| %.2e\n", e);
        ok = ok && e < 1e-4;
    }
    std::printf(ok ? "ok\n" : "FAILED\n");
    return ok ? 0 : 1;
}
