// Sparse attention against the double reference on the selected key sets:
//  - gather_attention: lists per kv head and per query head, per query token and shared, padding
//    (−1) and duplicates, float and bf16 caches, LSE; out-of-range indices and bad shapes throw;
//  - topk_decode: the output is full attention; the selection is the naive top-K by probability
//    summed over the group's query heads; recycled_attention: full steps and the steps between
//    them attend to the selection plus the new tokens;
//  - shifted_groups (LongLoRA S2, SinkLoRA SF): through the tile engine vs the reference applying
//    the same visible(), with GQA groups whose query heads straddle H/2; classify() agrees with
//    visible() on every tile it is asked about.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/attune.hpp"
#include "attune/sparse.hpp"
#include "attune/testing.hpp"
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

// Random lists [B][heads][tokens][count] of positions < Lk with some padding and duplicates.
std::vector<index_t> random_lists(std::mt19937& rng, index_t rows, index_t count, index_t Lk) {
    std::uniform_int_distribution<index_t> pos(0, Lk - 1), pad(0, 9);
    std::vector<index_t> idx(static_cast<std::size_t>(rows * count));
    for (auto& x : idx) x = pad(rng) == 0 ? -1 : pos(rng);
    if (rows > 0 && count > 1) idx[1] = idx[0] < 0 ? 3 % Lk : idx[0];  // a duplicate
    if (rows > 1 && count > 0)
        for (index_t e = 0; e < count; ++e) idx[static_cast<std::size_t>(count + e)] = -1;  // an empty row
    return idx;
}

template <class T>
void check_gather(index_t B, index_t Hq, index_t Hkv, index_t Lq, index_t Lk, index_t D, bool per_query_head, bool per_token, index_t count,
                  std::uint32_t seed, index_t splits = 0) {
    INFO("splits " << splits << ", "
                   << "arch " << ATTUNE_TEST_ARCH_NAME << ", storage " << attune::storage_name<T>() << ": B " << B << " Hq " << Hq
                   << " Hkv " << Hkv << " Lq " << Lq << " Lk " << Lk << " per query head " << per_query_head << " per token " << per_token
                   << " count " << count);
    std::mt19937 rng(seed);
    tensor<float> q(B, Hq, Lq, D, layout::blhd, 3), out(B, Hq, Lq, D, layout::bhld, 2);
    tensor<T> k(B, Hkv, Lk, D, layout::blhd), v(B, Hkv, Lk, D);
    q.fill_random(rng);
    k.fill_random(rng);
    v.fill_random(rng);
    out.poison();
    const index_t lh = per_query_head ? Hq : Hkv, lt = per_token ? Lq : 1;
    const auto idx = random_lists(rng, B * lh * lt, count, Lk);
    const attune::index_view iv{idx.data(), B, lh, lt, count};
    lse_buffer lse(B, Hq, Lq);
    attune::options opt;
    opt.lse = lse.view;
    opt.kv_splits = splits;
    attune::sparse::gather_attention<arch>(q.cview(), k.cview(), v.cview(), iv, out.view, opt);
    auto ref = attune::reference::result::zeros(B, Hq, Lq, D);
    const index_t per = per_query_head ? 1 : Hq / Hkv, toks = per_token ? 1 : Lq;
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < lh; ++h)
            for (index_t t = 0; t < lt; ++t) {
                std::vector<index_t> keys;
                for (index_t e = 0; e < count; ++e)
                    if (iv.row(b, h, t)[e] >= 0) keys.push_back(iv.row(b, h, t)[e]);
                const index_t hkv = per_query_head ? h / (Hq / Hkv) : h;
                const auto kg = gather_rows(k.view, b, hkv, keys), vg = gather_rows(v.view, b, hkv, keys);
                const attune::tensor_view<const float> qs(q.view.row(b, h * per, per_token ? t : 0), {1, per, toks, D},
                                                          {0, q.view.strides()[1], q.view.strides()[2]});
                put(ref, attune::reference::attention(qs, kg.cview(), vg.cview()), b, h * per, per_token ? t : 0);
            }
    check_against_reference(out, ref, output_tolerance<float>(), &lse);
}

}  // namespace

