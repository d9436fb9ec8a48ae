// Landmark attention (Mohtashami & Jaggi 2023): landmark_attention (sparse/landmark.hpp) and
// landmark_attention_cache (cache/landmark_attention_cache.hpp) against float64 references written
// from the authors' code (epfml/landmark-attention): the grouped softmax as their
// landmark_grouped_softmax computes it over the interleaved sequence (a landmark token after each
// block, is_mem flags, the last-section mask), and the inference path's retrieval and RoPE
// positions as llama_mem.py's mem_freq / cache_top_k branch forms them; then the hostile inputs.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/cache/landmark_attention_cache.hpp"
#include "attune/sparse/landmark.hpp"
#include "sparse/helpers.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;
using namespace attune_test;
using namespace sparse_test;
using arch = ATTUNE_TEST_ARCH;

namespace {

// A key of the interleaved sequence: an ordinary token's key and value, or a landmark (no value).
struct lm_key {
    std::vector<double> k, v;
    bool is_mem = false;
};

// The authors' landmark_grouped_softmax for one query (the last entry of `seq` it may see is
// `seq[visible − 1]`, the query's own token), in float64: mem_id = landmarks strictly before;
// the last section = mem_id equal to the query's; the landmark of the last section is masked;
// groups: landmarks and the last section share the top group, every other token the group of its
// mem_id; a token's probability is its group's softmax times its landmark's top-group
// probability; landmarks get zero. Returns Σ p·v.
std::vector<double> grouped_softmax_ref(const std::vector<double>& q, const std::vector<lm_key>& seq, std::size_t visible, double tau,
                                        std::size_t dv) {
    std::vector<long> mem_id(visible);
    long landmarks_before = 0;
    for (std::size_t x = 0; x < visible; ++x) {
        mem_id[x] = landmarks_before;
        landmarks_before += seq[x].is_mem ? 1 : 0;
    }
    const long last = mem_id[visible - 1];
    std::vector<double> s(visible);
    std::vector<bool> top(visible), masked(visible);
    std::vector<long> group(visible, -1);
    for (std::size_t x = 0; x < visible; ++x) {
        double d = 0;
        for (std::size_t e = 0; e < q.size(); ++e) d += q[e] * seq[x].k[e];
        s[x] = tau * d;
        const bool last_section = mem_id[x] == last;
        masked[x] = seq[x].is_mem && last_section;
        top[x] = !masked[x] && (seq[x].is_mem || last_section);
        if (!masked[x] && !top[x]) group[x] = mem_id[x];
    }
    // Group sums (no maximum subtracted: the test's scores are small, float64 holds their exps).
    double z_top = 0;
    std::vector<double> z_group(static_cast<std::size_t>(last + 1), 0.0), landmark_p(static_cast<std::size_t>(last + 1), 0.0);
    for (std::size_t x = 0; x < visible; ++x) {
        if (top[x]) z_top += std::exp(s[x]);
        if (group[x] >= 0) z_group[static_cast<std::size_t>(group[x])] += std::exp(s[x]);
    }
    for (std::size_t x = 0; x < visible; ++x)
        if (top[x] && seq[x].is_mem) landmark_p[static_cast<std::size_t>(mem_id[x])] = std::exp(s[x]) / z_top;
    std::vector<double> out(dv, 0.0);
    for (std::size_t x = 0; x < visible; ++x) {
        double p = 0;
        if (top[x] && !seq[x].is_mem) p = std::exp(s[x]) / z_top;
        if (group[x] >= 0)
            p = std::exp(s[x]) / z_group[static_cast<std::size_t>(group[x])] * landmark_p[static_cast<std::size_t>(group[x])];
        for (std::size_t d = 0; d < dv && p != 0; ++d) out[d] += p * seq[x].v[d];
    }
    return out;
}

std::vector<double> row_of(const attune::tensor_view<float>& x, index_t h, index_t t) {
    std::vector<double> r(static_cast<std::size_t>(x.dim()));
    for (index_t d = 0; d < x.dim(); ++d) r[static_cast<std::size_t>(d)] = x(0, h, t, d);
    return r;
}

// Llama's RoPE (rotate_half: element i pairs with i + D/2), inv_freq_i = θ^(−2i/D), in float64.
std::vector<double> rope_ref(std::vector<double> x, double pos, double theta = 10000.0) {
    const std::size_t D = x.size(), half = D / 2;
    std::vector<double> y(D);
    for (std::size_t i = 0; i < half; ++i) {
        const double a = pos * std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(D));
        y[i] = x[i] * std::cos(a) - x[i + half] * std::sin(a);
        y[i + half] = x[i + half] * std::cos(a) + x[i] * std::sin(a);
    }
    return y;
}

