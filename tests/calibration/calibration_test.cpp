// Probes, ACT and VAR (SPEC.md §6) against references that materialise P in double and apply the
// formulas literally (calibration/reference.hpp): odd sizes, head dims 32/64/80/128, GQA groups
// 1/4/8, masks, a score modifier, a sink logit, routers, split-KV decode and several executors.
// Edge cases: no sink found (output unchanged), all mass on sinks (guarded, no NaN), the first
// token never a sink, rows failing VAR's rule (unchanged). Bad parameters throw attune::error.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/calibration.hpp"
#include "calibration/reference.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;
using namespace attune_test;
using namespace calibration_test;
using arch = ATTUNE_TEST_ARCH;

namespace {

struct problem {
    index_t B, Hq, Hkv, Lq, Lk, D;
};

// q, k, v with the keys in `sinks` made attractive to every query: q[..., 0] = 1 and
// k[sink, 0] = boost·√D, so each sink's score gains `boost`.
struct inputs {
    tensor<float> q, k, v;
    inputs(const problem& p, std::uint32_t seed, const std::vector<index_t>& sinks, float boost)
        : q(p.B, p.Hq, p.Lq, p.D, layout::blhd, 1), k(p.B, p.Hkv, p.Lk, p.D), v(p.B, p.Hkv, p.Lk, p.D, layout::bhld, 2) {
        std::mt19937 rng(seed);
        q.fill_random(rng);
        k.fill_random(rng);
        v.fill_random(rng);
        for (index_t b = 0; b < p.B; ++b) {
            for (index_t h = 0; h < p.Hq; ++h)
                for (index_t i = 0; i < p.Lq; ++i) q.view(b, h, i, 0) = 1.0f;
            for (index_t h = 0; h < p.Hkv; ++h)
                for (index_t j : sinks)
                    if (j < p.Lk) k.view(b, h, j, 0) = boost * std::sqrt(static_cast<float>(p.D));
        }
    }
};

const problem sizes[] = {
    {1, 2, 2, 1, 1, 32},    {1, 4, 1, 7, 7, 64},     {2, 8, 1, 63, 63, 80},
    {1, 8, 2, 65, 65, 128}, {1, 4, 4, 129, 129, 64}, {1, 8, 1, 1, 129, 32},  // decode, group 8
    {1, 4, 1, 33, 129, 80},                                                  // chunked prefill
};

template <class Var, class Exec>
void check_probe(const problem& p, const Var& var, const Exec& exec, std::uint32_t seed, const std::vector<index_t>& heads = {}) {
    INFO("arch " << ATTUNE_TEST_ARCH_NAME << " B " << p.B << " Hq " << p.Hq << " Hkv " << p.Hkv << " Lq " << p.Lq << " Lk " << p.Lk << " D "
                 << p.D << " seed " << seed);
    inputs in(p, seed, {2, 5}, 2.0f);
    tensor<float> out(p.B, p.Hq, p.Lq, p.D);
    lse_buffer lse(p.B, p.Hq, p.Lq);
    attune::options opt;
    opt.lse = lse.view;
    attune::attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, var, opt, exec);
    attune::probe_options po;
    po.heads = heads;
    const attune::attention_probe pr =
        attune::probe_attention<arch>(in.q.cview(), in.k.cview(), attune::tensor_view<const float>(lse.view), var, po, exec);
    const auto ref = probabilities(in.q.cview(), in.k.cview(), var);
    index_t bad_cols = 0, bad_rows = 0;
    for (index_t b = 0; b < p.B; ++b)
        for (index_t h = 0; h < p.Hq; ++h) {
            const bool probed = heads.empty() || std::find(heads.begin(), heads.end(), h) != heads.end();
            const head_probs& hp = ref[static_cast<std::size_t>(b * p.Hq + h)];
            for (index_t j = 0; j < p.Lk; ++j) {
                double sum = 0.0, n = 0.0;
                for (index_t i = 0; probed && i < p.Lq; ++i)
                    if (hp.seen(i, j) && std::isfinite(hp.lse[static_cast<std::size_t>(i)])) sum += hp.P(i, j), n += 1.0;
                const bool ok =
                    std::abs(pr.column_sum(b, h, j) - sum) <= 1e-5 * (1.0 + n) && pr.column_count(b, h, j) == static_cast<float>(n);
                if (!ok && bad_cols++ == 0)
                    FAIL_CHECK("column [" << b << "," << h << "," << j << "]: sum " << pr.column_sum(b, h, j) << " ref " << sum
                                          << ", count " << pr.column_count(b, h, j) << " ref " << n);
            }
            for (index_t i = 0; i < p.Lq; ++i) {
                double mass = 0.0, ent = 0.0, best = -1e300;
                index_t top = -1;
                const bool live = probed && std::isfinite(hp.lse[static_cast<std::size_t>(i)]);
                for (index_t j = 0; live && j < p.Lk; ++j) {
                    if (!hp.seen(i, j)) continue;
                    const double x = hp.P(i, j);
                    mass += x;
                    if (x > 0.0) ent -= x * std::log(x);
                    if (hp.S(i, j) > best) best = hp.S(i, j), top = j;
                }
                const index_t ours = pr.top1(b, h, i);
                // Near-ties may order differently in float: the chosen key's score must then tie.
                const bool top_ok = ours == top || (ours >= 0 && top >= 0 && std::abs(hp.S(i, ours) - best) < 1e-5);
                const bool ok =
                    std::abs(pr.mass(b, h, i) - mass) <= 1e-5 && std::abs(pr.entropy(b, h, i) - ent) <= 2e-4 * (1.0 + ent) && top_ok;
                if (!ok && bad_rows++ == 0)
                    FAIL_CHECK("row [" << b << "," << h << "," << i << "]: mass " << pr.mass(b, h, i) << " ref " << mass << ", entropy "
                                       << pr.entropy(b, h, i) << " ref " << ent << ", top1 " << ours << " ref " << top);
            }
        }
    CHECK(bad_cols == 0);
    CHECK(bad_rows == 0);
}

}  // namespace

