// Randomized differential test, built once per SIMD arch (ATTUNE_TEST_ARCH): thousands of random
// problems, each run through attune::attention<arch> and compared with attune::reference::attention
// (float64) on the same variant.
//
// Every case draws: shapes (batch 1–3, kv heads 1–3, GQA groups 1/2/4/8, Lq and Lk from 1 to ~1000
// with tile edges 63/64/65 likely, Lq = Lk, Lq < Lk (chunks, decode) and Lq > Lk, head dims 1–130 with
// Dk ≠ Dv), layouts of q, k/v and out (bhld / blhd) with padding between rows, heads and batches,
// storage (float; bf16, half, float q with bf16 k/v), a variant (family × mask × score modifier ×
// sink × router, with random parameters: 34 compositions covering every built-in mask, modifier and
// sink; 9 with routers — head_gates (pruned, scaled, any gates), token_gates, MoH's learned and
// query-norm gates, BAM's soft mixture, DuoAttention's duo_heads — and 7 of the linear family,
// compared with tests/linear/reference.hpp: kernelised non-causal, causal chunked, prefill + recurrent
// steps, InLine, Flowformer, the gated delta rule chunked/recurrent, Aaren's scan/updates), the score scale,
// the spread of q and k, the executor's workers (1–4, a user thread pool) and the key splits (0 =
// automatic, or 1–6), and whether an LSE output is asked for. Outputs are poisoned with NaN in padded
// buffers: every element must be written and nothing around it touched; the input padding is NaN, so
// a read outside a view shows. Tolerances are support.hpp's (float32 output: 1e-4 absolute and 1e-5
// relative L2; bf16/half output: + their rounding; LSE 1e-4; rows that see nothing: LSE exactly −inf).
//
// Environment:
//   ATTUNE_RANDOM_SEED    the run's seed (default 20261128, fixed so CI is reproducible)
//   ATTUNE_RANDOM_CASES   how many cases (default 2000)
//   ATTUNE_RANDOM_CASE    run only this case index (replays a failure: same seed, same index)
// A failure prints the seed, the case index, the whole case and the first bad element; the test
// stops after 5 failing cases.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "random/random.hpp"

