// Hostile matrix, red-team pass (issue 19): attention() over every storage combination and odd
// strides, overlap through broadcast views, degenerate shapes, executors that lie about their
// workers, attention nested inside a policy, the public float64 reference with mismatched shapes,
// and caches at every ring position (tests/hostile/matrix.hpp).
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "attune/cache.hpp"
#include "attune/family/sigmoid.hpp"
#include "hostile/matrix.hpp"

namespace {
namespace redteam_cases {

using attune::bf16;
using attune::half;
using attune::index_t;
using attune_test::tensor;
using arch = ATTUNE_TEST_ARCH;
using serial = attune::serial_executor;

const index_t imax = std::numeric_limits<index_t>::max();
const float inf = std::numeric_limits<float>::infinity();

template <class T>
tensor<T> random_tensor(index_t B, index_t H, index_t L, index_t D, std::uint32_t seed, attune_test::layout lay = attune_test::layout::bhld,
                        index_t pad = 0) {
    tensor<T> t(B, H, L, D, lay, pad);
    std::mt19937 rng(seed);
    t.fill_random(rng);
    return t;
}

// attention() with these storage types against the float64 reference, Lq queries over Lk keys.
template <class TQ, class TK, class TV, class TO, class Var = attune::variant<>, class Exec = serial>
void storage_combo(index_t Hq, index_t Hkv, index_t Lq, index_t Lk, index_t Dk, index_t Dv, const Var& var = {}, const Exec& exec = {},
                   const attune::options& opt_in = {}) {
    auto q = random_tensor<TQ>(1, Hq, Lq, Dk, 11, attune_test::layout::blhd, 3);
    auto k = random_tensor<TK>(1, Hkv, Lk, Dk, 12, attune_test::layout::bhld, 5);
    auto v = random_tensor<TV>(1, Hkv, Lk, Dv, 13);
    tensor<TO> out(1, Hq, Lq, Dv, attune_test::layout::blhd, 1);
    out.poison();
    attune_test::lse_buffer lse(1, Hq, Lq);
    attune::options opt = opt_in;
    if constexpr (Var::family_type::has_lse) opt.lse = lse.view;
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, var, opt, exec);
    auto tol = attune_test::output_tolerance<TO>();
    if (!std::is_same_v<TQ, float> || !std::is_same_v<TK, float>) tol.max_abs = 2e-3, tol.rel_l2 = std::max(tol.rel_l2, 1e-3);
    tol = attune_test::with_rounded_weights<TQ, TK, TV, TO>(tol, 4.0);
    attune_test::check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), var, opt.scale), tol,
                                         Var::family_type::has_lse ? &lse : nullptr);
}

// ---- storage combinations, odd shapes ----
HOSTILE_OK("storage: bf16 q, half k, float v, bf16 out, Lq > Lk under causal") {
    storage_combo<bf16, half, float, bf16>(4, 2, 37, 9, 24, 8, attune::variant<attune::causal>{});
};
HOSTILE_OK("storage: half everywhere, D = 1") { storage_combo<half, half, half, half>(2, 1, 5, 70, 1, 1); };
HOSTILE_OK("storage: bf16 everywhere, decode, Dk = 1000, Dv = 3") { storage_combo<bf16, bf16, bf16, bf16>(2, 2, 1, 130, 1000, 3); };
HOSTILE_OK("storage: float q, bf16 k and v, half out, Dv = 1000 with many rows") {
    storage_combo<float, bf16, bf16, half>(8, 1, 20, 67, 16, 1000);
};
HOSTILE_OK("storage: half q, float k, bf16 v, float out, kv_splits above the tile count") {
    attune::options opt;
    opt.kv_splits = 1000;
    storage_combo<half, float, bf16, float>(2, 2, 1, 300, 40, 24, attune::variant<>{}, serial{}, opt);
};
HOSTILE_OK("storage: sigmoid family with bf16 out, Lq > Lk, causal") {
    storage_combo<float, float, float, bf16>(2, 1, 19, 7, 16, 16,
                                             attune::variant<attune::sigmoid, attune::causal>{attune::sigmoid{-1.0f}, attune::causal{}});
};
HOSTILE_OK("storage: tiny subnormal scale gives the mean of the visible values") {
    attune::options opt;
    opt.scale = 1e-40f;
    storage_combo<float, float, float, float>(1, 1, 3, 50, 8, 8, attune::variant<>{}, serial{}, opt);
};

