// KV caches against a plain cache plus the matching mask, computed by the double reference:
//  - kv_cache: chunks appended (float and bf16 storage) read back exactly; causal attention over
//    its views equals the reference over the whole K/V;
//  - streaming_cache: 10 000 decode steps equal sinks + window attention over the full history
//    (checked at steps around the ring's wrap-arounds and at the end), chunked steps too; slots'
//    positions and in-cache (RoPE) positions; constant memory;
//  - h2o_cache: keeps exactly the tokens a naive implementation (double, every key's probability
//    summed over the group's query heads) keeps, after a prompt and every decode step, including
//    ties (keys with probability exactly 0) broken by position; outputs equal the reference over
//    the naive kept set;
//  - bad input throws attune::error.
#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/attune.hpp"
#include "attune/cache.hpp"
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

template <class T>
void check_kv_cache(std::uint32_t seed) {
    INFO("arch " << ATTUNE_TEST_ARCH_NAME << ", storage " << attune::storage_name<T>());
    const index_t Hkv = 2, Hq = 6, D = 40, L = 300;
    std::mt19937 rng(seed);
    tensor<T> k(1, Hkv, L, D, layout::blhd), v(1, Hkv, L, D, layout::blhd);
    k.fill_random(rng);
    v.fill_random(rng);
    attune::kv_cache<T> cache(Hkv, D, D);
    index_t at = 0;
    for (index_t n : {1, 0, 15, 64, 1, 100, 119}) {
        cache.append(tokens_of(k.view, at, n), tokens_of(v.view, at, n));
        at += n;
    }
    REQUIRE(at == L);
    REQUIRE(cache.tokens() == L);
    index_t diff = 0;
    for (index_t h = 0; h < Hkv; ++h)
        for (index_t t = 0; t < L; ++t)
            for (index_t d = 0; d < D; ++d) {
                diff += attune::to_float(cache.keys()(0, h, t, d)) != attune::to_float(k.view(0, h, t, d));
                diff += attune::to_float(cache.values()(0, h, t, d)) != attune::to_float(v.view(0, h, t, d));
            }
    CHECK(diff == 0);
    // Chunked prefill's last 7 queries through the cache, causal.
    tensor<float> q(1, Hq, 7, D), out(1, Hq, 7, D);
    q.fill_random(rng);
    out.poison();
    lse_buffer lse(1, Hq, 7);
    attune::options opt;
    opt.lse = lse.view;
    attune::attention<arch>(q.cview(), cache.keys(), cache.values(), out.view, attune::causal{}, opt);
    check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), attune::causal{}), fp32_tolerance(), &lse);
}

}  // namespace

TEST_CASE("kv_cache: appended chunks read back; attention equals the reference", "[cache]") {
    check_kv_cache<float>(1);
    check_kv_cache<attune::bf16>(2);
    check_kv_cache<attune::half>(3);
}

TEST_CASE("kv_cache: capacity and shapes are checked", "[cache]") {
    attune::kv_cache<float> cache(2, 8, 4, /*max_tokens*/ 10);
    tensor<float> k(1, 2, 6, 8), v(1, 2, 6, 4), bad_k(1, 3, 6, 8), bad_dim(1, 2, 6, 5), two(2, 2, 6, 8);
    cache.append(k.cview(), v.cview());
    CHECK_THROWS_WITH(cache.append(k.cview(), v.cview()), Catch::Contains("capacity exceeded") && Catch::Contains("max_tokens 10"));
    CHECK(cache.tokens() == 6);
    CHECK_THROWS_WITH(cache.append(bad_k.cview(), v.cview()), Catch::Contains("must have 2 heads"));
    CHECK_THROWS_WITH(cache.append(k.cview(), bad_dim.cview()), Catch::Contains("v head dim 5"));
    CHECK_THROWS_WITH(cache.append(two.cview(), v.cview()), Catch::Contains("batch 1"));
    CHECK_THROWS_WITH(cache.append(tokens_of(k.view, 0, 3), v.cview()), Catch::Contains("k has 3 tokens but v has 6"));
    CHECK_THROWS_AS(cache.keys(4, 3), attune::error);
    CHECK_THROWS_AS(attune::kv_cache<float>(0, 8, 8), attune::error);
}