TEST_CASE("probe: column and row statistics against the materialised P", "[calibration]") {
    thread_pool pool(3);
    const auto pool_exec = make_pool_executor(pool);
    std::uint32_t seed = 1;
    for (const problem& p : sizes) {
        check_probe(p, attune::variant<attune::causal>{}, attune::serial_executor{}, seed++);
        check_probe(p, attune::variant<>{}, pool_exec, seed++);
        check_probe(p,
                    attune::variant(attune::sliding_window(5, 0), attune::alibi(std::vector<float>(static_cast<std::size_t>(p.Hq), 0.25f))),
                    attune::default_executor{}, seed++);
        check_probe(p, attune::variant(attune::causal{}, attune::sink_logit(std::vector<float>(static_cast<std::size_t>(p.Hq), 1.5f))),
                    pool_exec, seed++);
    }
    // A subset of heads; a router that prunes a head and scales another.
    check_probe({1, 8, 2, 65, 65, 64}, attune::variant<attune::causal>{}, pool_exec, 90, {1, 6});
    check_probe({1, 4, 1, 63, 63, 32}, attune::variant(attune::causal{}, attune::head_gates({1.0f, 0.0f, 0.5f, 1.0f})), pool_exec, 91);
}

TEST_CASE("probe: Sink_k^eps counts the heads whose column mean exceeds eps", "[calibration]") {
    const problem p{1, 4, 1, 65, 65, 64};
    inputs in(p, 7, {3}, 6.0f);
    tensor<float> out(p.B, p.Hq, p.Lq, p.D);
    lse_buffer lse(p.B, p.Hq, p.Lq);
    attune::options opt;
    opt.lse = lse.view;
    attune::attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, attune::causal{}, opt);
    const auto pr = attune::probe_attention<arch>(in.q.cview(), in.k.cview(), attune::tensor_view<const float>(lse.view), attune::causal{});
    const std::vector<float> f = attune::sink_fraction(pr, 0.3f);
    for (index_t j = 0; j < p.Lk; ++j) {
        index_t n = 0;
        for (index_t h = 0; h < p.Hq; ++h) n += pr.column_mean(0, h, j) > 0.3f ? 1 : 0;
        CHECK(f[static_cast<std::size_t>(j)] == static_cast<float>(n) / 4.0f);
    }
    CHECK(f[3] == 1.0f);  // the planted sink, in every head
    attune::probe_options rows_only;
    rows_only.columns = false;
    const auto pr2 =
        attune::probe_attention<arch>(in.q.cview(), in.k.cview(), attune::tensor_view<const float>(lse.view), attune::causal{}, rows_only);
    CHECK(pr2.column_sums.empty());
    CHECK(pr2.row_top1 == pr.row_top1);
    CHECK_THROWS_AS(attune::sink_fraction(pr2), attune::error);
    attune::probe_options columns_only;
    columns_only.rows = false;
    const auto pr3 = attune::probe_attention<arch>(in.q.cview(), in.k.cview(), attune::tensor_view<const float>(lse.view), attune::causal{},
                                                   columns_only);
    CHECK(pr3.row_mass.empty());
    CHECK(pr3.column_sums == pr.column_sums);
    CHECK(pr3.column_counts == pr.column_counts);
}

