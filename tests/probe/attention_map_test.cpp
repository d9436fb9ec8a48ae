// Attention maps (probe/attention_map.hpp, score/key_log_bias.hpp) against a direct float64
// computation written here, apart from the kernel and from the policies' own element forms:
// S = τ·QKᵀ in double, the mask, ALiBi, the key bias and the sink logit applied by their papers'
// formulas, P = exp(S − LSE). Odd sizes (Lq, Lk in 1, 7, 63, 65, 129; D 32/64/80/128; GQA 1/4/8),
// cross-attention without a mask (Lq ≠ Lk), causal (with rows that see nothing when Lq > Lk), a
// causal window with ALiBi, a sink logit; all heads and rows, or a subset in a shuffled order;
// per-head maps and their mean; serial and pool executors. Edits: key_log_bias against PASTA's
// rescale-and-renormalise of the plain P (Zhang et al. 2023), and blend_map against ((1 − α)P + αM)V.
// Hostile input: heads/rows out of range or repeated, map shapes, overlap, α, bias tables.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/attune.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;
using namespace attune_test;
using arch = ATTUNE_TEST_ARCH;

namespace {

struct shape {
    index_t B, Hq, Hkv, Lq, Lk, D;
};

const shape shapes[] = {
    {1, 1, 1, 1, 1, 32},     {1, 4, 1, 7, 7, 64},    {1, 8, 1, 63, 65, 80},  // GQA 1, 4, 8
    {2, 4, 4, 65, 129, 128}, {1, 8, 2, 129, 63, 64}, {1, 4, 1, 1, 129, 32},  // Lq > Lk, decode
};

// blend_map's M·V runs four vectors of dv at a time, then one, then single lanes: dv 20 and 5 reach
// the last two on every arch (and 33 queries a second row block).
const shape blend_shapes[] = {
    {1, 1, 1, 1, 1, 32},    {1, 4, 1, 7, 7, 64},   {1, 8, 1, 63, 65, 80}, {2, 4, 4, 65, 129, 128},
    {1, 8, 2, 129, 63, 64}, {1, 4, 1, 1, 129, 32}, {1, 4, 2, 33, 17, 20}, {1, 2, 1, 7, 9, 5},
};

// The test's own description of a variant, in the papers' terms.
struct ref_policy {
    std::function<bool(index_t, index_t)> visible = [](index_t, index_t) { return true; };                  // (query position, key)
    std::function<double(index_t, index_t, index_t)> bias = [](index_t, index_t, index_t) { return 0.0; };  // (head, q pos, key)
    std::vector<double> sink;                                                                               // per query head, empty: none
};

struct inputs {
    tensor<float> q, k, v;
    inputs(const shape& s, std::uint32_t seed)
        : q(s.B, s.Hq, s.Lq, s.D, layout::blhd, 1), k(s.B, s.Hkv, s.Lk, s.D), v(s.B, s.Hkv, s.Lk, s.D) {
        std::mt19937 rng(seed);
        q.fill_random(rng, 1.5f);
        k.fill_random(rng);
        v.fill_random(rng);
    }
};

// P[b][h][i][j] in double.
std::vector<double> dense_p(const shape& s, const inputs& in, const ref_policy& pol) {
    std::vector<double> P(static_cast<std::size_t>(s.B * s.Hq * s.Lq * s.Lk), 0.0);
    const double tau = 1.0 / std::sqrt(static_cast<double>(s.D));
    const index_t group = s.Hq / s.Hkv;
    std::vector<double> sc(static_cast<std::size_t>(s.Lk));
    for (index_t b = 0; b < s.B; ++b)
        for (index_t h = 0; h < s.Hq; ++h)
            for (index_t i = 0; i < s.Lq; ++i) {
                const index_t pos = s.Lk - s.Lq + i;  // bottom-right aligned
                double mx = pol.sink.empty() ? -std::numeric_limits<double>::infinity() : pol.sink[static_cast<std::size_t>(h)];
                for (index_t j = 0; j < s.Lk; ++j) {
                    double x = -std::numeric_limits<double>::infinity();
                    if (pol.visible(pos, j)) {
                        x = 0.0;
                        for (index_t d = 0; d < s.D; ++d) x += static_cast<double>(in.q.view(b, h, i, d)) * in.k.view(b, h / group, j, d);
                        x = tau * x + pol.bias(h, pos, j);
                    }
                    sc[static_cast<std::size_t>(j)] = x;
                    mx = std::max(mx, x);
                }
                if (mx == -std::numeric_limits<double>::infinity()) continue;  // nothing visible: zeros
                double l = pol.sink.empty() ? 0.0 : std::exp(pol.sink[static_cast<std::size_t>(h)] - mx);
                for (double x : sc) l += std::exp(x - mx);
                for (index_t j = 0; j < s.Lk; ++j)
                    P[static_cast<std::size_t>(((b * s.Hq + h) * s.Lq + i) * s.Lk + j)] =
                        std::exp(sc[static_cast<std::size_t>(j)] - mx) / l;
            }
    return P;
}

double p_at(const std::vector<double>& P, const shape& s, index_t b, index_t h, index_t i, index_t j) {
    return P[static_cast<std::size_t>(((b * s.Hq + h) * s.Lq + i) * s.Lk + j)];
}

// The forward pass's LSE (and out) for the variant.
template <class Var>
lse_buffer forward(const shape& s, const inputs& in, tensor<float>& out, const Var& var) {
    lse_buffer lse(s.B, s.Hq, s.Lq);
    attune::options opt;
    opt.lse = lse.view;
    attune::attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, var, opt);
    return lse;
}

