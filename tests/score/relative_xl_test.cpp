// attune/score/relative_xl.hpp and attune/prepass/depthwise_conv.hpp: RCMHA (Sugiharto et al. 2023)
// = Transformer-XL relative attention (Dai et al. 2019, eq. (3)) after a depth-wise convolution of
// Q, K and V over the sequence. The reference here is written from the papers' formulas in double,
// as an L×L matrix per head: R_t the sinusoid of distance t, r_t = W_R R_t, scores
//   τ·(q_iᵀk_j + q_iᵀr_{i−j} + uᵀk_j + vᵀr_{i−j}),
// softmax over the visible keys; the convolution as y[t] = b + Σ_k w[k]·x[t − left + k]. Nothing of
// the modifier's table, clipping index or relative shift is reused. Lengths 1, 7, 63, 65, 129 (square,
// Lq < Lk as decode rows at the end of a cache, Lq > Lk), head dims 32/64/80/128, GQA 1/4/8, causal
// and not, forced and automatic KV splits, shared and per-head tables, clipped tables, position ids;
// hostile inputs.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/prepass/depthwise_conv.hpp"
#include "attune/score/positioned.hpp"
#include "attune/score/relative_xl.hpp"
#include "score/check_variant.hpp"

using attune::index_t;
using namespace attune_test;

