// attune/exec/executor.hpp: serial, OpenMP and user-pool executors each run every item exactly once,
// and attention gives the same result whichever runs it.
#include <atomic>
#include <chrono>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "support.hpp"

using attune::index_t;
using namespace attune_test;

namespace {
template <class Exec>
void check_runs_each_once(const Exec& ex, index_t n) {
    std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
    for (auto& h : hits) h = 0;
    ex.parallel_for(n, [&](index_t i) { hits[static_cast<std::size_t>(i)]++; });
    index_t wrong = 0;
    for (auto& h : hits) wrong += h.load() != 1;
    CHECK(wrong == 0);
}
}  // namespace

TEST_CASE("serial_executor runs items in order on one worker", "[executor]") {
    attune::serial_executor ex;
    CHECK(ex.workers() == 1);
    std::vector<index_t> seen;
    ex.parallel_for(10, [&](index_t i) { seen.push_back(i); });
    REQUIRE(seen.size() == 10);
    for (index_t i = 0; i < 10; ++i) CHECK(seen[static_cast<std::size_t>(i)] == i);
    ex.parallel_for(0, [&](index_t) { FAIL("no item expected"); });
}

#if defined(_OPENMP)
TEST_CASE("openmp_executor runs every item exactly once", "[executor]") {
    CHECK(attune::openmp_executor{3}.workers() == 3);
    CHECK(attune::openmp_executor{}.workers() >= 1);
    for (int t : {1, 2, 3, 8}) {
        CAPTURE(t);
        check_runs_each_once(attune::openmp_executor{t}, 1000);
        check_runs_each_once(attune::openmp_executor{t}, 1);
        check_runs_each_once(attune::openmp_executor{t}, 0);
    }
}
#endif

#if defined(_OPENMP)
TEST_CASE("openmp_executor hands items out as threads ask: one held on its first item, the other runs the rest", "[executor]") {
    // A thread slowed by other work must not hold up the items a static share would have given it
    // (decode's key splits rely on this: kernel/problem.hpp). The hold ends after 20 s at the
    // latest, so that a static schedule fails the check instead of hanging.
    const index_t n = 64;
    std::atomic<index_t> others_done{0};
    std::atomic<bool> waited_out{false};
    attune::openmp_executor{2}.parallel_for(n, [&](index_t i) {
        if (i != 0) {
            others_done++;
            return;
        }
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (others_done.load() < n - 1)
            if (std::chrono::steady_clock::now() > give_up) {
                waited_out = true;
                break;
            }
    });
    CHECK_FALSE(waited_out.load());
    CHECK(others_done.load() == n - 1);
}
#endif

TEST_CASE("decode's key splits: items_per_worker items a worker, each at least 256 keys", "[executor]") {
    // The executor sees the items the plan cut: few groups (one kv head, one query) over a long
    // cache become items_per_worker items for each of its workers, fewer where a split would hold
    // less than 256 keys; one worker, or groups enough, give no splits.
    constexpr index_t per_worker = attune::kernel::work_plan::items_per_worker;
    struct shape {
        index_t Hkv, Lk, workers, items;
    };
    std::mt19937 rng(23);
    for (const shape s : {shape{1, 65536, 4, 4 * per_worker}, shape{1, 4096, 4, 4096 / 256}, shape{1, 4096, 1, 1},
                          shape{2, 16384, 3, 3 * per_worker}, shape{4 * per_worker, 1000, 4, 4 * per_worker}}) {
        CAPTURE(s.Hkv, s.Lk, s.workers);
        tensor<float> q(1, 2 * s.Hkv, 1, 32), k(1, s.Hkv, s.Lk, 32), v(1, s.Hkv, s.Lk, 32), out(1, 2 * s.Hkv, 1, 32),
            ref(1, 2 * s.Hkv, 1, 32);
        q.fill_random(rng);
        k.fill_random(rng);
        v.fill_random(rng);
        index_t seen = -1;
        const reversed_executor ex{s.workers, &seen};  // items last to first: any order gives the same result
        attune::attention(q.cview(), k.cview(), v.cview(), out.view, attune::no_mask{}, attune::options{}, ex);
        CHECK(seen == s.items);
        attune::attention(q.cview(), k.cview(), v.cview(), ref.view, attune::no_mask{}, attune::options{}, attune::serial_executor{});
        CHECK(max_difference(out, ref) <= 1e-5);
    }
}

TEST_CASE("pool_executor over a std::thread pool runs every item exactly once", "[executor]") {
    thread_pool pool(3);
    const auto ex = make_pool_executor(pool);
    CHECK(ex.workers() == 4);
    check_runs_each_once(ex, 1000);
    check_runs_each_once(ex, 1);
    check_runs_each_once(ex, 0);
    CHECK(pool.calls() == 3);
}

TEST_CASE("attention gives the same result on serial, OpenMP and pool executors", "[executor]") {
    std::mt19937 rng(21);
    // Decode-like (few items, long keys: splits) and prefill-like (many items) shapes.
    struct shape {
        index_t Hq, Hkv, Lq, Lk, D;
        bool causal;
    };
    thread_pool pool(3);
    for (const shape s : {shape{8, 2, 1, 1000, 64, false}, shape{4, 4, 129, 129, 32, true}}) {
        CAPTURE(s.Hq, s.Hkv, s.Lq, s.Lk, s.D, s.causal);
        tensor<float> q(1, s.Hq, s.Lq, s.D), k(1, s.Hkv, s.Lk, s.D), v(1, s.Hkv, s.Lk, s.D);
        q.fill_random(rng);
        k.fill_random(rng);
        v.fill_random(rng);
        for (index_t splits : {index_t(0), index_t(3)}) {
            CAPTURE(splits);
            attune::options opt;
            opt.kv_splits = splits;
            auto run = [&](tensor<float>& out, const auto& ex) {
                out.poison();
                if (s.causal) attune::attention(q.cview(), k.cview(), v.cview(), out.view, attune::causal{}, opt, ex);
                else attune::attention(q.cview(), k.cview(), v.cview(), out.view, attune::no_mask{}, opt, ex);
                CHECK(out.nan_count() == 0);
            };
            tensor<float> o_serial(1, s.Hq, s.Lq, s.D), o_pool(1, s.Hq, s.Lq, s.D);
            run(o_serial, attune::serial_executor{});
            run(o_pool, make_pool_executor(pool));
            // With the splits fixed, every item computes the same thing on any thread: bit-identical.
            // With automatic splits the plan depends on the worker count; only rounding may differ.
            const double tol = splits > 0 ? 0.0 : 1e-5;
            CHECK(max_difference(o_serial, o_pool) <= tol);
#if defined(_OPENMP)
            tensor<float> o_omp(1, s.Hq, s.Lq, s.D);
            run(o_omp, attune::openmp_executor{2});
            CHECK(max_difference(o_serial, o_omp) <= tol);
#endif
        }
    }
}