TEST_CASE("gather_attention equals the reference on the listed keys", "[sparse]") {
    std::uint32_t seed = 100;
    for (bool pqh : {false, true})
        for (bool pt : {false, true}) {
            check_gather<float>(1, 8, 2, 1, 500, 64, pqh, pt, 37, seed++);
            check_gather<float>(2, 6, 3, 5, 300, 40, pqh, pt, 80, seed++);
            check_gather<attune::bf16>(1, 4, 4, 3, 200, 32, pqh, pt, 70, seed++);
        }
    check_gather<float>(1, 4, 1, 2, 50, 16, false, true, 0, seed++);  // empty lists: zeros, LSE −inf
    // Lists cut into parts merged with ⊕: forced, and chosen (few long lists, decode).
    check_gather<float>(1, 8, 2, 1, 500, 64, false, false, 80, seed++, 3);
    check_gather<float>(2, 6, 3, 4, 300, 40, true, true, 30, seed++, 7);
    check_gather<attune::half>(1, 8, 2, 1, 500, 64, false, false, 5, seed++, 9);  // more parts than entries
    check_gather<float>(1, 8, 2, 1, 3000, 64, false, false, 1500, seed++);
    check_gather<attune::bf16>(1, 4, 1, 1, 3000, 32, false, false, 1100, seed++);
}

TEST_CASE("gather_attention: bad input", "[sparse]") {
    tensor<float> q(1, 4, 1, 16), k(1, 2, 50, 16), v(1, 2, 50, 16), out(1, 4, 1, 16);
    std::vector<index_t> idx{0, 5, 49, 50, 1, 2, 3, 4};
    const attune::index_view iv{idx.data(), 1, 2, 1, 4};
    CHECK_THROWS_WITH(attune::sparse::gather_attention<arch>(q.cview(), k.cview(), v.cview(), iv, out.view),
                      Catch::Contains("key index 50 at entry 3 is out of range (k has 50 tokens)"));
    const attune::index_view three{idx.data(), 1, 3, 1, 2};
    CHECK_THROWS_WITH(attune::sparse::gather_attention<arch>(q.cview(), k.cview(), v.cview(), three, out.view),
                      Catch::Contains("index heads (3)"));
    const attune::index_view toks{idx.data(), 1, 2, 2, 2};
    CHECK_THROWS_WITH(attune::sparse::gather_attention<arch>(q.cview(), k.cview(), v.cview(), toks, out.view),
                      Catch::Contains("index tokens (2)"));
    tensor<float> out_bad(1, 4, 1, 8);
    idx[3] = 7;
    CHECK_THROWS_WITH(attune::sparse::gather_attention<arch>(q.cview(), k.cview(), v.cview(), iv, out_bad.view),
                      Catch::Contains("out must be"));
}

namespace {

// The naive selection: per kv head, Σ over the group's query heads of the double softmax
// probabilities, top K (ties: smaller position), ascending.
template <class T>
std::vector<index_t> naive_topk(const attune::tensor_view<const float>& q, const attune::tensor_view<T>& k, index_t b, index_t h,
                                index_t K) {
    const index_t group = q.heads() / k.heads(), Lk = k.tokens(), D = k.dim();
    std::vector<double> w(static_cast<std::size_t>(Lk), 0.0);
    for (index_t g = 0; g < group; ++g) {
        std::vector<double> s(static_cast<std::size_t>(Lk));
        double mx = -INFINITY, sum = 0;
        for (index_t j = 0; j < Lk; ++j) {
            double dot = 0;
            for (index_t d = 0; d < D; ++d) dot += static_cast<double>(q(b, h * group + g, 0, d)) * attune::to_float(k(b, h, j, d));
            s[static_cast<std::size_t>(j)] = dot / std::sqrt(static_cast<double>(D));
            mx = std::max(mx, s[static_cast<std::size_t>(j)]);
        }
        for (double x : s) sum += std::exp(x - mx);
        for (index_t j = 0; j < Lk; ++j) w[static_cast<std::size_t>(j)] += std::exp(s[static_cast<std::size_t>(j)] - mx) / sum;
    }
    std::vector<index_t> order(static_cast<std::size_t>(Lk));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](index_t a, index_t c) { return w[static_cast<std::size_t>(a)] > w[static_cast<std::size_t>(c)]; });
    order.resize(static_cast<std::size_t>(std::min(K, Lk)));
    std::sort(order.begin(), order.end());
    return order;
}

}  // namespace