namespace relative_xl_test {

// Transformer-XL's weights for one case: model dim M, W_R [heads][D][M], u and v [heads][D].
struct xl_weights {
    index_t heads = 1, D = 32, M = 16;
    std::vector<float> w_r, u, v;
    xl_weights(index_t h, index_t d, index_t m, std::uint32_t seed) : heads(h), D(d), M(m) {
        std::mt19937 rng(seed);
        std::normal_distribution<float> n(0.0f, 1.0f);
        w_r.resize(static_cast<std::size_t>(h * d * m));
        for (float& x : w_r) x = n(rng) / std::sqrt(static_cast<float>(m));
        u.resize(static_cast<std::size_t>(h * d));
        v.resize(u.size());
        for (float& x : u) x = 0.5f * n(rng);
        for (float& x : v) x = 0.5f * n(rng);
    }
    attune::relative_xl modifier(index_t first, index_t count) const {
        return attune::relative_xl(attune::relative_xl::sinusoid(M, first, count), first, count, M, w_r, u, v, heads, D);
    }
};

// r_t = W_R R_t in double for query head h, R_t = [sin(t·ω_i)…, cos(t·ω_i)…], ω_i = 10000^(−2i/M)
// (Dai et al.; Vaswani et al. 2017's frequencies).
std::vector<double> projected_encoding(const xl_weights& w, index_t h, double t) {
    std::vector<double> R(static_cast<std::size_t>(w.M)), r(static_cast<std::size_t>(w.D), 0.0);
    for (index_t i = 0; i < w.M / 2; ++i) {
        const double omega = 1.0 / std::pow(10000.0, 2.0 * static_cast<double>(i) / static_cast<double>(w.M));
        R[static_cast<std::size_t>(i)] = std::sin(t * omega);
        R[static_cast<std::size_t>(w.M / 2 + i)] = std::cos(t * omega);
    }
    const index_t hh = w.heads == 1 ? 0 : h;
    for (index_t d = 0; d < w.D; ++d)
        for (index_t m = 0; m < w.M; ++m)
            r[static_cast<std::size_t>(d)] +=
                static_cast<double>(w.w_r[static_cast<std::size_t>((hh * w.D + d) * w.M + m)]) * R[static_cast<std::size_t>(m)];
    return r;
}

// Plain double copy of a view.
template <class T>
std::vector<double> to_double(const attune::tensor_view<T>& x) {
    std::vector<double> y(static_cast<std::size_t>(x.batch() * x.heads() * x.tokens() * x.dim()));
    std::size_t i = 0;
    for (index_t b = 0; b < x.batch(); ++b)
        for (index_t h = 0; h < x.heads(); ++h)
            for (index_t t = 0; t < x.tokens(); ++t)
                for (index_t d = 0; d < x.dim(); ++d) y[i++] = static_cast<double>(attune::to_float(x(b, h, t, d)));
    return y;
}

// The Transformer-XL attention of q [B][Hq][Lq][D], k [B][Hkv][Lk][D], v [B][Hkv][Lk][Dv] in double:
// query i at position pos(b, i), key j at kpos(b, j); distances clipped to [t_lo, t_hi] (the table's
// range; exact when it covers every distance); keys after the query hidden when causal.
template <class QPos, class KPos>
attune::reference::result xl_reference(const vcase& c, const std::vector<double>& q, const std::vector<double>& k,
                                       const std::vector<double>& v, const xl_weights& w, bool causal, index_t t_lo, index_t t_hi, QPos pos,
                                       KPos kpos) {
    auto res = attune::reference::result::zeros(c.B, c.Hq, c.Lq, c.Dv);
    const index_t g = c.Hq / c.Hkv;
    const double tau = 1.0 / std::sqrt(static_cast<double>(c.Dk));
    for (index_t b = 0; b < c.B; ++b)
        for (index_t h = 0; h < c.Hq; ++h) {
            const index_t hk = h / g, hw = w.heads == 1 ? 0 : h;
            std::vector<std::vector<double>> r_of;  // r_t for t = t_lo … t_hi, computed once per head
            for (index_t t = t_lo; t <= t_hi; ++t) r_of.push_back(projected_encoding(w, h, static_cast<double>(t)));
            for (index_t i = 0; i < c.Lq; ++i) {
                const double* qi = q.data() + ((b * c.Hq + h) * c.Lq + i) * c.Dk;
                std::vector<double> s(static_cast<std::size_t>(c.Lk), -std::numeric_limits<double>::infinity());
                double mx = -std::numeric_limits<double>::infinity();
                for (index_t j = 0; j < c.Lk; ++j) {
                    const index_t t = pos(b, i) - kpos(b, j);
                    if (causal && t < 0) continue;
                    const std::vector<double>& r = r_of[static_cast<std::size_t>(std::min(std::max(t, t_lo), t_hi) - t_lo)];
                    const double* kj = k.data() + ((b * c.Hkv + hk) * c.Lk + j) * c.Dk;
                    double a = 0.0;
                    for (index_t d = 0; d < c.Dk; ++d) {
                        const double ud = w.u[static_cast<std::size_t>(hw * c.Dk + d)], vd = w.v[static_cast<std::size_t>(hw * c.Dk + d)];
                        a += qi[d] * kj[d] + qi[d] * r[static_cast<std::size_t>(d)] + ud * kj[d] + vd * r[static_cast<std::size_t>(d)];
                    }
                    s[static_cast<std::size_t>(j)] = tau * a;
                    mx = std::max(mx, s[static_cast<std::size_t>(j)]);
                }
                if (mx == -std::numeric_limits<double>::infinity()) continue;  // no visible key: zeros, LSE −inf
                double sum = 0.0;
                for (double& x : s) sum += (x = std::exp(x - mx));
                for (index_t j = 0; j < c.Lk; ++j) {
                    const double p = s[static_cast<std::size_t>(j)] / sum;
                    for (index_t d = 0; d < c.Dv; ++d)
                        res.at(b, h, i, d) += p * v[static_cast<std::size_t>(((b * c.Hkv + hk) * c.Lk + j) * c.Dv + d)];
                }
                res.lse[static_cast<std::size_t>((b * c.Hq + h) * c.Lq + i)] = mx + std::log(sum);
            }
        }
    return res;
}

// Runs q + u (add_content_bias) through attention with the modifier and compares with the reference.
template <class Var>
void run_and_check(const vcase& c, attune::tensor_view<const float> q, attune::tensor_view<const float> k,
                   attune::tensor_view<const float> v, const attune::relative_xl& rel, const Var& var,
                   const attune::reference::result& ref) {
    tensor<float> qu(c.B, c.Hq, c.Lq, c.Dk);
    attune::add_content_bias(rel, q, qu.view);
    tensor<float> out(c.B, c.Hq, c.Lq, c.Dv, c.lay, 3);
    lse_buffer lse(c.B, c.Hq, c.Lq);
    out.poison();
    attune::options opt;
    opt.lse = lse.view;
    opt.kv_splits = c.splits;
    if (c.threads) attune::attention<ATTUNE_TEST_ARCH>(qu.cview(), k, v, out.view, var, opt, make_pool_executor(variant_pool()));
    else attune::attention<ATTUNE_TEST_ARCH>(qu.cview(), k, v, out.view, var, opt, attune::serial_executor{});
    check_against_reference(out, ref, fp32_tolerance(), &lse);
}
template <class Var>
void run_and_check(const vcase& c, const vinputs<float>& in, const attune::relative_xl& rel, const Var& var,
                   const attune::reference::result& ref) {
    run_and_check(c, in.q.cview(), in.k.cview(), in.v.cview(), rel, var, ref);
}

// One case: table covering every distance (or clipped to [t_lo, t_hi] when `clip`), causal or not.
void check_case(const vcase& c, bool causal, bool per_head, std::uint32_t seed, index_t clip = 0) {
    INFO(describe(c) << (causal ? " causal" : " bidirectional") << (per_head ? " per-head" : " shared") << " clip " << clip << " seed "
                     << seed);
    const vinputs<float> in(c, seed);
    const xl_weights w(per_head ? c.Hq : 1, c.Dk, c.Dk == 80 ? 24 : 16, seed + 7);
    index_t t_lo = causal ? 0 : 1 - std::max(c.Lq, c.Lk), t_hi = c.Lk - 1;
    if (clip > 0) t_lo = std::max<index_t>(t_lo, -clip), t_hi = std::min(t_hi, clip);
    const attune::relative_xl rel = w.modifier(t_lo, t_hi - t_lo + 1);
    const index_t q0 = c.Lk - c.Lq;  // decode rows sit at the end of the cache
    const auto ref = xl_reference(
        c, to_double(in.q.cview()), to_double(in.k.cview()), to_double(in.v.cview()), w, causal, t_lo, t_hi,
        [q0](index_t, index_t i) { return q0 + i; }, [](index_t, index_t j) { return j; });
    if (causal) run_and_check(c, in, rel, attune::variant(attune::causal{}, rel), ref);
    else run_and_check(c, in, rel, attune::variant(rel), ref);
}

// A depth-wise convolution with random weights.
attune::depthwise_conv random_conv(index_t heads, index_t dim, index_t kernel, attune::conv_padding pad, bool bias, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> n(0.0f, 0.5f);
    attune::depthwise_conv conv;
    conv.heads = heads, conv.dim = dim, conv.kernel = kernel, conv.padding = pad;
    conv.weight.resize(static_cast<std::size_t>(heads * dim * kernel));
    for (float& x : conv.weight) x = n(rng);
    if (bias) {
        conv.bias.resize(static_cast<std::size_t>(heads * dim));
        for (float& x : conv.bias) x = n(rng);
    }
    return conv;
}

// y[t][c] = b[c] + Σ_k w[c][k]·x[t − left + k][c] in double (zero outside), for all L tokens of x:
// x [B][H][L][D] as to_double lays it out.
std::vector<double> conv_reference(const std::vector<double>& x, index_t B, index_t H, index_t L, index_t D,
                                   const attune::depthwise_conv& conv) {
    const index_t K = conv.kernel, left = conv.padding == attune::conv_padding::causal ? K - 1 : (K - 1) / 2;
    std::vector<double> y(x.size(), 0.0);
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < H; ++h)
            for (index_t t = 0; t < L; ++t)
                for (index_t d = 0; d < D; ++d) {
                    double a = conv.bias.empty() ? 0.0 : conv.bias[static_cast<std::size_t>(h * D + d)];
                    for (index_t k = 0; k < K; ++k) {
                        const index_t s = t - left + k;
                        if (s >= 0 && s < L)
                            a += static_cast<double>(conv.weight[static_cast<std::size_t>((h * D + d) * K + k)]) *
                                 x[static_cast<std::size_t>(((b * H + h) * L + s) * D + d)];
                    }
                    y[static_cast<std::size_t>(((b * H + h) * L + t) * D + d)] = a;
                }
    return y;
}

}  // namespace relative_xl_test

