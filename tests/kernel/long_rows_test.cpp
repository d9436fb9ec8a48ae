// Long rows keep their precision: a row's keys are summed in fp32 running states of at most
// work_plan::max_split_keys keys, merged pairwise with ⊕. Uniform attention over identical K/V rows
// has the exact answer v for any length; one fp32 running sum of 2^26 unit weights would give 0.5·v.
// The identical rows are one row viewed with token stride 0, so any length costs no memory.
#include <cmath>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "support.hpp"

using attune::index_t;
using arch = ATTUNE_TEST_ARCH;

namespace {

template <class Exec>
float uniform_row(index_t keys, const Exec& exec, index_t d = 4, float value = 1.25f, attune::options opt = {}) {
    std::vector<float> q(static_cast<std::size_t>(d), 0.3f), k(static_cast<std::size_t>(d), -0.7f), v(static_cast<std::size_t>(d), value),
        out(static_cast<std::size_t>(2 * d), -1.0f);
    const attune::tensor_view<const float> Q(q.data(), {1, 2, 1, d}, {0, 0, d});  // 2 query heads reading one row
    const attune::tensor_view<const float> K(k.data(), {1, 1, keys, d}, {0, 0, 0});
    const attune::tensor_view<const float> V(v.data(), {1, 1, keys, d}, {0, 0, 0});
    const attune::tensor_view<float> O(out.data(), {1, 2, 1, d}, {2 * d, d, d});
    attune::attention<arch>(Q, K, V, O, attune::variant<>{}, opt, exec);
    float worst = 0.0f;
    for (float o : out) worst = std::max(worst, std::abs(o - value) / value);
    return worst;
}

}  // namespace

TEST_CASE("long rows: uniform attention over 2^22 and 2^26 identical rows, serial and default executors", "[long_rows]") {
    for (index_t keys : {index_t(1) << 22, (index_t(1) << 26) + 3}) {
        CAPTURE(keys);
        CHECK(uniform_row(keys, attune::serial_executor{}) <= 1e-5f);
        CHECK(uniform_row(keys, attune::openmp_executor{}) <= 1e-5f);
        attune::options one_split;  // a requested split count below the precision bound is raised
        one_split.kv_splits = 1;
        CHECK(uniform_row(keys, attune::serial_executor{}, 4, 1.25f, one_split) <= 1e-5f);
    }
    // 0.1 has no short binary form, so each block's fp32 sum of 2^16 products rounds (relative
    // error ~2^16·2^-24 at worst); merged pairwise, 512 blocks keep that bound: one running sum
    // would be off by more than 10%.
    CHECK(uniform_row(index_t(1) << 25, attune::serial_executor{}, 16, 0.1f) <= 2e-3f);
}

TEST_CASE("long rows: blocks merged pairwise equal the float64 reference (causal, GQA, sink, splits)", "[long_rows]") {
    const index_t block = attune::kernel::work_plan::max_block_keys;
    std::mt19937 rng(11);
    for (index_t lk : {block + 1, 3 * block + 100}) {
        attune_test::tensor<float> q(1, 4, 3, 8), k(1, 2, lk, 8), v(1, 2, lk, 8), out(1, 4, 3, 8);
        q.fill_random(rng);
        k.fill_random(rng);
        v.fill_random(rng);
        const std::vector<float> sinks{0.5f, -1.0f, 2.0f, 0.0f};
        const auto var = attune::variant(attune::causal{}, attune::sink_logit{sinks});
        const auto ref = attune::reference::attention(q.cview(), k.cview(), v.cview(), var);
        for (index_t splits : {0, 1, 2, 5}) {
            CAPTURE(lk, splits);
            attune_test::lse_buffer lse(1, 4, 3);
            attune::options opt;
            opt.kv_splits = splits;
            opt.lse = lse.view;
            out.poison();
            attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, var, opt, attune::openmp_executor{2});
            attune_test::check_against_reference(out, ref, attune_test::fp32_tolerance(), &lse);
        }
    }
}

TEST_CASE("long rows: sigmoid (partials add) and a router (rows switched off) across blocks", "[long_rows]") {
    const index_t lk = 2 * attune::kernel::work_plan::max_block_keys + 9;
    std::mt19937 rng(13);
    attune_test::tensor<float> q(1, 4, 5, 16), k(1, 2, lk, 16), v(1, 2, lk, 16), out(1, 4, 5, 16);
    q.fill_random(rng);
    k.fill_random(rng);
    v.fill_random(rng);
    const auto sig = attune::variant(attune::sigmoid{-12.0f}, attune::causal{});
    const auto gated = attune::variant(attune::causal{}, attune::head_gates({1.0f, 0.0f, 0.5f, 1.0f}));
    for (index_t splits : {1, 3}) {
        CAPTURE(splits);
        attune::options opt;
        opt.kv_splits = splits;
        out.poison();
        attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, sig, opt);
        attune_test::check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), sig),
                                             attune_test::fp32_tolerance());
        out.poison();
        attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, gated, opt);
        attune_test::check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), gated),
                                             attune_test::fp32_tolerance());
    }
}

TEST_CASE("long rows: bf16 inputs and output across blocks (AMX where the CPU has it)", "[long_rows]") {
    using attune::bf16;
    const index_t lk = attune::kernel::work_plan::max_block_keys + 77;
    std::mt19937 rng(12);
    attune_test::tensor<bf16> q(1, 2, 70, 32), k(1, 1, lk, 32), v(1, 1, lk, 32), out(1, 2, 70, 32);
    q.fill_random(rng);
    k.fill_random(rng);
    v.fill_random(rng);
    const auto ref = attune::reference::attention(q.cview(), k.cview(), v.cview(), attune::causal{});
    double vmax = 0.0;
    for (index_t t = 0; t < lk; ++t)
        for (index_t d = 0; d < 32; ++d) vmax = std::max(vmax, static_cast<double>(std::abs(attune::to_float(v.view(0, 0, t, d)))));
    const auto tol = attune_test::with_rounded_weights<bf16, bf16, bf16, bf16>(attune_test::bf16_out_tolerance(), vmax);
    for (index_t splits : {1, 2}) {  // 1: two blocks in each item; 2: one block per split
        CAPTURE(splits);
        attune::options opt;
        opt.kv_splits = splits;
        out.poison();
        attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, attune::causal{}, opt);
        attune_test::check_against_reference(out, ref, tol);
    }
}

TEST_CASE("long rows: 2^31 + 5 keys on the default executor (indices past 32 bits)", "[long_rows_2g]") {
    CHECK(uniform_row((index_t(1) << 31) + 5, attune::openmp_executor{}, 1) <= 1e-5f);
}

TEST_CASE("long rows: the plan's blocks are at most max_block_keys and cover each split", "[long_rows]") {
    using attune::kernel::make_plan;
    using attune::kernel::work_plan;
    const index_t block = work_plan::max_block_keys;
    for (index_t lk : {index_t(1), block - 1, block, block + 1, 3 * block + 7, index_t(1) << 31})
        for (index_t splits : {0, 1, 3}) {
            const work_plan w = make_plan(1, 1, 1, 1, lk, 4, splits);
            CAPTURE(lk, splits);
            CHECK(w.block_len >= 1);
            CHECK(w.block_len <= block);
            CHECK(w.block_len <= w.split_len);
            CHECK(w.splits * w.split_len >= lk);
            CHECK((w.block_len == w.split_len) == (w.split_len <= block));
        }
}
