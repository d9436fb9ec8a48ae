// The recurrent steps of the linear family allocate nothing on the heap after their first call:
// scratch is per thread and grow-only, states are sized at construction. Counted by replacing the
// global operator new, so this test is its own executable (suite linear_alloc).
#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "counting_new.hpp"
#include "attune/linear.hpp"

using attune_test::g_allocations;

using attune::index_t;
using arch = ATTUNE_TEST_ARCH;
namespace lin = attune::linear;

namespace {

std::vector<float> random_values(std::size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> d;
    std::vector<float> v(n);
    for (auto& x : v) x = d(gen);
    return v;
}

// Allocations during `steps` calls of step(t) after two warm-up calls.
template <class Step>
long allocations_after_warmup(Step&& step, index_t steps) {
    step(0);
    step(1);
    const long before = g_allocations.load();
    for (index_t t = 2; t < steps; ++t) step(t);
    return g_allocations.load() - before;
}

template <class Exec>
void check_steps(const Exec& exec) {
    const index_t Hq = 8, Hkv = 2, D = 64, L = 24;
    const auto q = random_values(static_cast<std::size_t>(Hq * L * D), 1), k = random_values(static_cast<std::size_t>(Hkv * L * D), 2),
               v = random_values(static_cast<std::size_t>(Hkv * L * D), 3);
    std::vector<float> out(static_cast<std::size_t>(Hq * L * D)), g(static_cast<std::size_t>(Hkv * L), -0.1f),
        beta(static_cast<std::size_t>(Hkv * L), 0.5f);
    auto qv = [&](index_t t) { return attune::tensor_view<const float>(q.data() + t * D, {1, Hq, 1, D}, {Hq * L * D, L * D, D}); };
    auto kv = [&](const std::vector<float>& x, index_t t) {
        return attune::tensor_view<const float>(x.data() + t * D, {1, Hkv, 1, D}, {Hkv * L * D, L * D, D});
    };
    auto ov = [&](index_t t) { return attune::tensor_view<float>(out.data() + t * D, {1, Hq, 1, D}, {Hq * L * D, L * D, D}); };
    auto sv = [&](const std::vector<float>& x, index_t t) {
        return attune::tensor_view<const float>(x.data() + t, {1, Hkv, 1, 1}, {Hkv * L, L, 1});
    };
    lin::state st(1, Hkv, D, D);
    CHECK(allocations_after_warmup([&](index_t t) { lin::step<arch>(qv(t), kv(k, t), kv(v, t), ov(t), st, lin::elu_plus_one{}, {}, exec); },
                                   L) == 0);
    lin::state gd(1, Hkv, D, D);
    CHECK(allocations_after_warmup(
              [&](index_t t) { lin::gated_delta_step<arch>(qv(t), kv(k, t), kv(v, t), sv(g, t), sv(beta, t), ov(t), gd, {}, exec); }, L) ==
          0);
    // The chunked causal form keeps its state in per-thread scratch too.
    const attune::tensor_view<const float> qa(q.data(), {1, Hq, L, D}, {Hq * L * D, L * D, D}),
        ka(k.data(), {1, Hkv, L, D}, {Hkv * L * D, L * D, D}), va(v.data(), {1, Hkv, L, D}, {Hkv * L * D, L * D, D});
    const attune::tensor_view<float> oa(out.data(), {1, Hq, L, D}, {Hq * L * D, L * D, D});
    CHECK(allocations_after_warmup([&](index_t) { lin::causal<arch>(qa, ka, va, oa, lin::elu_plus_one{}, {7}, exec); }, 5) == 0);
    // Aaren: one query per head (token 0 of q), the keys streamed.
    lin::aaren_state as(1, Hq, D);
    CHECK(allocations_after_warmup([&](index_t t) { lin::aaren_update<arch>(qv(0), kv(k, t), kv(v, t), ov(t), as, {}, exec); }, L) == 0);
}

}  // namespace

TEST_CASE("linear decode steps allocate nothing after warm-up", "[alloc]") {
    SECTION("serial") { check_steps(attune::serial_executor{}); }
    SECTION("openmp") { check_steps(attune::openmp_executor{2}); }
}