namespace {

// 10 000 decode steps of a streaming cache; at checkpoints the step's output is compared with the
// reference's sinks + window attention of that query over the whole history.
template <class T>
void check_streaming_decode(index_t S, index_t R, index_t steps, std::uint32_t seed) {
    INFO("arch " << ATTUNE_TEST_ARCH_NAME << ", storage " << attune::storage_name<T>() << ", S " << S << ", R " << R);
    const index_t Hkv = 2, Hq = 4, D = 32;
    std::mt19937 rng(seed);
    tensor<T> k(1, Hkv, steps, D), v(1, Hkv, steps, D);
    tensor<float> q(1, Hq, steps, D);
    k.fill_random(rng);
    v.fill_random(rng);
    q.fill_random(rng);
    attune::streaming_cache<T> cache(Hkv, D, D, S, R);
    const std::size_t bytes = cache.bytes();
    std::set<index_t> checkpoints{0, 1, S - 1, S, S + 1, S + R - 1, S + R, S + R + 1, 2 * R + S + 3, steps / 2, steps - 2, steps - 1};
    tensor<float> out(1, Hq, 1, D);
    lse_buffer lse(1, Hq, 1);
    attune::options opt;
    opt.lse = lse.view;
    for (index_t t = 0; t < steps; ++t) {
        out.poison();
        cache.template step<arch>(row_of(q.view, 0, 0, Hq, t), tokens_of(k.view, t, 1), tokens_of(v.view, t, 1), out.view, opt,
                                  attune::serial_executor{});
        if (!checkpoints.count(t)) continue;
        INFO("step " << t);
        const auto ref = attune::reference::attention(row_of(q.view, 0, 0, Hq, t), tokens_of(k.view, 0, t + 1), tokens_of(v.view, 0, t + 1),
                                                      attune::sinks_window(S, R));
        check_against_reference(out, ref, fp32_tolerance(), &lse);
    }
    CHECK(cache.seen() == steps);
    CHECK(cache.size() == std::min(steps, S + R));
    CHECK(cache.bytes() == bytes);  // constant memory
    // Slots hold the sinks and the last R tokens; cache positions rank them in history order.
    std::vector<index_t> hist, in_cache;
    cache.positions(hist, in_cache);
    std::vector<index_t> sorted = hist;
    std::sort(sorted.begin(), sorted.end());
    std::vector<index_t> expect;
    for (index_t p = 0; p < std::min(S, steps); ++p) expect.push_back(p);
    for (index_t p = std::max(S, steps - R); p < steps; ++p) expect.push_back(p);
    CHECK(sorted == expect);
    index_t wrong_rank = 0, wrong_key = 0;
    for (std::size_t s = 0; s < hist.size(); ++s) {
        wrong_rank += expect[static_cast<std::size_t>(in_cache[s])] != hist[s];
        for (index_t d = 0; d < D; ++d)
            wrong_key += attune::to_float(cache.keys()(0, 1, static_cast<index_t>(s), d)) != attune::to_float(k.view(0, 1, hist[s], d));
    }
    CHECK(wrong_rank == 0);
    CHECK(wrong_key == 0);
}

}  // namespace

TEST_CASE("streaming_cache: 10 000 decode steps equal sinks + window over the full history", "[cache]") {
    check_streaming_decode<float>(4, 64, 10000, 11);
    check_streaming_decode<attune::bf16>(4, 100, 1000, 12);
    check_streaming_decode<float>(0, 7, 300, 13);  // no sinks: a plain window
    check_streaming_decode<float>(3, 1, 50, 14);   // a ring of one
}

TEST_CASE("streaming_cache: chunked steps equal sinks + window over the full history", "[cache]") {
    const index_t Hkv = 2, Hq = 6, D = 24, S = 4, R = 50, L = 700;
    std::mt19937 rng(21);
    tensor<float> k(1, Hkv, L, D), v(1, Hkv, L, D), q(1, Hq, L, D);
    k.fill_random(rng);
    v.fill_random(rng);
    q.fill_random(rng);
    attune::streaming_cache<float> cache(Hkv, D, D, S, R);
    index_t at = 0;
    for (index_t n : {1, 2, 3, 70, 1, 5, 130, 1, 49, 50, 51, 1, 200, 136}) {
        INFO("chunk of " << n << " at " << at);
        tensor<float> out(1, Hq, n, D);
        out.poison();
        lse_buffer lse(1, Hq, n);
        attune::options opt;
        opt.lse = lse.view;
        const attune::tensor_view<const float> qc(q.view.row(0, 0, at), {1, Hq, n, D}, q.view.strides());
        cache.step<arch>(qc, tokens_of(k.view, at, n), tokens_of(v.view, at, n), out.view, opt);
        at += n;
        const auto ref = attune::reference::attention(qc, tokens_of(k.view, 0, at), tokens_of(v.view, 0, at), attune::sinks_window(S, R));
        check_against_reference(out, ref, fp32_tolerance(), &lse);
    }
    CHECK(at == L);
}

TEST_CASE("streaming_cache: bad input", "[cache]") {
    CHECK_THROWS_WITH((attune::streaming_cache<float>(2, 8, 8, 4, 0)), Catch::Contains("recent (0)"));
    attune::streaming_cache<float> cache(2, 8, 8, 4, 16);
    tensor<float> k(1, 2, 3, 8), v(1, 2, 3, 8), q(1, 3, 3, 8), q4(1, 4, 2, 8), out(1, 4, 2, 8), kbad(1, 2, 3, 9);
    CHECK_THROWS_WITH(cache.step<arch>(q.cview(), k.cview(), v.cview(), out.view), Catch::Contains("multiple of the cache's kv heads"));
    CHECK_THROWS_WITH(cache.step<arch>(q4.cview(), k.cview(), v.cview(), out.view), Catch::Contains("q has 2 tokens but the chunk has 3"));
    CHECK_THROWS_WITH(cache.append(kbad.cview(), v.cview()), Catch::Contains("k head dim 9"));
    CHECK_THROWS_WITH(cache.position(0), Catch::Contains("outside the 0 held"));
    CHECK(cache.seen() == 0);
    // A decode step with a bad LSE view throws before the token enters the cache.
    tensor<float> q1(1, 4, 1, 8), out1(1, 4, 1, 8);
    lse_buffer wrong(1, 3, 1);
    attune::options opt;
    opt.lse = wrong.view;
    CHECK_THROWS_WITH(cache.step<arch>(q1.cview(), tokens_of(k.view, 0, 1), tokens_of(v.view, 0, 1), out1.view, opt),
                      Catch::Contains("lse shape"));
    CHECK(cache.seen() == 0);
}