std::vector<index_t> unique_in_order(std::vector<index_t> xs) {
    std::vector<index_t> r;
    for (index_t x : xs)
        if (std::find(r.begin(), r.end(), x) == r.end()) r.push_back(x);
    return r;
}

// Map of every (heads, rows) selection and both reductions against the dense P.
template <class Var, class Exec>
void check_maps(const shape& s, const Var& var, const ref_policy& pol, const Exec& exec, std::uint32_t seed) {
    INFO("arch " << ATTUNE_TEST_ARCH_NAME << " B " << s.B << " Hq " << s.Hq << " Hkv " << s.Hkv << " Lq " << s.Lq << " Lk " << s.Lk << " D "
                 << s.D << " seed " << seed);
    const inputs in(s, seed);
    tensor<float> out(s.B, s.Hq, s.Lq, s.D);
    const lse_buffer lse = forward(s, in, out, var);
    const std::vector<double> P = dense_p(s, in, pol);
    const std::vector<std::vector<index_t>> head_sets = {{}, unique_in_order({s.Hq - 1, 0})};
    const std::vector<std::vector<index_t>> row_sets = {{}, unique_in_order({s.Lq - 1, 0, s.Lq / 2})};
    for (const auto& hs : head_sets)
        for (const auto& rs : row_sets)
            for (attune::map_reduce red : {attune::map_reduce::per_head, attune::map_reduce::mean}) {
                std::vector<index_t> heads = hs, rows = rs;
                if (heads.empty())
                    for (index_t h = 0; h < s.Hq; ++h) heads.push_back(h);
                if (rows.empty())
                    for (index_t i = 0; i < s.Lq; ++i) rows.push_back(i);
                const bool mean = red == attune::map_reduce::mean;
                const index_t nh = mean ? 1 : static_cast<index_t>(heads.size()), nr = static_cast<index_t>(rows.size());
                tensor<float> map(s.B, nh, nr, s.Lk, layout::bhld, 3);
                map.poison();  // every element must be written (zeros where hidden)
                attune::map_options mo;
                mo.heads = hs, mo.rows = rs, mo.reduce = red;
                attune::map_attention<arch>(in.q.cview(), in.k.cview(), attune::tensor_view<const float>(lse.view), map.view, var, mo,
                                            exec);
                CHECK(map.clobbered_padding() == 0);
                index_t bad = 0;
                for (index_t b = 0; b < s.B; ++b)
                    for (index_t x = 0; x < nh; ++x)
                        for (index_t y = 0; y < nr; ++y)
                            for (index_t j = 0; j < s.Lk; ++j) {
                                double ref = 0.0;
                                if (mean) {
                                    for (index_t h : heads) ref += p_at(P, s, b, h, rows[static_cast<std::size_t>(y)], j);
                                    ref /= static_cast<double>(heads.size());
                                } else {
                                    ref = p_at(P, s, b, heads[static_cast<std::size_t>(x)], rows[static_cast<std::size_t>(y)], j);
                                }
                                const double got = map.view(b, x, y, j);
                                if (!(std::abs(got - ref) <= 2e-6 + 1e-4 * ref) && bad++ == 0)
                                    FAIL_CHECK("map[" << b << "," << x << "," << y << "," << j << "] = " << got << ", reference " << ref
                                                      << " (heads " << hs.size() << ", rows " << rs.size() << ", mean " << mean << ")");
                            }
                CHECK(bad == 0);
            }
}

}  // namespace

