// Rows of the serving shapes (attune/batch.hpp): paged decode and a ragged batch of decode rows and
// prefill chunks, next to the dense decode rows of the same run (issue #21's targets are ratios
// within one run). Hq 32, Hkv 8, D 128, fp32 Q/out; threads = workers of attune::openmp_executor.
//
//   serving/paged_decode/Lk:<n>/D:128/kv:<fp32|bf16>/page:16/<nhd|hnd>   one decode row over one
//        sequence's pages, the page ids shuffled (as a pool hands them out after some churn: no two
//        consecutive). Target: ≥ 0.95× decode/Lk:<n>/D:128/kv:<…> (the same keys, dense).
//   serving/batch/decode:64[+prefill:4x512[of2048]]/<packed|paged16>   one call: 64 decode rows
//        whose key lengths spread log-uniformly over 128 … 32768, plus 4 causal prefill chunks of
//        512 queries over their 512 keys (a prompt's first chunk) or over 2048 (1536 cached). Target:
//        K/V bytes/s ≥ 0.8× the best dense decode row of the same thread count
//        (decode/Lk:32768/D:128/kv:fp32).
//   serving/packed_decode/Lk:<n>/D:128/kv:fp32   one decode row over keys packed [Lk, Hkv, D] (the
//        NHD pages' layout, unpaged), through ragged_attention: the baseline of the NHD rows.
// Counters: "bytes" (rate) — the K and V bytes of every sequence's keys (each read once per call;
// the prefill chunks' K/V are read once per query tile, credited once); "flops" (rate) — 4·D per
// visible (query head, key) pair.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../support.hpp"
#include "attune/batch.hpp"

namespace {

using namespace attune_bench;

constexpr index_t kHq = 32, kHkv = 8, kD = 128;

// Sequences' keys in a page pool (NHD or HND), page ids shuffled with a fixed seed.
template <class T>
struct paged_pool {
    index_t page_size;
    aligned_vector<T> k, v;
    std::vector<std::int32_t> ids, first{0}, lengths;
    attune::tensor_view<const T> kp, vp;