namespace {

// The naive H2O: kept positions and double scores per kv head; a chunk of n tokens adds them, runs
// causal softmax in double for each query of the group over kept ∪ new, adds the probabilities,
// then evicts the lowest scores (ties: smaller position) among those older than the last `recent`.
struct naive_h2o {
    index_t heads, heavy, recent, seen = 0;
    index_t tie_decisions = 0;  // evictions where the last evicted and the first kept scored the same
    std::vector<std::vector<index_t>> kept;
    std::vector<std::vector<double>> score;
    naive_h2o(index_t h, index_t hv, index_t r) : heads(h), heavy(hv), recent(r), kept(h), score(h) {}

    template <class T>
    void step(const attune::tensor_view<const float>& q_all, const attune::tensor_view<T>& k_all, index_t n, float scale) {
        const index_t Hq = q_all.heads(), group = Hq / heads, D = k_all.dim();
        for (index_t h = 0; h < heads; ++h) {
            const std::size_t held = kept[h].size();
            for (index_t t = 0; t < n; ++t) kept[h].push_back(seen + t), score[h].push_back(0.0);
            for (index_t g = 0; g < group; ++g)
                for (index_t i = 0; i < n; ++i) {
                    const std::size_t visible = held + static_cast<std::size_t>(i) + 1;
                    std::vector<double> s(visible);
                    double mx = -INFINITY;
                    for (std::size_t j = 0; j < visible; ++j) {
                        double dot = 0;
                        for (index_t d = 0; d < D; ++d)
                            dot += static_cast<double>(attune::to_float(q_all(0, h * group + g, seen + i, d))) *
                                   attune::to_float(k_all(0, h, kept[h][j], d));
                        s[j] = dot * scale;
                        mx = std::max(mx, s[j]);
                    }
                    double sum = 0;
                    for (double x : s) sum += std::exp(x - mx);
                    for (std::size_t j = 0; j < visible; ++j) score[h][j] += std::exp(s[j] - mx) / sum;
                }
        }
        seen += n;
        for (index_t h = 0; h < heads; ++h) {
            std::vector<std::size_t> cand;
            for (std::size_t j = 0; j < kept[h].size(); ++j)
                if (kept[h][j] < seen - recent) cand.push_back(j);
            const index_t evict = static_cast<index_t>(cand.size()) - heavy;
            if (evict <= 0) continue;
            std::sort(cand.begin(), cand.end(), [&](std::size_t a, std::size_t b) {
                return score[h][a] < score[h][b] || (score[h][a] == score[h][b] && kept[h][a] < kept[h][b]);
            });
            if (static_cast<std::size_t>(evict) < cand.size() &&
                score[h][cand[static_cast<std::size_t>(evict - 1)]] == score[h][cand[static_cast<std::size_t>(evict)]])
                ++tie_decisions;
            std::vector<bool> gone(kept[h].size(), false);
            for (index_t e = 0; e < evict; ++e) gone[cand[static_cast<std::size_t>(e)]] = true;
            std::vector<index_t> k2;
            std::vector<double> s2;
            for (std::size_t j = 0; j < kept[h].size(); ++j)
                if (!gone[j]) k2.push_back(kept[h][j]), s2.push_back(score[h][j]);
            kept[h] = k2, score[h] = s2;
        }
    }
    std::vector<index_t> sorted(index_t h) const {
        std::vector<index_t> p = kept[static_cast<std::size_t>(h)];
        std::sort(p.begin(), p.end());
        return p;
    }
};

// Runs the cache and the naive H2O side by side: a prompt of `prompt` tokens in one step, then
// decode steps; compares the kept sets after every step and the outputs with the reference over
// the keys the naive cache held during the step.
template <class T>
void check_h2o(index_t heavy, index_t recent, index_t prompt, index_t steps, bool ties, std::uint32_t seed) {
    INFO("arch " << ATTUNE_TEST_ARCH_NAME << ", storage " << attune::storage_name<T>() << ", heavy " << heavy << ", recent " << recent
                 << ", ties " << ties);
    const index_t Hkv = 2, Hq = 4, group = 2, D = 16, L = prompt + steps;
    std::mt19937 rng(seed);
    tensor<T> k(1, Hkv, L, D), v(1, Hkv, L, D);
    tensor<float> q(1, Hq, L, D);
    k.fill_random(rng);
    v.fill_random(rng);
    q.fill_random(rng);
    if (ties) {
        // Every query is e0; keys are live (random) at positions ≡ 0 mod 5, dead elsewhere: k = −20000·e0
        // scores −5000, probability exactly 0 in float and double while a live key is visible (one
        // always is: recent ≥ 5). Dead keys then all score 0: ties, evicted oldest first.
        for (index_t h = 0; h < Hq; ++h)
            for (index_t t = 0; t < L; ++t)
                for (index_t d = 0; d < D; ++d) q.view(0, h, t, d) = d == 0 ? 1.0f : 0.0f;
        for (index_t h = 0; h < Hkv; ++h)
            for (index_t t = 0; t < L; ++t)
                if (t % 5 != 0)
                    for (index_t d = 0; d < D; ++d) k.view(0, h, t, d) = attune::from_float<T>(d == 0 ? -20000.0f : 0.0f);
    }
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    attune::h2o_cache<T> cache(Hkv, D, D, heavy, recent);
    naive_h2o naive(Hkv, heavy, recent);
    index_t at = 0;
    for (index_t s = 0; s <= steps; ++s) {
        const index_t n = s == 0 ? prompt : 1;
        INFO("step " << s << " (" << n << " tokens at " << at << ")");
        std::vector<std::vector<index_t>> before = naive.kept;
        tensor<float> out(1, Hq, n, D);
        out.poison();
        const attune::tensor_view<const float> qc(q.view.row(0, 0, at), {1, Hq, n, D}, q.view.strides());
        cache.template step<arch>(qc, tokens_of(k.view, at, n), tokens_of(v.view, at, n), out.view);
        naive.step(q.cview(), k.cview(), n, scale);
        // Reference output: per kv head, causal attention over the naive's held keys plus the chunk.
        auto ref = attune::reference::result::zeros(1, Hq, n, D);
        for (index_t h = 0; h < Hkv; ++h) {
            std::vector<index_t> keys = before[static_cast<std::size_t>(h)];
            std::sort(keys.begin(), keys.end());
            for (index_t t = 0; t < n; ++t) keys.push_back(at + t);
            const auto kg = gather_rows(k.view, 0, h, keys), vg = gather_rows(v.view, 0, h, keys);
            const attune::tensor_view<const float> qh(qc.row(0, h * group, 0), {1, group, n, D}, {0, qc.strides()[1], qc.strides()[2]});
            put(ref, attune::reference::attention(qh, kg.cview(), vg.cview(), attune::causal{}), 0, h * group, 0);
        }
        check_against_reference(out, ref, fp32_tolerance());
        at += n;
        REQUIRE(cache.size() == static_cast<index_t>(naive.kept[0].size()));
        for (index_t h = 0; h < Hkv; ++h) {
            INFO("kv head " << h);
            REQUIRE(cache.held_positions(h) == naive.sorted(h));
        }
    }
    CHECK(cache.size() == std::min(L, heavy + recent));
    if (ties) CHECK(naive.tie_decisions > 0);  // the position rule decided some evictions
}

}  // namespace