double max_err(const attune::tensor_view<float>& out, index_t h, index_t i, const std::vector<double>& ref) {
    double e = 0;
    for (index_t d = 0; d < out.dim(); ++d) e = std::max(e, std::abs(out(0, h, i, d) - ref[static_cast<std::size_t>(d)]));
    return e;
}

}  // namespace

TEST_CASE("landmark_attention: the grouped softmax against the authors' form over the interleaved sequence", "[cache][landmark]") {
    const index_t dims[] = {32, 64, 80, 128}, groups[] = {1, 4, 8};
    int config = 0;
    for (index_t L : {1, 7, 63, 65, 129})
        for (index_t B : {1, 7, 16, 21, 64}) {  // 7 and 21 divide 63, 7 divides 7, 16 and 64 divide none
            const index_t D = dims[config % 4], G = groups[config % 3], Hkv = 2, Hq = Hkv * G, Dv = config % 2 ? D : 48;
            ++config;
            std::mt19937 rng(static_cast<unsigned>(100 + config));
            tensor<float> k(1, Hkv, L, D), v(1, Hkv, L, Dv), lm(1, Hkv, L / B, D), q(1, Hq, L, D);
            k.fill_random(rng);
            v.fill_random(rng);
            lm.fill_random(rng);
            q.fill_random(rng);
            for (index_t Lq : {L, (L + 1) / 2}) {
                INFO("L " << L << " block " << B << " D " << D << " GQA " << G << " Lq " << Lq);
                const attune::tensor_view<const float> qs(q.view.row(0, 0, L - Lq), {1, Hq, Lq, D}, q.view.strides());
                tensor<float> out(1, Hq, Lq, Dv);
                out.poison();
                attune::landmark_attention<arch>(qs, k.cview(), v.cview(), lm.cview(), out.view, B);
                double err = 0;
                for (index_t hk = 0; hk < Hkv; ++hk) {
                    std::vector<lm_key> seq;
                    std::vector<std::size_t> at(static_cast<std::size_t>(L));  // token t's index in the interleaved sequence
                    for (index_t t = 0; t < L; ++t) {
                        at[static_cast<std::size_t>(t)] = seq.size();
                        seq.push_back({row_of(k.view, hk, t), row_of(v.view, hk, t), false});
                        if ((t + 1) % B == 0) seq.push_back({row_of(lm.view, hk, (t + 1) / B - 1), {}, true});
                    }
                    for (index_t h = hk * G; h < (hk + 1) * G; ++h)
                        for (index_t i = 0; i < Lq; ++i) {
                            const auto ref =
                                grouped_softmax_ref(row_of(q.view, h, L - Lq + i), seq, at[static_cast<std::size_t>(L - Lq + i)] + 1,
                                                    1.0 / std::sqrt(static_cast<double>(D)), static_cast<std::size_t>(Dv));
                            err = std::max(err, max_err(out.view, h, i, ref));
                        }
                }
                CHECK(err < 2e-5);
            }
        }
}

