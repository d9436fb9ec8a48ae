// RCMHA (Sugiharto, Aradea and Mubarok, 2023): a depth-wise causal convolution (kernel 3) over the
// sequence on Q, K and V, then Transformer-XL relative attention (Dai et al., 2019):
//   A_ij = τ·((q_i + u)ᵀk_j + (q_i + v)ᵀ W_R R_{i−j}),
// with attune's tile-wise modifier (no L×L matrix) and checked against that formula computed
// directly in double, with an L×L score matrix per head.
#include <attune/attune.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

int main() {
    const int H = 4, L = 160, D = 64, M = H * D, K = 3;  // heads, tokens, head dim, model dim, conv taps
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    const auto randn = [&](std::size_t n, float s) {
        std::vector<float> x(n);
        for (float& e : x) e = s * normal(rng);
        return x;
    };
    std::vector<float> q = randn(std::size_t(H) * L * D, 1.0f), k = randn(q.size(), 1.0f), v = randn(q.size(), 1.0f);
    const std::vector<float> w_r = randn(std::size_t(H) * D * M, 1.0f / std::sqrt(float(M)));
    const std::vector<float> u = randn(std::size_t(H) * D, 0.5f), vb = randn(std::size_t(H) * D, 0.5f);

    // 1. The depth-wise convolutions (one kernel of 3 taps per head and channel, causal).
    std::vector<float> qc(q.size()), kc(q.size()), vc(q.size());
    const auto bhld = [&](std::vector<float>& x) { return attune::view_bhld(x.data(), 1, H, L, D); };
    std::vector<attune::depthwise_conv> convs;
    for (int i = 0; i < 3; ++i) {  // Q, K, V each have their own kernels
        attune::depthwise_conv c;
        c.heads = H, c.dim = D, c.kernel = K, c.weight = randn(std::size_t(H) * D * K, 0.6f);
        convs.push_back(c);
    }
    attune::depthwise_conv_tokens(convs[0], attune::tensor_view<const float>(bhld(q)), bhld(qc));
    attune::depthwise_conv_tokens(convs[1], attune::tensor_view<const float>(bhld(k)), bhld(kc));
    attune::depthwise_conv_tokens(convs[2], attune::tensor_view<const float>(bhld(v)), bhld(vc));

    // 2. Relative attention: R for distances 0 … L − 1 (causal), q + u, then the variant.
    const attune::relative_xl rel(attune::relative_xl::sinusoid(M, 0, L), 0, L, M, w_r, u, vb, H, D);
    std::vector<float> qu(q.size()), out(q.size());
    attune::add_content_bias(rel, attune::tensor_view<const float>(bhld(qc)), bhld(qu));
    attune::attention(attune::tensor_view<const float>(bhld(qu)), attune::tensor_view<const float>(bhld(kc)),
                      attune::tensor_view<const float>(bhld(vc)), bhld(out), attune::variant(attune::causal{}, rel));

    // 3. The same in double, straight from the formulas.
    const auto conv = [&](const std::vector<float>& x, const attune::depthwise_conv& c) {
        std::vector<double> y(x.size(), 0.0);
        for (int h = 0; h < H; ++h)
            for (int t = 0; t < L; ++t)
                for (int d = 0; d < D; ++d)
                    for (int j = 0; j < K; ++j)
                        if (t - (K - 1) + j >= 0)
                            y[(std::size_t(h) * L + t) * D + d] +=
                                double(c.weight[(std::size_t(h) * D + d) * K + j]) * x[(std::size_t(h) * L + t - (K - 1) + j) * D + d];
        return y;
    };
    const std::vector<double> Q = conv(q, convs[0]), Kd = conv(k, convs[1]), V = conv(v, convs[2]);
    double err = 0.0;
    for (int h = 0; h < H; ++h) {
        std::vector<double> r(std::size_t(L) * D, 0.0);  // r_t = W_R R_t, t = 0 … L − 1
        for (int t = 0; t < L; ++t)
            for (int m = 0; m < M; ++m) {
                const double a = t * std::pow(10000.0, -2.0 * (m % (M / 2)) / M), R = m < M / 2 ? std::sin(a) : std::cos(a);
                for (int d = 0; d < D; ++d) r[std::size_t(t) * D + d] += double(w_r[(std::size_t(h) * D + d) * M + m]) * R;
            }
        std::vector<double> S(std::size_t(L) * L);  // the L×L matrix attune never forms
        for (int i = 0; i < L; ++i) {
            double mx = -1e300, sum = 0.0;
            for (int j = 0; j <= i; ++j) {
                double s = 0.0;
                for (int d = 0; d < D; ++d) {
                    const double qi = Q[(std::size_t(h) * L + i) * D + d];
                    s += (qi + u[std::size_t(h) * D + d]) * Kd[(std::size_t(h) * L + j) * D + d] +
                         (qi + vb[std::size_t(h) * D + d]) * r[std::size_t(i - j) * D + d];
                }
                S[std::size_t(i) * L + j] = s / std::sqrt(double(D));
                mx = std::max(mx, S[std::size_t(i) * L + j]);
            }
            for (int j = 0; j <= i; ++j) sum += (S[std::size_t(i) * L + j] = std::exp(S[std::size_t(i) * L + j] - mx));
            for (int d = 0; d < D; ++d) {
                double o = 0.0;
                for (int j = 0; j <= i; ++j) o += S[std::size_t(i) * L + j] / sum * V[(std::size_t(h) * L + j) * D + d];
                err = std::max(err, std::abs(o - out[(std::size_t(h) * L + i) * D + d]));
            }
        }
    }
    std::printf("RCMHA, %d heads × %d tokens × dim %d: max |attune − direct float64| = %.2e\n", H, L, D, err);
    std::printf("position tables: %d floats (an L×L score matrix per head would be %d)\n", H * L * D + H * L, H * L * L);
    if (!(err < 1e-4)) {
        std::printf("FAILED\n");
        return 1;
    }
    return 0;
}