using namespace relative_xl_test;

TEST_CASE("relative_xl against Transformer-XL's scores in double: lengths, dims, GQA, causal and not, splits", "[relative_xl]") {
    struct lens {
        index_t lq, lk;
    };
    std::uint32_t seed = 1;
    int i = 0;
    for (lens L : {lens{1, 1}, lens{7, 7}, lens{63, 63}, lens{65, 65}, lens{129, 129}, lens{7, 129}, lens{65, 129}, lens{129, 63},
                   lens{1, 300}, lens{3, 300}})
        for (index_t g : {1, 4, 8}) {
            vcase c;
            c.Hkv = g == 8 ? 1 : 2;
            c.Hq = c.Hkv * g;
            c.Lq = L.lq;
            c.Lk = L.lk;
            const index_t dims[] = {32, 64, 80, 128};
            c.Dk = c.Dv = dims[i % 4];
            c.lay = i % 2 == 0 ? layout::bhld : layout::blhd;
            c.splits = 1 + i % 3;
            check_case(c, true, i % 2 == 0, seed++);
            check_case(c, false, i % 2 == 1, seed++);
            if (L.lk >= 129) {  // automatic splits across threads
                c.splits = 0;
                c.threads = true;
                check_case(c, i % 3 != 0, true, seed++);
            }
            ++i;
        }
}

