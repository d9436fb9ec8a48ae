// Kernelised linear attention (attune/linear/attention.hpp), built once per SIMD arch: non-causal,
// causal chunked and the recurrent state against the double reference with materialised weights
// (tests/linear/reference.hpp), over odd token counts, head dims, chunk sizes that do not divide L,
// GQA, layouts, storage types and executors; prefill + recurrent steps = causal over the whole.
#include <vector>

#include "linear/helpers.hpp"

using namespace linear_test;
using arch = ATTUNE_TEST_ARCH;
namespace lin = attune::linear;

namespace {

struct map_case {
    const char* name;
    linear_ref::fmap ref;
};

// Runs fn(map, reference map, normalize) for elu+1 and relu (normalised) and identity (unnormalised:
// with signed features the normaliser may cross 0).
template <class F>
void for_each_map(F&& fn) {
    fn(lin::elu_plus_one{}, linear_ref::fmap(linear_ref::elu1), true, "elu+1");
    fn(lin::relu{}, linear_ref::fmap(linear_ref::relu), true, "relu");
    fn(lin::identity{}, linear_ref::fmap(linear_ref::ident), false, "identity");
}

}  // namespace

TEST_CASE("linear: non-causal and causal chunked against the reference", "[linear]") {
    const index_t dims[][2] = {{32, 32}, {64, 64}, {80, 80}, {128, 128}, {32, 80}};
    for (index_t L : {1, 7, 63, 65, 129})
        for (const auto& dd : dims) {
            const index_t dk = dd[0], dv = dd[1];
            const auto q = random_tensor(1, 2, L, dk, 1), k = random_tensor(1, 2, L, dk, 2), v = random_tensor(1, 2, L, dv, 3);
            for_each_map([&](const auto& map, const linear_ref::fmap& ref_map, bool normalize, const char* name) {
                CAPTURE(L, dk, dv, name);
                lin::options opt;
                opt.normalize = normalize;
                {
                    auto out = poisoned(1, 2, L, dv);
                    lin::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, map, opt);
                    expect_close(out, linear_ref::kernelised(q.cview(), k.cview(), v.cview(), ref_map, false, normalize, 1e-6), 2e-5);
                }
                const auto ref = linear_ref::kernelised(q.cview(), k.cview(), v.cview(), ref_map, true, normalize, 1e-6);
                for (index_t chunk : {1, 5, 16, 64, 100}) {
                    CAPTURE(chunk);
                    opt.chunk = chunk;
                    auto out = poisoned(1, 2, L, dv);
                    lin::causal<arch>(q.cview(), k.cview(), v.cview(), out.view, map, opt);
                    expect_close(out, ref, 2e-5);
                }
            });
        }
}

TEST_CASE("linear: GQA, B,L,H,D layout with padding, executors", "[linear]") {
    const index_t B = 2, Hq = 4, Hkv = 2, L = 77, dk = 48, dv = 40;
    const auto q = random_tensor(B, Hq, L, dk, 11, 1.0f, layout::blhd, 3);
    const auto k = random_tensor(B, Hkv, L, dk, 12, 1.0f, layout::blhd, 3);
    const auto v = random_tensor(B, Hkv, L, dv, 13, 1.0f, layout::bhld, 5);
    const auto ref_c = linear_ref::kernelised(q.cview(), k.cview(), v.cview(), linear_ref::elu1, true, true, 1e-6);
    const auto ref_n = linear_ref::kernelised(q.cview(), k.cview(), v.cview(), linear_ref::elu1, false, true, 1e-6);
    attune_test::thread_pool pool(3);
    auto run = [&](const auto& exec) {
        auto out = poisoned(B, Hq, L, dv, layout::blhd, 2);
        lin::causal<arch>(q.cview(), k.cview(), v.cview(), out.view, lin::elu_plus_one{}, {24}, exec);
        expect_close(out, ref_c, 2e-5);
        auto out2 = poisoned(B, Hq, L, dv, layout::blhd, 2);
        lin::attention<arch>(q.cview(), k.cview(), v.cview(), out2.view, lin::elu_plus_one{}, {}, exec);
        expect_close(out2, ref_n, 2e-5);
    };
    SECTION("serial") { run(attune::serial_executor{}); }
    SECTION("openmp") { run(attune::openmp_executor{3}); }
    SECTION("pool") { run(attune_test::make_pool_executor(pool)); }
}

