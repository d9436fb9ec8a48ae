// Rows of decode over quantized caches (attune/quantized.hpp), next to decode/Lk:<n>/D:128/kv:bf16
// of the same run (issue #22's targets are ratios to it within one run): B 1, Hq 32, Hkv 8, Lq 1,
// D 128, fp32 Q and out, K and V in one format, [B, Hkv, Lk] rows.
//
//   quant/decode/Lk:<n>/D:128/kv:<format>     format: int8, int8ch (int8 K with per-channel scales),
//        fp8_e4m3, q8_0, q4_0, int4_g32 (= q4_1), int4_g128; int8, q8_0, q4_0, int4_g32 + /int8_query: options::int8_query
//        (integer scores, Q rounded to int8 per row; VNNI), + /int8_query/int8_pv: options::int8_pv too
//        (integer P·V, weights rounded to 8 bits per V block and tile; VNNI). Targets: 8-bit ≥ 1.8×, 4-bit ≥ 3× the
//        bf16 row's time; against ggml's own q8_0 / q4_0 flash attention (peers/ggml) ≥ 5×.
// Counters: "bytes" (rate) — the K and V bytes read (rows in the format, scales included);
// "flops" (rate) — 4·D per (query head, key).
//
//   quant/append/L:2048/D:128/kv:<format>/threads:N   quant_kv_cache::append of a 2048-token prompt's
//        float K and V (Hkv 8) into an emptied cache: quantization on append, vectorised, its rows
//        split over N workers. Counters:
//        "bytes" (rate) — the float input read plus the rows written; "values" (rate) — K and V elements.
//   quant/paged_append/L:2048/D:128/kv:<format>/threads:N   the same prompt into a fresh sequence of a
//        paged_kv_cache (pages of 16, NHD) of q8_0, q4_0 or bf16 rows: its rows split over N workers,
//        each item a head's run of 128 tokens across 8 pages. Counters as quant/append.
#include <string>
#include <vector>

#include "../support.hpp"
#include "attune/cache/paged_kv_cache.hpp"
#include "attune/cache/quant_kv_cache.hpp"
#include "attune/quantized.hpp"

