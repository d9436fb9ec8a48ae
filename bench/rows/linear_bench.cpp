// Rows of the linear-attention family (attune/linear.hpp) in attune_bench, next to the peaks and
// the softmax rows of the same run, so ratios (% of peak/fma_fp32, linear vs softmax) come from one run.
//
// Rows (fp32, B 1, φ = elu+1, normalised; threads = workers of attune::openmp_executor):
//   linear/causal_chunked/L:<L>/D:<D>/threads:N         H 8, chunk 64 (the default)
//   linear/noncausal/L:8192/D:64/threads:N              H 8
//   linear/decode_step/seen:<n>/D:64/threads:1          one recurrent step of Hq 32, Hkv 8 after n tokens
//                                                       of history (a chunked prefill in the setup); the
//                                                       state has the same size whatever n is
//   linear/sweep/{linear,softmax}/L:<L>/D:<D>/threads:1  H 8, causal: linear::causal vs
//                                                       attune::attention(..., attune::causal{}); the
//                                                       crossover is the smallest L where linear is faster
//
// FLOP convention (counters "flops", a rate; the work an exact algorithm of that form must do, not
// what the kernel happens to execute — skipped zero blocks are not credited):
//   causal chunked: per head 2·L·dk·dv (φQ·S) + 2·L·dk·dv (S += φKᵀV) + 2·P·(dk + dv) (the masked
//                   φQφKᵀ and its product with V), P = Σ_chunks c(c+1)/2 visible pairs inside chunks;
//   non-causal:     per head 2·Lk·dk·dv (S) + 2·Lq·dk·dv (φQ·S);
//   decode step:    per kv head 2·dk·dv (S += φk vᵀ), per query head 2·dk·dv (φqᵀS);
//   softmax rows:   attune_bench's convention, 2·(Dk + Dv) per visible pair.
//   Feature maps, normalisers (φqᵀz, row sums) and the divisions are not counted.
// Bytes (counter "bytes"): Q, K, V read once and the output written once; decode adds the state
// (dk·dv + dk floats per kv head) read and written.
#include <string>
#include <vector>

#include "../support.hpp"
#include "attune/linear.hpp"

