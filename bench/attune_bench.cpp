// attune_bench: attune's kernels, the naive reference and the machine's peaks in one Google
// Benchmark binary, so that every ratio (kernel / peak, kernel / reference) comes from one run.
//
// Rows (fp32 unless the name says otherwise; threads = workers of attune::openmp_executor):
//   peak/fma_fp32/threads:N                    register-only FMA loop, N OpenMP threads, total FLOP/s
//   peak/read/threads:N                        streaming vectorised sum over 1 GiB, total B/s
//   prefill/{causal,nomask}/L:<L>/D:<D>/threads:N          B 1, H 8, Lq = Lk = L
//   prefill/causal/L:2048/D:128/bf16/threads:N             the same with bf16 Q, K, V (fp32 out)
//   prefill/causal/L:2048/D:128/bf16/out:bf16/threads:N    bf16 Q, K, V and out (as PyTorch's bf16 SDPA;
//                                              with AMX, P·V on the tiles from P rounded to bf16)
//   prefill/causal/L:2048/D:128/bf16[/out:bf16]/int8qk/threads:N   the two above with options::int8_qk
//                                              (int8 Q·Kᵀ; counters int8_amx, int8_vnni: its back-end)
//   prefill/sinks_window/L:2048/D:128/S:4/W:256/threads:N  StreamingLLM mask: 4 sinks + 256-token window
//   prefill/causal/L:2048/D:128/offset:4/threads:N         Q, K, V and out 16 bytes off the buffers'
//                                              64-byte alignment (a std::vector's)
//   prefill/causal/L:2048/D:128/{mod:softcap,mod:alibi,mod:relbias,mod:music,family:sigmoid}/threads:N
//                                              the causal row with a score modifier (relbias R 128, music
//                                              with one shared E row per position) or the sigmoid family
//   prefill/causal/L:2048/D:128/router:moh50, decode/Lk:8192/D:128/kv:fp32/Hq:32/Hkv:32[/router:moh50]
//                                              MoH: half the heads of every token active (same FLOP credit)
//   decode/Lk:32768/D:128/kv:fp32/duo_cache[/router:half_streaming]
//                                              DuoAttention's mixed cache; kv_MiB counter = memory held
//   decode/Lk:<Lk>/D:128/kv:{fp32,bf16}/threads:N          B 1, Hq 32, Hkv 8, Lq 1, fp32 Q and out
//   reference/{causal,nomask}/L:512/D:<D>                  attune::reference::attention (double)
//   dispatch/route                             one run-time dispatch lookup (simd/dispatch.hpp), ns
//
// Counters (both benchmark::Counter::kIsRate over real time, so the JSON carries rates):
//   flops  FLOP/s. Convention: a visible (query, key) pair costs 2·Dk FLOP for its score and
//          2·Dv for its P·V update, so a call costs 2·B·Hq·(Dk + Dv)·pairs = 4·B·Hq·pairs·D when
//          Dk = Dv = D. pairs = Lq·Lk without a mask; with the bottom-right causal mask it is the
//          exact count of visible pairs, Σ_i (Lk − Lq + i + 1), = L(L+1)/2 for square prefill
//          (≈ half of the non-causal count). Softmax (exp, max, sum) is not counted.
//   bytes  B/s. Each input (Q, K, V) read once and the output written once, at their storage
//          sizes; for decode this is essentially the K/V cache, the figure that bounds it.
//
// Thread counts: 1 and 2, plus those listed in the environment variable ATTUNE_BENCH_THREADS
// (comma-separated, e.g. ATTUNE_BENCH_THREADS=1,16).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support.hpp"
#include "attune/mask/sinks_window.hpp"
#include "attune/reference/softmax.hpp"