TEST_CASE("topk_decode: full output and the naive top-K selection", "[sparse]") {
    for (index_t Lk : {5, 300, 1000, 9000}) {  // 9000: the probability pass in three key ranges
        INFO("Lk " << Lk);
        const index_t B = 2, Hq = 8, Hkv = 2, D = 32, K = 16;
        std::mt19937 rng(static_cast<std::uint32_t>(Lk));
        tensor<float> q(B, Hq, 1, D), k(B, Hkv, Lk, D), v(B, Hkv, Lk, D), out(B, Hq, 1, D);
        q.fill_random(rng, 2.0f);
        k.fill_random(rng);
        v.fill_random(rng);
        out.poison();
        attune::key_selection sel;
        lse_buffer lse(B, Hq, 1);
        attune::options opt;
        opt.lse = lse.view;
        attune::sparse::topk_decode<arch>(q.cview(), k.cview(), v.cview(), out.view, K, sel, opt);
        check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview()), fp32_tolerance(), &lse);
        REQUIRE(sel.batch == B);
        REQUIRE(sel.heads == Hkv);
        REQUIRE(sel.count == K);
        for (index_t b = 0; b < B; ++b)
            for (index_t h = 0; h < Hkv; ++h) {
                std::vector<index_t> expect = naive_topk(q.cview(), k.cview(), b, h, K);
                expect.resize(static_cast<std::size_t>(K), -1);
                CHECK(std::vector<index_t>(sel.row(b, h), sel.row(b, h) + K) == expect);
            }
    }
    tensor<float> q2(1, 4, 2, 8), k(1, 2, 9, 8), v(1, 2, 9, 8), out(1, 4, 2, 8);
    attune::key_selection sel;
    CHECK_THROWS_WITH(attune::sparse::topk_decode<arch>(q2.cview(), k.cview(), v.cview(), out.view, 4, sel),
                      Catch::Contains("one query token"));
}

TEST_CASE("recycled_attention: full steps, then the selection plus the new tokens", "[sparse]") {
    const index_t Hq = 4, Hkv = 2, D = 32, L0 = 400, steps = 12, K = 24, every = 5;
    std::mt19937 rng(77);
    tensor<attune::half> k(1, Hkv, L0 + steps, D), v(1, Hkv, L0 + steps, D);
    tensor<float> q(1, Hq, steps, D, layout::blhd);
    k.fill_random(rng);
    v.fill_random(rng);
    q.fill_random(rng, 2.0f);
    attune::kv_cache<attune::half> cache(Hkv, D, D);
    cache.append(tokens_of(k.view, 0, L0 - 1), tokens_of(v.view, 0, L0 - 1));
    attune::sparse::recycled_attention rec(K);
    tensor<float> out(1, Hq, 1, D);
    CHECK_THROWS_WITH(rec.step<arch>(row_of(q.view, 0, 0, Hq, 0), cache.keys(), cache.values(), out.view, false),
                      Catch::Contains("first step must be a full one"));
    for (index_t s = 0; s < steps; ++s) {
        INFO("step " << s);
        cache.append(tokens_of(k.view, L0 - 1 + s, 1), tokens_of(v.view, L0 - 1 + s, 1));
        const bool full = s % every == 0;
        out.poison();
        const auto qs = row_of(q.view, 0, 0, Hq, s);
        rec.step<arch>(qs, cache.keys(), cache.values(), out.view, full);
        const index_t Lk = cache.tokens();
        auto ref = attune::reference::result::zeros(1, Hq, 1, D);
        for (index_t h = 0; h < Hkv; ++h) {
            std::vector<index_t> keys;
            if (full) {
                keys.resize(static_cast<std::size_t>(Lk));
                std::iota(keys.begin(), keys.end(), 0);
            } else {
                for (index_t e = 0; e < K; ++e) keys.push_back(rec.selection().row(0, h)[e]);
                for (index_t j = rec.full_length(); j < Lk; ++j) keys.push_back(j);
            }
            if (full) {
                const auto expect = naive_topk(qs, cache.keys(), 0, h, K);
                CHECK(std::vector<index_t>(rec.selection().row(0, h), rec.selection().row(0, h) + K) == expect);
            }
            const auto kg = gather_rows(cache.keys(), 0, h, keys), vg = gather_rows(cache.values(), 0, h, keys);
            put(ref, attune::reference::attention(heads_of(qs, 0, h * 2, 2), kg.cview(), vg.cview()), 0, h * 2, 0);
        }
        check_against_reference(out, ref, fp32_tolerance());
        CHECK(rec.full_length() == Lk - s % every);
    }
}