// ---- degenerate shapes ----
HOSTILE_OK("shape: Lk = 0 with null k and v: zeros and LSE −inf") {
    auto q = random_tensor<float>(1, 2, 3, 8, 1);
    tensor<float> out(1, 2, 3, 8);
    out.poison();
    attune_test::lse_buffer lse(1, 2, 3);
    attune::options opt;
    opt.lse = lse.view;
    attune::attention<arch>(q.cview(), attune::tensor_view<const float>(nullptr, {1, 1, 0, 8}, {0, 0, 8}),
                            attune::tensor_view<const float>(nullptr, {1, 1, 0, 8}, {0, 0, 8}), out.view, attune::variant<>{}, opt,
                            serial{});
    for (index_t h = 0; h < 2; ++h)
        for (index_t t = 0; t < 3; ++t) {
            CHECK(lse.view(0, h, t, 0) == -inf);
            for (index_t d = 0; d < 8; ++d) CHECK(out.view(0, h, t, d) == 0.0f);
        }
};
HOSTILE_OK("shape: Lq = 0 with null q and out writes nothing") {
    auto k = random_tensor<float>(1, 1, 5, 8, 2);
    attune::attention<arch>(attune::tensor_view<const float>(nullptr, {1, 2, 0, 8}, {0, 0, 8}), k.cview(), k.cview(),
                            attune::tensor_view<float>(nullptr, {1, 2, 0, 8}, {0, 0, 8}));
    CHECK(true);
};
HOSTILE_OK("shape: Lq = Lk = 0 on a user pool") {
    attune_test::thread_pool pool(2);
    attune::attention<arch>(attune::tensor_view<const float>(nullptr, {3, 2, 0, 8}, {0, 0, 8}),
                            attune::tensor_view<const float>(nullptr, {3, 1, 0, 8}, {0, 0, 8}),
                            attune::tensor_view<const float>(nullptr, {3, 1, 0, 4}, {0, 0, 4}),
                            attune::tensor_view<float>(nullptr, {3, 2, 0, 4}, {0, 0, 4}), attune::variant<attune::causal>{}, {},
                            attune_test::make_pool_executor(pool));
    CHECK(pool.calls() == 0);
};
HOSTILE_THROWS("shape: more kv heads than query heads", "not divisible") {
    auto q = random_tensor<float>(1, 2, 3, 8, 1);
    auto k = random_tensor<float>(1, 4, 3, 8, 2);
    tensor<float> out(1, 2, 3, 8);
    attune::attention<arch>(q.cview(), k.cview(), k.cview(), out.view);
};
HOSTILE_THROWS("shape: k batch 0 under q batch 1", "k batch") {
    auto q = random_tensor<float>(1, 1, 3, 8, 1);
    tensor<float> out(1, 1, 3, 8);
    attune::attention<arch>(q.cview(), attune::tensor_view<const float>(nullptr, {0, 1, 3, 8}, {0, 0, 8}),
                            attune::tensor_view<const float>(nullptr, {0, 1, 3, 8}, {0, 0, 8}), out.view);
};
HOSTILE_THROWS("shape: v head dim 0", "v has head dim 0") {
    auto q = random_tensor<float>(1, 1, 3, 8, 1);
    auto k = random_tensor<float>(1, 1, 3, 8, 2);
    std::vector<float> dummy(1);
    attune::attention<arch>(q.cview(), k.cview(), attune::tensor_view<const float>(k.view.data(), {1, 1, 3, 0}, {0, 0, 8}),
                            attune::tensor_view<float>(dummy.data(), {1, 1, 3, 0}, {0, 0, 0}));
};
HOSTILE_THROWS("shape: 2^63 − 1 keys broadcast from one row (stride 0)", "k tokens") {
    auto q = random_tensor<float>(1, 1, 1, 1, 1);
    tensor<float> out(1, 1, 1, 1);
    const attune::tensor_view<const float> k(q.view.data(), {1, 1, imax, 1}, {0, 0, 0});
    attune::attention<arch>(q.cview(), k, k, out.view, attune::variant<>{}, {}, serial{});
};
HOSTILE_THROWS("shape: 2^62 queries on one row of q, out real", "q tokens") {
    auto q = random_tensor<float>(1, 1, 1, 1, 1), k = random_tensor<float>(1, 1, 4, 1, 2);
    std::vector<float> o(1);
    // The out view claims 2^62 rows of one float at stride 1: the q limit answers before anything else runs.
    const index_t n = index_t(1) << 62;
    (void)o;
    attune::attention<arch>(attune::tensor_view<const float>(q.view.data(), {1, 1, n, 1}, {0, 0, 0}), k.cview(), k.cview(),
                            attune::tensor_view<float>(o.data(), {1, 1, n, 1}, {0, 0, 1}));
};
HOSTILE_THROWS("options: +inf scale", "scale") {
    attune::options opt;
    opt.scale = inf;
    storage_combo<float, float, float, float>(1, 1, 2, 2, 8, 8, attune::variant<>{}, serial{}, opt);
};
HOSTILE_THROWS("options: lse given to the sigmoid family", "options::lse") {
    auto q = random_tensor<float>(1, 1, 3, 8, 1);
    tensor<float> out(1, 1, 3, 8);
    attune_test::lse_buffer lse(1, 1, 3);
    attune::options opt;
    opt.lse = lse.view;
    attune::attention<arch>(q.cview(), q.cview(), q.cview(), out.view, attune::sigmoid{}, opt);
};

