// Attention maps in a text-to-image cross-attention: 64 image tokens (an 8×8 latent) attend to 77
// text tokens. map_attention writes the weights averaged over the heads (the map diffusion
// editing and attention-map losses read: Hertz et al., Prompt-to-Prompt, 2022), and key_log_bias
// steers the attention towards one text token by scaling its weight (Zhang et al., PASTA, 2023).
// Both are checked against a direct computation of P in double.
#include <attune/attune.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {
const int H = 8, LQ = 64, LK = 77, D = 64, TOKEN = 5;

// The direct computation: p_hij = softmax_j(q_hi·k_hj / √D + ln c_j) in double.
double weight(const std::vector<float>& q, const std::vector<float>& k, int h, int i, int j, double c) {
    std::vector<double> s(LK);
    double mx = -1e300, sum = 0.0;
    for (int t = 0; t < LK; ++t) {
        double x = 0.0;
        for (int d = 0; d < D; ++d) x += double(q[(std::size_t(h) * LQ + i) * D + d]) * k[(std::size_t(h) * LK + t) * D + d];
        s[std::size_t(t)] = x / std::sqrt(double(D)) + (t == TOKEN ? std::log(c) : 0.0);
        mx = std::max(mx, s[std::size_t(t)]);
    }
    for (double& x : s) sum += (x = std::exp(x - mx));
    return s[std::size_t(j)] / sum;
}
}  // namespace

int main() {
    std::mt19937 rng(3);
    std::normal_distribution<float> normal;
    std::vector<float> q(std::size_t(H) * LQ * D), k(std::size_t(H) * LK * D), v(k.size()), out(q.size()), lse(std::size_t(H) * LQ);
    for (auto* x : {&q, &k, &v})
        for (float& e : *x) e = normal(rng);
    const auto Q = attune::view_bhld<const float>(q.data(), 1, H, LQ, D);
    const auto K = attune::view_bhld<const float>(k.data(), 1, H, LK, D);
    const auto V = attune::view_bhld<const float>(v.data(), 1, H, LK, D);
    const auto O = attune::view_bhld(out.data(), 1, H, LQ, D);
    attune::options opt;
    opt.lse = attune::lse_view(lse.data(), 1, H, LQ);

    // 1. Cross-attention (no mask), then the mean map over the 8 heads: [64 image tokens][77].
    std::vector<float> mean(std::size_t(LQ) * LK);
    const auto M = attune::view_bhld(mean.data(), 1, 1, LQ, LK);
    attune::map_options mo;
    mo.reduce = attune::map_reduce::mean;
    attune::attention(Q, K, V, O, attune::variant<>{}, opt);
    attune::map_attention(Q, K, attune::tensor_view<const float>(opt.lse), M, attune::variant<>{}, mo);

    // 2. Steering: text token 5's weight scaled by 4 on every head, the rows renormalised.
    const float c = 4.0f;
    const auto steer = attune::variant<attune::no_mask, attune::key_log_bias>({}, attune::key_log_bias::scale_keys(LK, {TOKEN}, c));
    std::vector<float> steered(mean.size());
    const auto S = attune::view_bhld(steered.data(), 1, 1, LQ, LK);
    attune::attention(Q, K, V, O, steer, opt);
    attune::map_attention(Q, K, attune::tensor_view<const float>(opt.lse), S, steer, mo);

    std::printf("mean attention of the 8x8 image tokens to text token %d, before -> after steering (x%.0f):\n", TOKEN, double(c));
    double err = 0.0;
    for (int i = 0; i < LQ; ++i) {
        double ref = 0.0, ref_steered = 0.0;
        for (int h = 0; h < H; ++h) ref += weight(q, k, h, i, TOKEN, 1.0) / H, ref_steered += weight(q, k, h, i, TOKEN, c) / H;
        err = std::max(
            {err, std::fabs(ref - mean[std::size_t(i) * LK + TOKEN]), std::fabs(ref_steered - steered[std::size_t(i) * LK + TOKEN])});
        std::printf(" %.3f>%.3f%s", double(mean[std::size_t(i) * LK + TOKEN]), double(steered[std::size_t(i) * LK + TOKEN]),
                    i % 8 == 7 ? "\n" : "");
    }
    // Every row of the mean map sums to 1 (no sink), checked on a whole row against the direct P.
    for (int j = 0; j < LK; ++j) {
        double ref = 0.0;
        for (int h = 0; h < H; ++h) ref += weight(q, k, h, 17, j, 1.0) / H;
        err = std::max(err, std::fabs(ref - mean[std::size_t(17) * LK + j]));
    }
    std::printf("against the direct computation: max |error| %.2e\n", err);
    const bool ok = err < 1e-5;
    std::printf("%s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
