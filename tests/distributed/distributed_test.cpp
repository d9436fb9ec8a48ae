// attune/distributed under mpirun -np N (ctest distributed.np2, np3, np4): every rank's rows of
// context_parallel_attention() and every rank's sharded_decode() result against single-process
// attune::attention() on the whole sequence (fp32 tolerance) and against a float64 softmax written
// here from the masks' global rules; LSE likewise. Sizes: L 1, 7, 63, 65, 129 over the ranks, zig-zag
// and contiguous (uneven slices, empty ones at L < 2P), D 32/64/80/128, GQA 1 and 4, batch 1–2,
// fp32 and bf16 storage; masks none, causal, sliding window, sinks + window, documents. Hostile
// input: every rank must throw attune::error (none may hang) when one rank's arguments are bad or
// differ from the others'. Plain main: each rank counts its failures, rank 0 reports the sum.
#include <mpi.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "attune/attune.hpp"
#include "attune/distributed/distributed.hpp"
#include "attune/mask/masks.hpp"

using attune::index_t;
namespace ad = attune::distributed;

namespace {

int rank_ = 0, ranks_ = 1, failures = 0, checks = 0;

void expect(bool ok, const std::string& what) {
    ++checks;
    if (!ok) {
        ++failures;
        if (failures < 20) std::fprintf(stderr, "rank %d: FAILED %s\n", rank_, what.c_str());
    }
}

std::vector<float> random_values(index_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> x(static_cast<std::size_t>(n));
    for (auto& e : x) e = d(rng);
    return x;
}

// Float64 softmax attention of the whole sequence under `rule(q position, k position)`: out
// [B, Hq, Lq, Dv] and LSE (−inf and zeros for a row that sees no key). Queries sit at positions
// q_first + i, keys at j.
void reference(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v, index_t B, index_t Hq, index_t Hkv,
               index_t Lq, index_t Lk, index_t D, index_t q_first, const std::function<bool(index_t, index_t)>& rule,
               std::vector<double>& out, std::vector<double>& lse) {
    out.assign(static_cast<std::size_t>(B * Hq * Lq * D), 0.0);
    lse.assign(static_cast<std::size_t>(B * Hq * Lq), -INFINITY);
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    std::vector<double> s(static_cast<std::size_t>(Lk));
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < Hq; ++h) {
            const index_t g = h / (Hq / Hkv);
            for (index_t i = 0; i < Lq; ++i) {
                const float* qr = &q[static_cast<std::size_t>(((b * Hq + h) * Lq + i) * D)];
                double m = -INFINITY;
                for (index_t j = 0; j < Lk; ++j) {
                    s[static_cast<std::size_t>(j)] = -INFINITY;
                    if (!rule(q_first + i, j)) continue;
                    const float* kr = &k[static_cast<std::size_t>(((b * Hkv + g) * Lk + j) * D)];
                    double dot = 0;
                    for (index_t d = 0; d < D; ++d) dot += static_cast<double>(qr[d]) * kr[d];
                    s[static_cast<std::size_t>(j)] = dot * scale;
                    m = std::max(m, dot * scale);
                }
                if (m == -INFINITY) continue;
                double l = 0;
                double* o = &out[static_cast<std::size_t>(((b * Hq + h) * Lq + i) * D)];
                for (index_t j = 0; j < Lk; ++j) {
                    if (s[static_cast<std::size_t>(j)] == -INFINITY) continue;
                    const double p = std::exp(s[static_cast<std::size_t>(j)] - m);
                    l += p;
                    const float* vr = &v[static_cast<std::size_t>(((b * Hkv + g) * Lk + j) * D)];
                    for (index_t d = 0; d < D; ++d) o[d] += p * vr[d];
                }
                for (index_t d = 0; d < D; ++d) o[d] /= l;
                lse[static_cast<std::size_t>((b * Hq + h) * Lq + i)] = m + std::log(l);
            }
        }
}

template <class T>
std::vector<T> stored(const std::vector<float>& x) {
    std::vector<T> y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = attune::from_float<T>(x[i]);
    return y;
}
template <class T>
std::vector<float> widened(const std::vector<T>& x) {
    std::vector<float> y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = attune::to_float(x[i]);
    return y;
}