namespace {

using namespace attune_bench;

// Visible (query, key) pairs of one head: Lq·Lk without a mask, the exact bottom-right causal
// count with one.
double visible_pairs(index_t lq, index_t lk, bool causal) {
    if (!causal) return static_cast<double>(lq) * static_cast<double>(lk);
    double pairs = 0;
    for (index_t i = 0; i < lq; ++i) pairs += static_cast<double>(std::max<index_t>(0, std::min(lk, lk - lq + i + 1)));
    return pairs;
}

// Visible pairs of the sinks + window mask, counted through the mask itself.
double visible_pairs(index_t lq, index_t lk, const attune::sinks_window& m) {
    double pairs = 0;
    for (index_t i = 0; i < lq; ++i)
        for (index_t j = 0; j < lk; ++j) pairs += m.visible(attune::index_context{0, 0, 0, lk - lq + i, j}) ? 1.0 : 0.0;
    return pairs;
}

struct shape {
    index_t b, hq, hkv, lq, lk, d;
    bool causal;
    index_t sinks = -1, window = -1;  // ≥ 0: the sinks + window mask instead (causal inside)
    index_t offset = 0;               // elements from the aligned buffers to the views (4: a std::vector's 16 bytes)
    // A variant on top of the mask (the /mod: and /family: rows): its cost against plain softmax.
    enum class extra { none, softcap, alibi, relbias, music, sigmoid, moh50 } variant = extra::none;
    bool int8_qk = false;  // options::int8_qk (the /int8qk rows)
    bool streaming() const { return sinks >= 0; }
    double pairs() const {
        return streaming() ? visible_pairs(lq, lk, attune::sinks_window(sinks, window)) : visible_pairs(lq, lk, causal);
    }
    double flops() const { return 4.0 * static_cast<double>(b * hq) * pairs() * static_cast<double>(d); }
    template <class TQ, class TK, class TV, class TO>
    double bytes() const {
        return static_cast<double>(b * hq * lq * d) * (sizeof(TQ) + sizeof(TO)) +
               static_cast<double>(b * hkv * lk * d) * (sizeof(TK) + sizeof(TV));
    }
};

// ---------------------------------------------------------------------------------------------
// attune::attention over random inputs of `sh`, with `threads` OpenMP workers.
template <class TQ, class TK, class TV, class TO = float>
void bm_attention(benchmark::State& state, shape sh) {
    const int threads = static_cast<int>(state.range(0));
    const auto off = static_cast<std::size_t>(sh.offset);
    const auto q = random_vector<TQ>(off + static_cast<std::size_t>(sh.b * sh.hq * sh.lq * sh.d), 1);
    const auto k = random_vector<TK>(off + static_cast<std::size_t>(sh.b * sh.hkv * sh.lk * sh.d), 2);
    const auto v = random_vector<TV>(off + static_cast<std::size_t>(sh.b * sh.hkv * sh.lk * sh.d), 3);
    aligned_vector<TO> out(off + static_cast<std::size_t>(sh.b * sh.hq * sh.lq * sh.d));
    const auto qv = attune::view_bhld(q.data() + off, sh.b, sh.hq, sh.lq, sh.d);
    const auto kv = attune::view_bhld(k.data() + off, sh.b, sh.hkv, sh.lk, sh.d);
    const auto vv = attune::view_bhld(v.data() + off, sh.b, sh.hkv, sh.lk, sh.d);
    const auto ov = attune::view_bhld(out.data() + off, sh.b, sh.hq, sh.lq, sh.d);
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    // Variants are built once, outside the timed loop (tables and slopes are owned by the policies).
    using extra = shape::extra;
    const auto softcap = attune::variant(attune::causal{}, attune::softcap{50.0f});
    const auto alibi = attune::variant(attune::causal{}, attune::alibi{attune::alibi_slopes(sh.hq)});
    const index_t R = 128;
    std::vector<float> table(static_cast<std::size_t>(sh.hq * (2 * R + 1)));
    for (std::size_t i = 0; i < table.size(); ++i) table[i] = 0.01f * static_cast<float>(i % 97);
    const auto relbias = attune::variant(attune::causal{}, attune::relative_bias{table, R});
    const auto music = attune::variant(
        attune::causal{},
        attune::music_relative{to_std_vector(random_vector<float>(static_cast<std::size_t>(sh.lk * sh.d), 4)), 1, sh.lk, sh.d});
    const auto sigmoid = attune::variant(attune::sigmoid{-std::log(static_cast<float>(sh.lk))}, attune::causal{});
    // MoH: every token keeps exactly half of its heads (a fixed-seed shuffle per token), gate 1.
    std::vector<float> gates(static_cast<std::size_t>(sh.b * sh.lq * sh.hq), 0.0f);
    {
        std::vector<index_t> heads(static_cast<std::size_t>(sh.hq));
        std::uint64_t seed = 12345;
        for (index_t t = 0; t < sh.b * sh.lq; ++t) {
            for (index_t h = 0; h < sh.hq; ++h) heads[static_cast<std::size_t>(h)] = h;
            for (index_t i = sh.hq - 1; i > 0; --i) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                std::swap(heads[static_cast<std::size_t>(i)],
                          heads[static_cast<std::size_t>((seed >> 33) % static_cast<std::uint64_t>(i + 1))]);
            }
            for (index_t h = 0; h < sh.hq / 2; ++h) gates[static_cast<std::size_t>(t * sh.hq + heads[static_cast<std::size_t>(h)])] = 1.0f;
        }
    }
    const auto moh_causal = attune::variant(attune::causal{}, attune::token_gates(gates, sh.b, sh.lq, sh.hq));
    const auto moh_dense = attune::variant(attune::token_gates(gates, sh.b, sh.lq, sh.hq));
    auto call = [&] {
        switch (sh.variant) {
            case extra::softcap:
                return attune::attention(qv, kv, vv, ov, softcap, attune::options{}, exec);
            case extra::alibi:
                return attune::attention(qv, kv, vv, ov, alibi, attune::options{}, exec);
            case extra::relbias:
                return attune::attention(qv, kv, vv, ov, relbias, attune::options{}, exec);
            case extra::music:
                return attune::attention(qv, kv, vv, ov, music, attune::options{}, exec);
            case extra::sigmoid:
                return attune::attention(qv, kv, vv, ov, sigmoid, attune::options{}, exec);
            case extra::moh50:
                if (sh.causal) return attune::attention(qv, kv, vv, ov, moh_causal, attune::options{}, exec);
                return attune::attention(qv, kv, vv, ov, moh_dense, attune::options{}, exec);
            case extra::none:
                break;
        }
        attune::options opt;
        opt.int8_qk = sh.int8_qk;
        if (sh.streaming()) attune::attention(qv, kv, vv, ov, attune::sinks_window(sh.sinks, sh.window), opt, exec);
        else if (sh.causal) attune::attention(qv, kv, vv, ov, attune::causal{}, opt, exec);
        else attune::attention(qv, kv, vv, ov, attune::no_mask{}, opt, exec);
    };
    call();  // warm-up: first touch of the output, thread pool start, workspaces sized
    for (auto _ : state) {
        call();
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    set_counters(state, sh.flops(), sh.bytes<TQ, TK, TV, TO>());
    // Whether bf16 scores ran on AMX tiles (simd/amx.hpp): 1 on, 0 the fp32 path (CPU, OS or build).
    if constexpr (std::is_same_v<TQ, attune::bf16> && std::is_same_v<TK, attune::bf16>)
        state.counters["amx"] = attune::simd::amx_active() ? 1.0 : 0.0;
    // options::int8_qk's integer products: 2 AMX-INT8, 1 AVX-512 VNNI, 0 the portable loops.
    if (sh.int8_qk) {
        const auto backend = attune::kernel::int8_qk_backend<attune::default_arch>();
        state.counters["int8_amx"] = backend == attune::kernel::int8_backend::amx_int8 ? 1.0 : 0.0;
        state.counters["int8_vnni"] = backend == attune::kernel::int8_backend::vnni ? 1.0 : 0.0;
        state.SetLabel(std::string("int8 scores: ") + attune::kernel::backend_name(backend));
    }
}

// DuoAttention decode over a duo_cache holding `lk` tokens: every kv head a retrieval head
// (half = false) or every other one streaming with S 64 + R 256 (half = true). Credited with the
// full cache's bytes either way, so the GB/s ratio is the time ratio; kv_MiB is the memory held.
void bm_duo_decode(benchmark::State& state, index_t lk, bool half) {
    const int threads = static_cast<int>(state.range(0));
    const index_t hq = 32, hkv = 8, d = 128;
    std::vector<bool> streaming(static_cast<std::size_t>(hkv), false);
    if (half)
        for (index_t h = 1; h < hkv; h += 2) streaming[static_cast<std::size_t>(h)] = true;
    attune::duo_cache<float> cache(streaming, hq, d, d, 64, 256, lk + 4096);
    {
        const auto k = random_vector<float>(static_cast<std::size_t>(hkv * lk * d), 2);
        const auto v = random_vector<float>(static_cast<std::size_t>(hkv * lk * d), 3);
        cache.append(attune::view_bhld(k.data(), 1, hkv, lk, d), attune::view_bhld(v.data(), 1, hkv, lk, d));
    }
    const auto q = random_vector<float>(static_cast<std::size_t>(hq * d), 1);
    const auto kn = random_vector<float>(static_cast<std::size_t>(hkv * d), 4);
    const auto vn = random_vector<float>(static_cast<std::size_t>(hkv * d), 5);
    std::vector<float> out(static_cast<std::size_t>(hq * d));
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    auto call = [&] {
        cache.step(attune::view_bhld(q.data(), 1, hq, 1, d), attune::view_bhld(kn.data(), 1, hkv, 1, d),
                   attune::view_bhld(vn.data(), 1, hkv, 1, d), attune::view_bhld(out.data(), 1, hq, 1, d), attune::options{}, exec);
    };
    call();
    for (auto _ : state) {
        call();
        benchmark::DoNotOptimize(out.data());
    }
    set_counters(state, 0.0, static_cast<double>(2 * hkv * lk * d) * sizeof(float));
    state.counters["kv_MiB"] = static_cast<double>(cache.bytes()) / (1024.0 * 1024.0);
}

// The naive double-precision reference on the same inputs (single-threaded; slow).
void bm_reference(benchmark::State& state, shape sh) {
    const auto q = random_vector<float>(static_cast<std::size_t>(sh.b * sh.hq * sh.lq * sh.d), 1);
    const auto k = random_vector<float>(static_cast<std::size_t>(sh.b * sh.hkv * sh.lk * sh.d), 2);
    const auto v = random_vector<float>(static_cast<std::size_t>(sh.b * sh.hkv * sh.lk * sh.d), 3);
    const auto qv = attune::view_bhld(q.data(), sh.b, sh.hq, sh.lq, sh.d);
    const auto kv = attune::view_bhld(k.data(), sh.b, sh.hkv, sh.lk, sh.d);
    const auto vv = attune::view_bhld(v.data(), sh.b, sh.hkv, sh.lk, sh.d);
    for (auto _ : state) {
        if (sh.causal) {
            auto r = attune::reference::attention(qv, kv, vv, attune::causal{});
            benchmark::DoNotOptimize(r.out.data());
        } else {
            auto r = attune::reference::attention(qv, kv, vv, attune::no_mask{});
            benchmark::DoNotOptimize(r.out.data());
        }
    }
    set_counters(state, sh.flops(), sh.bytes<float, float, float, float>());
}

// ---------------------------------------------------------------------------------------------
// peak/fma_fp32: kAcc independent FMA chains held in registers. An FMA unit has a latency of
// ~4 cycles and a CPU has up to 2 of them, so ≥ 8 independent chains keep them busy; 12 leaves
// headroom and fits the 16 vector registers of AVX2 (AVX-512 has 32). Counted: 2 FLOP per lane
// per FMA, summed over all threads.
using fbatch = xsimd::batch<float, attune::default_arch>;
constexpr int kAcc = 12;
constexpr std::int64_t kFmaSteps = 1 << 20;  // ~2 ms a call: fork/join cost stays below 1%

float fma_loop(float seed) {
    const fbatch mul(0.999999f);
    const fbatch add(1e-7f * seed);
    std::array<fbatch, kAcc> acc;
    for (int i = 0; i < kAcc; ++i) acc[static_cast<std::size_t>(i)] = fbatch(seed + static_cast<float>(i));
    for (std::int64_t s = 0; s < kFmaSteps; ++s) {
#pragma GCC unroll 16
        for (int i = 0; i < kAcc; ++i) acc[static_cast<std::size_t>(i)] = xsimd::fma(acc[static_cast<std::size_t>(i)], mul, add);
    }
    fbatch total = acc[0];
    for (int i = 1; i < kAcc; ++i) total += acc[static_cast<std::size_t>(i)];
    return xsimd::hadd(total);
}

// Runs f(thread, team size) on `threads` OpenMP threads and sums the results; `team` receives the
// number of threads OpenMP actually started.
template <class F>
float run_threads(int threads, F&& f, int* team = nullptr) {
    float sum = 0.0f;
    int started = 1;
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads) reduction(+ : sum)
    {
        sum += f(omp_get_thread_num(), omp_get_num_threads());
#pragma omp master
        started = omp_get_num_threads();
    }
#else
    (void)threads;
    sum = f(0, 1);
#endif
    if (team != nullptr) *team = started;
    return sum;
}