TEST_CASE("map_attention: weights of chosen heads and rows, and their mean, against dense float64", "[maps]") {
    thread_pool pool(3);
    const auto pool_exec = make_pool_executor(pool);
    std::uint32_t seed = 1;
    for (const shape& s : shapes) {
        // Cross-attention: no mask (Lq ≠ Lk in most shapes).
        check_maps(s, attune::variant<>{}, ref_policy{}, attune::serial_executor{}, seed++);
        ref_policy causal;
        causal.visible = [](index_t p, index_t j) { return j <= p; };
        check_maps(s, attune::variant<attune::causal>{}, causal, pool_exec, seed++);
        // A causal window of 5 tokens with ALiBi (Press et al. 2022: s − m_h·(p − j)).
        const std::vector<float> slopes = attune::alibi_slopes(s.Hq);
        ref_policy window;
        window.visible = [](index_t p, index_t j) { return j <= p && p - j < 5; };
        window.bias = [slopes](index_t h, index_t p, index_t j) {
            return -static_cast<double>(slopes[static_cast<std::size_t>(h)]) * static_cast<double>(p - j);
        };
        check_maps(s, attune::variant(attune::causal_window_of(5), attune::alibi(slopes)), window, pool_exec, seed++);
        // A sink logit: its mass is in the LSE, so rows sum to 1 − p_sink.
        ref_policy sink = causal;
        for (index_t h = 0; h < s.Hq; ++h) sink.sink.push_back(0.25 * static_cast<double>(h));
        std::vector<float> z;
        for (double x : sink.sink) z.push_back(static_cast<float>(x));
        check_maps(s, attune::variant(attune::causal{}, attune::sink_logit(z)), sink, attune::serial_executor{}, seed++);
    }
}