// ---- strides: broadcast inputs, reversed views, odd LSE layouts ----
HOSTILE_OK("strides: q broadcast over batch and heads with stride 0 (inputs may repeat)") {
    auto q1 = random_tensor<float>(1, 1, 9, 16, 4);
    auto k = random_tensor<float>(3, 2, 20, 16, 5), v = random_tensor<float>(3, 2, 20, 16, 6);
    tensor<float> qfull(3, 4, 9, 16), out(3, 4, 9, 16);
    for (index_t b = 0; b < 3; ++b)
        for (index_t h = 0; h < 4; ++h)
            for (index_t t = 0; t < 9; ++t)
                for (index_t d = 0; d < 16; ++d) qfull.view(b, h, t, d) = q1.view(0, 0, t, d);
    const attune::tensor_view<const float> qb(q1.view.data(), {3, 4, 9, 16}, {0, 0, 16});
    out.poison();
    attune::attention<arch>(qb, k.cview(), v.cview(), out.view, attune::causal{}, {}, attune::openmp_executor{2});
    attune_test::check_against_reference(out, attune::reference::attention(qfull.cview(), k.cview(), v.cview(), attune::causal{}),
                                         attune_test::fp32_tolerance());
};
HOSTILE_OK("strides: k and v the same view") {
    auto q = random_tensor<float>(1, 2, 7, 16, 1);
    auto kv = random_tensor<float>(1, 1, 33, 16, 2);
    tensor<float> out(1, 2, 7, 16);
    out.poison();
    attune::attention<arch>(q.cview(), kv.cview(), kv.cview(), out.view);
    attune_test::check_against_reference(out, attune::reference::attention(q.cview(), kv.cview(), kv.cview()),
                                         attune_test::fp32_tolerance());
};
template <class T>
attune::tensor_view<T> reversed(const attune::tensor_view<T>& v) {
    // The same elements with every outer axis walked backwards (negative strides).
    const auto& s = v.strides();
    return attune::tensor_view<T>(v.row(v.batch() - 1, v.heads() - 1, v.tokens() - 1), v.shape(), {-s[0], -s[1], -s[2]});
}
HOSTILE_OK("strides: q, k, v, out and lse all with negative strides") {
    auto q = random_tensor<float>(2, 4, 11, 16, 1);
    auto k = random_tensor<half>(2, 2, 70, 16, 2);
    auto v = random_tensor<bf16>(2, 2, 70, 8, 3);
    tensor<float> out(2, 4, 11, 8), expect(2, 4, 11, 8);
    std::vector<float> lse(2 * 4 * 11, std::numeric_limits<float>::quiet_NaN()), lse_expect(lse.size());
    attune::options opt, opt_e;
    opt.lse = reversed(attune::lse_view(lse.data(), 2, 4, 11));
    opt_e.lse = attune::lse_view(lse_expect.data(), 2, 4, 11);
    attune::attention<arch>(reversed(q.cview()), reversed(k.cview()), reversed(v.cview()), reversed(out.view), attune::causal{}, opt);
    // Reversing every axis of every operand is the same problem on relabelled rows, except that the
    // causal diagonal needs the keys in order: compare with the reversed inputs copied out.
    tensor<float> qr(2, 4, 11, 16), kr(2, 2, 70, 16), vr(2, 2, 70, 8);
    const auto rq = reversed(q.cview());
    const auto rk = reversed(k.cview());
    const auto rv = reversed(v.cview());
    for (index_t b = 0; b < 2; ++b)
        for (index_t h = 0; h < 4; ++h) {
            for (index_t t = 0; t < 11; ++t)
                for (index_t d = 0; d < 16; ++d) qr.view(b, h, t, d) = rq(b, h, t, d);
            if (h < 2)
                for (index_t t = 0; t < 70; ++t) {
                    for (index_t d = 0; d < 16; ++d) kr.view(b, h, t, d) = static_cast<float>(rk(b, h, t, d));
                    for (index_t d = 0; d < 8; ++d) vr.view(b, h, t, d) = static_cast<float>(rv(b, h, t, d));
                }
        }
    attune::attention<arch>(qr.cview(), kr.cview(), vr.cview(), expect.view, attune::causal{}, opt_e);
    const auto ro = reversed(attune::tensor_view<const float>(out.view));
    const auto rl = reversed(attune::lse_view(lse.data(), 2, 4, 11));
    for (index_t b = 0; b < 2; ++b)
        for (index_t h = 0; h < 4; ++h)
            for (index_t t = 0; t < 11; ++t) {
                CHECK(rl(b, h, t, 0) == lse_expect[static_cast<std::size_t>((b * 4 + h) * 11 + t)]);
                for (index_t d = 0; d < 8; ++d) CHECK(ro(b, h, t, d) == expect.view(b, h, t, d));
            }
};
HOSTILE_OK("strides: lse with a token stride of 3 and transposed heads") {
    auto q = random_tensor<float>(2, 3, 5, 8, 1), k = random_tensor<float>(2, 3, 6, 8, 2);
    tensor<float> out(2, 3, 5, 8);
    out.poison();
    std::vector<float> raw(2 * 3 * 5 * 3, -7.0f);
    attune::options opt;
    opt.lse = attune::tensor_view<float>(raw.data(), {2, 3, 5, 1}, {45, 1, 9});  // heads innermost, gaps of 2 between tokens' groups
    attune::attention<arch>(q.cview(), k.cview(), k.cview(), out.view, attune::variant<>{}, opt);
    const auto ref = attune::reference::attention(q.cview(), k.cview(), k.cview());
    index_t touched = 0;
    for (index_t b = 0; b < 2; ++b)
        for (index_t h = 0; h < 3; ++h)
            for (index_t t = 0; t < 5; ++t) CHECK(std::abs(opt.lse(b, h, t, 0) - ref.lse_at(b, h, t)) < 1e-4);
    for (float x : raw) touched += x != -7.0f;
    CHECK(touched == 30);  // every LSE written, nothing between them
};
HOSTILE_THROWS("overlap: lse inside k's float storage", "options::lse overlaps k") {
    auto q = random_tensor<float>(1, 1, 4, 8, 1), k = random_tensor<float>(1, 1, 6, 8, 2);
    tensor<float> out(1, 1, 4, 8);
    attune::options opt;
    opt.lse = attune::tensor_view<float>(k.view.data() + 3, {1, 1, 4, 1}, {0, 0, 1});
    attune::attention<arch>(q.cview(), k.cview(), k.cview(), out.view, attune::variant<>{}, opt);
};
HOSTILE_THROWS("overlap: out's last element is v's first", "out overlaps v") {
    std::vector<float> buf(4 * 8 + 6 * 8 - 1);
    auto q = random_tensor<float>(1, 1, 4, 8, 1), k = random_tensor<float>(1, 1, 6, 8, 2);
    attune::tensor_view<float> out(buf.data(), {1, 1, 4, 8}, {0, 0, 8});
    attune::tensor_view<const float> v(buf.data() + 4 * 8 - 1, {1, 1, 6, 8}, {0, 0, 8});
    attune::attention<arch>(q.cview(), k.cview(), v, out);
};
HOSTILE_OK("overlap: lse in the gap column of out's rows, no shared element") {
    // [tokens][17]: 16 output values then the row's LSE.
    std::vector<float> buf(9 * 17, std::numeric_limits<float>::quiet_NaN());
    auto q = random_tensor<float>(1, 1, 9, 16, 1), k = random_tensor<float>(1, 1, 12, 16, 2);
    attune::tensor_view<float> out(buf.data(), {1, 1, 9, 16}, {0, 0, 17});
    attune::options opt;
    opt.lse = attune::tensor_view<float>(buf.data() + 16, {1, 1, 9, 1}, {0, 0, 17});
    attune::attention<arch>(q.cview(), k.cview(), k.cview(), out, attune::causal{}, opt);
    const auto ref = attune::reference::attention(q.cview(), k.cview(), k.cview(), attune::causal{});
    for (index_t t = 0; t < 9; ++t) {
        CHECK(std::abs(opt.lse(0, 0, t, 0) - ref.lse_at(0, 0, t)) < 1e-4);
        for (index_t d = 0; d < 16; ++d) CHECK(std::abs(out(0, 0, t, d) - ref.at(0, 0, t, d)) < 1e-4);
    }
};
// An output of 2^40 rows that all share 16 floats: the overlap check must answer without listing
// 2^40 rows (an allocation of 16 TiB: std::bad_alloc, or an ASan abort).
HOSTILE_THROWS("overlap: out broadcast over 2^40 batch × heads with stride 0", "out overlaps itself") {
    std::vector<float> one(16);
    const index_t n = index_t(1) << 20;
    attune::tensor_view<const float> q(one.data(), {n, n, 1, 16}, {0, 0, 16});
    attune::tensor_view<const float> k(one.data(), {n, 1, 1, 16}, {0, 0, 16});
    std::vector<float> o(16);
    attune::attention<arch>(q, k, k, attune::tensor_view<float>(o.data(), {n, n, 1, 16}, {0, 0, 16}));
};
HOSTILE_THROWS("overlap: lse of 4096 rows on one float (stride 0)", "options::lse overlaps itself") {
    auto q = random_tensor<float>(1, 1, 4096, 8, 1), k = random_tensor<float>(1, 1, 3, 8, 2);
    tensor<float> out(1, 1, 4096, 8);
    float one = 0;
    attune::options opt;
    opt.lse = attune::tensor_view<float>(&one, {1, 1, 4096, 1}, {0, 0, 0});
    attune::attention<arch>(q.cview(), k.cview(), k.cview(), out.view, attune::variant<>{}, opt);
};
HOSTILE_OK("overlap: k broadcast over a large batch with stride 0 needs no row list per batch") {
    // 4096 batches of one 64-key head, the same memory: accepted and correct.
    auto q = random_tensor<float>(4096, 1, 1, 8, 1), k1 = random_tensor<float>(1, 1, 64, 8, 2);
    tensor<float> out(4096, 1, 1, 8);
    const attune::tensor_view<const float> kb(k1.view.data(), {4096, 1, 64, 8}, {0, 0, 8});
    attune::attention<arch>(q.cview(), kb, kb, out.view, attune::variant<>{}, {}, attune::openmp_executor{2});
    const auto ref = attune::reference::attention(q.cview(), kb, kb);
    double worst = 0;
    for (index_t b = 0; b < 4096; ++b)
        for (index_t d = 0; d < 8; ++d) worst = std::max(worst, std::abs(out.view(b, 0, 0, d) - ref.at(b, 0, 0, d)));
    CHECK(worst < 1e-4);
};