TEST_CASE("h2o_cache keeps exactly the naive implementation's tokens", "[cache]") {
    check_h2o<float>(5, 7, 20, 80, false, 31);
    check_h2o<float>(4, 16, 40, 60, false, 32);
    check_h2o<float>(3, 6, 1, 60, true, 33);  // ties: dead keys evicted oldest first
    check_h2o<float>(6, 5, 30, 40, true, 34);
    check_h2o<attune::half>(5, 8, 10, 50, false, 35);
    check_h2o<float>(0, 9, 12, 20, false, 36);  // recent only: a window
    check_h2o<float>(8, 0, 12, 20, false, 37);  // heavy only
}

TEST_CASE("h2o_cache: bad input", "[cache]") {
    CHECK_THROWS_WITH((attune::h2o_cache<float>(2, 8, 8, 0, 0)), Catch::Contains("heavy + recent ≥ 1"));
    attune::h2o_cache<float> cache(2, 8, 8, 2, 2);
    tensor<float> k(1, 2, 1, 8), v(1, 2, 1, 8), q(1, 4, 1, 8), out(1, 4, 1, 8), out_bad(1, 4, 1, 7), k3(1, 3, 1, 8);
    CHECK_THROWS_WITH(cache.step<arch>(q.cview(), k.cview(), v.cview(), out_bad.view), Catch::Contains("out must be [1, 4, 1, 8]"));
    CHECK_THROWS_WITH(cache.step<arch>(q.cview(), k3.cview(), v.cview(), out.view), Catch::Contains("must have 2 heads"));
    CHECK_THROWS_WITH(cache.held_positions(2), Catch::Contains("head 2 outside"));
    CHECK(cache.size() == 0);
    attune::options opt;
    opt.scale = -1.0f;
    CHECK_THROWS_WITH(cache.step<arch>(q.cview(), k.cview(), v.cview(), out.view, opt), Catch::Contains("scale must be finite"));
    CHECK(cache.size() == 0);
    CHECK(cache.seen() == 0);
}

// ---- The one cache interface (cache/interface.hpp): step with a variant, options structs ----