    paged_pool(const std::vector<index_t>& lens, index_t ps, bool nhd) : page_size(ps) {
        index_t pages = 0;
        for (index_t n : lens) pages += (n + ps - 1) / ps;
        k = random_vector<T>(static_cast<std::size_t>(pages * ps * kHkv * kD), 2);
        v = random_vector<T>(static_cast<std::size_t>(pages * ps * kHkv * kD), 3);
        std::vector<std::int32_t> order(static_cast<std::size_t>(pages));
        std::iota(order.begin(), order.end(), 0);
        std::shuffle(order.begin(), order.end(), std::mt19937(42));
        std::size_t next = 0;
        for (index_t n : lens) {
            for (index_t i = 0; i < (n + ps - 1) / ps; ++i) ids.push_back(order[next++]);
            first.push_back(static_cast<std::int32_t>(ids.size()));
            lengths.push_back(static_cast<std::int32_t>(n));
        }
        kp = nhd ? attune::page_pool_nhd<const T>(k.data(), pages, ps, kHkv, kD)
                 : attune::page_pool_hnd<const T>(k.data(), pages, ps, kHkv, kD);
        vp = nhd ? attune::page_pool_nhd<const T>(v.data(), pages, ps, kHkv, kD)
                 : attune::page_pool_hnd<const T>(v.data(), pages, ps, kHkv, kD);
    }
    attune::paged_kv<T> kv() const {
        return {kp, vp, attune::page_table{ids.data(), first.data(), lengths.data(), static_cast<index_t>(lengths.size())}};
    }
};

template <class T>
void bm_paged_decode(benchmark::State& state, index_t lk, bool nhd) {
    const int threads = static_cast<int>(state.range(0));
    const paged_pool<T> pool({lk}, 16, nhd);
    const auto q = random_vector<float>(static_cast<std::size_t>(kHq * kD), 1);
    aligned_vector<float> out(static_cast<std::size_t>(kHq * kD));
    const std::int32_t qo[] = {0, 1};
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    const auto call = [&] {
        attune::paged_attention(attune::packed_view<const float>(q.data(), 1, kHq, kD), attune::seq_offsets{qo, 1}, pool.kv(),
                                attune::packed_view<float>(out.data(), 1, kHq, kD), attune::variant<>{}, attune::options{}, exec);
    };
    call();
    for (auto _ : state) {
        call();
        benchmark::DoNotOptimize(out.data());
    }
    set_counters(state, 4.0 * kHq * static_cast<double>(lk) * kD, 2.0 * kHkv * static_cast<double>(lk) * kD * sizeof(T));
}

// One decode row over one sequence's keys packed [Lk, Hkv, D] (ragged_attention).
void bm_packed_decode(benchmark::State& state, index_t lk) {
    const int threads = static_cast<int>(state.range(0));
    const auto k = random_vector<float>(static_cast<std::size_t>(lk * kHkv * kD), 2);
    const auto v = random_vector<float>(static_cast<std::size_t>(lk * kHkv * kD), 3);
    const auto q = random_vector<float>(static_cast<std::size_t>(kHq * kD), 1);
    aligned_vector<float> out(static_cast<std::size_t>(kHq * kD));
    const std::int32_t qo[] = {0, 1}, ko[] = {0, static_cast<std::int32_t>(lk)};
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    const auto call = [&] {
        attune::ragged_attention(attune::packed_view<const float>(q.data(), 1, kHq, kD), attune::seq_offsets{qo, 1},
                                 attune::packed_view<const float>(k.data(), lk, kHkv, kD),
                                 attune::packed_view<const float>(v.data(), lk, kHkv, kD), attune::seq_offsets{ko, 1},
                                 attune::packed_view<float>(out.data(), 1, kHq, kD), attune::variant<>{}, attune::options{}, exec);
    };
    call();
    for (auto _ : state) {
        call();
        benchmark::DoNotOptimize(out.data());
    }
    set_counters(state, 4.0 * kHq * static_cast<double>(lk) * kD, 2.0 * kHkv * static_cast<double>(lk) * kD * sizeof(float));
}

// The mixed batch: 64 decode rows (keys 128 … 32768, log-uniform) and `chunks` prefill chunks of
// 512 queries over `chunk_keys` keys (512: a prompt's first chunk).
struct mixed_batch {
    std::vector<index_t> lq, lk;
    mixed_batch(index_t chunks, index_t chunk_keys) {
        for (int i = 0; i < 64; ++i) {
            lq.push_back(1);
            lk.push_back(static_cast<index_t>(std::lround(128.0 * std::pow(256.0, i / 63.0))));
        }
        for (index_t i = 0; i < chunks; ++i) lq.push_back(512), lk.push_back(chunk_keys);
    }
    double flops() const {
        double pairs = 0;
        for (std::size_t s = 0; s < lq.size(); ++s)
            for (index_t i = 0; i < lq[s]; ++i) pairs += static_cast<double>(lk[s] - lq[s] + i + 1);
        return 4.0 * kHq * pairs * kD;
    }
    double kv_bytes() const {
        double n = 0;
        for (index_t x : lk) n += static_cast<double>(x);
        return 2.0 * kHkv * n * kD * sizeof(float);
    }
};

void bm_mixed_batch(benchmark::State& state, bool paged, index_t chunks, index_t chunk_keys) {
    const int threads = static_cast<int>(state.range(0));
    const mixed_batch mb(chunks, chunk_keys);
    std::vector<std::int32_t> qo{0}, ko{0};
    for (std::size_t s = 0; s < mb.lq.size(); ++s) {
        qo.push_back(static_cast<std::int32_t>(qo.back() + mb.lq[s]));
        ko.push_back(static_cast<std::int32_t>(ko.back() + mb.lk[s]));
    }
    const index_t S = static_cast<index_t>(mb.lq.size()), tq = qo.back(), tk = ko.back();
    const auto q = random_vector<float>(static_cast<std::size_t>(tq * kHq * kD), 1);
    aligned_vector<float> out(static_cast<std::size_t>(tq * kHq * kD));
    const auto qv = attune::packed_view<const float>(q.data(), tq, kHq, kD);
    const auto ov = attune::packed_view<float>(out.data(), tq, kHq, kD);
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    aligned_vector<float> k, v;
    std::unique_ptr<paged_pool<float>> pool;
    if (paged) {
        pool = std::make_unique<paged_pool<float>>(mb.lk, 16, false);
    } else {
        k = random_vector<float>(static_cast<std::size_t>(tk * kHkv * kD), 2);
        v = random_vector<float>(static_cast<std::size_t>(tk * kHkv * kD), 3);
    }
    const auto call = [&] {
        if (paged)
            attune::paged_attention(qv, attune::seq_offsets{qo.data(), S}, pool->kv(), ov, attune::causal{}, attune::options{}, exec);
        else
            attune::ragged_attention(qv, attune::seq_offsets{qo.data(), S}, attune::packed_view<const float>(k.data(), tk, kHkv, kD),
                                     attune::packed_view<const float>(v.data(), tk, kHkv, kD), attune::seq_offsets{ko.data(), S}, ov,
                                     attune::causal{}, attune::options{}, exec);
    };
    call();
    for (auto _ : state) {
        call();
        benchmark::DoNotOptimize(out.data());
    }
    set_counters(state, mb.flops(), mb.kv_bytes());
}

void register_rows(const std::vector<int>& threads) {
    for (index_t lk : {8192, 32768})
        for (bool nhd : {true, false}) {
            const std::string tail = std::string("/page:16/") + (nhd ? "nhd" : "hnd");
            const std::string base = "serving/paged_decode/Lk:" + std::to_string(lk) + "/D:128";
            add(base + "/kv:fp32" + tail, threads, bm_paged_decode<float>, lk, nhd);
            add(base + "/kv:bf16" + tail, threads, bm_paged_decode<attune::bf16>, lk, nhd);
        }
    for (bool paged : {false, true}) {
        const std::string layout = paged ? "/paged16" : "/packed";
        add("serving/batch/decode:64" + layout, threads, bm_mixed_batch, paged, index_t(0), index_t(0));
        add("serving/batch/decode:64+prefill:4x512" + layout, threads, bm_mixed_batch, paged, index_t(4), index_t(512));
        add("serving/batch/decode:64+prefill:4x512of2048" + layout, threads, bm_mixed_batch, paged, index_t(4), index_t(2048));
    }
    // The same keys as one dense [Lk, Hkv, D] sequence (the NHD pages' layout without pages) through
    // the batch path: the baseline of the NHD rows.
    for (index_t lk : {8192, 32768})
        add("serving/packed_decode/Lk:" + std::to_string(lk) + "/D:128/kv:fp32", threads, bm_packed_decode, lk);
}

ATTUNE_BENCH_ROWS(register_rows);

}  // namespace