namespace {

template <class Mask>
void check_shifted(const Mask& m, index_t Hq, index_t Hkv, index_t Lq, index_t Lk, index_t splits, std::uint32_t seed) {
    INFO("arch " << ATTUNE_TEST_ARCH_NAME << ": G " << m.group() << " sinks " << m.sinks() << " Hq " << Hq << " Hkv " << Hkv << " Lq " << Lq
                 << " Lk " << Lk << " splits " << splits);
    const index_t D = 32;
    std::mt19937 rng(seed);
    tensor<float> q(1, Hq, Lq, D), k(1, Hkv, Lk, D), v(1, Hkv, Lk, D), out(1, Hq, Lq, D);
    q.fill_random(rng);
    k.fill_random(rng);
    v.fill_random(rng);
    out.poison();
    lse_buffer lse(1, Hq, Lq);
    attune::options opt;
    opt.lse = lse.view;
    opt.kv_splits = splits;
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, m, opt, attune::serial_executor{});
    check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), m), fp32_tolerance(), &lse);
}

}  // namespace

TEST_CASE("shifted_groups (S2, SF) vs reference, GQA groups straddling H/2", "[sparse]") {
    std::uint32_t seed = 500;
    struct heads_case {
        index_t hq, hkv;
    };
    for (heads_case hc : {heads_case{6, 3}, heads_case{4, 1}, heads_case{8, 8}, heads_case{5, 5}})
        for (index_t L : {1, 7, 65, 200, 300})
            for (index_t sinks : {0, 4}) {
                const auto m = sinks == 0 ? attune::shifted_groups::longlora(L, hc.hq) : attune::shifted_groups::sinklora(L, hc.hq, sinks);
                check_shifted(m, hc.hq, hc.hkv, L, L, L >= 200 ? 3 : 1, seed++);
            }
    // Odd groups, decode and chunks against long keys.
    check_shifted(attune::shifted_groups(37, 6, 3), 6, 3, 1, 517, 2, seed++);
    check_shifted(attune::shifted_groups(37, 6, 0), 6, 3, 9, 517, 1, seed++);
    check_shifted(attune::shifted_groups(64, 4, 1), 4, 1, 130, 300, 1, seed++);
    check_shifted(attune::shifted_groups(1, 4, 0), 4, 2, 20, 20, 1, seed++);
}