namespace {

using namespace attune_bench;
namespace lin = attune::linear;

constexpr index_t kChunk = 64;

double chunk_pairs(index_t L, index_t C) {
    double p = 0;
    for (index_t t0 = 0; t0 < L; t0 += C) {
        const double c = static_cast<double>(L - t0 < C ? L - t0 : C);
        p += c * (c + 1) / 2;
    }
    return p;
}

struct lin_shape {
    index_t h, l, d;
};

void bm_linear(benchmark::State& state, lin_shape sh, bool causal) {
    const int threads = static_cast<int>(state.range(0));
    const std::size_t n = static_cast<std::size_t>(sh.h * sh.l * sh.d);
    const auto q = random_vector<float>(n, 1), k = random_vector<float>(n, 2), v = random_vector<float>(n, 3);
    std::vector<float> out(n);
    const auto qv = attune::view_bhld(q.data(), 1, sh.h, sh.l, sh.d), kv = attune::view_bhld(k.data(), 1, sh.h, sh.l, sh.d),
               vv = attune::view_bhld(v.data(), 1, sh.h, sh.l, sh.d);
    const auto ov = attune::view_bhld(out.data(), 1, sh.h, sh.l, sh.d);
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    lin::options opt;
    opt.chunk = kChunk;
    auto call = [&] {
        if (causal) lin::causal(qv, kv, vv, ov, lin::elu_plus_one{}, opt, exec);
        else lin::attention(qv, kv, vv, ov, lin::elu_plus_one{}, opt, exec);
    };
    call();  // warm-up: first touch of the output, workspaces sized
    for (auto _ : state) {
        call();
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    const double H = static_cast<double>(sh.h), L = static_cast<double>(sh.l), D = static_cast<double>(sh.d);
    const double flops = causal ? H * (4.0 * L * D * D + 2.0 * chunk_pairs(sh.l, kChunk) * 2.0 * D) : H * 4.0 * L * D * D;
    set_counters(state, flops, 4.0 * static_cast<double>(n) * sizeof(float));
}

// Softmax causal at the same shape (attune::attention), for the crossover sweep.
void bm_softmax(benchmark::State& state, lin_shape sh) {
    const int threads = static_cast<int>(state.range(0));
    const std::size_t n = static_cast<std::size_t>(sh.h * sh.l * sh.d);
    const auto q = random_vector<float>(n, 1), k = random_vector<float>(n, 2), v = random_vector<float>(n, 3);
    std::vector<float> out(n);
    const auto qv = attune::view_bhld(q.data(), 1, sh.h, sh.l, sh.d), kv = attune::view_bhld(k.data(), 1, sh.h, sh.l, sh.d),
               vv = attune::view_bhld(v.data(), 1, sh.h, sh.l, sh.d);
    const auto ov = attune::view_bhld(out.data(), 1, sh.h, sh.l, sh.d);
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    auto call = [&] { attune::attention(qv, kv, vv, ov, attune::causal{}, attune::options{}, exec); };
    call();
    for (auto _ : state) {
        call();
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    const double L = static_cast<double>(sh.l);
    set_counters(state, 4.0 * static_cast<double>(sh.h) * (L * (L + 1) / 2) * static_cast<double>(sh.d),
                 4.0 * static_cast<double>(n) * sizeof(float));
}

// One recurrent step (1 token) of Hq 32 / Hkv 8 query/kv heads after `seen` tokens of history.
void bm_decode_step(benchmark::State& state, index_t seen, index_t d) {
    const int threads = static_cast<int>(state.range(0));
    const index_t hq = 32, hkv = 8;
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    lin::state st(1, hkv, d, d);
    {  // the history, folded in by a chunked prefill
        const auto hq_in = random_vector<float>(static_cast<std::size_t>(hq * seen * d), 4);
        const auto hk = random_vector<float>(static_cast<std::size_t>(hkv * seen * d), 5);
        const auto hv = random_vector<float>(static_cast<std::size_t>(hkv * seen * d), 6);
        std::vector<float> ho(static_cast<std::size_t>(hq * seen * d));
        lin::prefill(attune::view_bhld(hq_in.data(), 1, hq, seen, d), attune::view_bhld(hk.data(), 1, hkv, seen, d),
                     attune::view_bhld(hv.data(), 1, hkv, seen, d), attune::view_bhld(ho.data(), 1, hq, seen, d), st, lin::elu_plus_one{},
                     {}, exec);
    }
    const auto q = random_vector<float>(static_cast<std::size_t>(hq * d), 7);
    const auto k = random_vector<float>(static_cast<std::size_t>(hkv * d), 8),
               v = random_vector<float>(static_cast<std::size_t>(hkv * d), 9);
    std::vector<float> out(static_cast<std::size_t>(hq * d));
    const auto qv = attune::view_bhld(q.data(), 1, hq, 1, d), kv = attune::view_bhld(k.data(), 1, hkv, 1, d),
               vv = attune::view_bhld(v.data(), 1, hkv, 1, d);
    const auto ov = attune::view_bhld(out.data(), 1, hq, 1, d);
    const lin::state start = st;
    lin::step(qv, kv, vv, ov, st, lin::elu_plus_one{}, {}, exec);
    for (auto _ : state) {
        lin::step(qv, kv, vv, ov, st, lin::elu_plus_one{}, {}, exec);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.counters["seen"] = static_cast<double>(start.tokens());
    const double D = static_cast<double>(d);
    set_counters(state, (hkv + hq) * 2.0 * D * D, (2.0 * hkv * (D * D + D) + (2.0 * hq + 2.0 * hkv) * D) * sizeof(float));
}

void register_linear(const std::vector<int>& threads) {
    add("linear/causal_chunked/L:8192/D:64", threads, bm_linear, lin_shape{8, 8192, 64}, true);
    add("linear/causal_chunked/L:8192/D:128", threads, bm_linear, lin_shape{8, 8192, 128}, true);
    add("linear/noncausal/L:8192/D:64", threads, bm_linear, lin_shape{8, 8192, 64}, false);
    for (index_t seen : {1024, 65536}) {
        // One thread: a step is ~10 µs of work over 8 kv heads, less than an OpenMP fork/join on a busy machine.
        auto* b = add("linear/decode_step/seen:" + std::to_string(seen) + "/D:64", {1}, bm_decode_step, seen, index_t{64});
        b->Unit(benchmark::kMicrosecond);
    }
    for (index_t d : {64, 128})
        for (index_t l : {128, 256, 512, 1024, 2048, 4096}) {
            const std::string suffix = "/L:" + std::to_string(l) + "/D:" + std::to_string(d);
            add("linear/sweep/linear" + suffix, {1}, bm_linear, lin_shape{8, l, d}, true)->Unit(benchmark::kMicrosecond);
            add("linear/sweep/softmax" + suffix, {1}, bm_softmax, lin_shape{8, l, d})->Unit(benchmark::kMicrosecond);
        }
}

ATTUNE_BENCH_ROWS(register_linear);

}  // namespace