namespace {

template <class Var, class Exec>
void check_act(const problem& p, const Var& var, const Exec& exec, std::uint32_t seed, const std::vector<index_t>& heads,
               const std::vector<index_t>& planted, float boost, float theta = 0.1f, index_t splits = 0) {
    INFO("arch " << ATTUNE_TEST_ARCH_NAME << " B " << p.B << " Hq " << p.Hq << " Hkv " << p.Hkv << " Lq " << p.Lq << " Lk " << p.Lk << " D "
                 << p.D << " seed " << seed << " boost " << boost << " theta " << theta);
    inputs in(p, seed, planted, boost);
    tensor<float> out(p.B, p.Hq, p.Lq, p.D, layout::blhd, 1);
    out.poison();
    lse_buffer lse(p.B, p.Hq, p.Lq);
    attune::options opt;
    opt.lse = lse.view;
    opt.kv_splits = splits;
    attune::act_calibration act{heads, 0.4f, theta};
    const attune::act_report rep = attune::act_attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, act, var, opt, exec);
    std::vector<std::vector<index_t>> ref_sinks;
    const auto probs = probabilities(in.q.cview(), in.k.cview(), var);
    double gain = 1.0;
    const auto ref = calibration_test::act(probs, in.v.cview(), p.B, p.Hq, heads, 0.4, theta, &ref_sinks, &gain);
    for (index_t b = 0; b < p.B; ++b)
        for (index_t h = 0; h < p.Hq; ++h) CHECK(rep.sinks_of(b, h) == ref_sinks[static_cast<std::size_t>(b * p.Hq + h)]);
    // o' = β·u + c·(o − u) with c ≈ 1/(1 − m): float's error in o − u grows by 1/(1 − m) (the
    // formula's conditioning, not the kernel's), so the bound does too.
    attune_test::tolerance tol = fp32_tolerance();
    INFO("largest 1/(1 - m) " << gain);
    tol.max_abs *= gain;
    tol.rel_l2 *= gain;
    check_against_reference(out, ref, tol, &lse);
}

}  // namespace

TEST_CASE("ACT: sinks by column score, redistribution with beta, against the literal formulas", "[calibration]") {
    thread_pool pool(3);
    const auto pool_exec = make_pool_executor(pool);
    std::uint32_t seed = 100;
    for (const problem& p : sizes) {
        std::vector<index_t> all;
        for (index_t h = 0; h < p.Hq; ++h) all.push_back(h);
        check_act(p, attune::variant<attune::causal>{}, attune::serial_executor{}, seed++, all, {0, 3}, 3.0f);
        check_act(p, attune::variant<attune::causal>{}, pool_exec, seed++, {0, p.Hq - 1}, {1, 4}, 2.0f);
        check_act(p, attune::variant(attune::causal{}, attune::sink_logit(std::vector<float>(static_cast<std::size_t>(p.Hq), 0.5f))),
                  pool_exec, seed++, all, {2}, 3.0f);
        check_act(p, attune::variant(attune::sliding_window(20, 0), attune::softcap(8.0f)), attune::default_executor{}, seed++, all, {1, 3},
                  4.0f);
    }
    // Decode over split keys (one row: the column score is p_j); GQA 8 with a router.
    check_act({1, 8, 1, 1, 300, 64}, attune::variant<attune::causal>{}, pool_exec, 150, {0, 2, 5}, {7, 100}, 5.0f, 0.1f, 3);
    check_act({2, 8, 2, 17, 300, 32}, attune::variant(attune::causal{}, attune::head_gates({1, 0, 0.5f, 1, 1, 1, 2, 1})), pool_exec, 151,
              {0, 1, 2, 6}, {7, 100}, 5.0f, 0.1f, 2);
}