TEST_CASE("linear: non-causal with fewer queries than keys (cross attention)", "[linear]") {
    const auto q = random_tensor(1, 3, 5, 32, 21), k = random_tensor(1, 3, 90, 32, 22), v = random_tensor(1, 3, 90, 16, 23);
    auto out = poisoned(1, 3, 5, 16);
    lin::attention<arch>(q.cview(), k.cview(), v.cview(), out.view);
    expect_close(out, linear_ref::kernelised(q.cview(), k.cview(), v.cview(), linear_ref::elu1, false, true, 1e-6), 2e-5);
}

TEST_CASE("linear: bf16 and half storage (arithmetic in float)", "[linear]") {
    const index_t L = 65, d = 64;
    const auto q = random_tensor<attune::bf16>(1, 2, L, d, 31), k = random_tensor<attune::bf16>(1, 2, L, d, 32);
    const auto v = random_tensor<attune::half>(1, 2, L, d, 33);
    auto out = poisoned<float>(1, 2, L, d);
    lin::causal<arch>(q.cview(), k.cview(), v.cview(), out.view, lin::elu_plus_one{}, {16});
    // The reference reads the same rounded inputs: only float arithmetic separates them.
    expect_close(out, linear_ref::kernelised(q.cview(), k.cview(), v.cview(), linear_ref::elu1, true, true, 1e-6), 2e-5);
    auto out_bf = poisoned<attune::bf16>(1, 2, L, d);
    lin::causal<arch>(q.cview(), k.cview(), v.cview(), out_bf.view);
    expect_close(out_bf, linear_ref::kernelised(q.cview(), k.cview(), v.cview(), linear_ref::elu1, true, true, 1e-6), 1.0 / 128);
}

TEST_CASE("linear: a user feature map (scalar form only) and eps", "[linear]") {
    struct squared_relu {
        float operator()(float x) const { return x > 0.0f ? x * x : 0.0f; }
    };
    const auto q = random_tensor(1, 2, 40, 33, 41), k = random_tensor(1, 2, 40, 33, 42), v = random_tensor(1, 2, 40, 20, 43);
    const linear_ref::fmap sq = [](double x) { return x > 0 ? x * x : 0.0; };
    lin::options opt;
    opt.eps = 0.5f;  // large enough to matter
    opt.chunk = 9;
    auto out = poisoned(1, 2, 40, 20);
    lin::causal<arch>(q.cview(), k.cview(), v.cview(), out.view, squared_relu{}, opt);
    expect_close(out, linear_ref::kernelised(q.cview(), k.cview(), v.cview(), sq, true, true, 0.5), 2e-5);
}

TEST_CASE("linear: rows with nothing to attend to give zeros, never NaN", "[linear]") {
    // relu of an all-negative query is 0: normaliser 0 (+ eps), numerator 0.
    auto q = random_tensor(1, 1, 10, 16, 51);
    for (index_t t = 0; t < 10; ++t)
        for (index_t d = 0; d < 16; ++d) q.view(0, 0, t, d) = -1.0f - std::abs(q.view(0, 0, t, d));
    const auto k = random_tensor(1, 1, 10, 16, 52), v = random_tensor(1, 1, 10, 8, 53);
    for (float eps : {1e-6f, 0.0f}) {
        lin::options opt;
        opt.eps = eps;
        auto out = poisoned(1, 1, 10, 8);
        lin::causal<arch>(q.cview(), k.cview(), v.cview(), out.view, lin::relu{}, opt);
        auto out2 = poisoned(1, 1, 10, 8);
        lin::attention<arch>(q.cview(), k.cview(), v.cview(), out2.view, lin::relu{}, opt);
        for (index_t t = 0; t < 10; ++t)
            for (index_t d = 0; d < 8; ++d) {
                CHECK(out.view(0, 0, t, d) == 0.0f);
                CHECK(out2.view(0, 0, t, d) == 0.0f);
            }
    }
}

