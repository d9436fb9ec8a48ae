// Hostile matrix: views, attention()'s arguments, executors and overlap (tests/hostile/matrix.hpp).
#include <atomic>
#include <limits>
#include <stdexcept>

#include "hostile/matrix.hpp"

namespace {
namespace core_cases {

using attune::index_t;
using attune_test::tensor;
using arch = ATTUNE_TEST_ARCH;

const index_t huge = std::numeric_limits<index_t>::max() / 4;

// A small valid problem to misuse one argument of at a time.
struct small {
    tensor<float> q{1, 4, 9, 16}, k{1, 2, 13, 16}, v{1, 2, 13, 16}, out{1, 4, 9, 16};
    small() {
        std::mt19937 rng(7);
        q.fill_random(rng);
        k.fill_random(rng);
        v.fill_random(rng);
    }
    template <class Var = attune::variant<>, class Exec = attune::serial_executor>
    void run(const Var& var = {}, const attune::options& opt = {}, const Exec& exec = {}) {
        out.poison();
        attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, var, opt, exec);
    }
    template <class Var = attune::variant<>>
    void check(const Var& var = {}) {
        attune_test::check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), var),
                                             attune_test::fp32_tolerance());
    }
};

// ---- views ----
HOSTILE_THROWS("view: shape product wraps with null data", "view shape") {
    attune::tensor_view<const float> t(nullptr, {65536, 65536, 65536, 65536}, {0, 0, 0});
};
HOSTILE_THROWS("view: stride reach overflows", "view strides") {
    float x = 0;
    attune::tensor_view<float> t(&x, {1, 1, 16, 1}, {0, 0, huge});
};
HOSTILE_THROWS("view: negative stride reach overflows", "view strides") {
    float x = 0;
    attune::tensor_view<float> t(&x, {9, 1, 1, 1}, {-huge, 0, 0});
};
HOSTILE_THROWS("view: negative dim", "negative") {
    float x = 0;
    attune::tensor_view<float> t(&x, {1, 1, -1, 4}, {0, 0, 4});
};
HOSTILE_THROWS("view_bhld: heads × tokens × dim wraps", "view_bhld") {
    float x = 0;
    (void)attune::view_bhld(&x, 1, huge, 8, 8);
};
HOSTILE_THROWS("view_blhd: tokens × heads × dim wraps", "view_blhd") {
    float x = 0;
    (void)attune::view_blhd(&x, 1, huge, 8, 8);
};
HOSTILE_THROWS("lse_view: heads × tokens wraps", "lse_view") {
    float x = 0;
    (void)attune::lse_view(&x, 1, huge, 8);
};
HOSTILE_OK("view: empty shape with null data is a valid empty view") {
    attune::tensor_view<const float> t(nullptr, {0, 4, 4, 4}, {0, 0, 0});
    CHECK(t.size() == 0);
};

// ---- attention() arguments ----
HOSTILE_THROWS("attention: null q with a non-empty shape", "q has null data") {
    small s;
    attune::attention<arch>(attune::tensor_view<const float>(nullptr, {1, 4, 9, 16}, {576, 144, 16}), s.k.cview(), s.v.cview(), s.out.view);
};
HOSTILE_THROWS("attention: null out", "out has null data") {
    small s;
    attune::attention<arch>(s.q.cview(), s.k.cview(), s.v.cview(), attune::tensor_view<float>(nullptr, {1, 4, 9, 16}, {576, 144, 16}));
};
HOSTILE_THROWS("attention: Hq not divisible by Hkv", "not divisible") {
    tensor<float> q(1, 3, 4, 16), k(1, 2, 4, 16), v(1, 2, 4, 16), o(1, 3, 4, 16);
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), o.view);
};
HOSTILE_THROWS("attention: k dim differs from q dim", "k head dim") {
    tensor<float> q(1, 2, 4, 16), k(1, 2, 4, 8), v(1, 2, 4, 16), o(1, 2, 4, 16);
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), o.view);
};
HOSTILE_THROWS("attention: v tokens differ from k tokens", "v tokens") {
    tensor<float> q(1, 2, 4, 16), k(1, 2, 4, 16), v(1, 2, 5, 16), o(1, 2, 4, 16);
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), o.view);
};
HOSTILE_THROWS("attention: out shape wrong", "out shape") {
    tensor<float> q(1, 2, 4, 16), k(1, 2, 4, 16), v(1, 2, 4, 16), o(1, 2, 3, 16);
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), o.view);
};
HOSTILE_THROWS("attention: negative kv_splits", "kv_splits") {
    small s;
    attune::options opt;
    opt.kv_splits = -1;
    s.run({}, opt);
};
HOSTILE_THROWS("attention: NaN scale", "scale") {
    small s;
    attune::options opt;
    opt.scale = std::numeric_limits<float>::quiet_NaN();
    s.run({}, opt);
};
HOSTILE_THROWS("attention: negative scale", "scale") {
    small s;
    attune::options opt;
    opt.scale = -1.0f;
    s.run({}, opt);
};
HOSTILE_THROWS("attention: lse of the wrong shape", "lse shape") {
    small s;
    attune_test::lse_buffer l(1, 4, 8);
    attune::options opt;
    opt.lse = l.view;
    s.run({}, opt);
};
HOSTILE_OK("attention: kv_splits far above the key count") {
    small s;
    attune::options opt;
    opt.kv_splits = huge;
    s.run({}, opt);
    s.check();
};