TEST_CASE("relative_xl: clipped tables, decode rows with an offset, position ids", "[relative_xl]") {
    vcase c;
    c.Hkv = 2;
    c.Hq = 8;
    c.Lq = 65;
    c.Lk = 129;
    c.Dk = c.Dv = 64;
    for (index_t clip : {1, 5, 40}) {
        check_case(c, true, true, 100 + static_cast<std::uint32_t>(clip), clip);
        check_case(c, false, false, 200 + static_cast<std::uint32_t>(clip), clip);
    }
    // Position ids: a cache whose keys sit at ids 10, 11, … (a shifted window), queries at the end.
    c.Lq = 7;
    c.splits = 2;
    const vinputs<float> in(c, 300);
    const xl_weights w(c.Hq, c.Dk, 16, 301);
    std::vector<std::int32_t> ids(static_cast<std::size_t>(c.Lk));
    for (index_t j = 0; j < c.Lk; ++j) ids[static_cast<std::size_t>(j)] = static_cast<std::int32_t>(10 + j);
    const attune::relative_xl rel = w.modifier(0, 10 + c.Lk);
    const index_t q0 = c.Lk - c.Lq;
    const auto ref = xl_reference(
        c, to_double(in.q.cview()), to_double(in.k.cview()), to_double(in.v.cview()), w, true, 0, 10 + c.Lk - 1,
        [q0](index_t, index_t i2) { return 10 + q0 + i2; }, [](index_t, index_t j) { return 10 + j; });
    run_and_check(c, in, rel,
                  attune::variant(attune::causal{}, attune::with_positions(rel, attune::position_ids::shared(ids.data(), c.Lk))), ref);
}