struct mask_case {
    const char* name;
    std::function<bool(index_t, index_t)> rule;  // the global rule, written here
};

// One context-parallel case: every rank builds the same whole Q, K, V, takes its rows, and checks
// its rows of the result against the single-process call and the float64 reference.
template <class T, class Mask>
void cp_case(const Mask& mask, const mask_case& mc, index_t L, ad::shard_layout layout, index_t B, index_t Hq, index_t Hkv, index_t D,
             unsigned seed) {
    const std::string what = std::string("cp ") + mc.name + " L " + std::to_string(L) +
                             (layout == ad::shard_layout::zigzag ? " zigzag" : " contiguous") + " B " + std::to_string(B) + " Hq " +
                             std::to_string(Hq) + " Hkv " + std::to_string(Hkv) + " D " + std::to_string(D) +
                             (std::is_same_v<T, float> ? " fp32" : " bf16");
    // bf16 inputs: the reference reads the rounded values.
    const std::vector<float> qf = widened(stored<T>(random_values(B * Hq * L * D, seed)));
    const std::vector<float> kf = widened(stored<T>(random_values(B * Hkv * L * D, seed + 1)));
    const std::vector<float> vf = widened(stored<T>(random_values(B * Hkv * L * D, seed + 2)));
    const std::vector<T> q = stored<T>(qf), k = stored<T>(kf), v = stored<T>(vf);
    const ad::shard_plan plan(L, ranks_, layout);
    const index_t n = plan.tokens(rank_);
    std::vector<T> ql(static_cast<std::size_t>(B * Hq * n * D)), kl(static_cast<std::size_t>(B * Hkv * n * D)), vl(kl.size()),
        ol(ql.size());
    std::vector<float> lsel(static_cast<std::size_t>(B * Hq * n), 7.0f);
    ad::scatter_tokens(plan, rank_, attune::view_bhld<const T>(q.data(), B, Hq, L, D), attune::view_bhld(ql.data(), B, Hq, n, D));
    ad::scatter_tokens(plan, rank_, attune::view_bhld<const T>(k.data(), B, Hkv, L, D), attune::view_bhld(kl.data(), B, Hkv, n, D));
    ad::scatter_tokens(plan, rank_, attune::view_bhld<const T>(v.data(), B, Hkv, L, D), attune::view_bhld(vl.data(), B, Hkv, n, D));
    ad::context_parallel_options opt;
    opt.layout = layout;
    opt.lse = attune::lse_view(lsel.data(), B, Hq, n);
    ad::context_parallel_attention(MPI_COMM_WORLD, attune::view_bhld(ql.data(), B, Hq, n, D), attune::view_bhld(kl.data(), B, Hkv, n, D),
                                   attune::view_bhld(vl.data(), B, Hkv, n, D), attune::view_bhld(ol.data(), B, Hq, n, D), mask, opt,
                                   attune::serial_executor{});
    // Single process, whole sequence.
    std::vector<T> o1(q.size());
    std::vector<float> lse1(static_cast<std::size_t>(B * Hq * L));
    attune::options o;
    o.lse = attune::lse_view(lse1.data(), B, Hq, L);
    attune::attention(attune::view_bhld(q.data(), B, Hq, L, D), attune::view_bhld(k.data(), B, Hkv, L, D),
                      attune::view_bhld(v.data(), B, Hkv, L, D), attune::view_bhld(o1.data(), B, Hq, L, D), attune::variant<Mask>(mask), o,
                      attune::serial_executor{});
    std::vector<double> ref, ref_lse;
    reference(qf, kf, vf, B, Hq, Hkv, L, L, D, 0, mc.rule, ref, ref_lse);
    const double tol = std::is_same_v<T, float> ? 2e-5 : 1.6e-2;
    double worst1 = 0, worst_ref = 0, worst_lse = 0;
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < Hq; ++h)
            for (index_t t = 0; t < n; ++t) {
                const index_t p = plan.position(rank_, t);
                const std::size_t lr = static_cast<std::size_t>((b * Hq + h) * n + t), gr = static_cast<std::size_t>((b * Hq + h) * L + p);
                for (index_t d = 0; d < D; ++d) {
                    const double got = attune::to_float(ol[lr * static_cast<std::size_t>(D) + static_cast<std::size_t>(d)]);
                    worst1 = std::max(worst1,
                                      std::abs(got - attune::to_float(o1[gr * static_cast<std::size_t>(D) + static_cast<std::size_t>(d)])));
                    worst_ref = std::max(worst_ref, std::abs(got - ref[gr * static_cast<std::size_t>(D) + static_cast<std::size_t>(d)]));
                }
                const double a = lsel[lr], r = ref_lse[gr];
                if (std::isinf(r)) worst_lse = std::max(worst_lse, a == r ? 0.0 : 1e9);
                else worst_lse = std::max(worst_lse, std::abs(a - r) / std::max(1.0, std::abs(r)));
                if (std::isinf(r)) worst_lse = std::max(worst_lse, lse1[gr] == r ? 0.0 : 1e9);
            }
    expect(worst1 <= tol, what + ": against single-process attention, max error " + std::to_string(worst1));
    expect(worst_ref <= tol, what + ": against the float64 reference, max error " + std::to_string(worst_ref));
    expect(worst_lse <= 1e-5, what + ": LSE against the float64 reference, max error " + std::to_string(worst_lse));
}