// ---- overlap: shared elements, computed from strides ----
HOSTILE_THROWS("overlap: out is q", "out overlaps q") {
    small s;
    attune::attention<arch>(s.q.cview(), s.k.cview(), s.v.cview(), s.q.view);
};
HOSTILE_THROWS("overlap: out's heads share memory (head stride 0)", "out overlaps itself") {
    small s;
    attune::tensor_view<float> o(s.out.view.data(), {1, 4, 9, 16}, {0, 0, 16});
    attune::attention<arch>(s.q.cview(), s.k.cview(), s.v.cview(), o);
};
HOSTILE_THROWS("overlap: out's token stride smaller than the row", "out overlaps itself") {
    small s;
    attune::tensor_view<float> o(s.out.view.data(), {1, 1, 9, 16}, {0, 0, 8});
    tensor<float> q(1, 1, 9, 16);
    attune::attention<arch>(
        q.cview(), s.k.cview().data() ? attune::tensor_view<const float>(s.k.view.data(), {1, 1, 13, 16}, {0, 0, 16}) : s.k.cview(),
        attune::tensor_view<const float>(s.v.view.data(), {1, 1, 13, 16}, {0, 0, 16}), o);
};
HOSTILE_THROWS("overlap: lse over out", "options::lse overlaps out") {
    small s;
    attune::options opt;
    opt.lse = attune::lse_view(s.out.view.data(), 1, 4, 9);
    s.run({}, opt);
};
HOSTILE_THROWS("overlap: lse overlapping itself", "options::lse overlaps itself") {
    small s;
    std::vector<float> l(9);
    attune::options opt;
    opt.lse = attune::tensor_view<float>(l.data(), {1, 4, 9, 1}, {0, 0, 1});
    s.run({}, opt);
};
HOSTILE_OK("overlap: out interleaved with k in one fused buffer, no shared element") {
    // [tokens][2][16]: k in the even rows, out in the odd ones.
    std::vector<float> fused(13 * 2 * 16);
    std::mt19937 rng(3);
    std::normal_distribution<float> n01;
    for (auto& x : fused) x = n01(rng);
    tensor<float> q(1, 1, 13, 16), v(1, 1, 13, 16), alone(1, 1, 13, 16), expect(1, 1, 13, 16);
    q.fill_random(rng);
    v.fill_random(rng);
    attune::tensor_view<const float> k(fused.data(), {1, 1, 13, 16}, {0, 0, 32});
    attune::tensor_view<float> o(fused.data() + 16, {1, 1, 13, 16}, {0, 0, 32});
    for (index_t t = 0; t < 13; ++t)
        for (index_t d = 0; d < 16; ++d) alone.view(0, 0, t, d) = k(0, 0, t, d);
    attune::attention<arch>(q.cview(), alone.cview(), v.cview(), expect.view);
    attune::attention<arch>(q.cview(), k, v.cview(), o);
    for (index_t t = 0; t < 13; ++t)
        for (index_t d = 0; d < 16; ++d) CHECK(o(0, 0, t, d) == expect.view(0, 0, t, d));
};