TEST_CASE("key_log_bias: PASTA's rescale and renormalise, on the map and on the output", "[maps]") {
    thread_pool pool(3);
    const auto pool_exec = make_pool_executor(pool);
    std::uint32_t seed = 100;
    for (const shape& s : shapes) {
        INFO("Hq " << s.Hq << " Lq " << s.Lq << " Lk " << s.Lk << " D " << s.D);
        const inputs in(s, seed++);
        // Keys 0 and Lk/2 emphasised on head 0 and the last head: the other keys scaled by c = 0.05.
        std::vector<index_t> others;
        for (index_t j = 0; j < s.Lk; ++j)
            if (j != 0 && j != s.Lk / 2) others.push_back(j);
        const std::vector<index_t> steered = unique_in_order({0, s.Hq - 1});
        const float c = 0.05f;
        for (bool shared : {false, true}) {
            const attune::key_log_bias kb = shared ? attune::key_log_bias::scale_keys(s.Lk, others, c)
                                                   : attune::key_log_bias::scale_keys(s.Lk, others, c, s.Hq, steered);
            tensor<float> out(s.B, s.Hq, s.Lq, s.D);
            const auto var = attune::variant(attune::causal{}, kb);
            const lse_buffer lse = forward(s, in, out, var);
            // PASTA (Zhang et al. 2023, eq. 2) on the plain causal P: p'_ij = c_j·p_ij / Σ_k c_k·p_ik.
            ref_policy causal;
            causal.visible = [](index_t p, index_t j) { return j <= p; };
            const std::vector<double> P = dense_p(s, in, causal);
            auto coef = [&](index_t h, index_t j) {
                const bool on_head = shared || std::find(steered.begin(), steered.end(), h) != steered.end();
                return on_head && std::find(others.begin(), others.end(), j) != others.end() ? static_cast<double>(c) : 1.0;
            };
            std::vector<double> Pp(P.size(), 0.0);
            for (index_t b = 0; b < s.B; ++b)
                for (index_t h = 0; h < s.Hq; ++h)
                    for (index_t i = 0; i < s.Lq; ++i) {
                        double z = 0.0;
                        for (index_t j = 0; j < s.Lk; ++j) z += coef(h, j) * p_at(P, s, b, h, i, j);
                        for (index_t j = 0; j < s.Lk; ++j)
                            Pp[static_cast<std::size_t>(((b * s.Hq + h) * s.Lq + i) * s.Lk + j)] =
                                z > 0.0 ? coef(h, j) * p_at(P, s, b, h, i, j) / z : 0.0;
                    }
            tensor<float> map(s.B, s.Hq, s.Lq, s.Lk);
            attune::map_attention<arch>(in.q.cview(), in.k.cview(), attune::tensor_view<const float>(lse.view), map.view, var, {},
                                        pool_exec);
            index_t bad_p = 0, bad_o = 0;
            const index_t group = s.Hq / s.Hkv;
            for (index_t b = 0; b < s.B; ++b)
                for (index_t h = 0; h < s.Hq; ++h)
                    for (index_t i = 0; i < s.Lq; ++i) {
                        for (index_t j = 0; j < s.Lk; ++j) {
                            const double ref = p_at(Pp, s, b, h, i, j);
                            if (!(std::abs(map.view(b, h, i, j) - ref) <= 2e-6 + 1e-4 * ref) && bad_p++ == 0)
                                FAIL_CHECK("p'[" << b << "," << h << "," << i << "," << j << "] = " << map.view(b, h, i, j) << ", PASTA "
                                                 << ref);
                        }
                        for (index_t d = 0; d < s.D; ++d) {  // out = P'V
                            double ref = 0.0;
                            for (index_t j = 0; j < s.Lk; ++j) ref += p_at(Pp, s, b, h, i, j) * in.v.view(b, h / group, j, d);
                            if (!(std::abs(out.view(b, h, i, d) - ref) <= 1e-5) && bad_o++ == 0)
                                FAIL_CHECK("out[" << b << "," << h << "," << i << "," << d << "] = " << out.view(b, h, i, d) << ", P'V "
                                                  << ref);
                        }
                    }
            CHECK(bad_p == 0);
            CHECK(bad_o == 0);
        }
    }
}