// ---- executors that lie about their workers ----
void run_with_workers(index_t w, index_t kv_splits = 0) {
    attune::options opt;
    opt.kv_splits = kv_splits;
    storage_combo<float, float, float, float>(4, 2, 1, 1000, 16, 16, attune::variant<attune::causal>{}, attune_test::reversed_executor{w},
                                              opt);
}
HOSTILE_OK("executor: workers() = index max (the planner's items_per_worker × workers must not wrap)") { run_with_workers(imax); };
HOSTILE_OK("executor: workers() = index max / 2 + 1") { run_with_workers(imax / 2 + 1); };
HOSTILE_OK("executor: workers() = 0") { run_with_workers(0); };
HOSTILE_OK("executor: workers() negative") { run_with_workers(-7); };
HOSTILE_OK("executor: workers() = index max with kv_splits = index max") { run_with_workers(imax, imax); };
HOSTILE_OK("executor: pool_executor claiming index max workers, run serially") {
    attune::pool_executor pool(imax, [](index_t n, const attune::pool_executor::body_type& body) {
        for (index_t i = 0; i < n; ++i) body(i);
    });
    storage_combo<bf16, bf16, bf16, float>(2, 1, 3, 500, 16, 16, attune::variant<>{}, pool);
};
HOSTILE_OK("executor: openmp_executor with a negative thread count uses OpenMP's default") {
    storage_combo<float, float, float, float>(2, 1, 70, 70, 16, 16, attune::variant<attune::causal>{}, attune::openmp_executor{-3});
};
HOSTILE_THROWS("executor: a pool whose run throws attune::error reaches the caller", "pool refused") {
    attune::pool_executor pool(4, [](index_t, const attune::pool_executor::body_type&) { attune::detail::fail("pool refused"); });
    storage_combo<float, float, float, float>(2, 1, 3, 10, 8, 8, attune::variant<>{}, pool);
};

