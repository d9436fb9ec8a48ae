// Rows of the KV caches and sparse attention (attune/sparse.hpp) in attune_bench, next to the peaks
// and the dense decode rows of the same run (issue #6's targets are ratios within one run).
//
// Rows (B 1, Hq 32, Hkv 8, D 128, fp32 Q/out; threads = workers of attune::openmp_executor):
//   sparse/streaming_decode/hist:<n>/S:4/R:1024/kv:{fp32,bf16}   one streaming_cache::step (append
//        the token + attention over the S + R held) after n tokens of history. Target: time and
//        memory (counter cache_MB) flat in n; bytes/s ≥ 0.8× peak/read for the kept tokens.
//   sparse/full_decode/Lk:32768                 attune::attention over a kv_cache (the baseline)
//   sparse/gather/Lk:32768/k:2048                gather_attention, one sorted list of 2048 per kv head
//   sparse/topk_decode/Lk:32768/k:2048           full step + the probability pass + top-k selection
//   sparse/recycled/Lk:32768/k:2048/new:16       a recycled step between full steps
//   sparse/landmark/Lk:32768/B:64/top:4/W:256    landmark_cache::attend, retrieval + gather (per query
//        head). Target: ≥ 5× faster than sparse/full_decode/Lk:32768.
//   sparse/h2o_decode/heavy:128/recent:896       h2o_cache::step (attention, probabilities, eviction)
//
// Counters: "bytes" (rate) — K and V bytes of the keys attended (the ones a decode step must read:
// the bandwidth bound), plus for topk/h2o the second read of K by the probability pass and for
// landmark the landmarks scanned; "flops" (rate) — 2·(Dk + Dv) per (query head, attended key), plus
// 2·Dk per (query head, key) of probability passes and landmark scores. "cache_MB": the cache's
// memory.
#include <algorithm>
#include <string>
#include <vector>

#include "../support.hpp"
#include "attune/sparse.hpp"