// One decode case: the cache of Lk tokens cut unevenly over the ranks (slice sizes from `seed`,
// some empty), the same Lq queries on every rank.
template <class T, class Mask>
void decode_case(const Mask& mask, const mask_case& mc, index_t Lk, index_t Lq, index_t B, index_t Hq, index_t Hkv, index_t D,
                 unsigned seed) {
    const std::string what = std::string("decode ") + mc.name + " Lk " + std::to_string(Lk) + " Lq " + std::to_string(Lq) + " Hq " +
                             std::to_string(Hq) + " Hkv " + std::to_string(Hkv) + " D " + std::to_string(D) +
                             (std::is_same_v<T, float> ? " fp32 K/V" : " bf16 K/V");
    // K and V stored as T (the reference reads the stored values), q and out float.
    const std::vector<float> q = random_values(B * Hq * Lq * D, seed), k = widened(stored<T>(random_values(B * Hkv * Lk * D, seed + 1))),
                             v = widened(stored<T>(random_values(B * Hkv * Lk * D, seed + 2)));
    const std::vector<T> kt = stored<T>(k), vt = stored<T>(v);
    // Uneven cuts, the same on every rank: rank r holds [cut[r], cut[r + 1]).
    std::vector<index_t> cut(static_cast<std::size_t>(ranks_ + 1), 0);
    std::mt19937 rng(seed);
    for (int r = 1; r < ranks_; ++r) cut[static_cast<std::size_t>(r)] = std::uniform_int_distribution<index_t>(0, Lk)(rng);
    cut[static_cast<std::size_t>(ranks_)] = Lk;
    std::sort(cut.begin(), cut.end());
    const index_t k0 = cut[static_cast<std::size_t>(rank_)], n = cut[static_cast<std::size_t>(rank_) + 1] - k0;
    const auto kw = attune::view_bhld<const T>(kt.data(), B, Hkv, Lk, D), vw = attune::view_bhld<const T>(vt.data(), B, Hkv, Lk, D);
    const attune::tensor_view<const T> ks(kw.data() + k0 * D, {B, Hkv, n, D}, kw.strides()),
        vs(vw.data() + k0 * D, {B, Hkv, n, D}, vw.strides());
    std::vector<float> out(q.size(), 5.0f), lse(static_cast<std::size_t>(B * Hq * Lq), 5.0f);
    ad::sharded_decode_options opt;
    opt.lse = attune::lse_view(lse.data(), B, Hq, Lq);
    ad::sharded_decode(MPI_COMM_WORLD, attune::view_bhld(q.data(), B, Hq, Lq, D), ks, vs, attune::view_bhld(out.data(), B, Hq, Lq, D), mask,
                       opt, attune::serial_executor{});
    std::vector<float> o1(q.size()), l1(lse.size());
    attune::options o;
    o.lse = attune::lse_view(l1.data(), B, Hq, Lq);
    attune::attention(attune::view_bhld(q.data(), B, Hq, Lq, D), kw, vw, attune::view_bhld(o1.data(), B, Hq, Lq, D),
                      attune::variant<Mask>(mask), o, attune::serial_executor{});
    std::vector<double> ref, ref_lse;
    reference(q, k, v, B, Hq, Hkv, Lq, Lk, D, Lk - Lq, mc.rule, ref, ref_lse);
    double worst1 = 0, worst_ref = 0, worst_lse = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
        worst1 = std::max(worst1, static_cast<double>(std::abs(out[i] - o1[i])));
        worst_ref = std::max(worst_ref, std::abs(out[i] - ref[i]));
    }
    for (std::size_t i = 0; i < lse.size(); ++i)
        worst_lse = std::max(worst_lse, std::isinf(ref_lse[i]) ? (lse[i] == ref_lse[i] ? 0.0 : 1e9) : std::abs(lse[i] - ref_lse[i]));
    const double tol = std::is_same_v<T, float> ? 2e-5 : 5e-5;
    expect(worst1 <= tol, what + ": against single-process attention, max error " + std::to_string(worst1));
    expect(worst_ref <= tol, what + ": against the float64 reference, max error " + std::to_string(worst_ref));
    expect(worst_lse <= tol, what + ": LSE against the float64 reference, max error " + std::to_string(worst_lse));
}