TEST_CASE("shifted_groups: the rule, classify() against visible(), bad input", "[sparse]") {
    const attune::shifted_groups m(8, 4, 2);  // heads 0, 1 plain; 2, 3 shifted by 4
    auto vis = [&](index_t h, index_t p, index_t j) { return m.visible(attune::index_context{0, h, 0, p, j}); };
    CHECK(vis(0, 9, 8));
    CHECK_FALSE(vis(0, 9, 7));
    CHECK(vis(0, 9, 1));  // a sink
    CHECK_FALSE(vis(0, 9, 2));
    CHECK(vis(2, 9, 4));  // shifted segment [4, 12)
    CHECK_FALSE(vis(2, 9, 3));
    CHECK(vis(2, 3, 0));  // first half segment [0, 4)
    CHECK(vis(3, 12, 12));
    CHECK_FALSE(vis(3, 12, 11));
    CHECK_FALSE(vis(1, 5, 6));  // causal
    // Every tile's class, and every row's key_pair(), agrees with the elements it covers, for every
    // run of query heads a tile may hold (attune/testing.hpp).
    CHECK(attune::testing::check_mask(m, {30, 30, 1, 4, 1}).tiles > 0);
    CHECK(attune::testing::check_mask(m, {30, 30, 1, 4, 2}).tiles > 0);
    CHECK_THROWS_WITH(attune::shifted_groups(0, 4), Catch::Contains("group size (0)"));
    tensor<float> q(1, 4, 8, 16), k(1, 2, 8, 16), v(1, 2, 8, 16), out(1, 4, 8, 16);
    CHECK_THROWS_WITH(attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, attune::shifted_groups(4, 6)),
                      Catch::Contains("built for 6 query heads, but q has 4"));
}

namespace {

// gather_attention under a variant: softcap with per-query-head sink logits (softmax, split parts
// merged with ⊕: the sink enters once), or softcap under the sigmoid family (one part, no LSE),
// against the reference over each list's keys with the list's slice of the logits.
void check_gather_variant(bool sigmoid, bool per_query_head, index_t splits, std::uint32_t seed) {
    INFO("sigmoid " << sigmoid << ", per query head " << per_query_head << ", splits " << splits);
    const index_t B = 2, Hq = 8, Hkv = 2, Lq = 1, Lk = 700, D = 16, count = 600;
    std::mt19937 rng(seed);
    tensor<float> q(B, Hq, Lq, D), out(B, Hq, Lq, D), k(B, Hkv, Lk, D), v(B, Hkv, Lk, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    out.poison();
    const index_t lh = per_query_head ? Hq : Hkv, per = per_query_head ? 1 : Hq / Hkv;
    const auto idx = random_lists(rng, B * lh, count, Lk);
    const attune::index_view iv{idx.data(), B, lh, 1, count};
    std::vector<float> z;
    for (index_t h = 0; h < Hq; ++h) z.push_back(h == 5 ? -INFINITY : 0.4f * static_cast<float>(h) - 1.5f);
    lse_buffer lse(B, Hq, Lq);
    attune::options opt;
    opt.kv_splits = splits;
    if (!sigmoid) opt.lse = lse.view;
    if (sigmoid)
        attune::sparse::gather_attention<arch>(q.cview(), k.cview(), v.cview(), iv, out.view,
                                               attune::variant(attune::sigmoid{-1.0f}, attune::softcap{2.0f}), opt);
    else
        attune::sparse::gather_attention<arch>(q.cview(), k.cview(), v.cview(), iv, out.view,
                                               attune::variant(attune::sink_logit(z), attune::softcap{2.0f}), opt);
    auto ref = attune::reference::result::zeros(B, Hq, Lq, D);
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < lh; ++h) {
            std::vector<index_t> keys;
            for (index_t e = 0; e < count; ++e)
                if (iv.row(b, h, 0)[e] >= 0) keys.push_back(iv.row(b, h, 0)[e]);
            const index_t hkv = per_query_head ? h / (Hq / Hkv) : h;
            const auto kg = gather_rows(k.view, b, hkv, keys), vg = gather_rows(v.view, b, hkv, keys);
            const attune::tensor_view<const float> qs(q.view.row(b, h * per, 0), {1, per, Lq, D},
                                                      {0, q.view.strides()[1], q.view.strides()[2]});
            const std::vector<float> zs(z.begin() + h * per, z.begin() + (h + 1) * per);
            if (sigmoid)
                put(ref,
                    attune::reference::attention(qs, kg.cview(), vg.cview(),
                                                 attune::variant(attune::sigmoid{-1.0f}, attune::softcap{2.0f})),
                    b, h * per, 0);
            else
                put(ref,
                    attune::reference::attention(qs, kg.cview(), vg.cview(),
                                                 attune::variant(attune::sink_logit(zs), attune::softcap{2.0f})),
                    b, h * per, 0);
        }
    check_against_reference(out, ref, fp32_tolerance(), sigmoid ? nullptr : &lse);
}

}  // namespace