TEST_CASE("landmark_attention: a query sees its block and every earlier block's tokens through their landmark only", "[cache][landmark]") {
    // Two blocks of 4: landmark 0 scored −∞-like (−60 after scaling) hides block 0 entirely; scored far
    // above the own block, block 0's softmax alone decides the output.
    const index_t D = 32, B = 4, L = 6;
    std::mt19937 rng(3);
    tensor<float> k(1, 1, L, D), v(1, 1, L, D), lm(1, 1, 1, D), q(1, 1, 1, D);
    k.fill_random(rng, 0.1f);
    v.fill_random(rng);
    q.fill_random(rng, 0.1f);
    for (float sign : {-1.0f, 1.0f}) {
        for (index_t d = 0; d < D; ++d) lm.view(0, 0, 0, d) = sign * 400.0f * q.view(0, 0, 0, d) / 0.32f;
        tensor<float> out(1, 1, 1, D);
        attune::landmark_attention<arch>(q.cview(), k.cview(), v.cview(), lm.cview(), out.view, B);
        const index_t lo = sign < 0 ? 4 : 0, hi = sign < 0 ? 6 : 4;  // the block that carries all the weight
        std::vector<double> w(static_cast<std::size_t>(hi - lo)), ref(static_cast<std::size_t>(D), 0.0);
        double z = 0;
        for (index_t j = lo; j < hi; ++j) {
            double s = 0;
            for (index_t d = 0; d < D; ++d) s += static_cast<double>(q.view(0, 0, 0, d)) * k.view(0, 0, j, d);
            z += w[static_cast<std::size_t>(j - lo)] = std::exp(s / std::sqrt(static_cast<double>(D)));
        }
        for (index_t j = lo; j < hi; ++j)
            for (index_t d = 0; d < D; ++d)
                ref[static_cast<std::size_t>(d)] += w[static_cast<std::size_t>(j - lo)] / z * v.view(0, 0, j, d);
        CHECK(max_err(out.view, 0, 0, ref) < 1e-5);
    }
}

namespace {

// The cache's reference for one (query head, query): llama_mem.py's mem_freq branch in float64.
// full blocks c, top_k' = min(top_k, c), prefix_len = c·(B+1) − (top_k'+1)·(B+1); landmark b is
// scored at prefix_len + mem_index·(B+1) + B, mem_indices = [0 × (c − top_k'), 1..top_k']; the
// top_k' best (sorted) are placed at arange(top_k'·(B+1)) + prefix_len, shifted by B+1 when the block
// is among the last top_k'; the own block's tokens at their true positions.
struct cache_ref_row {
    std::vector<double> out;
    std::vector<index_t> chosen;
};

cache_ref_row cache_ref(const std::vector<double>& q_pre, index_t hk, index_t p, index_t B, index_t top_k, const tensor<float>& k,
                        const tensor<float>& v, const tensor<float>& lm) {
    const index_t S = B + 1, c = p / B, top = std::min(top_k, c), prefix_len = c * S - (top + 1) * S;
    const auto true_pos = [&](index_t t) { return static_cast<double>(t / B * S + t % B); };
    const auto q = rope_ref(q_pre, true_pos(p));
    const double tau = 1.0 / std::sqrt(static_cast<double>(q.size()));
    std::vector<double> score(static_cast<std::size_t>(c));
    for (index_t b = 0; b < c; ++b) {
        const index_t mem_index = b < c - top ? 0 : b - (c - top) + 1;
        const auto key = rope_ref(row_of(lm.view, hk, b), static_cast<double>(mem_index * S + B + prefix_len));
        for (std::size_t d = 0; d < q.size(); ++d) score[static_cast<std::size_t>(b)] += tau * q[d] * key[d];
    }
    std::vector<index_t> order(static_cast<std::size_t>(c));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](index_t a, index_t b) { return score[static_cast<std::size_t>(a)] > score[static_cast<std::size_t>(b)]; });
    order.resize(static_cast<std::size_t>(top));
    std::sort(order.begin(), order.end());
    // The attended sequence: the selected blocks (tokens, then landmark) and the own block.
    std::vector<lm_key> seq;
    for (index_t e = 0; e < top; ++e) {
        const index_t b = order[static_cast<std::size_t>(e)], shift = b >= c - top ? S : 0;
        for (index_t j = 0; j <= B; ++j) {
            const double pos = static_cast<double>(e * S + j + shift + prefix_len);
            if (j < B) seq.push_back({rope_ref(row_of(k.view, hk, b * B + j), pos), row_of(v.view, hk, b * B + j), false});
            else seq.push_back({rope_ref(row_of(lm.view, hk, b), pos), {}, true});
        }
    }
    for (index_t t = c * B; t <= p; ++t) seq.push_back({rope_ref(row_of(k.view, hk, t), true_pos(t)), row_of(v.view, hk, t), false});
    return {grouped_softmax_ref(q, seq, seq.size(), tau, static_cast<std::size_t>(v.view.dim())), order};
}

}  // namespace