namespace {

// A sink that throws from inside the kernel (a user's policy failing mid-step).
struct throwing_sink {
    using policy_kind = attune::sink_kind;
    template <class T>
    void start(const attune::basic_sink_row<T>&, T&, T&, T*) const {
        throw std::runtime_error("throwing_sink");
    }
};

// The keys an h2o_cache step sees, as a mask over the whole history: per kv head the held
// positions, then the chunk (from `first_new`) causally.
struct held_keys {
    using policy_kind = attune::mask_kind;
    std::vector<std::vector<index_t>> held;  // per kv head, sorted
    index_t first_new = 0;
    bool visible(const attune::index_context& c) const {
        if (c.k_pos > c.q_pos) return false;
        if (c.k_pos >= first_new) return true;
        const auto& h = held[static_cast<std::size_t>(c.kv_head)];
        return std::binary_search(h.begin(), h.end(), c.k_pos);
    }
};

template <class V>
constexpr bool has_lse_v = attune::as_variant<V>::type::family_type::has_lse;

// Runs the chunks through `step(qc, kc, vc, out, at)` and compares every chunk's output (and LSE,
// where the family has one) with the reference over the whole history under `ref(at, n)`.
template <class T, class Step, class Ref, bool Lse>
void check_steps(index_t Hkv, index_t Hq, index_t D, const std::vector<index_t>& chunks, std::uint32_t seed, Step step, Ref ref,
                 std::bool_constant<Lse>) {
    index_t L = 0;
    for (index_t n : chunks) L += n;
    std::mt19937 rng(seed);
    tensor<T> k(1, Hkv, L, D), v(1, Hkv, L, D);
    tensor<float> q(1, Hq, L, D);
    k.fill_random(rng);
    v.fill_random(rng);
    q.fill_random(rng);
    index_t at = 0;
    for (index_t n : chunks) {
        INFO("chunk of " << n << " at " << at);
        tensor<float> out(1, Hq, n, D);
        out.poison();
        lse_buffer lse(1, Hq, n);
        attune::options opt;
        if (Lse) opt.lse = lse.view;
        const attune::tensor_view<const float> qc(q.view.row(0, 0, at), {1, Hq, n, D}, q.view.strides());
        step(qc, tokens_of(k.view, at, n), tokens_of(v.view, at, n), out.view, opt, at);
        const auto r = attune::reference::attention(qc, tokens_of(k.view, 0, at + n), tokens_of(v.view, 0, at + n), ref(at, n));
        check_against_reference(out, r, fp32_tolerance(), Lse ? &lse : nullptr);
        at += n;
    }
}

std::vector<float> sink_logits(index_t Hq) {
    std::vector<float> z;
    for (index_t h = 0; h < Hq; ++h) z.push_back(h % 3 == 2 ? -INFINITY : 0.5f * static_cast<float>(h) - 1.0f);
    return z;
}

// Every cache's variants: (the variant the cache gets, the reference's variant over `mask`).
// `positions`: the cache takes modifiers that read positions (ALiBi); h2o_cache does not.
template <class Run>
void for_each_variant(index_t Hq, bool positions, Run run) {
    {
        INFO("softcap");
        run(
            attune::softcap{2.0f}, [](auto m) { return attune::variant(m, attune::softcap{2.0f}); }, std::true_type{});
    }
    if (positions) {
        INFO("alibi");
        run(
            attune::alibi(attune::alibi_slopes(Hq)), [Hq](auto m) { return attune::variant(m, attune::alibi(attune::alibi_slopes(Hq))); },
            std::true_type{});
    }
    {
        INFO("sink logit and softcap");
        run(
            attune::variant(attune::sink_logit(sink_logits(Hq)), attune::softcap{3.0f}),
            [Hq](auto m) { return attune::variant(m, attune::sink_logit(sink_logits(Hq)), attune::softcap{3.0f}); }, std::true_type{});
    }
    if (positions) {
        INFO("sigmoid family with symmetric alibi");
        run(
            attune::variant(attune::sigmoid{-2.0f}, attune::alibi(attune::alibi_slopes(Hq), attune::alibi_form::symmetric)),
            [Hq](auto m) {
                return attune::variant(attune::sigmoid{-2.0f}, m, attune::alibi(attune::alibi_slopes(Hq), attune::alibi_form::symmetric));
            },
            std::false_type{});
    } else {
        INFO("sigmoid family with softcap");
        run(
            attune::variant(attune::sigmoid{-2.0f}, attune::softcap{3.0f}),
            [](auto m) { return attune::variant(attune::sigmoid{-2.0f}, m, attune::softcap{3.0f}); }, std::false_type{});
    }
}

}  // namespace

TEST_CASE("kv_cache: step with a variant equals the reference's causal attention over the history", "[cache]") {
    for (index_t group : {1, 4}) {
        const index_t Hkv = 2, Hq = Hkv * group, D = 24;
        INFO("group " << group);
        for_each_variant(Hq, true, [&](auto var, auto ref, auto lse) {
            attune::kv_cache<float> cache(Hkv, D, D, attune::kv_cache_options{attune::unbounded, 3});
            check_steps<float>(
                Hkv, Hq, D, {13, 1, 1, 40, 1, 7}, 41,
                [&](auto qc, auto kc, auto vc, auto out, const attune::options& opt, index_t) {
                    cache.template step<arch>(qc, kc, vc, out, var, opt, attune::serial_executor{});
                },
                [&](index_t, index_t) { return ref(attune::causal{}); }, lse);
            CHECK(cache.tokens() == 63);
        });
    }
    // A mask of the user's composes with causal: sliding_window(6, 3) ∧ causal = sliding_window(6, 0).
    attune::kv_cache<attune::bf16> cache(1, 16, 16);
    check_steps<attune::bf16>(
        1, 8, 16, {9, 1, 20, 1}, 42,
        [&](auto qc, auto kc, auto vc, auto out, const attune::options& opt, index_t) {
            cache.template step<arch>(qc, kc, vc, out, attune::sliding_window(6, 3), opt);
        },
        [](index_t, index_t) { return attune::variant(attune::sliding_window(6, 0)); }, std::true_type{});
}

