// int8 Q·Kᵀ prefill (options::int8_qk; SageAttention, Zhang et al., ICLR 2025) on keys with outlier
// channels, as real models' keys have: a few channels carry a large offset common to every token.
// The output of the int8 scores is compared with attention computed directly in double precision
// (softmax of τ·q·k over the visible keys, then the weighted V): cosine similarity ≥ 0.999.
#include <attune/attune.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

int main() {
    const int H = 4, L = 300, D = 128;
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    std::vector<float> q(std::size_t(H) * L * D), k(q.size()), v(q.size()), out(q.size());
    for (auto* x : {&q, &k, &v})
        for (float& e : *x) e = normal(rng);
    for (int h = 0; h < H; ++h)  // channels 9 and 70: offsets of +20 and −15 on every key
        for (int t = 0; t < L; ++t) k[(std::size_t(h) * L + t) * D + 9] += 20.0f, k[(std::size_t(h) * L + t) * D + 70] -= 15.0f;
    attune::options opt;
    opt.int8_qk = true;
    attune::attention(attune::view_bhld<const float>(q.data(), 1, H, L, D), attune::view_bhld<const float>(k.data(), 1, H, L, D),
                      attune::view_bhld<const float>(v.data(), 1, H, L, D), attune::view_bhld(out.data(), 1, H, L, D), attune::causal{},
                      opt);

    const double tau = 1.0 / std::sqrt(double(D));
    double dot = 0, n_ours = 0, n_ref = 0, max_err = 0;
    std::vector<double> s(L), o(D);
    for (int h = 0; h < H; ++h)
        for (int i = 0; i < L; ++i) {  // square causal: query i sees keys 0..i
            const float* qi = &q[(std::size_t(h) * L + i) * D];
            double m = -INFINITY, l = 0;
            for (int j = 0; j <= i; ++j) {
                double x = 0;
                for (int d = 0; d < D; ++d) x += double(qi[d]) * k[(std::size_t(h) * L + j) * D + d];
                s[j] = tau * x;
                m = std::max(m, s[j]);
            }
            std::fill(o.begin(), o.end(), 0.0);
            for (int j = 0; j <= i; ++j) {
                const double p = std::exp(s[j] - m);
                l += p;
                for (int d = 0; d < D; ++d) o[d] += p * v[(std::size_t(h) * L + j) * D + d];
            }
            for (int d = 0; d < D; ++d) {
                const double ref = o[d] / l, ours = out[(std::size_t(h) * L + i) * D + d];
                dot += ours * ref, n_ours += ours * ours, n_ref += ref * ref;
                max_err = std::max(max_err, std::fabs(ours - ref));
            }
        }
    const double cosine = dot / std::sqrt(n_ours * n_ref);
    std::printf("int8 Q·Kᵀ (%s scores): cosine similarity %.6f, max |error| %.4f against double precision\n",
                attune::kernel::backend_name(attune::kernel::int8_qk_backend<attune::default_arch>()), cosine, max_err);
    if (!(cosine >= 0.999)) {
        std::printf("FAILED: cosine similarity below 0.999\n");
        return 1;
    }
    return 0;
}