TEST_CASE("landmark_attention_cache: top-k retrieval and re-mapped positions against the authors' inference path", "[cache][landmark]") {
    const index_t dims[] = {32, 64, 80, 128}, groups[] = {1, 4, 8};
    int config = 0;
    for (index_t L : {1, 7, 63, 65, 129})
        for (index_t B : {7, 16}) {
            const index_t D = dims[config % 4], G = groups[config % 3], Hkv = 2, Hq = Hkv * G, Dv = config % 2 ? D : 40;
            ++config;
            std::mt19937 rng(static_cast<unsigned>(7 + config));
            tensor<float> k(1, Hkv, L, D), v(1, Hkv, L, Dv), lm(1, Hkv, L / B, D), q(1, Hq, B, D);
            k.fill_random(rng);
            v.fill_random(rng);
            lm.fill_random(rng, 2.0f);
            q.fill_random(rng, 2.0f);
            attune::rope r;
            r.head_dim = D;
            attune::landmark_attention_cache<float> cache(Hkv, D, Dv, B, r);
            // Appends in uneven chunks, each landmark as soon as its block completes (the last one left out).
            for (index_t at = 0; at < L;) {
                const index_t n = std::min({L - at, (at / B + 1) * B - at, index_t{1} + at % 5});
                cache.append(tokens_of(k.view, at, n), tokens_of(v.view, at, n));
                at += n;
                if (at % B == 0 && at < L) cache.append_landmark(tokens_of(lm.view, at / B - 1, 1));
            }
            const index_t c = (L - 1) / B;
            REQUIRE(cache.landmarks() == c);
            for (index_t Lq : {index_t{1}, L - c * B})
                for (index_t top : {0, 2, 100}) {
                    INFO("L " << L << " block " << B << " D " << D << " GQA " << G << " Lq " << Lq << " top_k " << top);
                    const attune::tensor_view<const float> qs(q.view.row(0, 0, 0), {1, Hq, Lq, D}, q.view.strides());
                    tensor<float> out(1, Hq, Lq, Dv);
                    out.poison();
                    cache.attend<arch>(qs, out.view, top);
                    double err = 0;
                    bool same_blocks = true;
                    for (index_t h = 0; h < Hq; ++h)
                        for (index_t i = 0; i < Lq; ++i) {
                            const auto ref = cache_ref(row_of(q.view, h, i), h / G, L - Lq + i, B, top, k, v, lm);
                            err = std::max(err, max_err(out.view, h, i, ref.out));
                            for (index_t e = 0; e < top; ++e) {
                                const index_t want =
                                    e < static_cast<index_t>(ref.chosen.size()) ? ref.chosen[static_cast<std::size_t>(e)] : -1;
                                same_blocks = same_blocks && cache.selected()[static_cast<std::size_t>((h * Lq + i) * top + e)] == want;
                            }
                        }
                    CHECK(same_blocks);
                    CHECK(err < 5e-5);
                }
        }
}