namespace attune_random {
namespace {

index_t length(draw& d, index_t max_len) {
    const int k = static_cast<int>(d.uniform(0, 9));
    index_t L;
    if (k < 4) L = d.uniform(1, 140);
    else if (k < 7) L = d.pick<index_t>({1, 2, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 191, 192, 193});
    else L = d.uniform(1, max_len);
    return std::min(L, max_len);
}

rcase make_case(std::uint64_t seed, long index) {
    rcase c;
    c.seed = seed;
    c.index = index;
    draw d(splitmix(seed ^ splitmix(static_cast<std::uint64_t>(index))));
    c.B = d.chance(0.7) ? 1 : d.chance(0.8) ? 2 : 3;
    c.Hkv = d.uniform(1, 3);
    c.Hq = c.Hkv * d.pick<index_t>({1, 1, 2, 4, 8});
    const int shape = static_cast<int>(d.uniform(0, 9));
    if (shape < 4) {  // self-attention
        c.Lq = c.Lk = length(d, 400);
    } else if (shape < 6) {  // chunked prefill
        c.Lk = length(d, 600);
        c.Lq = d.uniform(1, c.Lk);
    } else if (shape < 8) {  // decode and speculative decode against a long cache
        c.Lq = d.uniform(1, 4);
        c.Lk = d.uniform(1, 1000);
    } else {  // anything, Lq > Lk included
        c.Lq = length(d, 300);
        c.Lk = length(d, 300);
    }
    const std::initializer_list<index_t> dims = {1, 3, 7, 8, 16, 17, 32, 33, 48, 63, 64, 80, 96, 128, 130};
    c.Dk = d.pick<index_t>(dims);
    c.Dv = d.chance(0.6) ? c.Dk : d.pick<index_t>(dims);
    // Keep each case cheap (the reference is a plain float64 loop): shrink the lengths.
    const auto work = [&] {
        return static_cast<double>(c.B * c.Hq) * static_cast<double>(c.Lq) * static_cast<double>(c.Lk) * static_cast<double>(c.Dk + c.Dv);
    };
    while (work() > 4e6) {
        if (c.Lq > 1 && (c.Lq >= c.Lk || c.Lk == 1 || d.chance(0.3))) c.Lq = (c.Lq + 1) / 2;
        else c.Lk = (c.Lk + 1) / 2;
    }
    c.lq = d.chance(0.5) ? layout::bhld : layout::blhd;
    c.lk = d.chance(0.5) ? layout::bhld : layout::blhd;
    c.lo = d.chance(0.5) ? layout::bhld : layout::blhd;
    c.pad = d.pick<index_t>({0, 0, 1, 3, 16});
    c.variant = static_cast<int>(d.uniform(0, variant_count - 1));
    c.params = static_cast<std::uint32_t>(d.rng());
    c.st = storage::f32;
    if (c.variant < 4 || c.variant == 34)
        c.st = d.pick<storage>({storage::f32, storage::bf16, storage::f16, storage::f32q_bf16kv, storage::bf16_in_f32_out});
    else if (is_linear(c.variant) && d.chance(0.4)) c.st = d.pick<storage>({storage::bf16, storage::f16});
    c.scale = d.chance(0.7) ? 0.0f : d.real(0.02f, 0.6f);
    c.sigma = d.pick<float>({0.3f, 1.0f, 1.0f, 1.0f, 2.0f});
    c.workers = static_cast<int>(d.pick<index_t>({1, 1, 2, 3, 4}));
    c.splits = d.chance(0.5) ? 0 : d.uniform(1, 6);
    c.lse = d.chance(0.7);
    if (is_linear(c.variant)) {  // shapes the linear forms need
        c.lse = false;
        if (c.variant == lin_flow) c.Hq = c.Hkv;  // Flowformer has no GQA
        if (c.variant == lin_aaren) c.Lq = 1;     // one query per head over every prefix of the keys
        if (linear_causal(c)) c.Lq = c.Lk = std::max(c.Lq, c.Lk);
        const index_t Lo = c.variant == lin_aaren ? c.Lk : c.Lq;
        while (static_cast<double>(c.B * c.Hq) * static_cast<double>(Lo) * static_cast<double>(c.Lk) * static_cast<double>(c.Dk + c.Dv) >
               4e6) {
            c.Lk = (c.Lk + 1) / 2;
            if (linear_causal(c)) c.Lq = c.Lk;
            else if (c.variant != lin_aaren) c.Lq = std::min(c.Lq, std::max<index_t>((c.Lq + 1) / 2, 1));
        }
    }
    return c;
}

// A few shared thread pools: pools[w - 1] gives w workers (the caller and w − 1 threads).

std::string run_case(rcase& c) {
    if (is_linear(c.variant)) return run_linear_case(c);
    if (c.variant >= 34) return run_routers_case(c);
    return run_masks_case(c);
}

long env_long(const char* name, long fallback) {
    const char* s = std::getenv(name);
    if (s == nullptr || *s == '\0') return fallback;
    return std::strtol(s, nullptr, 10);
}

}  // namespace
}  // namespace attune_random

using namespace attune_random;

TEST_CASE("random problems vs the float64 reference", "[random]") {
    const std::uint64_t seed = static_cast<std::uint64_t>(env_long("ATTUNE_RANDOM_SEED", 20261128));
    const long cases = env_long("ATTUNE_RANDOM_CASES", 2000);
    const long only = env_long("ATTUNE_RANDOM_CASE", -1);
    std::cout << "random [" << ATTUNE_TEST_ARCH_NAME << "]: ATTUNE_RANDOM_SEED=" << seed << ", "
              << (only >= 0 ? "case " + std::to_string(only) : std::to_string(cases) + " cases") << std::endl;
    const auto t0 = std::chrono::steady_clock::now();
    long ran = 0, failed = 0;
    std::vector<long> per_variant(variant_count, 0);
    for (long i = only >= 0 ? only : 0; i < (only >= 0 ? only + 1 : cases); ++i) {
        rcase c = make_case(seed, i);
        const std::string err = run_case(c);
        ++ran;
        ++per_variant[static_cast<std::size_t>(c.variant)];
        if (only >= 0) std::cout << describe(c) << (err.empty() ? ": ok" : ": FAILED") << std::endl;
        if (!err.empty()) {
            ++failed;
            std::cout << "random: FAILED " << describe(c) << "\n  " << err << std::endl;
            FAIL_CHECK(describe(c) << "\n  " << err);
            if (failed >= 5) break;
        }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "random [" << ATTUNE_TEST_ARCH_NAME << "]: " << ran << " cases, " << failed << " failed, " << secs
              << " s; cases per variant:";
    for (long n : per_variant) std::cout << ' ' << n;
    std::cout << std::endl;
    CHECK(failed == 0);
}