// ---- attention nested inside a policy ----
// The inner call is larger than the outer one in every dimension (rows, keys, head dims) so that
// shared per-thread scratch would be regrown (use after free) or overwritten (wrong output) under
// the outer item. Both are small: the inner runs once per outer row, and the suite runs under ASan.
template <class T>
struct inner_problem {
    tensor<T> q = random_tensor<T>(1, 4, 40, 48, 21), k = random_tensor<T>(1, 2, 130, 48, 22), v = random_tensor<T>(1, 2, 130, 40, 23);
    float run() const {
        tensor<T> out(1, 4, 40, 40);
        attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, attune::causal{}, {}, serial{});
        return static_cast<float>(out.view(0, 3, 39, 39));
    }
};
template <class T = float>
const inner_problem<T>& inner() {
    static const inner_problem<T> p;
    return p;
}
struct nesting_router {
    using policy_kind = attune::router_kind;
    float gate(const attune::row_context& r) const {
        const float x = inner().run();
        return r.q_head % 2 == 0 ? 1.0f : 0.5f + 0.0f * x;
    }
};
template <class T = float>
struct nesting_mask {
    using policy_kind = attune::mask_kind;
    [[maybe_unused]] static constexpr bool is_none = false;  // masks need not declare it (clang: unused)
    bool visible(const attune::index_context& c) const {
        if (c.k_pos == c.q_pos) (void)inner<T>().run();  // once per row, mid-tile
        return c.k_pos <= c.q_pos;
    }
    attune::tile_class classify(const attune::tile_context&) const { return attune::tile_class::partial; }
};
HOSTILE_OK("nested: a router whose gate() runs attention, serial") {
    (void)inner();
    storage_combo<float, float, float, float>(2, 1, 24, 24, 16, 16, attune::variant<nesting_router>{}, serial{});
};
HOSTILE_OK("nested: a mask whose visible() runs attention mid-tile, OpenMP") {
    (void)inner();
    storage_combo<float, float, float, float>(2, 1, 24, 36, 16, 16, attune::variant<nesting_mask<>>{}, attune::openmp_executor{2});
};
HOSTILE_OK("nested: a mask running attention under split keys (decode)") {
    (void)inner();
    attune::options opt;
    opt.kv_splits = 3;
    storage_combo<float, float, float, float>(2, 1, 1, 600, 16, 16, attune::variant<nesting_mask<>>{}, attune::openmp_executor{2}, opt);
};
HOSTILE_OK("nested: bf16 attention (AMX tiles where present) inside a bf16 item's mask") {
    (void)inner<bf16>();
    storage_combo<bf16, bf16, bf16, bf16>(2, 1, 24, 36, 32, 32, attune::variant<nesting_mask<bf16>>{}, serial{});
};
struct nesting_bad_mask : nesting_mask<> {
    bool visible(const attune::index_context& c) const {
        tensor<float> q(1, 1, 1, 8), k(1, 1, 2, 4), out(1, 1, 1, 4);
        attune::attention<arch>(q.cview(), k.cview(), k.cview(), out.view, attune::variant<>{}, {}, serial{});  // dims differ
        return c.k_pos <= c.q_pos;
    }
};
HOSTILE_THROWS("nested: an inner call's error inside an outer OpenMP item reaches the caller", "k head dim") {
    storage_combo<float, float, float, float>(2, 1, 70, 70, 16, 16, attune::variant<nesting_bad_mask>{}, attune::openmp_executor{2});
};