void bm_peak_fma(benchmark::State& state) {
    const int threads = static_cast<int>(state.range(0));
    int team = threads;
    for (auto _ : state) {
        const float r = run_threads(
            threads, [](int t, int) { return fma_loop(1.0f + static_cast<float>(t)); }, &team);
        benchmark::DoNotOptimize(r);
    }
    if (team != threads) {
        state.SkipWithError(("OpenMP started " + std::to_string(team) + " threads, not " + std::to_string(threads)).c_str());
        return;
    }
    const double flops = 2.0 * static_cast<double>(kFmaSteps) * kAcc * static_cast<double>(fbatch::size) * threads;
    set_counters(state, flops, 0.0);
}

// peak/read: every thread sums its contiguous share of a 1 GiB float buffer with 8 vector
// accumulators. The buffer is first touched by the same static split, so pages sit on the reading
// thread's NUMA node.
constexpr std::size_t kReadFloats = std::size_t(1) << 28;  // 1 GiB

struct read_buffer {
    float* data = nullptr;
    int touched_by = 0;
    ~read_buffer() { std::free(data); }
    const float* get(int threads) {
        if (data == nullptr) {
            data = static_cast<float*>(std::aligned_alloc(64, kReadFloats * sizeof(float)));
            if (data == nullptr) return nullptr;
        }
        if (touched_by != threads) {
            run_threads(threads, [&](int t, int n) {
                const auto [lo, hi] = share(t, n);
                for (std::size_t i = lo; i < hi; ++i) data[i] = 1.0f + static_cast<float>(i & 1023) * 1e-3f;
                return 0.0f;
            });
            touched_by = threads;
        }
        return data;
    }
    static std::pair<std::size_t, std::size_t> share(int t, int n) {
        const std::size_t chunk = (kReadFloats / static_cast<std::size_t>(n)) & ~std::size_t(255);
        const std::size_t lo = chunk * static_cast<std::size_t>(t);
        return {lo, t == n - 1 ? kReadFloats : lo + chunk};
    }
};
read_buffer g_read;