TEST_CASE("landmark_attention_cache: retrieving every block equals landmark_attention at the true positions", "[cache][landmark]") {
    const index_t Hkv = 2, Hq = 8, D = 64, B = 9, L = 70;  // 7 complete blocks, 7 tokens in the last
    std::mt19937 rng(11);
    tensor<float> k(1, Hkv, L, D), v(1, Hkv, L, D), lm(1, Hkv, L / B, D), q(1, Hq, 7, D);
    k.fill_random(rng);
    v.fill_random(rng);
    lm.fill_random(rng);
    q.fill_random(rng);
    attune::rope r;
    r.head_dim = D;
    attune::landmark_attention_cache<float> cache(Hkv, D, D, B, r);
    for (index_t b = 0; b * B < L; ++b) {
        const index_t n = std::min(B, L - b * B);
        cache.append(tokens_of(k.view, b * B, n), tokens_of(v.view, b * B, n));
        if (n == B) cache.append_landmark(tokens_of(lm.view, b, 1));
    }
    tensor<float> out(1, Hq, 7, D), want(1, Hq, 7, D);
    cache.attend<arch>(q.cview(), out.view, /*top_k beyond the 7 blocks: all of them, as the authors' min(top_k, blocks)*/ 50);
    // The same by hand: rotate everything to the authors' true positions with attune's RoPE pre-pass.
    std::vector<std::int32_t> kpos(L), lpos(L / B), qpos(7);
    for (index_t t = 0; t < L; ++t) kpos[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(t / B * (B + 1) + t % B);
    for (index_t b = 0; b < L / B; ++b) lpos[static_cast<std::size_t>(b)] = static_cast<std::int32_t>(b * (B + 1) + B);
    for (index_t i = 0; i < 7; ++i) qpos[static_cast<std::size_t>(i)] = kpos[static_cast<std::size_t>(L - 7 + i)];
    attune::apply_rope<arch>(r, k.view, attune::rope_positions::per_token(kpos.data()));
    attune::apply_rope<arch>(r, lm.view, attune::rope_positions::per_token(lpos.data()));
    attune::apply_rope<arch>(r, q.view, attune::rope_positions::per_token(qpos.data()));
    attune::landmark_attention<arch>(q.cview(), k.cview(), v.cview(), lm.cview(), want.view, B);
    double err = 0;
    for (index_t h = 0; h < Hq; ++h)
        for (index_t i = 0; i < 7; ++i)
            for (index_t d = 0; d < D; ++d)
                err = std::max(err, static_cast<double>(std::abs(out.view(0, h, i, d) - want.view(0, h, i, d))));
    CHECK(err < 1e-5);
}

TEST_CASE("landmark attention: hostile inputs", "[cache][landmark]") {
    const index_t H = 2, D = 32, B = 4, L = 10;
    std::mt19937 rng(2);
    tensor<float> k(1, H, L, D), v(1, H, L, D), lm(1, H, L / B, D), q(1, 2 * H, L, D), out(1, 2 * H, L, D);
    k.fill_random(rng);
    v.fill_random(rng);
    lm.fill_random(rng);
    q.fill_random(rng);
    CHECK_THROWS_WITH(attune::landmark_attention<arch>(q.cview(), k.cview(), v.cview(), lm.cview(), out.view, 0),
                      Catch::Contains("block (0)"));
    CHECK_THROWS_WITH(attune::landmark_attention<arch>(q.cview(), k.cview(), v.cview(), lm.cview(), out.view, 3),
                      Catch::Contains("landmarks count (2)"));
    CHECK_THROWS_WITH(attune::landmark_attention<arch>(q.cview(), k.cview(), v.cview(), tokens_of(lm.view, 0, 1), out.view, B),
                      Catch::Contains("landmarks count (1)"));
    CHECK_THROWS_WITH(attune::landmark_attention<arch>(q.cview(), k.cview(), v.cview(), lm.cview(), attune::tensor_view<float>(k.view), B),
                      Catch::Contains("out must be"));
    tensor<float> q3(1, 3, L, D), out3(1, 3, L, D);
    CHECK_THROWS_WITH(attune::landmark_attention<arch>(q3.cview(), k.cview(), v.cview(), lm.cview(), out3.view, B),
                      Catch::Contains("multiple of kv heads"));
    {  // out overlapping q, the landmarks
        tensor<float> qo(1, 2 * H, L, D);
        CHECK_THROWS_WITH(attune::landmark_attention<arch>(qo.cview(), k.cview(), v.cview(), lm.cview(), qo.view, B),
                          Catch::Contains("out overlaps q"));
        tensor<float> big(1, 2 * H, L, D);
        const attune::tensor_view<const float> inside(big.view.row(0, 0, 0), {1, H, L / B, D}, big.view.strides());
        CHECK_THROWS_WITH(attune::landmark_attention<arch>(q.cview(), k.cview(), v.cview(), inside, big.view, B),
                          Catch::Contains("out overlaps landmarks"));
    }
    CHECK_THROWS_WITH(attune::landmark_attention<arch>(q.cview(), tokens_of(k.view, 0, 5), tokens_of(v.view, 0, 5),
                                                       tokens_of(lm.view, 0, 1), out.view, B),
                      Catch::Contains("10 queries but only 5 keys"));
    CHECK_THROWS_WITH(attune::landmark_attention<arch>(q.cview(), k.cview(), v.cview(), lm.cview(), out.view, B, -1.0f),
                      Catch::Contains("scale"));

    attune::rope r;
    r.head_dim = D;
    CHECK_THROWS_WITH((attune::landmark_attention_cache<float>(H, D, D, 0, r)), Catch::Contains("block (0)"));
    attune::rope r16 = r;
    r16.head_dim = 16;
    CHECK_THROWS_WITH((attune::landmark_attention_cache<float>(H, D, D, B, r16)), Catch::Contains("rope::head_dim (16)"));
    attune::landmark_attention_cache<float> cache(H, D, D, B, r, /*max_tokens*/ 7);
    cache.append(tokens_of(k.view, 0, 4), tokens_of(v.view, 0, 4));
    // Block 0 is complete: its landmark comes before block 1's tokens.
    CHECK_THROWS_WITH(cache.append(tokens_of(k.view, 4, 1), tokens_of(v.view, 4, 1)), Catch::Contains("append_landmark first"));
    CHECK(cache.tokens() == 4);
    CHECK_THROWS_WITH(cache.append_landmark(tokens_of(lm.view, 0, 2)), Catch::Contains("landmark count mismatch"));
    CHECK(cache.landmarks() == 0);
    tensor<float> lm1(1, H + 1, 1, D);
    CHECK_THROWS_WITH(cache.append_landmark(lm1.cview()), Catch::Contains("landmark keys must be"));
    cache.append_landmark(tokens_of(lm.view, 0, 1));
    CHECK_THROWS_WITH(cache.append_landmark(tokens_of(lm.view, 1, 1)), Catch::Contains("landmark count mismatch"));
    cache.append(tokens_of(k.view, 4, 3), tokens_of(v.view, 4, 3));  // 7 tokens: block 1 holds 3
    const attune::tensor_view<const float> q1(q.view.row(0, 0, 0), {1, 2 * H, 1, D}, q.view.strides());
    tensor<float> o1(1, 2 * H, 1, D);
    CHECK_THROWS_WITH(cache.attend<arch>(q1, o1.view, -1), Catch::Contains("top_k (-1)"));
    const attune::tensor_view<const float> q4(q.view.row(0, 0, 0), {1, 2 * H, 4, D}, q.view.strides());
    tensor<float> o4(1, 2 * H, 4, D);
    CHECK_THROWS_WITH(cache.attend<arch>(q4, o4.view, 1), Catch::Contains("span blocks 0 to 1"));
    tensor<float> q8(1, 2 * H, 8, D), o8(1, 2 * H, 8, D);
    CHECK_THROWS_WITH(cache.attend<arch>(q8.cview(), o8.view, 1), Catch::Contains("append first"));
    tensor<float> qo(1, 2 * H, 1, D);
    CHECK_THROWS_WITH(cache.attend<arch>(qo.cview(), qo.view, 1), Catch::Contains("out overlaps q"));
    CHECK_THROWS_WITH(cache.attend<arch>(q1, o1.view, 1, std::nanf("")), Catch::Contains("scale"));
    // top_k past the blocks retrieves them all (the authors' min(top_k, blocks)); it equals top_k = blocks.
    tensor<float> oa(1, 2 * H, 1, D), ob(1, 2 * H, 1, D);
    cache.attend<arch>(q1, oa.view, 100);
    cache.attend<arch>(q1, ob.view, 1);
    CHECK(std::equal(oa.view.data(), oa.view.data() + oa.view.size(), ob.view.data()));
    CHECK(cache.selected() == std::vector<index_t>(2 * H, 0));
    CHECK_THROWS_WITH(cache.append(tokens_of(k.view, 7, 1), tokens_of(v.view, 7, 1)), Catch::Contains("capacity exceeded"));
    CHECK(cache.tokens() == 7);
    CHECK_THROWS_AS(cache.landmark(0, 1), attune::error);
}