TEST_CASE("blend_map: ((1 − α)P + αM)V without P, against dense float64", "[maps]") {
    thread_pool pool(3);
    const auto pool_exec = make_pool_executor(pool);
    std::uint32_t seed = 200;
    for (const shape& s : blend_shapes)
        for (bool broadcast : {false, true}) {
            INFO("Hq " << s.Hq << " Lq " << s.Lq << " Lk " << s.Lk << " D " << s.D << " broadcast " << broadcast);
            const inputs in(s, seed++);
            ref_policy causal;
            causal.visible = [](index_t p, index_t j) { return j <= p; };
            tensor<float> out(s.B, s.Hq, s.Lq, s.D, layout::blhd, 2);
            out.poison();  // padding stays NaN unless blend_map writes outside the view
            (void)forward(s, in, out, attune::variant<attune::causal>{});
            const std::vector<double> P = dense_p(s, in, causal);
            const std::vector<index_t> heads = broadcast ? std::vector<index_t>{} : unique_in_order({s.Hq - 1, 0});
            const index_t n = heads.empty() ? s.Hq : static_cast<index_t>(heads.size());
            // M: rows of a fixed map (not normalised: blend_map uses M as given) over every key.
            tensor<float> m(broadcast ? 1 : s.B, broadcast ? 1 : n, s.Lq, s.Lk);
            std::mt19937 rng(seed);
            std::uniform_real_distribution<float> u(0.0f, 1.0f);
            for (index_t b = 0; b < m.view.batch(); ++b)
                for (index_t h = 0; h < m.view.heads(); ++h)
                    for (index_t i = 0; i < s.Lq; ++i)
                        for (index_t j = 0; j < s.Lk; ++j) m.view(b, h, i, j) = u(rng) / static_cast<float>(s.Lk);
            const float alpha = 0.3f;
            attune::blend_map(out.view, in.v.view, m.cview(), alpha, heads, pool_exec);  // a mutable view of v converts
            CHECK(out.clobbered_padding() == 0);
            const index_t group = s.Hq / s.Hkv;
            index_t bad = 0;
            for (index_t b = 0; b < s.B; ++b)
                for (index_t h = 0; h < s.Hq; ++h) {
                    const auto at = std::find(heads.begin(), heads.end(), h);
                    const bool chosen = heads.empty() || at != heads.end();
                    const index_t slot = heads.empty() ? h : static_cast<index_t>(at - heads.begin());
                    for (index_t i = 0; i < s.Lq; ++i)
                        for (index_t d = 0; d < s.D; ++d) {
                            double ref = 0.0;
                            for (index_t j = 0; j < s.Lk; ++j) {
                                double w = p_at(P, s, b, h, i, j);
                                if (chosen) {
                                    const double mij = m.view(broadcast ? 0 : b, broadcast ? 0 : slot, i, j);
                                    w = (1.0 - alpha) * w + alpha * mij;
                                }
                                ref += w * in.v.view(b, h / group, j, d);
                            }
                            if (!(std::abs(out.view(b, h, i, d) - ref) <= 1e-5) && bad++ == 0)
                                FAIL_CHECK("out[" << b << "," << h << "," << i << "," << d << "] = " << out.view(b, h, i, d)
                                                  << ", reference " << ref);
                        }
                }
            CHECK(bad == 0);
        }
}

