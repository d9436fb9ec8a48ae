// Runtime dispatch (include/attune/simd/dispatch.hpp, cmake/dispatch.cmake): this binary is built
// WITHOUT arch flags (its own code is the baseline, sse2 on x86-64) and attune_dispatch() adds the
// avx2 and avx512 units. Every level this CPU runs — found here independently of attune, from the
// compiler's cpuid builtins — is pinned in turn and must be the level that ran, with results equal
// to the float64 reference: dense prefill (GQA 4, causal), decode with forced key splits, bf16
// with sink logits, kv_cache chunks with a sliding window, paged bf16 with sink logits, a q8_0
// quant_kv_cache (its append quantizes at the pinned level too, byte for byte the scalar reference's,
// and its causal attention equals the reference over the dequantized rows). Unpinned,
// the widest level runs. ATTUNE_ARCH is read once per process: ctest runs the [env] case in
// processes of its own (dispatch.env.*), with ATTUNE_EXPECT naming the outcome.
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "attune/cache/quant_kv_cache.hpp"
#include "support.hpp"

namespace {

using attune::index_t;
using attune::dispatch::level;
using attune_test::layout;
using attune_test::tensor;

// The widest level the CPU runs, from the compiler's own cpuid builtins.
level widest_level() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        return level::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return level::avx2;
    return level::sse2;
#elif defined(__aarch64__)
    return level::neon;
#else
    return level::scalar;
#endif
}

std::vector<level> runnable_levels() {
    const level w = widest_level();
    std::vector<level> out{level::scalar};
    if (w == level::neon) return out.push_back(level::neon), out;
    for (int l = 1; l <= static_cast<int>(w); ++l) out.push_back(static_cast<level>(l));
    return out;
}

struct inputs {
    std::mt19937 rng{2024};
    tensor<float> q{1, 8, 129, 64}, k{1, 2, 129, 64}, v{1, 2, 129, 64}, out{1, 8, 129, 64};
    tensor<float> dq{1, 8, 1, 128}, dk{1, 2, 1000, 128}, dv{1, 2, 1000, 128}, dout{1, 8, 1, 128};
    tensor<attune::bf16> bq{1, 4, 65, 80}, bk{1, 4, 65, 80}, bv{1, 4, 65, 80}, bout{1, 4, 65, 80};
    tensor<float> cq{1, 8, 7, 32, layout::blhd}, ck{1, 2, 7, 32, layout::blhd}, cv{1, 2, 7, 32, layout::blhd},
        cout{1, 8, 7, 32, layout::blhd};
    tensor<attune::bf16> pq{1, 8, 3, 80, layout::blhd}, pk{1, 2, 40, 80}, pv{1, 2, 40, 80}, pout{1, 8, 3, 80, layout::blhd};
    attune::sink_logit z{{0.5f, -1.0f, 2.0f, 0.0f, 1.0f, -0.5f, 0.25f, 3.0f}};
    // A page pool holding pk/pv as one sequence (16-token pages: the last one partial).
    attune::kv_cache<float> cache{2, 32, 32};
    attune::paged_kv_cache<attune::bf16> pool{2, 80, 80, 16, 8, attune::page_layout::nhd};
    attune::seq_id seq = pool.add_sequence();
    attune::page_table_storage tables;
    std::int32_t cu[2] = {0, 3};
    // A q8_0 cache of 40 tokens (its append routed as the engine is), queried by the last 5.
    tensor<float> qq{1, 8, 5, 64}, qk{1, 2, 40, 64}, qv{1, 2, 40, 64}, qout{1, 8, 5, 64};
    attune::quant_kv_cache<attune::quant::q8_0> qcache{2, 64, 64};
    level append_level = level::scalar;
    inputs() {
        for (auto* t : {&q, &k, &v, &dq, &dk, &dv, &cq, &ck, &cv, &qq, &qk, &qv}) t->fill_random(rng);
        for (auto* t : {&bq, &bk, &bv, &pq, &pk, &pv}) t->fill_random(rng);
        pool.append(seq, pk.cview(), pv.cview());
    }
};

// The calls under test, with the arch a caller names: the drivers route every one of them to the
// pinned level whatever Arch is (Arch = scalar below only registers the scalar instantiations).
template <class Arch>
void calls(inputs& in) {
    for (auto* t : {&in.out, &in.dout, &in.cout}) t->poison();
    for (auto* t : {&in.bout, &in.pout}) t->poison();
    attune::attention<Arch>(in.q.cview(), in.k.cview(), in.v.cview(), in.out.view, attune::causal{});
    attune::options split;
    split.kv_splits = 4;
    attune::attention<Arch>(in.dq.cview(), in.dk.cview(), in.dv.cview(), in.dout.view, attune::variant<>{}, split);
    attune::attention<Arch>(in.bq.cview(), in.bk.cview(), in.bv.cview(), in.bout.view, attune::variant(attune::causal{}, in.z));
    in.cache.step<Arch>(in.cq.cview(), in.ck.cview(), in.cv.cview(), in.cout.view, attune::sliding_window{3, 0});
    attune::paged_attention<Arch>(in.pq.cview(), attune::seq_offsets{in.cu, 1}, in.pool.kv(&in.seq, 1, in.tables), in.pout.view,
                                  attune::variant(attune::causal{}, in.z));
    in.qout.poison();
    in.qcache.clear();
    in.qcache.append<Arch>(in.qk.cview(), in.qv.cview(), attune::serial_executor{});
    in.append_level = attune::dispatch::last_run();
    attune::attention<Arch>(in.qq.cview(), in.qcache.keys(), in.qcache.values(), in.qout.view, attune::causal{});
}

