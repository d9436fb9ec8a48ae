// Landmark attention at inference (Mohtashami & Jaggi 2023): a cache of 40 blocks of 31 tokens,
// each with the landmark key a trained model would give it (random here). Block 17's
// landmark is planted to match the query (a "passkey"): the decode query retrieves it among its
// top 2 blocks. The output is then checked against landmark_attention run directly on the retrieved
// blocks and the query's own block, rotated by the RoPE pre-pass to the positions the authors' code
// gives them (the retrieved blocks moved just before the query's block).
#include <attune/attune.hpp>
#include <attune/cache.hpp>
#include <attune/prepass/rope.hpp>
#include <attune/sparse/landmark.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

int main() {
    using attune::index_t;
    const index_t H = 4, D = 64, B = 31, blocks = 40, L = blocks * B + 10, top_k = 2, S = B + 1, planted = 17;
    std::mt19937 rng(1);
    std::normal_distribution<float> normal;
    std::vector<float> k(std::size_t(H) * L * D), v(k.size()), lm(std::size_t(H) * blocks * D), q(std::size_t(H) * D);
    for (auto* x : {&k, &v, &lm, &q})
        for (float& e : *x) e = normal(rng);
    attune::rope r;
    r.head_dim = D;
    const auto pos = [&](index_t t) { return t / B * S + t % B; };  // a landmark token follows each block

    // The passkey: R(scored position) · landmark = 3 · R(query position) · q, so q·landmark scores
    // high at the position the authors score older blocks at (slot 0 of the retrieved window).
    const index_t c = (L - 1) / B, prefix = (c - top_k - 1) * S;
    for (index_t h = 0; h < H; ++h)
        for (index_t d = 0; d < D; ++d) lm[(std::size_t(planted) * H + h) * D + d] = 3.0f * q[std::size_t(h) * D + d];
    std::vector<std::int32_t> back(1, std::int32_t(pos(L - 1) - (prefix + B)));
    attune::apply_rope(r, attune::tensor_view<float>(lm.data() + std::size_t(planted) * H * D, {1, H, 1, D}, {H * D, D, D}),
                       attune::rope_positions::per_token(back.data(), 0));

    attune::landmark_attention_cache<float> cache(H, D, D, B, r);
    for (index_t b = 0; b * B < L; ++b) {  // block by block, each landmark once its block is complete
        const index_t n = b * B + B <= L ? B : L - b * B;
        cache.append(attune::tensor_view<const float>(k.data() + b * B * D, {1, H, n, D}, {H * L * D, L * D, D}),
                     attune::tensor_view<const float>(v.data() + b * B * D, {1, H, n, D}, {H * L * D, L * D, D}));
        if (n == B) cache.append_landmark(attune::tensor_view<const float>(lm.data() + b * H * D, {1, H, 1, D}, {H * D, D, D}));
    }
    std::vector<float> out(std::size_t(H) * D), want(out.size());
    cache.attend(attune::view_bhld<const float>(q.data(), 1, H, 1, D), attune::view_bhld(out.data(), 1, H, 1, D), top_k);

    // The same by hand, per head: the two retrieved blocks (slot e, or e + 1 for the 2 most recent
    // blocks), their landmarks and the own block, rotated, then the grouped softmax.
    bool found = true;
    double err = 0.0;
    for (index_t h = 0; h < H; ++h) {
        const index_t* sel = cache.selected().data() + h * top_k;
        found = found && (sel[0] == planted || sel[1] == planted);
        const index_t own = L - c * B, n = top_k * B + own;
        std::vector<float> kk(std::size_t(n) * D), vv(kk.size()), ll(std::size_t(top_k) * D),
            qq(q.begin() + h * D, q.begin() + (h + 1) * D);
        std::vector<std::int32_t> kp(static_cast<std::size_t>(n)), lp(static_cast<std::size_t>(top_k)), qp(1, std::int32_t(pos(L - 1)));
        for (index_t e = 0; e < n; ++e) {
            const index_t t = e < top_k * B ? sel[e / B] * B + e % B : c * B + (e - top_k * B);
            std::copy_n(k.data() + (std::size_t(h) * L + t) * D, D, kk.data() + e * D);
            std::copy_n(v.data() + (std::size_t(h) * L + t) * D, D, vv.data() + e * D);
            if (e < top_k * B) {  // a retrieved block's token: at its slot (one more for the recent blocks)
                const index_t slot = e / B + (sel[e / B] >= c - top_k ? 1 : 0);
                kp[std::size_t(e)] = std::int32_t(prefix + slot * S + e % B);
            } else {  // the own block's token: its true position
                kp[std::size_t(e)] = std::int32_t(pos(t));
            }
        }
        for (index_t e = 0; e < top_k; ++e) {
            std::copy_n(lm.data() + (std::size_t(sel[e]) * H + h) * D, D, ll.data() + e * D);
            lp[std::size_t(e)] = std::int32_t(prefix + (e + (sel[e] >= c - top_k ? 1 : 0)) * S + B);
        }
        const auto view = [&](std::vector<float>& x, index_t rows) { return attune::view_bhld(x.data(), 1, 1, rows, D); };
        attune::apply_rope(r, view(kk, n), attune::rope_positions::per_token(kp.data()));
        attune::apply_rope(r, view(ll, top_k), attune::rope_positions::per_token(lp.data()));
        attune::apply_rope(r, view(qq, 1), attune::rope_positions::per_token(qp.data()));
        attune::landmark_attention(attune::tensor_view<const float>(view(qq, 1)), attune::tensor_view<const float>(view(kk, n)),
                                   attune::tensor_view<const float>(view(vv, n)), attune::tensor_view<const float>(view(ll, top_k)),
                                   attune::view_bhld(want.data() + h * D, 1, 1, 1, D), B);
        for (index_t d = 0; d < D; ++d) err = std::fmax(err, std::fabs(out[std::size_t(h * D + d)] - want[std::size_t(h * D + d)]));
    }
    std::printf("retrieved blocks (head 0): %ld %ld, planted %ld; max |cache − direct| %.2e\n", long(cache.selected()[0]),
                long(cache.selected()[1]), long(planted), err);
    const bool ok = found && err < 1e-5;
    std::printf("%s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