TEST_CASE("streaming_cache: step with a variant equals sinks + window over the history", "[cache]") {
    for (index_t group : {1, 8}) {
        const index_t Hkv = 2, Hq = Hkv * group, D = 20, S = 3, R = 16;
        INFO("group " << group);
        for_each_variant(Hq, true, [&](auto var, auto ref, auto lse) {
            attune::streaming_cache<float> cache(Hkv, D, D, attune::streaming_cache_options{S, R});
            std::vector<index_t> chunks{11, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 30, 1, 1, 5, 1};
            check_steps<float>(
                Hkv, Hq, D, chunks, 43,
                [&](auto qc, auto kc, auto vc, auto out, const attune::options& opt, index_t) {
                    cache.template step<arch>(qc, kc, vc, out, var, opt, attune::serial_executor{});
                },
                [&](index_t, index_t) { return ref(attune::sinks_window(S, R)); }, lse);
            CHECK(cache.tokens() == 59);
            CHECK(cache.size() == S + R);
        });
    }
}

TEST_CASE("h2o_cache: step with a variant equals the reference over the held keys", "[cache]") {
    for (index_t group : {1, 4}) {
        const index_t Hkv = 2, Hq = Hkv * group, D = 16;
        INFO("group " << group);
        for_each_variant(Hq, false, [&](auto var, auto ref, auto lse) {
            attune::h2o_cache<float> cache(Hkv, D, D, attune::h2o_cache_options{5, 7});
            held_keys held;
            check_steps<float>(
                Hkv, Hq, D, {20, 1, 1, 1, 1, 6, 1, 1, 1, 1, 1, 1, 1, 3, 1}, 44,
                [&](auto qc, auto kc, auto vc, auto out, const attune::options& opt, index_t at) {
                    held.held.clear();
                    for (index_t h = 0; h < Hkv; ++h) held.held.push_back(cache.held_positions(h));
                    held.first_new = at;
                    cache.template step<arch>(qc, kc, vc, out, var, opt, attune::serial_executor{});
                },
                [&](index_t, index_t) { return ref(held); }, lse);
            CHECK(cache.tokens() == 41);
            CHECK(cache.size() == 12);
        });
    }
}