namespace {

using namespace attune_bench;

constexpr index_t kHq = 32, kHkv = 8, kD = 128;

template <class T>
void finish(benchmark::State& state, double flops, double bytes, double cache_bytes) {
    set_counters(state, flops, bytes);
    state.counters["cache_MB"] = cache_bytes / 1e6;
}

// Fills a cache-like object with n random tokens, in chunks (append(k, v) of [1, Hkv, c, D]).
template <class Cache>
void fill(Cache& cache, index_t n) {
    const index_t chunk = 1024;
    const auto k = random_vector<float>(static_cast<std::size_t>(kHkv * chunk * kD), 11);
    const auto v = random_vector<float>(static_cast<std::size_t>(kHkv * chunk * kD), 12);
    for (index_t at = 0; at < n; at += chunk) {
        const index_t c = std::min(chunk, n - at);
        const attune::tensor_view<const float> kv(k.data(), {1, kHkv, c, kD}, {0, chunk * kD, kD}),
            vv(v.data(), {1, kHkv, c, kD}, {0, chunk * kD, kD});
        cache.append(kv, vv);
    }
}

struct decode_io {
    aligned_vector<float> q = random_vector<float>(static_cast<std::size_t>(kHq * kD), 1);
    aligned_vector<float> k = random_vector<float>(static_cast<std::size_t>(kHkv * kD), 2);
    aligned_vector<float> v = random_vector<float>(static_cast<std::size_t>(kHkv * kD), 3);
    aligned_vector<float> out = aligned_vector<float>(static_cast<std::size_t>(kHq * kD));
    attune::tensor_view<const float> qv() const { return attune::view_bhld(q.data(), 1, kHq, 1, kD); }
    attune::tensor_view<const float> kv() const { return attune::view_bhld(k.data(), 1, kHkv, 1, kD); }
    attune::tensor_view<const float> vv() const { return attune::view_bhld(v.data(), 1, kHkv, 1, kD); }
    attune::tensor_view<float> ov() { return attune::view_bhld(out.data(), 1, kHq, 1, kD); }
};

template <class T>
void bm_streaming(benchmark::State& state, index_t hist) {
    const int threads = static_cast<int>(state.range(0));
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    const index_t S = 4, R = 1024;
    attune::streaming_cache<T> cache(kHkv, kD, kD, S, R);
    fill(cache, hist);
    decode_io io;
    cache.step(io.qv(), io.kv(), io.vv(), io.ov(), {}, exec);
    for (auto _ : state) {
        cache.step(io.qv(), io.kv(), io.vv(), io.ov(), {}, exec);
        benchmark::DoNotOptimize(io.out.data());
        benchmark::ClobberMemory();
    }
    const double kept = static_cast<double>(S + R);
    state.counters["hist"] = static_cast<double>(hist);
    finish<T>(state, 4.0 * kD * kHq * kept, 2.0 * kept * kHkv * kD * sizeof(T), static_cast<double>(cache.bytes()));
}

constexpr index_t kLk = 32768;

void bm_full(benchmark::State& state) {
    const int threads = static_cast<int>(state.range(0));
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    attune::kv_cache<float> cache(kHkv, kD, kD, attune::unbounded, kLk);
    fill(cache, kLk);
    decode_io io;
    auto call = [&] { attune::attention(io.qv(), cache.keys(), cache.values(), io.ov(), attune::variant<>{}, {}, exec); };
    call();
    for (auto _ : state) {
        call();
        benchmark::DoNotOptimize(io.out.data());
        benchmark::ClobberMemory();
    }
    finish<float>(state, 4.0 * kD * kHq * kLk, 2.0 * kLk * kHkv * kD * 4, 2.0 * kLk * kHkv * kD * 4);
}

// Sorted, distinct positions: n per kv head, spread over [0, Lk).
std::vector<index_t> spread_lists(index_t n) {
    std::vector<index_t> idx(static_cast<std::size_t>(kHkv * n));
    const auto r = random_vector<float>(idx.size(), 21);
    for (index_t h = 0; h < kHkv; ++h)
        for (index_t i = 0; i < n; ++i) {
            const index_t base = i * (kLk / n);
            const index_t jitter =
                static_cast<index_t>((r[static_cast<std::size_t>(h * n + i)] + 1.0f) * 0.5f * static_cast<float>(kLk / n - 1));
            idx[static_cast<std::size_t>(h * n + i)] = base + jitter;
        }
    return idx;
}

void bm_gather(benchmark::State& state, index_t n) {
    const int threads = static_cast<int>(state.range(0));
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    attune::kv_cache<float> cache(kHkv, kD, kD, attune::unbounded, kLk);
    fill(cache, kLk);
    decode_io io;
    const auto idx = spread_lists(n);
    const attune::index_view iv{idx.data(), 1, kHkv, 1, n};
    auto call = [&] { attune::sparse::gather_attention(io.qv(), cache.keys(), cache.values(), iv, io.ov(), {}, exec); };
    call();
    for (auto _ : state) {
        call();
        benchmark::DoNotOptimize(io.out.data());
        benchmark::ClobberMemory();
    }
    finish<float>(state, 4.0 * kD * kHq * n, 2.0 * n * kHkv * kD * 4, 2.0 * kLk * kHkv * kD * 4);
}

void bm_topk(benchmark::State& state, index_t n) {
    const int threads = static_cast<int>(state.range(0));
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    attune::kv_cache<float> cache(kHkv, kD, kD, attune::unbounded, kLk);
    fill(cache, kLk);
    decode_io io;
    attune::key_selection sel;
    auto call = [&] { attune::sparse::topk_decode(io.qv(), cache.keys(), cache.values(), io.ov(), n, sel, {}, exec); };
    call();
    for (auto _ : state) {
        call();
        benchmark::DoNotOptimize(io.out.data());
        benchmark::ClobberMemory();
    }
    finish<float>(state, 6.0 * kD * kHq * kLk, 3.0 * kLk * kHkv * kD * 4, 2.0 * kLk * kHkv * kD * 4);
}

void bm_recycled(benchmark::State& state, index_t n, index_t fresh) {
    const int threads = static_cast<int>(state.range(0));
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    attune::kv_cache<float> cache(kHkv, kD, kD, attune::unbounded, kLk + fresh);
    fill(cache, kLk);
    decode_io io;
    attune::sparse::recycled_attention rec(n);
    rec.step(io.qv(), cache.keys(), cache.values(), io.ov(), true, {}, exec);
    for (index_t i = 0; i < fresh; ++i) cache.append(io.kv(), io.vv());
    auto call = [&] { rec.step(io.qv(), cache.keys(), cache.values(), io.ov(), false, {}, exec); };
    call();
    for (auto _ : state) {
        call();
        benchmark::DoNotOptimize(io.out.data());
        benchmark::ClobberMemory();
    }
    const double keys = static_cast<double>(n + fresh);
    finish<float>(state, 4.0 * kD * kHq * keys, 2.0 * keys * kHkv * kD * 4, 2.0 * (kLk + fresh) * kHkv * kD * 4);
}

void bm_landmark(benchmark::State& state, index_t block, index_t top, index_t window) {
    const int threads = static_cast<int>(state.range(0));
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    attune::landmark_cache<float> cache(kHkv, kD, kD, block);
    fill(cache, kLk);
    decode_io io;
    auto call = [&] { cache.attend(io.qv(), io.ov(), top, window, {}, exec); };
    call();
    for (auto _ : state) {
        call();
        benchmark::DoNotOptimize(io.out.data());
        benchmark::ClobberMemory();
    }
    const double blocks = static_cast<double>(kLk / block), keys = static_cast<double>(top * block + window + block - 1);
    finish<float>(state, 4.0 * kD * kHq * keys + 2.0 * kD * kHq * blocks, (2.0 * keys * kHq + blocks * kHkv) * kD * 4,
                  (2.0 * kLk + blocks) * kHkv * kD * 4);
}

void bm_h2o(benchmark::State& state, index_t heavy, index_t recent) {
    const int threads = static_cast<int>(state.range(0));
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    attune::h2o_cache<float> cache(kHkv, kD, kD, heavy, recent);
    decode_io io;
    for (index_t i = 0; i < heavy + recent + 8; ++i) cache.step(io.qv(), io.kv(), io.vv(), io.ov(), {}, exec);
    for (auto _ : state) {
        cache.step(io.qv(), io.kv(), io.vv(), io.ov(), {}, exec);
        benchmark::DoNotOptimize(io.out.data());
        benchmark::ClobberMemory();
    }
    const double kept = static_cast<double>(heavy + recent + 1);
    finish<float>(state, 6.0 * kD * kHq * kept, 3.0 * kept * kHkv * kD * 4, 2.0 * kept * kHkv * kD * 4);
}

void register_sparse(const std::vector<int>& threads) {
    for (index_t hist : {4096, 16384, 65536})
        add("sparse/streaming_decode/hist:" + std::to_string(hist) + "/S:4/R:1024/kv:fp32", threads, bm_streaming<float>, hist);
    for (index_t hist : {4096, 65536})
        add("sparse/streaming_decode/hist:" + std::to_string(hist) + "/S:4/R:1024/kv:bf16", threads, bm_streaming<attune::bf16>, hist);
    add("sparse/full_decode/Lk:32768", threads, bm_full);
    add("sparse/gather/Lk:32768/k:2048", threads, bm_gather, index_t{2048});
    add("sparse/topk_decode/Lk:32768/k:2048", threads, bm_topk, index_t{2048});
    add("sparse/recycled/Lk:32768/k:2048/new:16", threads, bm_recycled, index_t{2048}, index_t{16});
    add("sparse/landmark/Lk:32768/B:64/top:4/W:256", threads, bm_landmark, index_t{64}, index_t{4}, index_t{256});
    add("sparse/h2o_decode/heavy:128/recent:896", threads, bm_h2o, index_t{128}, index_t{896});
}

ATTUNE_BENCH_ROWS(register_sparse);

}  // namespace