float sum_range(const float* p, std::size_t n) {
    constexpr std::size_t W = fbatch::size;
    fbatch a0(0.0f), a1(0.0f), a2(0.0f), a3(0.0f), a4(0.0f), a5(0.0f), a6(0.0f), a7(0.0f);
    std::size_t i = 0;
    for (; i + 8 * W <= n; i += 8 * W) {
        a0 += fbatch::load_aligned(p + i);
        a1 += fbatch::load_aligned(p + i + W);
        a2 += fbatch::load_aligned(p + i + 2 * W);
        a3 += fbatch::load_aligned(p + i + 3 * W);
        a4 += fbatch::load_aligned(p + i + 4 * W);
        a5 += fbatch::load_aligned(p + i + 5 * W);
        a6 += fbatch::load_aligned(p + i + 6 * W);
        a7 += fbatch::load_aligned(p + i + 7 * W);
    }
    float s = xsimd::hadd(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)));
    for (; i < n; ++i) s += p[i];
    return s;
}

void bm_peak_read(benchmark::State& state) {
    const int threads = static_cast<int>(state.range(0));
    const float* buf = g_read.get(threads);
    if (buf == nullptr) {
        state.SkipWithError("cannot allocate the 1 GiB read buffer");
        return;
    }
    for (auto _ : state) {
        const float r = run_threads(threads, [&](int t, int n) {
            const auto [lo, hi] = read_buffer::share(t, n);
            return sum_range(buf + lo, hi - lo);
        });
        benchmark::DoNotOptimize(r);
    }
    set_counters(state, 0.0, static_cast<double>(kReadFloats * sizeof(float)));
}