TEST_CASE("h2o_cache: under a variant a key's score sums the variant's weights at history positions", "[cache]") {
    // One prompt step, nothing evicted: score(h, s) = Σ over the group's rows of the row's weight of
    // the key, from the double reference's scores (and LSE, which holds the sink).
    const index_t Hkv = 2, Hq = 6, group = 3, D = 12, n = 9;
    std::mt19937 rng(45);
    tensor<float> q(1, Hq, n, D), k(1, Hkv, n, D), v(1, Hkv, n, D), out(1, Hq, n, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    auto expect = [&](bool sigmoid, index_t h, index_t j) {
        double sum = 0;
        for (index_t g = 0; g < group; ++g) {
            const index_t hq = h * group + g;
            std::vector<double> s(static_cast<std::size_t>(n));
            for (index_t i = 0; i < n; ++i) {
                double dot = 0, den = sigmoid ? 0.0 : std::exp(static_cast<double>(sink_logits(Hq)[static_cast<std::size_t>(hq)]));
                std::vector<double> row;
                for (index_t jj = 0; jj <= i; ++jj) {
                    dot = 0;
                    for (index_t d = 0; d < D; ++d) dot += static_cast<double>(q.view(0, hq, i, d)) * k.view(0, h, jj, d);
                    double x = dot * scale;
                    x = 3.0 * std::tanh(x / 3.0);
                    row.push_back(x);
                    den += std::exp(x);
                }
                if (j > i) continue;
                const double x = row[static_cast<std::size_t>(j)];
                sum += sigmoid ? 1.0 / (1.0 + std::exp(-(x - 2.0))) : std::exp(x) / den;
            }
        }
        return sum;
    };
    for (bool sigmoid : {false, true}) {
        INFO("sigmoid " << sigmoid);
        attune::h2o_cache<float> cache(Hkv, D, D, 20, 20);
        if (sigmoid)
            cache.step<arch>(q.cview(), k.cview(), v.cview(), out.view, attune::variant(attune::sigmoid{-2.0f}, attune::softcap{3.0f}));
        else
            cache.step<arch>(q.cview(), k.cview(), v.cview(), out.view,
                             attune::variant(attune::sink_logit(sink_logits(Hq)), attune::softcap{3.0f}));
        double worst = 0;
        for (index_t h = 0; h < Hkv; ++h)
            for (index_t s = 0; s < n; ++s) worst = std::max(worst, std::abs(cache.score(h, s) - expect(sigmoid, h, cache.position(h, s))));
        CHECK(worst < 1e-4);
    }
}

TEST_CASE("caches: a variant's mask composes (kv_cache) or is refused naming the variant", "[cache]") {
    tensor<float> k(1, 2, 3, 8), v(1, 2, 3, 8), q(1, 4, 3, 8), out(1, 4, 3, 8);
    attune::streaming_cache<float> s(2, 8, 8, attune::streaming_cache_options{2, 4});
    CHECK_THROWS_WITH(s.step<arch>(q.cview(), k.cview(), v.cview(), out.view, attune::causal{}),
                      Catch::Contains("streaming_cache::step: variant"));
    attune::h2o_cache<float> h(2, 8, 8, attune::h2o_cache_options{2, 2});
    CHECK_THROWS_WITH(h.step<arch>(q.cview(), k.cview(), v.cview(), out.view, attune::sliding_window(2, 0)),
                      Catch::Contains("h2o_cache::step: variant"));
    // h2o_cache's survivors are not in position order and differ per kv head: position-reading modifiers are refused.
    CHECK_THROWS_WITH(h.step<arch>(q.cview(), k.cview(), v.cview(), out.view, attune::alibi(attune::alibi_slopes(4))),
                      Catch::Contains("h2o_cache::step: variant: only score modifiers"));
    CHECK(s.tokens() == 0);
    CHECK(h.tokens() == 0);
}

namespace {

// A cache's observable state: tokens, held keys and values (as floats).
template <class Cache>
std::vector<float> state_of(const Cache& c) {
    std::vector<float> st{static_cast<float>(c.tokens())};
    const auto kk = c.keys(), vv = c.values();
    for (index_t h = 0; h < kk.heads(); ++h)
        for (index_t t = 0; t < kk.tokens(); ++t) {
            for (index_t d = 0; d < kk.dim(); ++d) st.push_back(attune::to_float(kk(0, h, t, d)));
            for (index_t d = 0; d < vv.dim(); ++d) st.push_back(attune::to_float(vv(0, h, t, d)));
        }
    return st;
}

// A step whose variant fails validation (too few sink logits) or throws inside the kernel leaves
// the cache as it was; the next good step still equals a fresh cache's.
template <class Cache>
void check_variant_rollback(Cache a, Cache b) {
    const index_t Hkv = 2, Hq = 4, D = 8, L = 40;
    std::mt19937 rng(46);
    tensor<float> q(1, Hq, L, D), k(1, Hkv, L, D), v(1, Hkv, L, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    index_t at = 0;
    for (index_t n : {12, 1, 1, 9, 1}) {
        INFO("chunk of " << n << " at " << at);
        const attune::tensor_view<const float> qc(q.view.row(0, 0, at), {1, Hq, n, D}, q.view.strides());
        tensor<float> oa(1, Hq, n, D), ob(1, Hq, n, D);
        const auto before = state_of(a);
        CHECK_THROWS_WITH(a.template step<arch>(qc, tokens_of(k.view, at, n), tokens_of(v.view, at, n), oa.view,
                                                attune::sink_logit(std::vector<float>(Hq - 1, 0.0f))),
                          Catch::Contains("sink_logit"));
        CHECK(state_of(a) == before);
        CHECK_THROWS_WITH(a.template step<arch>(qc, tokens_of(k.view, at, n), tokens_of(v.view, at, n), oa.view, throwing_sink{}, {},
                                                attune::serial_executor{}),
                          Catch::Contains("throwing_sink"));
        CHECK(state_of(a) == before);
        a.template step<arch>(qc, tokens_of(k.view, at, n), tokens_of(v.view, at, n), oa.view, attune::softcap{4.0f});
        b.template step<arch>(qc, tokens_of(k.view, at, n), tokens_of(v.view, at, n), ob.view, attune::softcap{4.0f});
        CHECK(max_difference(oa, ob) == 0.0);
        at += n;
    }
}

}  // namespace

TEST_CASE("caches: a throwing step with a variant leaves the cache as it was", "[cache]") {
    check_variant_rollback(attune::kv_cache<float>(2, 8, 8), attune::kv_cache<float>(2, 8, 8));
    check_variant_rollback(attune::streaming_cache<float>(2, 8, 8, 2, 5), attune::streaming_cache<float>(2, 8, 8, 2, 5));
    check_variant_rollback(attune::h2o_cache<float>(2, 8, 8, 3, 4), attune::h2o_cache<float>(2, 8, 8, 3, 4));
}

TEST_CASE("caches: append then step, options structs and positional constructors agree", "[cache]") {
    const index_t Hkv = 2, Hq = 4, D = 8, L = 30;
    std::mt19937 rng(47);
    tensor<float> q(1, Hq, 1, D), k(1, Hkv, L, D), v(1, Hkv, L, D), out(1, Hq, 1, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    attune::kv_cache<float> kv(Hkv, D, D, attune::kv_cache_options{});
    kv.append(tokens_of(k.view, 0, L - 1), tokens_of(v.view, 0, L - 1));
    out.poison();
    kv.step<arch>(q.cview(), tokens_of(k.view, L - 1, 1), tokens_of(v.view, L - 1, 1), out.view);
    check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), attune::causal{}), fp32_tolerance());
    attune::streaming_cache<float> st(Hkv, D, D, attune::streaming_cache_options{2, 9});
    st.append(tokens_of(k.view, 0, L - 1), tokens_of(v.view, 0, L - 1));
    out.poison();
    st.step<arch>(q.cview(), tokens_of(k.view, L - 1, 1), tokens_of(v.view, L - 1, 1), out.view);
    check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), attune::sinks_window(2, 9)),
                            fp32_tolerance());
    CHECK(st.tokens() == L);
    // h2o append: the tokens arrive with score 0 (no query saw them): the newest `recent` and the
    // oldest `heavy` (ties broken by position) stay.
    attune::h2o_cache<float> h2(Hkv, D, D, attune::h2o_cache_options{3, 4});
    h2.append(tokens_of(k.view, 0, 20), tokens_of(v.view, 0, 20));
    CHECK(h2.tokens() == 20);
    CHECK(h2.held_positions(1) == std::vector<index_t>{13, 14, 15, 16, 17, 18, 19});
    h2.clear();
    CHECK(h2.tokens() == 0);
    CHECK(h2.size() == 0);
}