TEST_CASE("linear: prefill then N recurrent steps equals causal over the whole", "[decode]") {
    const index_t B = 2, Hq = 4, Hkv = 2, L = 70, P = 50, dk = 64, dv = 80;
    const auto q = random_tensor(B, Hq, L, dk, 61), k = random_tensor(B, Hkv, L, dk, 62), v = random_tensor(B, Hkv, L, dv, 63);
    const auto ref = linear_ref::kernelised(q.cview(), k.cview(), v.cview(), linear_ref::elu1, true, true, 1e-6);
    auto whole = poisoned(B, Hq, L, dv);
    lin::causal<arch>(q.cview(), k.cview(), v.cview(), whole.view, lin::elu_plus_one{}, {16});
    for (index_t chunk : {16, 7, 64}) {
        CAPTURE(chunk);
        auto out = poisoned(B, Hq, L, dv);
        lin::state st(B, Hkv, dk, dv);
        lin::prefill<arch>(tokens(q.cview(), 0, P), tokens(k.cview(), 0, P), tokens(v.cview(), 0, P), tokens(out.view, 0, P), st,
                           lin::elu_plus_one{}, {chunk});
        CHECK(st.tokens() == P);
        for (index_t t = P; t < L; ++t)
            lin::step<arch>(tokens(q.cview(), t, 1), tokens(k.cview(), t, 1), tokens(v.cview(), t, 1), tokens(out.view, t, 1), st);
        CHECK(st.tokens() == L);
        expect_close(out, ref, 2e-5);
        CHECK(max_difference(out, whole) <= 2e-5);
    }
    SECTION("recurrent form alone over every token, and prefill continuing a state") {
        lin::state st(B, Hkv, dk, dv);
        auto out = poisoned(B, Hq, L, dv);
        lin::step<arch>(q.cview(), k.cview(), v.cview(), out.view, st);
        expect_close(out, ref, 2e-5);
        lin::state st2(B, Hkv, dk, dv);
        auto out2 = poisoned(B, Hq, L, dv);
        lin::prefill<arch>(tokens(q.cview(), 0, 33), tokens(k.cview(), 0, 33), tokens(v.cview(), 0, 33), tokens(out2.view, 0, 33), st2);
        lin::prefill<arch>(tokens(q.cview(), 33, L - 33), tokens(k.cview(), 33, L - 33), tokens(v.cview(), 33, L - 33),
                           tokens(out2.view, 33, L - 33), st2, lin::elu_plus_one{}, {10});
        expect_close(out2, ref, 2e-5);
        // Both forms end in the same state.
        const auto a = st.save(), b = st2.save();
        double m = 0;
        for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - double(b[i])) / (1.0 + std::abs(double(a[i]))));
        CHECK(m <= 1e-5);
    }
}

TEST_CASE("linear: state save, copy and restore", "[decode]") {
    const index_t L = 20, d = 32;
    const auto q = random_tensor(1, 2, L, d, 71), k = random_tensor(1, 2, L, d, 72), v = random_tensor(1, 2, L, d, 73);
    lin::state st(1, 2, d, d);
    auto out = poisoned(1, 2, L, d);
    lin::prefill<arch>(tokens(q.cview(), 0, 10), tokens(k.cview(), 0, 10), tokens(v.cview(), 0, 10), tokens(out.view, 0, 10), st);
    const std::vector<float> saved = st.save();
    CHECK(static_cast<index_t>(saved.size()) == st.saved_size());
    const lin::state copy = st;
    auto run_rest = [&](lin::state& s) {
        auto o = poisoned(1, 2, L, d);
        for (index_t t = 10; t < L; ++t)
            lin::step<arch>(tokens(q.cview(), t, 1), tokens(k.cview(), t, 1), tokens(v.cview(), t, 1), tokens(o.view, t, 1), s);
        return o;
    };
    const auto first = run_rest(st);
    CHECK(st.tokens() == L);
    lin::state again = copy;  // the copy did not move with st
    CHECK(again.tokens() == 10);
    const auto second = run_rest(again);
    lin::state restored(1, 2, d, d);
    restored.restore(saved, 10);
    const auto third = run_rest(restored);
    for (index_t t = 10; t < L; ++t)
        for (index_t i = 0; i < d; ++i) {
            CHECK(first.view(0, 1, t, i) == second.view(0, 1, t, i));
            CHECK(first.view(0, 1, t, i) == third.view(0, 1, t, i));
        }
    restored.reset();
    CHECK(restored.tokens() == 0);
    for (float x : restored.save()) CHECK(x == 0.0f);
}