namespace {

using namespace attune_bench;
namespace quant = attune::quant;

constexpr index_t kHq = 32, kHkv = 8, kD = 128;

template <class F>
void bm_quant_decode(benchmark::State& state, index_t lk, bool channels, bool int8_query, bool int8_pv) {
    const int threads = static_cast<int>(state.range(0));
    const auto kf = random_vector<float>(static_cast<std::size_t>(kHkv * lk * kD), 2);
    const auto vf = random_vector<float>(static_cast<std::size_t>(kHkv * lk * kD), 3);
    const auto kview = attune::view_bhld<const float>(kf.data(), 1, kHkv, lk, kD);
    F kfmt{};
    std::vector<float> scales;
    if constexpr (std::is_same_v<F, quant::int8>) {
        if (channels) scales = quant::channel_scales(kview), kfmt = quant::int8{scales.data(), kD};
    } else {
        (void)channels;
    }
    const auto kq = quant::quantize(kview, kfmt);
    const auto vq = quant::quantize(attune::view_bhld<const float>(vf.data(), 1, kHkv, lk, kD), F{});
    const auto q = random_vector<float>(static_cast<std::size_t>(kHq * kD), 1);
    aligned_vector<float> out(static_cast<std::size_t>(kHq * kD));
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    attune::options opt;
    opt.int8_query = int8_query;
    opt.int8_pv = int8_pv;
    const auto call = [&] {
        attune::attention(attune::view_bhld<const float>(q.data(), 1, kHq, 1, kD), kq.view(), vq.view(),
                          attune::view_bhld<float>(out.data(), 1, kHq, 1, kD), attune::variant<>{}, opt, exec);
    };
    call();
    for (auto _ : state) {
        call();
        benchmark::DoNotOptimize(out.data());
    }
    set_counters(state, 4.0 * kD * kHq * static_cast<double>(lk),
                 static_cast<double>(kHkv * lk) * static_cast<double>(F::row_bytes(kD) * 2));
}

// A prompt's float K and V [1, Hkv, tokens, D], as both append rows feed them.
struct append_prompt {
    explicit append_prompt(index_t tokens)
        : n(tokens),
          kf(random_vector<float>(static_cast<std::size_t>(kHkv * tokens * kD), 2)),
          vf(random_vector<float>(static_cast<std::size_t>(kHkv * tokens * kD), 3)),
          k(attune::view_bhld<const float>(kf.data(), 1, kHkv, tokens, kD)),
          v(attune::view_bhld<const float>(vf.data(), 1, kHkv, tokens, kD)) {}
    // bytes: the floats read and the rows of `row_bytes` written; values: those quantized or converted
    void set_counters(benchmark::State& state, index_t row_bytes) const {
        const double values = 2.0 * static_cast<double>(kHkv * n * kD), iters = static_cast<double>(state.iterations());
        state.counters["bytes"] =
            benchmark::Counter((values * 4.0 + 2.0 * static_cast<double>(kHkv * n * row_bytes)) * iters, benchmark::Counter::kIsRate);
        state.counters["values"] = benchmark::Counter(values * iters, benchmark::Counter::kIsRate);
    }
    index_t n;
    aligned_vector<float> kf, vf;
    attune::tensor_view<const float> k, v;
};

template <class F>
void bm_quant_append(benchmark::State& state, index_t tokens) {
    const int threads = static_cast<int>(state.range(0));
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    const append_prompt p(tokens);
    attune::kv_cache_options o;
    o.reserve = tokens;
    attune::quant_kv_cache<F> cache(kHkv, kD, kD, F{}, F{}, o);
    cache.append(p.k, p.v, exec);  // the pages touched once
    for (auto _ : state) {
        cache.clear();
        cache.append(p.k, p.v, exec);
        benchmark::DoNotOptimize(cache.keys().data());
    }
    p.set_counters(state, F::row_bytes(kD));
}

template <class T>
void bm_paged_append(benchmark::State& state, index_t tokens) {
    const int threads = static_cast<int>(state.range(0));
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    const append_prompt p(tokens);
    constexpr index_t page = 16;
    attune::paged_kv_cache<T> pool(kHkv, kD, kD, page, tokens / page + 1, attune::page_layout::nhd);
    attune::seq_id s = pool.add_sequence();
    pool.append(s, p.k, p.v, exec);  // the pages touched once
    for (auto _ : state) {
        pool.free(s);
        s = pool.add_sequence();
        pool.append(s, p.k, p.v, exec);
        benchmark::DoNotOptimize(pool.page_ids(s));
    }
    index_t row_bytes = kD * static_cast<index_t>(sizeof(T));
    if constexpr (attune::quant::is_format_v<T>) row_bytes = T::row_bytes(kD);
    p.set_counters(state, row_bytes);
}

void register_rows(const std::vector<int>& threads) {
    const std::string paged = "quant/paged_append/L:2048/D:128/kv:";
    add(paged + "q8_0", threads, bm_paged_append<quant::q8_0>, index_t(2048));
    add(paged + "q4_0", threads, bm_paged_append<quant::q4_0>, index_t(2048));
    add(paged + "bf16", threads, bm_paged_append<attune::bf16>, index_t(2048));
    const std::string app = "quant/append/L:2048/D:128/kv:";
    add(app + "int8", threads, bm_quant_append<quant::int8>, index_t(2048));
    add(app + "fp8_e4m3", threads, bm_quant_append<quant::fp8_e4m3>, index_t(2048));
    add(app + "q8_0", threads, bm_quant_append<quant::q8_0>, index_t(2048));
    add(app + "q4_0", threads, bm_quant_append<quant::q4_0>, index_t(2048));
    add(app + "int4_g32", threads, bm_quant_append<quant::q4_1>, index_t(2048));
    add(app + "int4_g128", threads, bm_quant_append<quant::int4_group<128>>, index_t(2048));
    for (index_t lk : {8192, 32768}) {
        const std::string base = "quant/decode/Lk:" + std::to_string(lk) + "/D:128/kv:";
        add(base + "int8", threads, bm_quant_decode<quant::int8>, lk, false, false, false);
        add(base + "int8ch", threads, bm_quant_decode<quant::int8>, lk, true, false, false);
        add(base + "int8/int8_query", threads, bm_quant_decode<quant::int8>, lk, false, true, false);
        add(base + "int8/int8_query/int8_pv", threads, bm_quant_decode<quant::int8>, lk, false, true, true);
        add(base + "fp8_e4m3", threads, bm_quant_decode<quant::fp8_e4m3>, lk, false, false, false);
        add(base + "q8_0", threads, bm_quant_decode<quant::q8_0>, lk, false, false, false);
        add(base + "q8_0/int8_query", threads, bm_quant_decode<quant::q8_0>, lk, false, true, false);
        add(base + "q8_0/int8_query/int8_pv", threads, bm_quant_decode<quant::q8_0>, lk, false, true, true);
        add(base + "q4_0/int8_query", threads, bm_quant_decode<quant::q4_0>, lk, false, true, false);
        add(base + "q4_0/int8_query/int8_pv", threads, bm_quant_decode<quant::q4_0>, lk, false, true, true);
        add(base + "q4_0", threads, bm_quant_decode<quant::q4_0>, lk, false, false, false);
        add(base + "int4_g32/int8_query", threads, bm_quant_decode<quant::q4_1>, lk, false, true, false);
        add(base + "int4_g32", threads, bm_quant_decode<quant::q4_1>, lk, false, false, false);
        add(base + "int4_g128", threads, bm_quant_decode<quant::int4_group<128>>, lk, false, false, false);
    }
}
ATTUNE_BENCH_ROWS(register_rows);

}  // namespace