// ---- executors: exceptions from items, broken contracts ----
struct throwing_mask {
    using policy_kind = attune::mask_kind;
    [[maybe_unused]] static constexpr bool is_none = false;  // masks need not declare it (clang: unused)
    index_t bad_row;
    bool visible(const attune::index_context& c) const {
        if (c.q_pos == bad_row) throw attune::error("attune: throwing_mask: row rejected");
        return c.k_pos <= c.q_pos;
    }
    attune::tile_class classify(const attune::tile_context&) const { return attune::tile_class::partial; }
};
struct runtime_error_mask : throwing_mask {
    bool visible(const attune::index_context& c) const {
        if (c.q_pos == bad_row) throw std::runtime_error("user's own error");
        return true;
    }
};

HOSTILE_THROWS("executor: a mask throwing inside OpenMP items reaches the caller", "throwing_mask") {
    tensor<float> q(2, 8, 200, 16), k(2, 4, 200, 16), v(2, 4, 200, 16), o(2, 8, 200, 16);
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), o.view, throwing_mask{150}, {}, attune::openmp_executor{4});
};
HOSTILE_THROWS("executor: a mask throwing inside split-KV items reaches the caller", "throwing_mask") {
    tensor<float> q(1, 2, 1, 16), k(1, 1, 2000, 16), v(1, 1, 2000, 16), o(1, 2, 1, 16);
    attune::options opt;
    opt.kv_splits = 5;
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), o.view, throwing_mask{1999}, opt, attune::openmp_executor{4});
};
HOSTILE_THROWS("executor: a mask throwing on a user pool reaches the caller", "throwing_mask") {
    attune_test::thread_pool pool(3);
    tensor<float> q(1, 4, 150, 16), k(1, 2, 150, 16), v(1, 2, 150, 16), o(1, 4, 150, 16);
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), o.view, throwing_mask{140}, {}, attune_test::make_pool_executor(pool));
};
HOSTILE_OK("executor: a user's own exception type reaches the caller unchanged") {
    tensor<float> q(1, 4, 150, 16), k(1, 2, 150, 16), v(1, 2, 150, 16), o(1, 4, 150, 16);
    CHECK_THROWS_AS(
        attune::attention<arch>(q.cview(), k.cview(), v.cview(), o.view, runtime_error_mask{{140}}, {}, attune::openmp_executor{4}),
        std::runtime_error);
};
HOSTILE_THROWS("executor: pool_executor with 0 workers", "workers") {
    attune::pool_executor p(0, [](index_t, const attune::pool_executor::body_type&) {});
};
HOSTILE_THROWS("executor: pool_executor with an empty run function", "empty function") {
    attune::pool_executor p(2, attune::pool_executor::run_type{});
};

// A pool that breaks its contract in one way: `mode` 0 calls body(n), 1 body(-1), 2 item 0 twice,
// 3 skips the last item, 4 runs item 0 twice and skips the last (the count alone cannot see it).
attune::pool_executor broken_pool(int mode) {
    return attune::pool_executor(2, [mode](index_t n, const attune::pool_executor::body_type& body) {
        for (index_t i = 0; i < n; ++i) {
            if ((mode == 3 || mode == 4) && i == n - 1) continue;
            body(i);
        }
        if (mode == 0) body(n);
        if (mode == 1) body(-1);
        if (mode == 2 || mode == 4) body(0);
    });
}
void run_on(const attune::pool_executor& pool) {
    small s;
    s.run(attune::causal{}, {}, pool);
}
HOSTILE_THROWS("executor: pool calls body(n)", "outside [0,") { run_on(broken_pool(0)); };
HOSTILE_THROWS("executor: pool calls body(-1)", "outside [0,") { run_on(broken_pool(1)); };
HOSTILE_THROWS("executor: pool runs an item twice", "twice") { run_on(broken_pool(2)); };
HOSTILE_THROWS("executor: pool skips an item", "without running item") { run_on(broken_pool(3)); };
HOSTILE_THROWS("executor: pool runs one item twice and skips another", "twice") { run_on(broken_pool(4)); };
HOSTILE_OK("executor: a correct pool after broken ones gives the reference") {
    attune_test::thread_pool pool(3);
    small s;
    s.run(attune::causal{}, {}, attune_test::make_pool_executor(pool));
    s.check(attune::causal{});
};

}  // namespace core_cases
}  // namespace