TEST_CASE("linear: bad input throws attune::error naming the problem", "[errors]") {
    using Catch::Matchers::Contains;
    const auto q = random_tensor(1, 2, 8, 16, 1), k = random_tensor(1, 2, 8, 16, 2), v = random_tensor(1, 2, 8, 16, 3);
    auto out = poisoned(1, 2, 8, 16);
    const auto k7 = random_tensor(1, 2, 7, 16, 4), v7 = random_tensor(1, 2, 7, 16, 5);
    const auto q3 = random_tensor(1, 3, 8, 16, 6), kd = random_tensor(1, 2, 8, 12, 7);
    lin::options zero_chunk;
    zero_chunk.chunk = 0;
    CHECK_THROWS_WITH(lin::causal<arch>(q.cview(), k.cview(), v.cview(), out.view, lin::elu_plus_one{}, zero_chunk), Contains("chunk"));
    lin::options bad_eps;
    bad_eps.eps = -1.0f;
    CHECK_THROWS_WITH(lin::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, lin::elu_plus_one{}, bad_eps), Contains("eps"));
    CHECK_THROWS_WITH(lin::causal<arch>(q.cview(), k7.cview(), v7.cview(), out.view), Contains("one query per key"));
    CHECK_THROWS_WITH(lin::attention<arch>(q.cview(), k.cview(), v7.cview(), out.view), Contains("v tokens"));
    CHECK_THROWS_WITH(lin::attention<arch>(q3.cview(), k.cview(), v.cview(), poisoned(1, 3, 8, 16).view), Contains("divisible"));
    CHECK_THROWS_WITH(lin::attention<arch>(q.cview(), kd.cview(), v.cview(), out.view), Contains("k head dim"));
    CHECK_THROWS_WITH(lin::attention<arch>(q.cview(), k.cview(), v.cview(), poisoned(1, 2, 8, 15).view), Contains("out shape"));
    const attune::tensor_view<const float> null_q(nullptr, {1, 2, 8, 16}, {256, 128, 16});
    CHECK_THROWS_WITH(lin::attention<arch>(null_q, k.cview(), v.cview(), out.view), Contains("q has null data"));
    // out aliasing an input
    auto same = random_tensor(1, 2, 8, 16, 8);
    CHECK_THROWS_WITH(lin::causal<arch>(same.cview(), k.cview(), v.cview(), same.view), Contains("overlaps"));
    lin::state wrong(1, 2, 16, 8);
    CHECK_THROWS_WITH(lin::prefill<arch>(q.cview(), k.cview(), v.cview(), out.view, wrong), Contains("state shape"));
    CHECK_THROWS_WITH(lin::step<arch>(q.cview(), k.cview(), v.cview(), out.view, wrong), Contains("state shape"));
    lin::state unshaped;
    CHECK_THROWS_WITH(lin::step<arch>(q.cview(), k.cview(), v.cview(), out.view, unshaped), Contains("no shape"));
    CHECK_THROWS_AS(lin::state(0, 1, 1, 1), attune::error);
    lin::state st(1, 2, 16, 16);
    CHECK_THROWS_WITH(st.restore(std::vector<float>(3)), Contains("3 floats"));
}