TEST_CASE("ACT edge cases: no sink, the first token, all mass on sinks", "[calibration]") {
    const problem p{1, 4, 2, 65, 65, 64};
    inputs in(p, 3, {0, 9}, 4.0f);
    tensor<float> plain(p.B, p.Hq, p.Lq, p.D), out(p.B, p.Hq, p.Lq, p.D);
    attune::attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), plain.view, attune::causal{});
    SECTION("theta above every column score: nothing changes") {
        const auto rep = attune::act_attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view,
                                                     attune::act_calibration{{0, 1, 2, 3}, 0.4f, 1.0f}, attune::causal{});
        for (const auto& s : rep.sinks) CHECK(s.empty());
        CHECK(max_difference(out, plain) == 0.0);
    }
    SECTION("no calibrated heads: plain attention") {
        attune::act_attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, attune::act_calibration{}, attune::causal{});
        CHECK(max_difference(out, plain) == 0.0);
    }
    SECTION("the first token is never a sink") {
        inputs first(p, 4, {0}, 6.0f);
        const auto rep = attune::act_attention<arch>(first.q.cview(), first.k.cview(), first.v.cview(), out.view,
                                                     attune::act_calibration{{0, 1, 2, 3}}, attune::causal{});
        for (const auto& s : rep.sinks) CHECK(std::find(s.begin(), s.end(), index_t(0)) == s.end());
    }
    SECTION("all mass on the sinks: guarded, no NaN") {
        inputs heavy(p, 5, {1}, 200.0f);  // p_i1 = 1 in float for every row that sees key 1
        attune::attention<arch>(heavy.q.cview(), heavy.k.cview(), heavy.v.cview(), plain.view, attune::causal{});
        const auto rep = attune::act_attention<arch>(heavy.q.cview(), heavy.k.cview(), heavy.v.cview(), out.view,
                                                     attune::act_calibration{{0, 1, 2, 3}}, attune::causal{});
        CHECK(rep.sinks_of(0, 0) == std::vector<index_t>{1});
        CHECK(out.nan_count() == 0);
        CHECK(max_difference(out, plain) == 0.0);  // nothing left to receive the mass: unchanged
    }
    SECTION("bad parameters") {
        CHECK_THROWS_AS(attune::act_attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, attune::act_calibration{{4}}),
                        attune::error);
        CHECK_THROWS_AS(attune::act_attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, attune::act_calibration{{0}, 1.5f}),
                        attune::error);
        CHECK_THROWS_AS(
            attune::act_attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, attune::act_calibration{{0}, 0.4f, -1.0f}),
            attune::error);
        lse_buffer wrong(1, 4, 64);
        CHECK_THROWS_AS(attune::probe_attention<arch>(in.q.cview(), in.k.cview(), attune::tensor_view<const float>(wrong.view)),
                        attune::error);
    }
}

namespace {

template <class Var, class Exec>
void check_var(const problem& p, const Var& var, const Exec& exec, std::uint32_t seed, const attune::var_calibration& vc, float boost,
               index_t splits = 0, bool expect_changes = true) {
    INFO("arch " << ATTUNE_TEST_ARCH_NAME << " B " << p.B << " Hq " << p.Hq << " Hkv " << p.Hkv << " Lq " << p.Lq << " Lk " << p.Lk << " D "
                 << p.D << " seed " << seed << " image [" << vc.image_first << ", " << vc.image_last << "]");
    inputs in(p, seed, vc.sinks, boost);
    tensor<float> out(p.B, p.Hq, p.Lq, p.D, layout::blhd, 1);
    out.poison();
    lse_buffer lse(p.B, p.Hq, p.Lq);
    attune::options opt;
    opt.lse = lse.view;
    opt.kv_splits = splits;
    attune::var_attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, vc, var, opt, exec);
    index_t changed = 0;
    const auto probs = probabilities(in.q.cview(), in.k.cview(), var);
    const auto ref = calibration_test::var(probs, in.v.cview(), p.B, p.Hq, vc.sinks, vc.image_first, vc.image_last, vc.heads, vc.p, vc.rho,
                                           vc.image_mass, &changed, vc.rows == attune::var_selection::after_image);
    if (expect_changes) CHECK(changed > 0);
    check_against_reference(out, ref, fp32_tolerance(), &lse);
}

}  // namespace

