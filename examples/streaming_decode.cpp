// Token-by-token decode with StreamingLLM's cache: 4 attention sinks + a window of the 252 most
// recent tokens. The cache's memory stays flat while the history grows, and each step equals
// sinks + window attention over the whole history (checked against attune::attention over it).
#include <attune/attune.hpp>
#include <attune/cache.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

int main() {
    const int Hq = 8, Hkv = 2, D = 64, sinks = 4, recent = 252, steps = 2048;
    attune::streaming_cache<float> cache(Hkv, D, D, sinks, recent);

    // The model's K/V for every token, kept here only to check the cache against a direct call.
    std::vector<float> hist_k(std::size_t(Hkv) * steps * D), hist_v(hist_k.size());
    auto history = [&](std::vector<float>& x, int first, int n) {  // tokens [first, first + n), [1, Hkv, n, D]
        return attune::tensor_view<const float>(x.data() + std::size_t(first) * D, {1, Hkv, n, D}, {Hkv * steps * D, steps * D, D});
    };
    std::mt19937 rng(1);
    std::normal_distribution<float> normal;
    for (float& x : hist_k) x = normal(rng);
    for (float& x : hist_v) x = normal(rng);

    std::vector<float> q(std::size_t(Hq) * D), out(q.size()), direct(q.size());
    double worst = 0.0;
    std::printf("%8s %14s %18s %12s\n", "tokens", "cache bytes", "full-cache bytes", "max |err|");
    for (int t = 0; t < steps; ++t) {
        for (float& x : q) x = normal(rng);  // this token's queries, from the model
        const auto q_t = attune::view_bhld<const float>(q.data(), 1, Hq, 1, D);
        cache.step(q_t, history(hist_k, t, 1), history(hist_v, t, 1), attune::view_bhld(out.data(), 1, Hq, 1, D));

        if ((t + 1) % 256 == 0) {  // check: the same step as sinks + window attention over all t + 1 tokens
            attune::attention(q_t, history(hist_k, 0, t + 1), history(hist_v, 0, t + 1), attune::view_bhld(direct.data(), 1, Hq, 1, D),
                              attune::sinks_window(sinks, recent));
            double err = 0.0;
            for (std::size_t i = 0; i < out.size(); ++i) err = std::max(err, double(std::fabs(out[i] - direct[i])));
            worst = std::max(worst, err);
            const std::size_t full = std::size_t(t + 1) * Hkv * 2 * D * sizeof(float);
            std::printf("%8d %14zu %18zu %12.2e\n", t + 1, cache.bytes(), full, err);
        }
    }
    const bool flat = cache.bytes() == std::size_t(Hkv) * (sinks + recent) * 2 * D * sizeof(float);
    std::printf("memory flat at %zu bytes: %s; max |err| vs direct attention = %.2e\n", cache.bytes(), flat ? "yes" : "NO", worst);
    return flat && worst < 1e-5 ? 0 : 1;
}