// ---- the float64 reference is public: bad shapes are attune::error, not UB ----
HOSTILE_THROWS("reference: k with 0 heads", "kv heads") {
    auto q = random_tensor<float>(1, 2, 3, 8, 1);
    (void)attune::reference::attention(q.cview(), attune::tensor_view<const float>(nullptr, {1, 0, 3, 8}, {0, 0, 8}),
                                       attune::tensor_view<const float>(nullptr, {1, 0, 3, 8}, {0, 0, 8}));
};
HOSTILE_THROWS("reference: query heads not divisible by kv heads", "not divisible") {
    auto q = random_tensor<float>(1, 3, 3, 8, 1), k = random_tensor<float>(1, 2, 3, 8, 2);
    (void)attune::reference::attention(q.cview(), k.cview(), k.cview());
};
HOSTILE_THROWS("reference: k head dim differs from q's", "k head dim") {
    auto q = random_tensor<float>(1, 1, 3, 8, 1), k = random_tensor<float>(1, 1, 3, 4, 2);
    (void)attune::reference::attention(q.cview(), k.cview(), k.cview());
};
HOSTILE_THROWS("reference: v with fewer tokens than k", "v tokens") {
    auto q = random_tensor<float>(1, 1, 3, 8, 1), k = random_tensor<float>(1, 1, 9, 8, 2), v = random_tensor<float>(1, 1, 2, 8, 3);
    (void)attune::reference::attention(q.cview(), k.cview(), v.cview());
};
HOSTILE_THROWS("reference: k batch smaller than q batch", "k batch") {
    auto q = random_tensor<float>(3, 1, 3, 8, 1), k = random_tensor<float>(1, 1, 9, 8, 2);
    (void)attune::reference::attention(q.cview(), k.cview(), k.cview());
};
HOSTILE_THROWS("reference: v heads differ from k heads", "v heads") {
    auto q = random_tensor<float>(1, 4, 3, 8, 1), k = random_tensor<float>(1, 2, 9, 8, 2), v = random_tensor<float>(1, 1, 9, 8, 3);
    (void)attune::reference::attention(q.cview(), k.cview(), v.cview());
};
HOSTILE_THROWS("reference: NaN scale", "scale") {
    auto q = random_tensor<float>(1, 1, 3, 8, 1);
    (void)attune::reference::attention(q.cview(), q.cview(), q.cview(), attune::variant<>{}, std::nan(""));
};
HOSTILE_THROWS("reference: null q with a non-empty shape", "q has null data") {
    auto k = random_tensor<float>(1, 1, 3, 8, 1);
    (void)attune::reference::attention(attune::tensor_view<const float>(nullptr, {1, 1, 3, 8}, {0, 0, 8}), k.cview(), k.cview());
};
HOSTILE_THROWS("reference::result::zeros: sizes that wrap", "reference") { (void)attune::reference::result::zeros(imax / 2, 4, 1, 1); };
HOSTILE_OK("reference: Lk = 0 gives zeros and LSE −inf") {
    auto q = random_tensor<float>(1, 2, 3, 8, 1);
    const auto r = attune::reference::attention(q.cview(), attune::tensor_view<const float>(nullptr, {1, 1, 0, 8}, {0, 0, 8}),
                                                attune::tensor_view<const float>(nullptr, {1, 1, 0, 5}, {0, 0, 5}));
    CHECK(r.dim == 5);
    for (index_t h = 0; h < 2; ++h)
        for (index_t t = 0; t < 3; ++t) {
            CHECK(r.lse_at(0, h, t) == -std::numeric_limits<double>::infinity());
            for (index_t d = 0; d < 5; ++d) CHECK(r.at(0, h, t, d) == 0.0);
        }
};