TEST_CASE("VAR: the row rule and the redistribution to image tokens, against the literal formulas", "[calibration]") {
    thread_pool pool(3);
    const auto pool_exec = make_pool_executor(pool);
    std::uint32_t seed = 200;
    for (const problem& p : sizes) {
        if (p.Lk < 7) continue;
        const index_t i0 = p.Lk / 7 + 1, i1 = p.Lk - p.Lk / 4 - 1;
        attune::var_calibration vc;
        for (auto rows : {attune::var_selection::after_image, attune::var_selection::every_row}) {
            const bool every = rows == attune::var_selection::every_row;
            CAPTURE(every);
            vc.rows = rows;
            vc.sinks = {0, i0 + 1, i0 + 1};  // a duplicate counts once
            vc.image_first = i0, vc.image_last = i1;
            vc.heads = {};
            check_var(p, attune::variant<attune::causal>{}, attune::serial_executor{}, seed++, vc, 1.5f);
            check_var(p, attune::variant(attune::causal{}, attune::sink_logit(std::vector<float>(static_cast<std::size_t>(p.Hq), 0.5f))),
                      pool_exec, seed++, vc, 1.5f);
            vc.heads = {0};
            check_var(p, attune::variant(attune::causal{}, attune::alibi(std::vector<float>(static_cast<std::size_t>(p.Hq), 0.01f))),
                      attune::default_executor{}, seed++, vc, 1.0f, 0, p.Lq >= 16);
            // Only text sinks: the authors' selection changes nothing (no visual sink); no sinks: nothing.
            vc.heads = {};
            vc.sinks = {0};
            check_var(p, attune::variant<attune::causal>{}, pool_exec, seed++, vc, 1.5f, 0, every);
            vc.sinks = {};
            check_var(p, attune::variant<attune::causal>{}, pool_exec, seed++, vc, 1.5f, 0, false);
        }
    }
    // Decode over split keys, GQA 8 with a router; image sinks that dominate the image (rule fails).
    attune::var_calibration vc;  // the authors' selection: a decode row lies after the image
    vc.sinks = {0, 50, 60};
    vc.image_first = 40, vc.image_last = 200;
    check_var({1, 8, 1, 1, 300, 64}, attune::variant<attune::causal>{}, pool_exec, 250, vc, 2.0f, 3);
    check_var({2, 8, 2, 9, 300, 32}, attune::variant(attune::causal{}, attune::head_gates({1, 0, 0.5f, 1, 1, 1, 2, 1})), pool_exec, 251, vc,
              2.0f, 2);
    check_var({1, 4, 1, 65, 300, 64}, attune::variant<attune::causal>{}, pool_exec, 252, vc, 8.0f, 0, false);
}

TEST_CASE("VAR: rows failing the rule are unchanged; bad parameters throw", "[calibration]") {
    const problem p{1, 4, 1, 65, 65, 32};
    inputs in(p, 9, {0, 20}, 1.0f);
    tensor<float> plain(p.B, p.Hq, p.Lq, p.D), out(p.B, p.Hq, p.Lq, p.D);
    attune::attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), plain.view, attune::causal{});
    attune::var_calibration vc;
    vc.sinks = {0, 20};
    vc.image_first = 10, vc.image_last = 40;
    vc.image_mass = 2.0f;  // no row has that much image mass
    attune::var_attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, vc, attune::causal{});
    CHECK(max_difference(out, plain) < 1e-5);
    vc.image_mass = 0.2f;
    vc.image_last = 65;
    CHECK_THROWS_AS(attune::var_attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, vc), attune::error);
    vc.image_last = 40;
    vc.sinks = {-1};
    CHECK_THROWS_AS(attune::var_attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, vc), attune::error);
    vc.sinks = {0};
    vc.rho = 1.0f;
    CHECK_THROWS_AS(attune::var_attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, vc), attune::error);
    vc.rho = 0.5f;
    vc.heads = {9};
    CHECK_THROWS_AS(attune::var_attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, vc), attune::error);
    vc.heads = {};
    vc.rows = static_cast<attune::var_selection>(7);
    CHECK_THROWS_WITH(attune::var_attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, vc),
                      Catch::Matchers::Contains("rows"));
}

TEST_CASE("key-position masks through the engine match the reference", "[calibration]") {
    const problem p{1, 4, 2, 70, 200, 64};
    inputs in(p, 11, {}, 0.0f);
    const auto run = [&](const auto& var) {
        tensor<float> out(p.B, p.Hq, p.Lq, p.D);
        out.poison();
        lse_buffer lse(p.B, p.Hq, p.Lq);
        attune::options opt;
        opt.lse = lse.view;
        attune::attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, var, opt);
        check_against_reference(out, attune::reference::attention(in.q.cview(), in.k.cview(), in.v.cview(), var), fp32_tolerance(), &lse);
    };
    run(attune::variant(attune::and_mask(attune::causal{}, attune::key_span_mask(30, 150))));
    run(attune::variant(attune::and_mask(attune::causal{}, attune::outside_key_span_mask(30, 150))));
    run(attune::variant(attune::and_mask(attune::sliding_window(40, 0), attune::outside_key_span_mask(64, 127))));
    run(attune::variant(attune::key_set_mask({{0, 5, 140}, {7}, {}, {199, 3, 3}})));
    run(attune::variant(attune::and_mask(attune::causal{}, attune::key_set_mask::shared({1, 64, 190}))));
    CHECK_THROWS_AS(run(attune::variant(attune::key_set_mask(std::vector<std::vector<index_t>>{{0}, {1}}))),
                    attune::error);  // 2 lists for 4 heads
}