TEST_CASE("RCMHA: depth-wise convolution of Q, K and V, then relative attention; prefill and cached decode", "[relative_xl]") {
    vcase c;
    c.Hkv = 2;
    c.Hq = 8;
    c.Lq = c.Lk = 65;
    c.Dk = c.Dv = 32;
    const vinputs<float> raw(c, 400);
    const auto cq = random_conv(c.Hq, c.Dk, 3, attune::conv_padding::causal, true, 401);
    const auto ck = random_conv(c.Hkv, c.Dk, 3, attune::conv_padding::causal, true, 402);
    const auto cv = random_conv(c.Hkv, c.Dv, 3, attune::conv_padding::causal, false, 403);
    // Reference: the convolutions, then the relative scores, all in double.
    const auto q = conv_reference(to_double(raw.q.cview()), c.B, c.Hq, c.Lq, c.Dk, cq);
    const auto k = conv_reference(to_double(raw.k.cview()), c.B, c.Hkv, c.Lk, c.Dk, ck);
    const auto v = conv_reference(to_double(raw.v.cview()), c.B, c.Hkv, c.Lk, c.Dv, cv);
    const xl_weights w(c.Hq, c.Dk, 16, 404);
    const auto ref = xl_reference(
        c, q, k, v, w, true, 0, c.Lk - 1, [](index_t, index_t i) { return i; }, [](index_t, index_t j) { return j; });
    const attune::relative_xl rel = w.modifier(0, c.Lk);

    // Prefill: the whole sequence.
    vinputs<float> conv(c, 1);
    attune::depthwise_conv_tokens<ATTUNE_TEST_ARCH>(cq, raw.q.cview(), conv.q.view);
    attune::depthwise_conv_tokens<ATTUNE_TEST_ARCH>(ck, raw.k.cview(), conv.k.view);
    attune::depthwise_conv_tokens<ATTUNE_TEST_ARCH>(cv, raw.v.cview(), conv.v.view);
    run_and_check(c, conv, rel, attune::variant(attune::causal{}, rel), ref);

    // Decode: the last query alone, convolved from the last K − 1 raw rows before it; the cache's K
    // and V as the prefill convolved them. Its row of the reference is the prefill's last row.
    vcase d = c;
    d.Lq = 1;
    d.splits = 3;
    tensor<float> step_q(d.B, d.Hq, 1, d.Dk);
    const attune::tensor_view<const float> window(raw.q.view.row(0, 0, c.Lq - 3), {c.B, c.Hq, 3, c.Dk}, raw.q.view.strides());
    attune::depthwise_conv_tokens<ATTUNE_TEST_ARCH>(cq, window, step_q.view);
    auto last = attune::reference::result::zeros(d.B, d.Hq, 1, d.Dv);
    for (index_t h = 0; h < d.Hq; ++h) {
        for (index_t e = 0; e < d.Dv; ++e) last.at(0, h, 0, e) = ref.at(0, h, c.Lq - 1, e);
        last.lse[static_cast<std::size_t>(h)] = ref.lse_at(0, h, c.Lq - 1);
    }
    run_and_check(d, step_q.cview(), conv.k.cview(), conv.v.cview(), rel, attune::variant(attune::causal{}, rel), last);
}

TEST_CASE("depthwise_conv_tokens against the convolution in double: lengths, dims, kernels, padding, suffixes, bf16", "[relative_xl]") {
    std::uint32_t seed = 500;
    int i = 0;
    for (index_t L : {1, 7, 63, 65, 129})
        for (index_t K : {1, 2, 3, 7}) {
            const index_t dims[] = {32, 64, 80, 128};
            const index_t D = dims[i % 4], H = 1 + i % 3;
            for (auto pad : {attune::conv_padding::causal, attune::conv_padding::same}) {
                INFO("L " << L << " K " << K << " D " << D << " H " << H << (pad == attune::conv_padding::causal ? " causal" : " same"));
                const auto conv = random_conv(H, D, K, pad, i % 2 == 0, seed++);
                tensor<float> x(2, H, L, D, i % 2 == 0 ? layout::bhld : layout::blhd, 3);
                std::mt19937 rng(seed++);
                x.fill_random(rng);
                const auto ref = conv_reference(to_double(x.cview()), 2, H, L, D, conv);
                for (index_t n : {L, (L + 1) / 2, index_t(1)}) {  // the whole sequence, then suffixes (decode)
                    tensor<float> y(2, H, n, D, layout::bhld, 2);
                    y.poison();
                    attune::depthwise_conv_tokens<ATTUNE_TEST_ARCH>(conv, x.cview(), y.view);
                    double err = 0.0;
                    for (index_t b = 0; b < 2; ++b)
                        for (index_t h = 0; h < H; ++h)
                            for (index_t t = 0; t < n; ++t)
                                for (index_t d = 0; d < D; ++d)
                                    err = std::max(err, std::abs(static_cast<double>(y.view(b, h, t, d)) -
                                                                 ref[static_cast<std::size_t>(((b * H + h) * L + L - n + t) * D + d)]));
                    CHECK(err < 1e-5);
                    CHECK(y.clobbered_padding() == 0);
                }
            }
            ++i;
        }
    // bf16 in and out: the float result rounded once.
    const auto conv = random_conv(2, 64, 4, attune::conv_padding::causal, true, 600);
    tensor<attune::bf16> x(1, 2, 33, 64);
    std::mt19937 rng(601);
    x.fill_random(rng);
    const auto ref = conv_reference(to_double(x.cview()), 1, 2, 33, 64, conv);
    tensor<attune::bf16> y(1, 2, 33, 64);
    attune::depthwise_conv_tokens<ATTUNE_TEST_ARCH>(conv, x.cview(), y.view);
    const auto got = to_double(y.cview());
    for (std::size_t e = 0; e < got.size(); ++e) REQUIRE(std::abs(got[e] - ref[e]) <= 1e-5 + std::abs(ref[e]) / 128.0);
}