// shard_plan against its definition: every token held by exactly one rank; zig-zag: 2P chunks of
// ⌊L/2P⌋ or one more (the longer ones first), rank r holding chunks r and 2P − 1 − r, rows in
// increasing position; contiguous: P chunks likewise.
void plan_cases() {
    for (index_t L = 0; L <= 41; ++L)
        for (index_t P = 1; P <= 5; ++P)
            for (auto layout : {ad::shard_layout::zigzag, ad::shard_layout::contiguous}) {
                const ad::shard_plan plan(L, P, layout);
                const index_t n = layout == ad::shard_layout::zigzag ? 2 * P : P;
                std::vector<index_t> start(static_cast<std::size_t>(n + 1), 0);
                for (index_t c = 0; c < n; ++c)
                    start[static_cast<std::size_t>(c + 1)] = start[static_cast<std::size_t>(c)] + L / n + (c < L % n ? 1 : 0);
                std::vector<int> owner(static_cast<std::size_t>(L), -1);
                bool ok = start.back() == L;
                for (index_t r = 0; r < P; ++r) {
                    std::vector<index_t> want;
                    for (index_t c : layout == ad::shard_layout::zigzag ? std::vector<index_t>{r, 2 * P - 1 - r} : std::vector<index_t>{r})
                        for (index_t t = start[static_cast<std::size_t>(c)]; t < start[static_cast<std::size_t>(c + 1)]; ++t)
                            want.push_back(t);
                    ok = ok && plan.tokens(r) == static_cast<index_t>(want.size());
                    for (index_t t = 0; ok && t < plan.tokens(r); ++t) {
                        const index_t p = plan.position(r, t);
                        ok = p == want[static_cast<std::size_t>(t)] && owner[static_cast<std::size_t>(p)] < 0;
                        if (ok) owner[static_cast<std::size_t>(p)] = static_cast<int>(r);
                    }
                }
                for (int o : owner) ok = ok && o >= 0;
                expect(ok, "shard_plan L " + std::to_string(L) + " P " + std::to_string(P) +
                               (layout == ad::shard_layout::zigzag ? " zigzag" : " contiguous"));
            }
    bool threw = false;
    try {
        (void)ad::shard_plan(10, 0, ad::shard_layout::zigzag);
    } catch (const attune::error& e) {
        threw = std::string(e.what()).find("ranks") != std::string::npos;
    }
    expect(threw, "shard_plan with 0 ranks");
    threw = false;
    try {
        (void)ad::shard_plan(-1, 2, ad::shard_layout::zigzag);
    } catch (const attune::error& e) {
        threw = std::string(e.what()).find("length") != std::string::npos;
    }
    expect(threw, "shard_plan of length -1");
    // scatter_tokens / gather_tokens refuse views that do not fit the plan.
    const ad::shard_plan plan(10, 2, ad::shard_layout::zigzag);
    std::vector<float> whole(10 * 4), local(6 * 4);
    auto refused = [&](const std::function<void()>& f, const char* needle) {
        try {
            f();
        } catch (const attune::error& e) {
            return std::string(e.what()).find(needle) != std::string::npos;
        }
        return false;
    };
    expect(refused(
               [&] {
                   ad::scatter_tokens(plan, 0, attune::view_bhld<const float>(whole.data(), 1, 1, 10, 4),
                                      attune::view_bhld(local.data(), 1, 1, 6, 4));
               },
               "local view"),
           "scatter_tokens into a local view of 6 tokens for 5");
    expect(refused(
               [&] {
                   ad::gather_tokens(plan, 1, attune::view_bhld<const float>(local.data(), 1, 1, 5, 4),
                                     attune::view_bhld(whole.data(), 1, 1, 9, 4));
               },
               "whole view"),
           "gather_tokens into a whole view of 9 tokens for 10");
    expect(refused(
               [&] {
                   ad::scatter_tokens(plan, 2, attune::view_bhld<const float>(whole.data(), 1, 1, 10, 4),
                                      attune::view_bhld(local.data(), 1, 1, 5, 4));
               },
               "rank 2"),
           "scatter_tokens for rank 2 of 2");
}

