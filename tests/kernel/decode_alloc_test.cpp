// A decode loop allocates nothing on the heap after its first step: scratch buffers are per thread
// (or leased from the caller's attune::workspace) and grow only, the split partials likewise. Counted by replacing the global operator new, so this
// test is its own executable.
#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include "counting_new.hpp"
#include "attune/attune.hpp"

using attune_test::g_allocations;

namespace {

template <class T, class Exec>
long allocations_in_decode_loop(const Exec& exec, attune::index_t kv_splits, attune::workspace* ws = nullptr) {
    using attune::index_t;
    const index_t Hq = 32, Hkv = 8, D = 128, capacity = 1100, first = 1000, steps = 40;
    std::mt19937 gen(7);
    std::normal_distribution<float> dist;
    std::vector<float> q(Hq * D);
    std::vector<T> k(Hkv * capacity * D), v(Hkv * capacity * D);
    for (auto& x : q) x = dist(gen);
    for (auto& x : k) x = T(dist(gen));
    for (auto& x : v) x = T(dist(gen));
    std::vector<float> out(Hq * D), lse(Hq);
    attune::options opt;
    opt.lse = attune::lse_view(lse.data(), 1, Hq, 1);
    opt.kv_splits = kv_splits;
    opt.workspace = ws;
    // The cache holds `capacity` token slots per head; step s attends to the first first + s.
    auto step = [&](index_t len) {
        const attune::tensor_view<const T> K(k.data(), {1, Hkv, len, D}, {Hkv * capacity * D, capacity * D, D});
        const attune::tensor_view<const T> V(v.data(), {1, Hkv, len, D}, {Hkv * capacity * D, capacity * D, D});
        attune::attention(attune::view_bhld<const float>(q.data(), 1, Hq, 1, D), K, V, attune::view_bhld(out.data(), 1, Hq, 1, D),
                          attune::causal{}, opt, exec);
    };
    step(first + steps);  // warm-up at the longest length: buffers reach their final size
    step(first);
    // With threads, each thread keeps buffers of its own, and with few items one thread may run all
    // of a step's items before the others wake: those would then grow theirs during the measured
    // steps. So every thread of the team first runs the same call on its own (serially).
#if defined(_OPENMP)
    if constexpr (std::is_same_v<Exec, attune::openmp_executor>) {
#pragma omp parallel num_threads(static_cast <int>(exec.workers()))
        {
            std::vector<float> own_out(Hq * D), own_lse(Hq);
            attune::options own = opt;
            own.lse = attune::lse_view(own_lse.data(), 1, Hq, 1);
            const attune::tensor_view<const T> K(k.data(), {1, Hkv, first + steps, D}, {Hkv * capacity * D, capacity * D, D});
            const attune::tensor_view<const T> V(v.data(), {1, Hkv, first + steps, D}, {Hkv * capacity * D, capacity * D, D});
            attune::attention(attune::view_bhld<const float>(q.data(), 1, Hq, 1, D), K, V, attune::view_bhld(own_out.data(), 1, Hq, 1, D),
                              attune::causal{}, own, attune::serial_executor{});
        }
    }
#endif
    const long before = g_allocations.load();
    for (index_t s = 0; s < steps; ++s) step(first + s);
    return g_allocations.load() - before;
}

}  // namespace

TEST_CASE("decode steps allocate nothing after warm-up", "[decode][alloc]") {
    SECTION("serial, float K/V") { CHECK(allocations_in_decode_loop<float>(attune::serial_executor{}, 0) == 0); }
    SECTION("serial, bf16 K/V, 4 splits") { CHECK(allocations_in_decode_loop<attune::bf16>(attune::serial_executor{}, 4) == 0); }
    SECTION("OpenMP, 2 threads, float K/V") { CHECK(allocations_in_decode_loop<float>(attune::openmp_executor{2}, 0) == 0); }
    SECTION("OpenMP, 2 threads, half K/V, 3 splits") {
        CHECK(allocations_in_decode_loop<attune::half>(attune::openmp_executor{2}, 3) == 0);
    }
    // A workspace holds one set of buffers per item running at once, so with threads it is warm
    // only once the most items that will ever run at once have run (on 2 lightly loaded threads
    // that can take many steps); one item at a time, it is warm after the first step.
    SECTION("serial, bf16 K/V, a workspace") {
        attune::workspace ws;
        CHECK(allocations_in_decode_loop<attune::bf16>(attune::serial_executor{}, 0, &ws) == 0);
        CHECK(ws.bytes() > 0);
    }
    SECTION("serial, float K/V, 4 splits, a workspace") {
        attune::workspace ws;
        CHECK(allocations_in_decode_loop<float>(attune::serial_executor{}, 4, &ws) == 0);
    }
}

TEST_CASE("the allocation counter sees allocations", "[decode][alloc]") {
    // The vector escapes through a volatile pointer: a new-expression whose result is not seen
    // may be elided (C++14), and g++ -O1 for aarch64 elided one of the two.
    static std::vector<float>* volatile escaped = nullptr;
    const long before = g_allocations.load();
    escaped = new std::vector<float>(100);
    delete escaped;
    CHECK(g_allocations.load() - before >= 2);
}