TEST_CASE("attention maps: hostile input is an attune::error and writes nothing", "[maps]") {
    const shape s{1, 4, 2, 7, 9, 32};
    const inputs in(s, 7);
    tensor<float> out(s.B, s.Hq, s.Lq, s.D);
    const lse_buffer lse = forward(s, in, out, attune::variant<attune::causal>{});
    const attune::tensor_view<const float> l(lse.view);
    tensor<float> map(1, 1, 2, s.Lk);
    map.poison();
    auto map_with = [&](std::vector<index_t> heads, std::vector<index_t> rows, attune::map_reduce red, attune::tensor_view<float> dst) {
        attune::map_options mo;
        mo.heads = std::move(heads), mo.rows = std::move(rows), mo.reduce = red;
        attune::map_attention<arch>(in.q.cview(), in.k.cview(), l, dst, attune::causal{}, mo);
    };
    using R = attune::map_reduce;
    CHECK_THROWS_AS(map_with({4}, {0, 1}, R::per_head, map.view), attune::error);        // head out of range
    CHECK_THROWS_AS(map_with({-1}, {0, 1}, R::per_head, map.view), attune::error);       // negative head
    CHECK_THROWS_AS(map_with({1, 1}, {0, 1}, R::mean, map.view), attune::error);         // head twice
    CHECK_THROWS_AS(map_with({1}, {0, 7}, R::per_head, map.view), attune::error);        // row out of range
    CHECK_THROWS_AS(map_with({1}, {3, 3}, R::per_head, map.view), attune::error);        // row twice
    CHECK_THROWS_AS(map_with({1, 2}, {0, 1}, R::per_head, map.view), attune::error);     // map has 1 head, 2 asked
    CHECK_THROWS_AS(map_with({1}, {0}, R::per_head, map.view), attune::error);           // map has 2 rows, 1 asked
    CHECK_THROWS_AS(map_with({1}, {}, R::per_head, map.view), attune::error);            // all 7 rows, map 2
    CHECK_THROWS_AS(map_with({1}, {0, 1}, static_cast<R>(7), map.view), attune::error);  // not a map_reduce
    CHECK_THROWS_AS(map_with({}, {0, 1}, R::mean, attune::tensor_view<float>(nullptr, {1, 1, 2, s.Lk}, {2 * s.Lk, 2 * s.Lk, s.Lk})),
                    attune::error);  // null map
    tensor<float> short_map(1, 1, 2, s.Lk - 1);
    CHECK_THROWS_AS(map_with({1}, {0, 1}, R::per_head, short_map.view), attune::error);  // too few keys
    CHECK(map.nan_count() == 2 * s.Lk);                                                  // nothing written
    // A map aliasing the lse or q.
    CHECK_THROWS_AS(map_with({1}, {0}, R::per_head, attune::tensor_view<float>(lse.view.data(), {1, 1, 1, 2}, {2, 2, 2})), attune::error);
    tensor<float> q2(s.B, s.Hq, s.Lq, s.D);
    const attune::tensor_view<float> q_alias(q2.view.data(), {1, 1, 1, s.Lk}, {s.Lk, s.Lk, s.Lk});
    attune::map_options mo;
    mo.heads = {0}, mo.rows = {0};
    CHECK_THROWS_AS(attune::map_attention<arch>(q2.cview(), in.k.cview(), l, q_alias, attune::causal{}, mo), attune::error);
    // The lse of another shape.
    lse_buffer wrong(1, 4, 6);
    CHECK_THROWS_AS(attune::map_attention<arch>(in.q.cview(), in.k.cview(), attune::tensor_view<const float>(wrong.view), map.view,
                                                attune::causal{}, mo),
                    attune::error);

    // key_log_bias: scales, keys, heads, tables, and a table for another Lk.
    CHECK_THROWS_AS(attune::key_log_bias::scale_keys(9, {1}, 0.0f), attune::error);
    CHECK_THROWS_AS(attune::key_log_bias::scale_keys(9, {1}, -2.0f), attune::error);
    CHECK_THROWS_AS(attune::key_log_bias::scale_keys(9, {1}, std::numeric_limits<float>::quiet_NaN()), attune::error);
    CHECK_THROWS_AS(attune::key_log_bias::scale_keys(9, {9}, 0.5f), attune::error);
    CHECK_THROWS_AS(attune::key_log_bias::scale_keys(9, {1}, 0.5f, 4, {4}), attune::error);
    CHECK_THROWS_AS(attune::key_log_bias({1.0f, std::numeric_limits<float>::infinity()}, 2), attune::error);
    CHECK_THROWS_AS(attune::key_log_bias({1.0f, 2.0f, 3.0f}, 2), attune::error);
    CHECK_THROWS_AS(attune::key_log_bias({1.0f}, -1), attune::error);
    tensor<float> o2(s.B, s.Hq, s.Lq, s.D);
    o2.poison();
    CHECK_THROWS_AS(attune::attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), o2.view,
                                            attune::variant(attune::causal{}, attune::key_log_bias::scale_keys(s.Lk - 1, {1}, 0.5f))),
                    attune::error);  // 8 keys for a call of 9
    CHECK_THROWS_AS(attune::attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), o2.view,
                                            attune::variant(attune::causal{}, attune::key_log_bias(std::vector<float>(2 * 9, 0.0f), 9))),
                    attune::error);  // 2 rows for 4 heads
    CHECK(o2.nan_count() == s.B * s.Hq * s.Lq * s.D);

    // blend_map: α, heads, m's shape and values, v's shape, overlap; out unchanged.
    tensor<float> m(1, 1, s.Lq, s.Lk);
    const std::vector<float> before(out.buf.begin(), out.buf.end());
    auto blend = [&](float alpha, std::vector<index_t> heads, attune::tensor_view<const float> mm) {
        attune::blend_map(out.view, in.v.cview(), mm, alpha, heads);
    };
    CHECK_THROWS_AS(blend(-0.1f, {}, m.cview()), attune::error);
    CHECK_THROWS_AS(blend(1.5f, {}, m.cview()), attune::error);
    CHECK_THROWS_AS(blend(std::numeric_limits<float>::quiet_NaN(), {}, m.cview()), attune::error);
    CHECK_THROWS_AS(blend(0.5f, {4}, m.cview()), attune::error);
    CHECK_THROWS_AS(blend(0.5f, {0, 0}, m.cview()), attune::error);
    tensor<float> m_bad(1, 1, s.Lq, s.Lk + 1);
    CHECK_THROWS_AS(blend(0.5f, {}, m_bad.cview()), attune::error);
    tensor<float> m_heads(1, 3, s.Lq, s.Lk);
    CHECK_THROWS_AS(blend(0.5f, {0, 1}, m_heads.cview()), attune::error);  // 3 maps for 2 heads
    m.view(0, 0, 3, 4) = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_AS(blend(0.5f, {}, m.cview()), attune::error);
    m.view(0, 0, 3, 4) = 0.0f;
    tensor<float> v_bad(s.B, 3, s.Lk, s.D);
    CHECK_THROWS_AS(attune::blend_map(out.view, v_bad.cview(), m.cview(), 0.5f), attune::error);  // 4 heads over 3
    CHECK_THROWS_AS(
        attune::blend_map(out.view, attune::tensor_view<const float>(out.view.data(), {1, 2, s.Lk, s.D}, {0, 0, 0}), m.cview(), 0.5f),
        attune::error);  // v aliases out
    CHECK(std::equal(before.begin(), before.end(), out.buf.begin()));
}