// A mask whose validate() fails on one rank only, after the ranks agreed on everything they can
// compare: the ranks must still all throw.
struct picky_mask {
    using policy_kind = attune::mask_kind;
    static constexpr bool is_none = false;
    using hooks = attune::provides<attune::hook::validate>;
    bool bad = false;
    bool visible(const attune::index_context& c) const noexcept { return c.k_pos <= c.q_pos; }
    template <class Shape>
    void validate(const Shape&) const {
        attune::detail::require(!bad, "picky_mask: this rank's mask is bad");
    }
};

// Runs f on every rank; every rank must throw attune::error, and a message must contain `needle`
// on the ranks in `naming` (−1: all).
void expect_all_throw(const std::string& what, const std::function<void()>& f, const std::string& needle, int naming = -1) {
    std::string message;
    bool threw = false;
    try {
        f();
    } catch (const attune::error& e) {
        threw = true;
        message = e.what();
    }
    int all = 0, mine = threw ? 1 : 0;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    expect(threw, "hostile " + what + ": this rank did not throw");
    expect(all == 1, "hostile " + what + ": some rank did not throw");
    if (naming < 0 || naming == rank_)
        expect(message.find(needle) != std::string::npos, "hostile " + what + ": message '" + message + "' lacks '" + needle + "'");
}