// dispatch/route: what simd/dispatch.hpp adds to every engine call — one route() (a dispatched
// call takes two: the baseline's entry and the wider instantiation's own). Timed on a signature
// registered for the scalar arch only, the longest walk (every level above it is looked up
// first); a decode step of Lk 1024 takes ~0.03–0.3 ms, so this row over that is the overhead.
void dispatch_probe() {}
void bm_dispatch_route(benchmark::State& state) {
    for (auto _ : state) {
        auto* f = attune::dispatch::route<void(), attune::simd::scalar, &dispatch_probe>();
        benchmark::DoNotOptimize(f);
    }
}

// ---------------------------------------------------------------------------------------------
void register_all() {
    const std::vector<int> threads = thread_counts();

    add("peak/fma_fp32", threads, bm_peak_fma)->Unit(benchmark::kMicrosecond);
    add("peak/read", threads, bm_peak_read);

    for (index_t l : {512, 2048, 4096})
        for (index_t d : {64, 128})
            for (bool causal : {true, false}) {
                const std::string name =
                    std::string("prefill/") + (causal ? "causal" : "nomask") + "/L:" + std::to_string(l) + "/D:" + std::to_string(d);
                add(name, threads, bm_attention<float, float, float>, shape{1, 8, 8, l, l, d, causal});
            }
    // Views 16 bytes off the 64-byte boundary (a std::vector's alignment): every vector load of a
    // row then spans two cache lines. Copying such V tiles to an aligned buffer was tried and cost
    // more than it saved (RESULTS.md).
    {
        shape sh{1, 8, 8, 2048, 2048, 128, true};
        sh.offset = 4;
        add("prefill/causal/L:2048/D:128/offset:4", threads, bm_attention<float, float, float>, sh);
    }
    // Head dim 256 (Gemma's): Q, K and V rows twice as long for the same tiles.
    add("prefill/causal/L:2048/D:256", threads, bm_attention<float, float, float>, shape{1, 8, 8, 2048, 2048, 256, true});
    // Sinks + window (StreamingLLM): its time should follow its visible keys, not L².
    add("prefill/sinks_window/L:2048/D:128/S:4/W:256", threads, bm_attention<float, float, float>,
        shape{1, 8, 8, 2048, 2048, 128, true, 4, 256});
    // Variants on the causal row (same FLOP credit): what a score modifier or the sigmoid family costs.
    {
        using extra = shape::extra;
        const std::pair<const char*, extra> variants[] = {{"mod:softcap", extra::softcap},    {"mod:alibi", extra::alibi},
                                                          {"mod:relbias", extra::relbias},    {"mod:music", extra::music},
                                                          {"family:sigmoid", extra::sigmoid}, {"router:moh50", extra::moh50}};
        for (const auto& [tag, kind] : variants) {
            shape sh{1, 8, 8, 2048, 2048, 128, true};
            sh.variant = kind;
            add(std::string("prefill/causal/L:2048/D:128/") + tag, threads, bm_attention<float, float, float>, sh);
        }
    }
    add("prefill/causal/L:2048/D:128/bf16", threads, bm_attention<attune::bf16, attune::bf16, attune::bf16>,
        shape{1, 8, 8, 2048, 2048, 128, true});
    add("prefill/causal/L:2048/D:128/bf16/out:bf16", threads, bm_attention<attune::bf16, attune::bf16, attune::bf16, attune::bf16>,
        shape{1, 8, 8, 2048, 2048, 128, true});
    // The same two with options::int8_qk (SageAttention's int8 Q·Kᵀ; counters int8_amx / int8_vnni).
    {
        shape sh{1, 8, 8, 2048, 2048, 128, true};
        sh.int8_qk = true;
        add("prefill/causal/L:2048/D:128/bf16/int8qk", threads, bm_attention<attune::bf16, attune::bf16, attune::bf16>, sh);
        add("prefill/causal/L:2048/D:128/bf16/out:bf16/int8qk", threads,
            bm_attention<attune::bf16, attune::bf16, attune::bf16, attune::bf16>, sh);
    }

    // MoH decode (multi-head, Hq = Hkv = 32): half the heads of the token active; a head's K/V is
    // not read when its row is off. Its plain row is the same shape with every head on.
    {
        const shape mha{1, 32, 32, 1, 8192, 128, false};
        shape moh = mha;
        moh.variant = shape::extra::moh50;
        add("decode/Lk:8192/D:128/kv:fp32/Hq:32/Hkv:32", threads, bm_attention<float, float, float>, mha);
        add("decode/Lk:8192/D:128/kv:fp32/Hq:32/Hkv:32/router:moh50", threads, bm_attention<float, float, float>, moh);
    }
    // DuoAttention at Lk 32k: full cache vs half the kv heads streaming (S 64 + R 256).
    add("decode/Lk:32768/D:128/kv:fp32/duo_cache", threads, bm_duo_decode, index_t(32768), false);
    add("decode/Lk:32768/D:128/kv:fp32/duo_cache/router:half_streaming", threads, bm_duo_decode, index_t(32768), true);
    for (index_t lk : {1024, 8192, 32768}) {
        const std::string name = "decode/Lk:" + std::to_string(lk) + "/D:128";
        add(name + "/kv:fp32", threads, bm_attention<float, float, float>, shape{1, 32, 8, 1, lk, 128, false});
        add(name + "/kv:bf16", threads, bm_attention<float, attune::bf16, attune::bf16>, shape{1, 32, 8, 1, lk, 128, false});
    }

    benchmark::RegisterBenchmark("dispatch/route", bm_dispatch_route)->Unit(benchmark::kNanosecond);

    // The reference is single-threaded and slow (hundreds of ms a call): a fixed, small iteration count.
    for (index_t d : {64, 128})
        for (bool causal : {true, false}) {
            const std::string name = std::string("reference/") + (causal ? "causal" : "nomask") + "/L:512/D:" + std::to_string(d);
            benchmark::RegisterBenchmark(name.c_str(), bm_reference, shape{1, 8, 8, 512, 512, d, causal})
                ->Iterations(2)
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond);
        }

    for (const auto& rows : extra_rows()) rows(threads);
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("attune_version", ATTUNE_VERSION_STRING);
    benchmark::AddCustomContext("attune_arch", attune::simd::arch_name<attune::default_arch>());
#if defined(_OPENMP)
    benchmark::AddCustomContext("attune_openmp_max_threads", std::to_string(omp_get_max_threads()));
#else
    benchmark::AddCustomContext("attune_openmp_max_threads", "0 (built without OpenMP)");
#endif
    register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