TEST_CASE("streaming_cache: StreamingLLM with RoPE — pre-RoPE keys rotated to their cache positions", "[cache]") {
    // Keys enter before RoPE; each decode step rotates the held keys to their ranks in position
    // order (sinks first, then the ring oldest first) and the query to the last rank, then attends
    // with no mask (a decode row sees every held key). Reference: the held tokens in position order,
    // rotated in double at ranks 0 … size − 1, softmax over them.
    const index_t Hkv = 2, Hq = 4, D = 32, S = 4, R = 12, steps = 40;
    std::mt19937 rng(2026);
    tensor<float> k(1, Hkv, steps, D), v(1, Hkv, steps, D), q(1, Hq, steps, D);
    k.fill_random(rng), v.fill_random(rng), q.fill_random(rng, 2.0f);
    attune::rope rope{D};
    attune::streaming_cache<float> cache(Hkv, D, D, attune::streaming_cache_options{S, R});
    const auto rotate = [&](const float* x, index_t p, std::vector<double>& y) {  // NeoX pairs, θ 10000
        y.assign(static_cast<std::size_t>(D), 0.0);
        for (index_t i = 0; i < D / 2; ++i) {
            const double a = static_cast<double>(p) * std::pow(10000.0, -2.0 * static_cast<double>(i) / static_cast<double>(D));
            y[static_cast<std::size_t>(i)] = x[i] * std::cos(a) - x[i + D / 2] * std::sin(a);
            y[static_cast<std::size_t>(i + D / 2)] = x[i + D / 2] * std::cos(a) + x[i] * std::sin(a);
        }
    };
    double worst = 0;
    for (index_t t = 0; t < steps; ++t) {
        cache.append(tokens_of(k.view, t, 1), tokens_of(v.view, t, 1));
        const index_t n = cache.size();
        std::vector<float> kr(static_cast<std::size_t>(Hkv * n * D)), qr(static_cast<std::size_t>(Hq * D)), out(qr.size());
        const auto krv = attune::view_bhld(kr.data(), 1, Hkv, n, D);
        cache.rotated_keys<arch>(rope, krv);
        const auto qrv = attune::view_bhld(qr.data(), 1, Hq, 1, D);
        attune::apply_rope<arch>(rope, row_of(q.view, 0, 0, Hq, t), qrv, attune::rope_positions::from_offset(n - 1));
        attune::attention<arch>(attune::tensor_view<const float>(qrv), attune::tensor_view<const float>(krv), cache.values(),
                                attune::view_bhld(out.data(), 1, Hq, 1, D));
        // The held history positions in order: the sinks, then the last R (or everything so far).
        std::vector<index_t> held;
        for (index_t p = 0; p <= t; ++p)
            if (p < S || t - p < R) held.push_back(p);
        REQUIRE(static_cast<index_t>(held.size()) == n);
        for (index_t h = 0; h < Hq; ++h) {
            std::vector<double> qd, kd, w(static_cast<std::size_t>(n));
            rotate(&q.view(0, h, t, 0), n - 1, qd);
            double m = -1e300;
            for (index_t r = 0; r < n; ++r) {
                rotate(&k.view(0, h / (Hq / Hkv), held[static_cast<std::size_t>(r)], 0), r, kd);
                double dot = 0;
                for (index_t d = 0; d < D; ++d) dot += qd[static_cast<std::size_t>(d)] * kd[static_cast<std::size_t>(d)];
                w[static_cast<std::size_t>(r)] = dot / std::sqrt(static_cast<double>(D));
                m = std::max(m, w[static_cast<std::size_t>(r)]);
            }
            double l = 0;
            for (double& x : w) l += (x = std::exp(x - m));
            for (index_t d = 0; d < D; ++d) {
                double o = 0;
                for (index_t r = 0; r < n; ++r)
                    o += w[static_cast<std::size_t>(r)] / l * double{v.view(0, h / (Hq / Hkv), held[static_cast<std::size_t>(r)], d)};
                worst = std::max(worst, std::abs(o - double{out[static_cast<std::size_t>(h * D + d)]}));
            }
        }
    }
    INFO("max abs error " << worst);
    CHECK(worst <= 1e-4);
    std::vector<float> wrong(static_cast<std::size_t>(Hkv * 3 * D));
    CHECK_THROWS_AS(cache.rotated_keys<arch>(rope, attune::view_bhld(wrong.data(), 1, Hkv, 3, D)), attune::error);
}