TEST_CASE("gather_attention with a variant: softcap, sink logit, sigmoid family", "[sparse]") {
    for (bool per_query_head : {false, true})
        for (index_t splits : {1, 3}) {
            check_gather_variant(false, per_query_head, splits, 71);
            check_gather_variant(true, per_query_head, splits, 72);
        }
    // A mask, a position-reading modifier and an LSE under sigmoid are refused before any output.
    tensor<float> q(1, 2, 1, 8), k(1, 1, 5, 8), v(1, 1, 5, 8), out(1, 2, 1, 8);
    const std::vector<index_t> list{0, 2, 4};
    const attune::index_view iv{list.data(), 1, 1, 1, 3};
    CHECK_THROWS_WITH(attune::sparse::gather_attention<arch>(q.cview(), k.cview(), v.cview(), iv, out.view, attune::causal{}),
                      Catch::Contains("gather_attention: variant: a mask"));
    CHECK_THROWS_WITH(
        attune::sparse::gather_attention<arch>(q.cview(), k.cview(), v.cview(), iv, out.view, attune::alibi(attune::alibi_slopes(2))),
        Catch::Contains("gather_attention: variant: only score modifiers"));
    lse_buffer lse(1, 2, 1);
    attune::options opt;
    opt.lse = lse.view;
    CHECK_THROWS_WITH(attune::sparse::gather_attention<arch>(q.cview(), k.cview(), v.cview(), iv, out.view, attune::sigmoid{}, opt),
                      Catch::Contains("no log-sum-exp"));
    CHECK_THROWS_WITH(
        attune::sparse::gather_attention<arch>(q.cview(), k.cview(), v.cview(), iv, out.view, attune::sink_logit(std::vector<float>{0.0f})),
        Catch::Contains("sink_logit"));
}