TEST_CASE("relative_xl and depthwise_conv: hostile input", "[relative_xl]") {
    const xl_weights w(4, 32, 16, 700);
    const auto R = attune::relative_xl::sinusoid(16, 0, 10);
    using attune::relative_xl;
    // Table sizes, values, sizes that wrap.
    REQUIRE_THROWS_WITH(relative_xl(std::vector<float>(R.begin(), R.end() - 1), 0, 10, 16, w.w_r, w.u, w.v, 4, 32),
                        Catch::Contains("R (encodings)"));
    REQUIRE_THROWS_WITH(relative_xl(R, 0, 10, 16, std::vector<float>(w.w_r.begin() + 1, w.w_r.end()), w.u, w.v, 4, 32),
                        Catch::Contains("W_R"));
    REQUIRE_THROWS_WITH(relative_xl(R, 0, 10, 16, w.w_r, std::vector<float>(31), w.v, 4, 32), Catch::Contains("of u"));
    REQUIRE_THROWS_WITH(relative_xl(R, 0, 10, 16, w.w_r, w.u, std::vector<float>(129), 4, 32), Catch::Contains("of v"));
    REQUIRE_THROWS_WITH(relative_xl(R, 0, 10, 16, w.w_r, w.u, w.v, 2, 32), Catch::Contains("W_R"));
    REQUIRE_THROWS_WITH(relative_xl(R, 0, 0, 16, w.w_r, w.u, w.v, 4, 32), Catch::Contains("distance row"));
    REQUIRE_THROWS_WITH(relative_xl(R, 0, 10, 16, w.w_r, w.u, w.v, 0, 32), Catch::Contains("heads"));
    REQUIRE_THROWS_WITH(relative_xl(R, 0, index_t(1) << 62, 16, w.w_r, w.u, w.v, 4, 32), Catch::Contains("distances"));
    REQUIRE_THROWS_WITH(relative_xl(R, 0, 10, index_t(1) << 40, w.w_r, w.u, w.v, 4, index_t(1) << 40), Catch::Contains("overflows"));
    auto nan_u = w.u;
    nan_u[5] = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_WITH(relative_xl(R, 0, 10, 16, w.w_r, nan_u, w.v, 4, 32), Catch::Contains("u[5] must be finite"));
    REQUIRE_THROWS_WITH(relative_xl(R, 0, 10, 16, w.w_r, w.u, w.v, 4, 32, -1.0f), Catch::Contains("scale"));
    REQUIRE_THROWS_WITH(relative_xl::sinusoid(15, 0, 4), Catch::Contains("even"));

    // Tables that do not fit the call: attention() throws before writing anything.
    vcase c;
    c.Hkv = 2;
    c.Hq = 4;
    c.Lq = c.Lk = 9;
    c.Dk = c.Dv = 32;
    const vinputs<float> in(c, 701);
    tensor<float> out(c.B, c.Hq, c.Lq, c.Dv);
    const auto run = [&](const attune::relative_xl& rel, attune::options opt = {}) {
        out.poison();
        try {
            attune::attention<ATTUNE_TEST_ARCH>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, attune::variant(attune::causal{}, rel),
                                                opt);
        } catch (...) {
            CHECK(out.nan_count() == c.B * c.Hq * c.Lq * c.Dv);  // untouched
            throw;
        }
    };
    REQUIRE_THROWS_WITH(run(xl_weights(4, 64, 16, 1).modifier(0, 9)), Catch::Contains("table dim"));
    REQUIRE_THROWS_WITH(run(xl_weights(2, 32, 16, 1).modifier(0, 9)), Catch::Contains("tables for 2 heads"));
    REQUIRE_THROWS_WITH(run(attune::relative_xl{}), Catch::Contains("no table"));
    attune::options scaled;
    scaled.scale = 0.5f;
    REQUIRE_THROWS_WITH(run(w.modifier(0, 9), scaled), Catch::Contains("scale"));
    REQUIRE_NOTHROW(run(attune::relative_xl(R, 0, 10, 16, w.w_r, w.u, w.v, 4, 32, 0.5f), scaled));

    // add_content_bias: shapes, heads, overlaps (in place is allowed).
    const auto rel = w.modifier(0, 9);
    tensor<float> qu(c.B, c.Hq, c.Lq, c.Dk);
    REQUIRE_THROWS_WITH(attune::add_content_bias(rel, in.q.cview(), tensor<float>(1, 4, 8, 32).view), Catch::Contains("shape"));
    REQUIRE_THROWS_WITH(attune::add_content_bias(rel, in.k.cview(), tensor<float>(1, 2, 9, 32).view), Catch::Contains("u for 4 heads"));
    const attune::tensor_view<const float> first8(qu.view.row(0, 0, 0), {1, 4, 8, 32}, qu.view.strides());
    const attune::tensor_view<float> next8(qu.view.row(0, 0, 1), {1, 4, 8, 32}, qu.view.strides());
    REQUIRE_THROWS_WITH(attune::add_content_bias(rel, first8, next8), Catch::Contains("overlaps q"));
    REQUIRE_NOTHROW(attune::add_content_bias(rel, qu.cview(), qu.view));

    // depthwise_conv: kernel size, weight and bias sizes, heads and dims, tokens, overlaps.
    tensor<float> x(1, 2, 9, 32), y(1, 2, 9, 32);
    const auto conv = random_conv(2, 32, 3, attune::conv_padding::causal, true, 702);
    const auto call = [&](attune::depthwise_conv cv, attune::tensor_view<float> o) {
        attune::depthwise_conv_tokens<ATTUNE_TEST_ARCH>(cv, x.cview(), o);
    };
    auto bad = conv;
    bad.kernel = 0;
    REQUIRE_THROWS_WITH(call(bad, y.view), Catch::Contains("kernel size"));
    bad = conv;
    bad.kernel = 4;
    REQUIRE_THROWS_WITH(call(bad, y.view), Catch::Contains("weight values"));
    bad = conv;
    bad.bias.pop_back();
    REQUIRE_THROWS_WITH(call(bad, y.view), Catch::Contains("bias values"));
    bad = conv;
    bad.weight[7] = std::numeric_limits<float>::infinity();
    REQUIRE_THROWS_WITH(call(bad, y.view), Catch::Contains("weight[7]"));
    REQUIRE_THROWS_WITH(call(random_conv(3, 32, 3, attune::conv_padding::causal, false, 1), y.view),
                        Catch::Contains("weights for 3 heads"));
    REQUIRE_THROWS_WITH(call(random_conv(2, 16, 3, attune::conv_padding::causal, false, 1), y.view), Catch::Contains("weights of dim 16"));
    REQUIRE_THROWS_WITH(call(conv, tensor<float>(1, 2, 10, 32).view), Catch::Contains("more than in"));
    REQUIRE_THROWS_WITH(call(conv, tensor<float>(1, 3, 9, 32).view), Catch::Contains("differs from in shape"));
    REQUIRE_THROWS_WITH(call(conv, x.view), Catch::Contains("overlaps in"));
    const attune::tensor_view<float> self(y.view.data(), {1, 2, 9, 32}, {0, 32, 32});
    REQUIRE_THROWS_WITH(call(conv, self), Catch::Contains("overlaps itself"));
    auto own = conv;
    const attune::tensor_view<float> into_w(own.weight.data(), {1, 1, 1, 32}, {32, 32, 32});
    REQUIRE_THROWS_WITH(attune::depthwise_conv_tokens<ATTUNE_TEST_ARCH>(own, tensor<float>(1, 1, 1, 32).cview(), into_w),
                        Catch::Contains("weights for 2 heads"));
    own.heads = 1;
    own.weight.resize(96);
    own.bias.resize(32);
    const attune::tensor_view<float> into_w2(own.weight.data(), {1, 1, 1, 32}, {32, 32, 32});
    REQUIRE_THROWS_WITH(attune::depthwise_conv_tokens<ATTUNE_TEST_ARCH>(own, tensor<float>(1, 1, 1, 32).cview(), into_w2),
                        Catch::Contains("overlaps depthwise_conv::weight"));
}