void hostile() {
    const index_t L = 20, H = 2, D = 32;
    const ad::shard_plan plan(L, ranks_, ad::shard_layout::zigzag);
    const index_t n = plan.tokens(rank_);
    // Room for every view below (the largest: 4 queries per rank, or n + 1 tokens of D + 8).
    const std::size_t room = static_cast<std::size_t>(H * std::max<index_t>(4 * ranks_, n + 2) * (D + 8));
    std::vector<float> q(room), k(room), v(room), out(room), lse(static_cast<std::size_t>(H * (n + 1)));
    auto view = [&](std::vector<float>& x, index_t t, index_t d) { return attune::view_bhld(x.data(), 1, H, t, d); };
    auto cp = [&](auto qv, auto kv, auto vv, auto ov, const auto& mask, ad::context_parallel_options opt = {}) {
        ad::context_parallel_attention(MPI_COMM_WORLD, qv, kv, vv, ov, mask, opt, attune::serial_executor{});
    };
    const bool odd = rank_ == ranks_ - 1;  // the rank whose arguments differ
    expect_all_throw(
        "head dim differs on one rank",
        [&] { cp(view(q, n, odd ? D + 8 : D), view(k, n, odd ? D + 8 : D), view(v, n, D), view(out, n, D), attune::causal{}); }, "", -1);
    expect_all_throw(
        "out overlaps q on one rank",
        [&] { cp(view(q, n, D), view(k, n, D), view(v, n, D), odd ? view(q, n, D) : view(out, n, D), attune::causal{}); }, "out",
        ranks_ - 1);
    if (ranks_ > 1)
        expect_all_throw(
            "rank 0 holds two tokens more than the plan gives it",  // (one more can be another length's plan)
            [&] {
                const index_t m = rank_ == 0 ? n + 2 : n;
                cp(view(q, m, D), view(k, m, D), view(v, m, D), view(out, m, D), attune::causal{});
            },
            "plan", -1);
    if (ranks_ > 1) {
        expect_all_throw(
            "window differs on one rank",
            [&] { cp(view(q, n, D), view(k, n, D), view(v, n, D), view(out, n, D), attune::sliding_window(odd ? 5 : 4, 0)); },
            "mask param 1");
        std::vector<std::int32_t> ids(static_cast<std::size_t>(L), 0);
        if (odd) ids[3] = 1;
        expect_all_throw(
            "document ids differ on one rank",
            [&] { cp(view(q, n, D), view(k, n, D), view(v, n, D), view(out, n, D), attune::document_mask(ids)); }, "document ids");
        ad::context_parallel_options o;
        o.layout = odd ? ad::shard_layout::contiguous : ad::shard_layout::zigzag;
        expect_all_throw(
            "layout differs on one rank", [&] { cp(view(q, n, D), view(k, n, D), view(v, n, D), view(out, n, D), attune::causal{}, o); },
            "");
    }
    {
        ad::context_parallel_options o;
        o.lse = odd ? attune::lse_view(lse.data(), 1, H, n + 1) : attune::lse_view(lse.data(), 1, H, n);
        expect_all_throw(
            "lse of the wrong shape on one rank",
            [&] { cp(view(q, n, D), view(k, n, D), view(v, n, D), view(out, n, D), attune::causal{}, o); }, "lse", ranks_ - 1);
        o.lse = attune::tensor_view<float>(reinterpret_cast<float*>(q.data()), {1, H, n, 1}, {H * n, n, 1});
        if (n > 0)
            expect_all_throw(
                "lse overlapping q", [&] { cp(view(q, n, D), view(k, n, D), view(v, n, D), view(out, n, D), attune::causal{}, o); }, "lse");
    }
    expect_all_throw(
        "document ids of another length",
        [&] {
            cp(view(q, n, D), view(k, n, D), view(v, n, D), view(out, n, D), attune::document_mask(std::vector<std::int32_t>(L + 1, 0)));
        },
        "document_mask");
    expect_all_throw(
        "a mask that fails on one rank after the agreement",
        [&] { cp(view(q, n, D), view(k, n, D), view(v, n, D), view(out, n, D), picky_mask{odd}); }, "picky_mask", ranks_ - 1);
    expect_all_throw(
        "MPI_COMM_NULL",
        [&] {
            ad::context_parallel_attention(MPI_COMM_NULL, view(q, n, D), view(k, n, D), view(v, n, D), view(out, n, D), attune::causal{});
        },
        "MPI_COMM_NULL");
    expect_all_throw(
        "k tokens differ from q tokens",
        [&] { cp(view(q, n, D), view(k, n + 1, D), view(v, n + 1, D), view(out, n, D), attune::causal{}); }, "tokens");
    // Decode.
    auto dec = [&](auto qv, auto kv, auto vv, auto ov, const auto& mask) {
        ad::sharded_decode(MPI_COMM_WORLD, qv, kv, vv, ov, mask, {}, attune::serial_executor{});
    };
    expect_all_throw(
        "decode: kv heads differ on one rank",
        [&] {
            dec(view(q, 1, D), attune::view_bhld(k.data(), 1, odd ? 1 : H, 3, D), attune::view_bhld(v.data(), 1, odd ? 1 : H, 3, D),
                view(out, 1, D), attune::causal{});
        },
        "", -1);
    expect_all_throw(
        "decode: out overlaps k on one rank",
        [&] { dec(view(q, 1, D), view(k, 3, D), view(v, 3, D), odd ? view(k, 1, D) : view(out, 1, D), attune::causal{}); }, "out",
        ranks_ - 1);
    expect_all_throw(
        "decode: a mask that fails on one rank after the agreement",
        [&] { dec(view(q, 1, D), view(k, 3, D), view(v, 3, D), view(out, 1, D), picky_mask{odd}); }, "picky_mask", ranks_ - 1);
    expect_all_throw(
        "decode: more queries than the whole cache",
        [&] { dec(view(q, 4 * ranks_, D), view(k, 1, D), view(v, 1, D), view(out, 4 * ranks_, D), attune::causal{}); }, "queries");
}

}  // namespace