// The q8_0 cache's bytes against the scalar arch's quantize_row, and its output against the
// float64 reference over the dequantized rows.
void check_quant_cache(inputs& in) {
    const auto keys = in.qcache.keys(), values = in.qcache.values();
    std::vector<std::uint8_t> want(static_cast<std::size_t>(keys.row_bytes()));
    bool same = true;
    for (index_t h = 0; h < 2; ++h)
        for (index_t t = 0; t < 40; ++t) {
            keys.format().quantize_row<attune::simd::scalar>(h, in.qk.view.row(0, h, t), want.data(), 64);
            same = same && std::memcmp(want.data(), keys.row(0, h, t), want.size()) == 0;
            values.format().quantize_row<attune::simd::scalar>(h, in.qv.view.row(0, h, t), want.data(), 64);
            same = same && std::memcmp(want.data(), values.row(0, h, t), want.size()) == 0;
        }
    CHECK(same);
    tensor<float> kd{1, 2, 40, 64}, vd{1, 2, 40, 64};
    attune::quant::dequantize(keys, kd.view);
    attune::quant::dequantize(values, vd.view);
    attune_test::check_against_reference(in.qout, attune::reference::attention(in.qq.cview(), kd.cview(), vd.cview(), attune::causal{}),
                                         attune_test::fp32_tolerance());
}

[[maybe_unused]] void scalar_instances(inputs& in) { calls<attune::simd::scalar>(in); }

// bf16 in and out: where the avx512 unit runs AMX (compiled in there, not in this baseline unit),
// P·V uses weights rounded to bf16 (tests/simd/amx_test bounds it: 2^-9 · Σ w|v| ≤ max|v|/512).
attune_test::tolerance bf16_tolerance() {
    attune_test::tolerance t = attune_test::bf16_out_tolerance();
    if (attune::simd::amx_supported()) t.max_abs += 4.5 / 512;
    return t;
}

// One pass of calls() at the current pin, each output checked against the float64 reference.
void run_and_check(level expected) {
    inputs in;
    calls<attune::default_arch>(in);
    CHECK(attune::dispatch::last_run() == expected);
    CHECK(in.append_level == expected);
    check_quant_cache(in);

    attune_test::check_against_reference(in.out, attune::reference::attention(in.q.cview(), in.k.cview(), in.v.cview(), attune::causal{}),
                                         attune_test::fp32_tolerance());
    attune_test::check_against_reference(in.dout, attune::reference::attention(in.dq.cview(), in.dk.cview(), in.dv.cview()),
                                         attune_test::fp32_tolerance());
    attune_test::check_against_reference(
        in.bout, attune::reference::attention(in.bq.cview(), in.bk.cview(), in.bv.cview(), attune::variant(attune::causal{}, in.z)),
        bf16_tolerance());
    attune_test::check_against_reference(
        in.cout, attune::reference::attention(in.cq.cview(), in.ck.cview(), in.cv.cview(), attune::sliding_window{3, 0}),
        attune_test::fp32_tolerance());
    attune_test::check_against_reference(
        in.pout, attune::reference::attention(in.pq.cview(), in.pk.cview(), in.pv.cview(), attune::variant(attune::causal{}, in.z)),
        bf16_tolerance());
}

}  // namespace

TEST_CASE("dispatch: the widest level is found and runs when nothing is pinned", "[dispatch]") {
    attune::dispatch::unpin();
    INFO("cpu: " << attune::dispatch::name(widest_level()));
    CHECK(attune::dispatch::cpu() == widest_level());
    CHECK(attune::dispatch::ceiling() == widest_level());
    run_and_check(widest_level());
}

TEST_CASE("dispatch: every level this CPU runs, pinned, is the one that runs, against the reference", "[dispatch]") {
    for (level l : runnable_levels()) {
        INFO("pinned " << attune::dispatch::name(l));
        attune::dispatch::pin(l);
        CHECK(attune::dispatch::ceiling() == l);
        run_and_check(l);
    }
    attune::dispatch::unpin();
}

TEST_CASE("dispatch: a level the CPU cannot run is an error, and the pin stays as it was", "[dispatch][hostile]") {
    attune::dispatch::pin(level::scalar);
#if defined(__x86_64__) || defined(__i386__)
    CHECK_THROWS_WITH(attune::dispatch::pin(level::neon), Catch::Contains("dispatch::pin: neon is not a path this CPU runs"));
    if (widest_level() != level::avx512) CHECK_THROWS_AS(attune::dispatch::pin(level::avx512), attune::error);
#else
    CHECK_THROWS_WITH(attune::dispatch::pin(level::avx2), Catch::Contains("dispatch::pin: avx2 is not a path this CPU runs"));
#endif
    CHECK_THROWS_AS(attune::dispatch::pin(static_cast<level>(7)), attune::error);
    CHECK(attune::dispatch::ceiling() == level::scalar);
    attune::dispatch::unpin();
}

TEST_CASE("dispatch: ATTUNE_ARCH pins the level of the whole process", "[env]") {
    const char* expect = std::getenv("ATTUNE_EXPECT");
    REQUIRE(expect != nullptr);
    inputs in;
    if (std::strcmp(expect, "error") == 0) {
        // Names the variable and its value, whether the value is no level or one this CPU lacks.
        CHECK_THROWS_WITH(calls<attune::default_arch>(in), Catch::Contains("ATTUNE_ARCH") && Catch::Contains(std::getenv("ATTUNE_ARCH")));
        return;
    }
    level want{};
    REQUIRE(attune::dispatch::detail::parse_level(expect, want));
    CHECK(attune::dispatch::ceiling() == want);
    run_and_check(want);
}