// ---- caches ----
// streaming_cache at every ring position: after each single-token append, slot s holds the key
// of history token position(s), for both storage types with rounding.
template <class T>
void streaming_every_position() {
    attune::streaming_cache<T> c(2, 4, 4, 2, 3);
    for (index_t t = 0; t < 14; ++t) {
        tensor<float> k(1, 2, 1, 4), v(1, 2, 1, 4);
        for (index_t h = 0; h < 2; ++h)
            for (index_t d = 0; d < 4; ++d)
                k.view(0, h, 0, d) = static_cast<float>(t * 8 + h * 4 + d), v.view(0, h, 0, d) = -static_cast<float>(t);
        c.append(k.cview(), v.cview());
        REQUIRE(c.size() == std::min<index_t>(t + 1, 5));
        std::vector<bool> held(static_cast<std::size_t>(t + 1), false);
        for (index_t s = 0; s < c.size(); ++s) {
            const index_t p = c.position(s);
            REQUIRE(p >= 0);
            REQUIRE(p <= t);
            held[static_cast<std::size_t>(p)] = true;
            for (index_t h = 0; h < 2; ++h) {
                CHECK(static_cast<float>(c.keys()(0, h, s, 0)) == static_cast<float>(p * 8 + h * 4));
                CHECK(static_cast<float>(c.values()(0, h, s, 3)) == -static_cast<float>(p));
            }
        }
        for (index_t p = 0; p <= t; ++p) CHECK(held[static_cast<std::size_t>(p)] == (p < 2 || p > t - 3));
    }
}
HOSTILE_OK("streaming_cache<half>: every ring position holds the right token") { streaming_every_position<half>(); };
HOSTILE_OK("streaming_cache<bf16>: every ring position holds the right token") { streaming_every_position<bf16>(); };
HOSTILE_OK("kv_cache<bf16>: appending its own keys while the storage grows") {
    attune::kv_cache<bf16> c(2, 8, 8);
    auto k = random_tensor<float>(1, 2, 16, 8, 1);
    c.append(k.cview(), k.cview());
    REQUIRE(c.capacity() == 16);
    c.append(c.keys(), c.values());  // grows: the chunk is read before the old storage goes
    REQUIRE(c.tokens() == 32);
    for (index_t h = 0; h < 2; ++h)
        for (index_t t = 0; t < 32; ++t)
            for (index_t d = 0; d < 8; ++d) CHECK(c.keys()(0, h, t, d) == bf16(k.view(0, h, t % 16, d)));
};
HOSTILE_OK("kv_cache<half>: appending a reversed float chunk") {
    attune::kv_cache<half> c(3, 4, 2);
    auto k = random_tensor<float>(1, 3, 5, 4, 1), v = random_tensor<float>(1, 3, 5, 2, 2);
    c.append(reversed(k.cview()), reversed(v.cview()));
    for (index_t h = 0; h < 3; ++h)
        for (index_t t = 0; t < 5; ++t) {
            CHECK(c.keys()(0, h, t, 1) == half(k.view(0, 2 - h, 4 - t, 1)));
            CHECK(c.values()(0, h, t, 0) == half(v.view(0, 2 - h, 4 - t, 0)));
        }
};
HOSTILE_THROWS("kv_cache::keys: first + n wraps", "kv_cache::keys") {
    attune::kv_cache<float> c(1, 4, 4);
    auto k = random_tensor<float>(1, 1, 3, 4, 1);
    c.append(k.cview(), k.cview());
    (void)c.keys(2, imax);
};
HOSTILE_THROWS("kv_cache: max_tokens 0 refuses the first append", "capacity exceeded") {
    attune::kv_cache<half> c(1, 4, 4, 0);
    auto k = random_tensor<float>(1, 1, 1, 4, 1);
    c.append(k.cview(), k.cview());
};
HOSTILE_OK("kv_cache: max_tokens 0 accepts an empty chunk and attends to nothing") {
    attune::kv_cache<float> c(1, 4, 4, 0);
    c.append(attune::tensor_view<const float>(nullptr, {1, 1, 0, 4}, {0, 0, 4}),
             attune::tensor_view<const float>(nullptr, {1, 1, 0, 4}, {0, 0, 4}));
    auto q = random_tensor<float>(1, 2, 1, 4, 1);
    tensor<float> out(1, 2, 1, 4);
    out.poison();
    attune::attention<arch>(q.cview(), c.keys(), c.values(), out.view);
    for (index_t h = 0; h < 2; ++h)
        for (index_t d = 0; d < 4; ++d) CHECK(out.view(0, h, 0, d) == 0.0f);
};
HOSTILE_OK("streaming_cache<bf16>: step over a chunk longer than the ring equals sinks_window attention") {
    attune::streaming_cache<bf16> c(1, 8, 8, 1, 4);
    auto q = random_tensor<float>(1, 2, 9, 8, 1);
    auto k = random_tensor<bf16>(1, 1, 9, 8, 2), v = random_tensor<bf16>(1, 1, 9, 8, 3);
    tensor<float> out(1, 2, 9, 8);
    out.poison();
    c.step(q.cview(), k.cview(), v.cview(), out.view, {}, serial{});
    attune_test::check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), attune::sinks_window(1, 4)),
                                         attune_test::fp32_tolerance());
    CHECK(c.size() == 5);
};

}  // namespace redteam_cases
}  // namespace