int main(int argc, char** argv) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks_);
    try {
        const std::vector<index_t> lengths{1, 7, 63, 65, 129};
        const index_t dims[] = {32, 64, 80, 128};
        // Documents of 10, 1, 30, then the rest of the sequence.
        const auto doc_of = [](index_t p) -> std::int32_t { return p < 10 ? 0 : p < 11 ? 1 : p < 41 ? 2 : 3; };
        unsigned seed = 100;
        int c = 0;
        for (index_t L : lengths) {
            std::vector<std::int32_t> ids(static_cast<std::size_t>(L));
            for (index_t p = 0; p < L; ++p) ids[static_cast<std::size_t>(p)] = doc_of(p);
            const attune::document_mask docs(ids);
            const mask_case none{"none", [](index_t, index_t) { return true; }};
            const mask_case causal{"causal", [](index_t p, index_t j) { return j <= p; }};
            const mask_case window{"window 9/2", [](index_t p, index_t j) { return p - 9 <= j && j <= p + 2; }};
            const mask_case sinks{"sinks 4 + window 16", [](index_t p, index_t j) { return j <= p && (j < 4 || p - j < 16); }};
            const mask_case doc{"documents", [&](index_t p, index_t j) { return j <= p && doc_of(j) == doc_of(p); }};
            for (auto layout : {ad::shard_layout::zigzag, ad::shard_layout::contiguous}) {
                auto shape = [&](int i) {  // rotates head dim, GQA and batch over the cases
                    const index_t D = dims[(c + i) % 4];
                    const bool gqa = (c + i) % 2 == 0;
                    return std::array<index_t, 4>{(c + i) % 3 == 0 ? 2 : 1, gqa ? 4 : 2, gqa ? 1 : 2, D};
                };
                auto run = [&](const auto& mask, const mask_case& mc, int i) {
                    const auto s = shape(i);
                    cp_case<float>(mask, mc, L, layout, s[0], s[1], s[2], s[3], seed += 3);
                };
                run(attune::no_mask{}, none, 0);
                run(attune::causal{}, causal, 1);
                run(attune::sliding_window(9, 2), window, 2);
                run(attune::sinks_window(4, 16), sinks, 3);
                run(docs, doc, 4);
                const auto s = shape(5);
                cp_case<attune::bf16>(attune::causal{}, causal, L, layout, 1, s[1], s[2], s[3], seed += 3);
                ++c;
            }
            for (index_t Lq : {index_t(1), index_t(3)}) {
                if (Lq > L) continue;
                const index_t D = dims[static_cast<std::size_t>(c % 4)];
                decode_case<float>(attune::causal{}, causal, L, Lq, 1, 4, 1, D, seed += 3);
                decode_case<attune::bf16>(attune::causal{}, causal, L, Lq, 1, 4, 2, D, seed += 3);
                decode_case<float>(attune::no_mask{}, none, L, Lq, 2, 2, 2, D, seed += 3);
                decode_case<float>(attune::sliding_window(9, 2), window, L, Lq, 1, 8, 2, D, seed += 3);
                decode_case<float>(attune::sinks_window(4, 16), sinks, L, Lq, 1, 4, 4, D, seed += 3);
                decode_case<float>(docs, doc, L, Lq, 1, 4, 1, D, seed += 3);
                ++c;
            }
        }
        plan_cases();
        hostile();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rank %d: unexpected exception: %s\n", rank_, e.what());
        ++failures;
    }
    int total = 0, total_checks = 0;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(&checks, &total_checks, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank_ == 0) std::printf("distributed: %d ranks, %d checks, %d failed\n", ranks_, total_checks, total);
    MPI_Finalize();
    return total == 0 ? 0 : 1;
}
