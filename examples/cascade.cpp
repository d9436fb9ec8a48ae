// Cascade (shared-prefix) attention: three requests share a 1000-token system prompt. The queries
// of all requests attend to the prefix in ONE call (its K/V read once), each request attends to its
// own suffix causally, and attune::merge combines the two results through their log-sum-exps.
// Checked against plain causal attention over prefix + suffix for each request.
#include <attune/attune.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <type_traits>
#include <vector>

int main() {
    const int Hq = 8, Hkv = 2, D = 64, P = 1000;
    const std::vector<int> suffix = {37, 120, 5};  // each request's own tokens (also its queries)
    int N = 0;
    for (int s : suffix) N += s;  // all requests' queries, stacked along the token axis

    std::mt19937 rng(11);
    std::normal_distribution<float> normal;
    auto random = [&](std::size_t n) {
        std::vector<float> x(n);
        for (float& e : x) e = normal(rng);
        return x;
    };
    const std::vector<float> pk = random(std::size_t(Hkv) * P * D), pv = random(pk.size());  // shared prefix K/V
    const std::vector<float> q = random(std::size_t(Hq) * N * D);                            // [1, Hq, N, D]
    const std::vector<float> sk = random(std::size_t(Hkv) * N * D), sv = random(sk.size());  // suffix K/V, [1, Hkv, N, D]

    // 1. Every request's queries over the shared prefix: no mask (the whole prefix precedes them).
    std::vector<float> o_pre(q.size()), lse_pre(std::size_t(Hq) * N);
    attune::options opt;
    opt.lse = attune::lse_view(lse_pre.data(), 1, Hq, N);
    attune::attention(attune::view_bhld<const float>(q.data(), 1, Hq, N, D), attune::view_bhld<const float>(pk.data(), 1, Hkv, P, D),
                      attune::view_bhld<const float>(pv.data(), 1, Hkv, P, D), attune::view_bhld(o_pre.data(), 1, Hq, N, D),
                      attune::no_mask{}, opt);

    // Tokens [first, first + n) of a [1, H, N, d] buffer (d = 1 for LSEs).
    auto rows = [&](auto* data, int H, int first, int n, int d) {
        using T = std::remove_pointer_t<decltype(data)>;
        return attune::tensor_view<T>(data + std::size_t(first) * d, {1, H, n, d}, {H * N * d, N * d, d});
    };
    double worst = 0.0;
    for (int r = 0, first = 0; r < int(suffix.size()); first += suffix[r], ++r) {
        const int n = suffix[r];
        // 2. This request's queries over its own suffix, causal.
        std::vector<float> o_suf(std::size_t(Hq) * n * D), lse_suf(std::size_t(Hq) * n), o(o_suf.size());
        opt.lse = attune::lse_view(lse_suf.data(), 1, Hq, n);
        attune::attention(rows(q.data(), Hq, first, n, D), rows(sk.data(), Hkv, first, n, D), rows(sv.data(), Hkv, first, n, D),
                          attune::view_bhld(o_suf.data(), 1, Hq, n, D), attune::causal{}, opt);
        // 3. Merge: attention over prefix ∪ suffix.
        attune::merge(rows(o_pre.data(), Hq, first, n, D), rows(lse_pre.data(), Hq, first, n, 1),
                      attune::view_bhld(o_suf.data(), 1, Hq, n, D), attune::lse_view(lse_suf.data(), 1, Hq, n),
                      attune::view_bhld(o.data(), 1, Hq, n, D));

        // Check: causal attention over the request's whole sequence, prefix + suffix.
        std::vector<float> k(std::size_t(Hkv) * (P + n) * D), v(k.size()), direct(o.size());
        for (int h = 0; h < Hkv; ++h) {
            std::copy_n(pk.data() + std::size_t(h) * P * D, P * D, k.data() + std::size_t(h) * (P + n) * D);
            std::copy_n(pv.data() + std::size_t(h) * P * D, P * D, v.data() + std::size_t(h) * (P + n) * D);
            std::copy_n(rows(sk.data(), Hkv, first, n, D).row(0, h, 0), n * D, k.data() + (std::size_t(h) * (P + n) + P) * D);
            std::copy_n(rows(sv.data(), Hkv, first, n, D).row(0, h, 0), n * D, v.data() + (std::size_t(h) * (P + n) + P) * D);
        }
        attune::attention(rows(q.data(), Hq, first, n, D), attune::view_bhld<const float>(k.data(), 1, Hkv, P + n, D),
                          attune::view_bhld<const float>(v.data(), 1, Hkv, P + n, D), attune::view_bhld(direct.data(), 1, Hq, n, D),
                          attune::causal{});  // bottom-right: suffix token i sees the prefix and suffix tokens ≤ i
        double err = 0.0;
        for (std::size_t i = 0; i < o.size(); ++i) err = std::max(err, double(std::fabs(o[i] - direct[i])));
        std::printf("request %d: %d prefix + %3d own tokens, max |merged - direct| = %.2e\n", r, P, n, err);
        worst = std::max(worst, err);
    }
    return worst < 1e-5 ? 0 : 1;
}