namespace {
// A causal mask that throws on one key: a user's policy failing inside the map pass's region.
struct throwing_causal {
    using policy_kind = attune::mask_kind;
    bool visible(const attune::index_context& c) const {
        if (c.k_pos == 5) throw std::runtime_error("throwing_causal");
        return c.k_pos <= c.q_pos;
    }
};
}  // namespace

TEST_CASE("map_attention: a mask throwing inside the region reaches the caller; the next call is right", "[maps]") {
    thread_pool pool(3);
    const auto pool_exec = make_pool_executor(pool);
    const shape s{1, 4, 2, 33, 40, 64};
    const inputs in(s, 300);
    tensor<float> out(s.B, s.Hq, s.Lq, s.D);
    const lse_buffer lse = forward(s, in, out, attune::variant<attune::causal>{});
    tensor<float> map(s.B, s.Hq, s.Lq, s.Lk);
    for (int round = 0; round < 2; ++round)
        CHECK_THROWS_WITH(attune::map_attention<arch>(in.q.cview(), in.k.cview(), attune::tensor_view<const float>(lse.view), map.view,
                                                      throwing_causal{}, {}, pool_exec),
                          Catch::Contains("throwing_causal"));
    ref_policy causal;
    causal.visible = [](index_t p, index_t j) { return j <= p; };
    check_maps(s, attune::variant<attune::causal>{}, causal, pool_exec, 301);
}