TEST_CASE("topk_decode and recycled_attention with a variant: softcap, sink logit, sigmoid", "[sparse]") {
    const index_t B = 1, Hq = 4, Hkv = 2, D = 32, Lk = 700, K = 20;
    std::mt19937 rng(91);
    tensor<float> q(B, Hq, 1, D), k(B, Hkv, Lk, D), v(B, Hkv, Lk, D), out(B, Hq, 1, D);
    q.fill_random(rng, 2.0f);
    k.fill_random(rng);
    v.fill_random(rng);
    const std::vector<float> z{0.5f, -1.0f, 2.0f, 0.0f};
    const float cap = 3.0f, bias = -4.0f, scale = 1.0f / std::sqrt(static_cast<float>(D));
    // A key's weight in double, as the variant gives it: softcap, then exp(s' − LSE) with the sink's
    // logit in the LSE; or σ(s + b) for the sigmoid family.
    const auto weights = [&](index_t h, bool sigmoid) {
        std::vector<double> w(static_cast<std::size_t>(Lk), 0.0);
        for (index_t g = 0; g < Hq / Hkv; ++g) {
            const index_t hq = h * (Hq / Hkv) + g;
            std::vector<double> s(static_cast<std::size_t>(Lk));
            double m = sigmoid ? 0.0 : z[static_cast<std::size_t>(hq)];
            for (index_t j = 0; j < Lk; ++j) {
                double dot = 0;
                for (index_t d = 0; d < D; ++d) dot += double{q.view(0, hq, 0, d)} * double{k.view(0, h, j, d)};
                dot *= scale;
                s[static_cast<std::size_t>(j)] = sigmoid ? dot : cap * std::tanh(dot / cap);
                m = std::max(m, s[static_cast<std::size_t>(j)]);
            }
            double l = sigmoid ? 0.0 : std::exp(z[static_cast<std::size_t>(hq)] - m);
            for (double x : s) l += std::exp(x - m);
            for (index_t j = 0; j < Lk; ++j)
                w[static_cast<std::size_t>(j)] += sigmoid ? 1.0 / (1.0 + std::exp(-(s[static_cast<std::size_t>(j)] + bias)))
                                                          : std::exp(s[static_cast<std::size_t>(j)] - m) / l;
        }
        return w;
    };
    // Every selected key weighs at least as much as every key left out (up to float rounding).
    const auto check_selection = [&](const attune::key_selection& sel, bool sigmoid) {
        for (index_t h = 0; h < Hkv; ++h) {
            const auto w = weights(h, sigmoid);
            std::vector<bool> in(static_cast<std::size_t>(Lk), false);
            double lowest_in = 1e300, highest_out = -1;
            for (index_t e = 0; e < K; ++e) in[static_cast<std::size_t>(sel.row(0, h)[e])] = true;
            for (index_t j = 0; j < Lk; ++j) {
                if (in[static_cast<std::size_t>(j)]) lowest_in = std::min(lowest_in, w[static_cast<std::size_t>(j)]);
                else highest_out = std::max(highest_out, w[static_cast<std::size_t>(j)]);
            }
            INFO("kv head " << h << ": lowest selected " << lowest_in << ", highest left out " << highest_out);
            CHECK(lowest_in >= highest_out * (1 - 1e-5));
        }
    };
    const auto softmax_var = attune::variant(attune::softcap{cap}, attune::sink_logit{z});
    attune::key_selection sel;
    out.poison();
    attune::sparse::topk_decode<arch>(q.cview(), k.cview(), v.cview(), out.view, K, sel, softmax_var);
    check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), softmax_var), fp32_tolerance());
    check_selection(sel, false);
    const auto sigmoid_var = attune::variant(attune::sigmoid{bias});
    out.poison();
    attune::sparse::topk_decode<arch>(q.cview(), k.cview(), v.cview(), out.view, K, sel, sigmoid_var);
    check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), sigmoid_var), fp32_tolerance());
    check_selection(sel, true);
    // Refused before anything is written: a mask, a modifier that reads positions (recycled).
    CHECK_THROWS_WITH(attune::sparse::topk_decode<arch>(q.cview(), k.cview(), v.cview(), out.view, K, sel, attune::causal{}),
                      Catch::Contains("variant"));
    attune::sparse::recycled_attention rec(K);
    CHECK_THROWS_WITH(
        rec.step<arch>(q.cview(), k.cview(), v.cview(), out.view, true, attune::variant(attune::alibi{{0.1f, 0.2f, 0.3f, 0.4f}})),
        Catch::Contains("variant"));
    // Recycled: a full step, then the selection with the variant over the gathered keys.
    rec.step<arch>(q.cview(), k.cview(), v.cview(), out.view, true, softmax_var);
    out.poison();
    rec.step<arch>(q.cview(), k.cview(), v.cview(), out.view, false, softmax_var);
    auto ref = attune::reference::result::zeros(1, Hq, 1, D);
    for (index_t h = 0; h < Hkv; ++h) {
        std::vector<index_t> keys(rec.selection().row(0, h), rec.selection().row(0, h) + K);
        const auto kg = gather_rows(k.view, 0, h, keys), vg = gather_rows(v.view, 0, h, keys);
        const std::vector<float> zh(z.begin() + h * 2, z.begin() + h * 2 + 2);
        put(ref,
            attune::reference::attention(heads_of(q.view, 0, h * 2, 2), kg.cview(), vg.cview(),
                                         attune::variant(attune::softcap{cap}, attune::sink_logit{zh})),
            0, h * 2, 0);
    }
    check_against_reference(out, ref, fp32_tolerance());
}
