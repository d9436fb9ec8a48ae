// Randomized differential test, built once per SIMD arch (ATTUNE_TEST_ARCH): thousands of random
// problems, each run through attune::attention<arch> and compared with attune::reference::attention
// (float64) on the same variant.
//
// Every case draws: shapes (batch 1–3, kv heads 1–3, GQA groups 1/2/4/8, Lq and Lk from 1 to ~1000
// with tile edges 63/64/65 likely, Lq = Lk, Lq < Lk (chunks, decode) and Lq > Lk, head dims 1–130 with
// Dk ≠ Dv), layouts of q, k/v and out (bhld / blhd) with padding between rows, heads and batches,
// storage (float; bf16, half, float q with bf16 k/v), a variant (family × mask × score modifier ×
// sink, with random parameters: 34 compositions covering every built-in policy), the score scale,
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
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/mask/masks.hpp"
#include "mask/sparse_layout.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;
using namespace attune_test;
using arch = ATTUNE_TEST_ARCH;

namespace {

enum class storage { f32, bf16, f16, f32q_bf16kv, bf16_in_f32_out };
const char* storage_name(storage s) {
    switch (s) {
        case storage::f32: return "float";
        case storage::bf16: return "bf16 in/out";
        case storage::f16: return "half in/out";
        case storage::f32q_bf16kv: return "q float, k/v bf16, out float";
        case storage::bf16_in_f32_out: return "bf16 in, float out";
    }
    return "?";
}

// One random problem. `variant` indexes the compositions in run_case(); `params` seeds the
// policies' parameters (window sizes, slopes, tables, …).
struct rcase {
    std::uint64_t seed = 0;
    long index = 0;
    index_t B = 1, Hq = 1, Hkv = 1, Lq = 1, Lk = 1, Dk = 1, Dv = 1;
    layout lq = layout::bhld, lk = layout::bhld, lo = layout::bhld;
    index_t pad = 0;
    storage st = storage::f32;
    int variant = 0;
    std::uint32_t params = 0;
    float scale = 0.0f, sigma = 1.0f;
    int workers = 1;
    index_t splits = 0;
    bool lse = false;
    std::string policies;  // filled when the variant is built
};

std::string describe(const rcase& c) {
    std::ostringstream os;
    os << "arch " << ATTUNE_TEST_ARCH_NAME << ", ATTUNE_RANDOM_SEED=" << c.seed << " ATTUNE_RANDOM_CASE=" << c.index << ": B " << c.B
       << " Hq " << c.Hq << " Hkv " << c.Hkv << " Lq " << c.Lq << " Lk " << c.Lk << " Dk " << c.Dk << " Dv " << c.Dv << " layouts q "
       << layout_name(c.lq) << " kv " << layout_name(c.lk) << " out " << layout_name(c.lo) << " pad " << c.pad << " storage "
       << storage_name(c.st) << " variant #" << c.variant << " [" << c.policies << "] scale " << c.scale << " sigma " << c.sigma
       << " workers " << c.workers << " splits " << c.splits << (c.lse ? " lse" : "");
    return os.str();
}

std::uint64_t splitmix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

struct draw {
    std::mt19937_64 rng;
    explicit draw(std::uint64_t s) : rng(s) {}
    index_t uniform(index_t lo, index_t hi) { return std::uniform_int_distribution<index_t>(lo, hi)(rng); }
    float real(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng); }
    bool chance(double p) { return std::bernoulli_distribution(p)(rng); }
    template <class T>
    T pick(std::initializer_list<T> xs) {
        return *(xs.begin() + uniform(0, static_cast<index_t>(xs.size()) - 1));
    }
};

constexpr int variant_count = 34;

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
    const auto work = [&] { return static_cast<double>(c.B * c.Hq) * static_cast<double>(c.Lq) * static_cast<double>(c.Lk) * static_cast<double>(c.Dk + c.Dv); };
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
    if (c.variant < 4) c.st = d.pick<storage>({storage::f32, storage::bf16, storage::f16, storage::f32q_bf16kv, storage::bf16_in_f32_out});
    c.scale = d.chance(0.7) ? 0.0f : d.real(0.02f, 0.6f);
    c.sigma = d.pick<float>({0.3f, 1.0f, 1.0f, 1.0f, 2.0f});
    c.workers = static_cast<int>(d.pick<index_t>({1, 1, 2, 3, 4}));
    c.splits = d.chance(0.5) ? 0 : d.uniform(1, 6);
    c.lse = d.chance(0.7);
    return c;
}

// A few shared thread pools: pools[w - 1] gives w workers (the caller and w − 1 threads).
thread_pool& pool_of(int workers) {
    static std::unique_ptr<thread_pool> pools[4];
    auto& p = pools[workers - 1];
    if (!p) p = std::make_unique<thread_pool>(workers - 1);
    return *p;
}

// ---- random policy parameters ----

std::vector<index_t> random_lengths(draw& d, index_t total, index_t max_len) {
    std::vector<index_t> out;
    for (index_t n = 0; n < total;) {
        const index_t len = std::min(d.chance(0.3) ? index_t{1} : d.uniform(1, max_len), total - n);
        out.push_back(len);
        n += len;
    }
    return out;
}

attune::sliding_window window(draw& d, const rcase& c) {
    const index_t left = d.chance(0.1) ? attune::unbounded : d.uniform(0, c.Lk + 8);
    const index_t right = d.chance(0.6) ? 0 : d.chance(0.2) ? attune::unbounded : d.uniform(0, 80);
    return attune::sliding_window(left, right);
}
attune::sinks_window sinks_window(draw& d, const rcase& c) { return attune::sinks_window(d.uniform(0, 8), d.uniform(0, std::max<index_t>(c.Lk, 1))); }
attune::document_mask documents(draw& d, const rcase& c) {
    const bool causal = d.chance(0.6);
    if (c.B > 1 && d.chance(0.3)) {  // one row of ids per batch, unsorted ids in the last
        std::vector<std::vector<std::int32_t>> ids(static_cast<std::size_t>(c.B));
        for (auto& row : ids)
            for (index_t j = 0; j < c.Lk; ++j) row.push_back(static_cast<std::int32_t>(d.uniform(0, 2)));
        return attune::document_mask(ids, causal);
    }
    return attune::document_mask::from_lengths(random_lengths(d, c.Lk, 90), causal);
}
attune::block_sparse<attune::causal> blocks(draw& d, const rcase& c) {
    return sparse_layout(std::max<index_t>(c.Lk, 1), d.uniform(1, 70), d.uniform(1, 100), static_cast<std::uint32_t>(d.rng()));
}
attune::prefix_sharing prefix(draw& d, const rcase& c) {
    const index_t p = d.uniform(0, c.Lk);
    return attune::prefix_sharing(p, random_lengths(d, c.Lk - p, 80), d.chance(0.5));
}
attune::region_mask regions(draw& d, const rcase& c) {
    std::vector<attune::region> rs;
    const index_t n = d.uniform(0, 3);
    for (index_t i = 0; i < n; ++i) {
        const index_t q0 = d.uniform(0, c.Lq - 1), q1 = d.uniform(q0 + 1, c.Lq);
        const index_t k0 = d.uniform(0, c.Lk - 1), k1 = d.uniform(k0 + 1, c.Lk);
        rs.push_back({q0, q1, k0, k1});
    }
    return attune::region_mask(c.Lq, c.Lk, rs);
}
attune::softcap softcap(draw& d) { return attune::softcap(d.real(1.0f, 50.0f)); }
attune::alibi alibi(draw& d, const rcase& c, bool symmetric) {
    std::vector<float> s = d.chance(0.5) ? attune::alibi_slopes(c.Hq) : std::vector<float>{};
    if (s.empty())
        for (index_t h = 0; h < c.Hq; ++h) s.push_back(d.real(0.0f, 0.5f));
    return attune::alibi(s, symmetric ? attune::alibi_form::symmetric : attune::alibi_form::causal);
}
attune::relative_bias relbias(draw& d, const rcase& c) {
    const index_t R = d.uniform(0, 40);
    std::vector<float> t(static_cast<std::size_t>(c.Hq * (2 * R + 1)));
    for (auto& x : t) x = d.real(-2.0f, 2.0f);
    return attune::relative_bias(t, R);
}
attune::sink_logit sink_logit(draw& d, const rcase& c) {
    std::vector<float> z;
    for (index_t h = 0; h < c.Hq; ++h) z.push_back(d.chance(0.1) ? -std::numeric_limits<float>::infinity() : d.real(-4.0f, 6.0f));
    return attune::sink_logit(z);
}
attune::key_bias_sink key_bias(draw& d, const rcase& c) {
    std::vector<float> k(static_cast<std::size_t>(c.Hkv * c.Dk)), v(static_cast<std::size_t>(c.Hkv * c.Dv));
    const bool zero_v = d.chance(0.2);
    for (auto& x : k) x = d.real(-0.6f, 0.6f);
    for (auto& x : v) x = zero_v ? 0.0f : d.real(-1.0f, 1.0f);
    return attune::key_bias_sink(k, v);
}
attune::sigmoid sigmoid(draw& d) { return attune::sigmoid(d.real(-4.0f, 1.0f)); }

// ---- one case: kernel vs reference ----

// rms_floor: the relative L2 error is taken against max(‖ref‖, rms_floor·√n). An output of few
// elements may cancel to near 0 — a softmax average of N(0, 1) values that comes out at 8e-4, a
// sigmoid sum of 0.03 whose terms add up to ~10, a row whose keys all sit under an ALiBi penalty of
// e^-450 beside a zero sink value (‖ref‖ 1e-55, below float's range) — and float's error relative to
// such a result says nothing about the kernel. The per-element bound still applies in full.
template <class T>
std::string compare(const tensor<T>& out, const attune::reference::result& ref, const tolerance& tol, const lse_buffer* lse,
                    double rms_floor = 0.0) {
    const auto& v = out.view;
    double err2 = 0.0, ref2 = 0.0, max_err = 0.0;
    index_t unwritten = 0, over = 0;
    std::ostringstream first;
    for (index_t b = 0; b < v.batch(); ++b)
        for (index_t h = 0; h < v.heads(); ++h)
            for (index_t t = 0; t < v.tokens(); ++t)
                for (index_t e = 0; e < v.dim(); ++e) {
                    const double o = static_cast<double>(attune::to_float(v(b, h, t, e)));
                    const double r = ref.at(b, h, t, e);
                    const double err = std::abs(o - r);
                    if (std::isnan(o) || std::isnan(err)) {
                        if (unwritten++ == 0 && over == 0) first << "NaN at [" << b << "," << h << "," << t << "," << e << "] (ref " << r << ")";
                        continue;
                    }
                    err2 += err * err;
                    ref2 += r * r;
                    max_err = std::max(max_err, err);
                    if (err > tol.max_abs + tol.rel_elem * std::abs(r) && over++ == 0 && unwritten == 0)
                        first << "out [" << b << "," << h << "," << t << "," << e << "]: ours " << o << " ref " << r;
                }
    const double n = static_cast<double>(v.batch() * v.heads() * v.tokens() * v.dim());
    const double denom = std::max(ref2, rms_floor * rms_floor * n);
    const double rel = denom > 0.0 ? std::sqrt(err2 / denom) : std::sqrt(err2);
    std::ostringstream os;
    if (unwritten > 0) os << unwritten << " output elements NaN/unwritten; ";
    if (over > 0) os << over << " elements beyond tolerance (max abs error " << max_err << "); ";
    if (rel > tol.rel_l2)
        os << "relative L2 error " << rel << " > " << tol.rel_l2 << " (‖ref‖ " << std::sqrt(ref2) << ", max abs error " << max_err << "); ";
    if (const index_t n = out.clobbered_padding(); n > 0) os << n << " padding elements written; ";
    if (lse != nullptr) {
        index_t bad = 0;
        std::ostringstream lfirst;
        for (index_t b = 0; b < v.batch(); ++b)
            for (index_t h = 0; h < v.heads(); ++h)
                for (index_t t = 0; t < v.tokens(); ++t) {
                    const float ours = *lse->view.row(b, h, t);
                    const double r = ref.lse_at(b, h, t);
                    const bool ok = std::isinf(r) ? ours == static_cast<float>(r) : std::abs(ours - r) <= tol.lse_abs;
                    if (!ok && bad++ == 0) lfirst << "LSE [" << b << "," << h << "," << t << "]: ours " << ours << " ref " << r;
                }
        if (bad > 0) os << bad << " LSE values wrong, first " << lfirst.str() << "; ";
    }
    if (os.str().empty()) return {};
    return os.str() + "first: " + first.str();
}

template <class TQ, class TKV, class TO, class Var>
std::string run_typed(const Var& var, const rcase& c) {
    std::mt19937 rng(static_cast<std::uint32_t>(splitmix(c.seed + 7 * static_cast<std::uint64_t>(c.index))));
    tensor<TQ> q(c.B, c.Hq, c.Lq, c.Dk, c.lq, c.pad);
    tensor<TKV> k(c.B, c.Hkv, c.Lk, c.Dk, c.lk, c.pad), v(c.B, c.Hkv, c.Lk, c.Dv, c.lk, c.pad);
    q.fill_random(rng, c.sigma);
    k.fill_random(rng, c.sigma);
    v.fill_random(rng);
    tensor<TO> out(c.B, c.Hq, c.Lq, c.Dv, c.lo, c.pad);
    out.poison();
    lse_buffer lse(c.B, c.Hq, c.Lq);
    attune::options opt;
    opt.scale = c.scale;
    opt.kv_splits = c.splits;
    if (c.lse) opt.lse = lse.view;
    try {
        attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, var, opt, make_pool_executor(pool_of(c.workers)));
    } catch (const std::exception& e) {
        return std::string("attune::attention threw: ") + e.what();
    }
    const auto ref = attune::reference::attention(q.cview(), k.cview(), v.cview(), var, static_cast<double>(c.scale));
    constexpr bool sums = !attune::as_variant<Var>::type::family_type::has_lse;  // sigmoid
    return compare(out, ref, output_tolerance<TO>(), c.lse ? &lse : nullptr, sums ? 0.1 : 0.05);
}

template <class Var>
std::string run_stored(const Var& var, rcase& c) {
    using attune::bf16;
    using attune::half;
    switch (c.st) {
        case storage::f32: return run_typed<float, float, float>(var, c);
        case storage::bf16: return run_typed<bf16, bf16, bf16>(var, c);
        case storage::f16: return run_typed<half, half, half>(var, c);
        case storage::f32q_bf16kv: return run_typed<float, bf16, float>(var, c);
        case storage::bf16_in_f32_out: return run_typed<bf16, bf16, float>(var, c);
    }
    return "unknown storage";
}

template <class Var>
std::string run_float(const Var& var, rcase& c) {
    return run_typed<float, float, float>(var, c);
}

// The compositions. 0–3 also vary the storage; the others run in float. Sigmoid has no LSE.
std::string run_case(rcase& c) {
    using attune::variant;
    draw d(c.params);
    const auto name = [&](const char* s) { c.policies = s; };
    switch (c.variant) {
        case 0: name("causal"); return run_stored(variant(attune::causal{}), c);
        case 1: name("sinks_window + sink_logit + softcap"); return run_stored(variant(sinks_window(d, c), sink_logit(d, c), softcap(d)), c);
        case 2: name("sigmoid + sliding_window + softcap"); c.lse = false; return run_stored(variant(sigmoid(d), window(d, c), softcap(d)), c);
        case 3: name("no_mask + alibi (symmetric) + key_bias_sink"); return run_stored(variant(alibi(d, c, true), key_bias(d, c)), c);
        case 4: name("no_mask"); return run_float(variant<>{}, c);
        case 5: name("sliding_window"); return run_float(variant(window(d, c)), c);
        case 6: name("sinks_window"); return run_float(variant(sinks_window(d, c)), c);
        case 7: name("document_mask"); return run_float(variant(documents(d, c)), c);
        case 8: name("block_sparse<causal>"); return run_float(variant(blocks(d, c)), c);
        case 9: name("prefix_sharing"); return run_float(variant(prefix(d, c)), c);
        case 10: name("region_mask"); return run_float(variant(regions(d, c)), c);
        case 11: name("and_mask(sliding_window, causal)"); return run_float(variant(attune::and_mask(window(d, c), attune::causal{})), c);
        case 12: name("or_mask(sliding_window, prefix_keys)");
            return run_float(variant(attune::or_mask(window(d, c), attune::prefix_keys(d.uniform(0, c.Lk)))), c);
        case 13: name("causal + softcap"); return run_float(variant(attune::causal{}, softcap(d)), c);
        case 14: name("causal + alibi"); return run_float(variant(attune::causal{}, alibi(d, c, false)), c);
        case 15: name("sliding_window + relative_bias"); return run_float(variant(window(d, c), relbias(d, c)), c);
        case 16: name("no_mask + relative_bias"); return run_float(variant(relbias(d, c)), c);
        case 17: name("document_mask + compose(softcap, alibi)");
            return run_float(variant(documents(d, c), attune::compose(softcap(d), alibi(d, c, true))), c);
        case 18: name("causal + sink_logit"); return run_float(variant(attune::causal{}, sink_logit(d, c)), c);
        case 19: name("no_mask + sink_logit"); return run_float(variant(sink_logit(d, c)), c);
        case 20: name("causal + key_bias_sink"); return run_float(variant(attune::causal{}, key_bias(d, c)), c);
        case 21: name("sliding_window + relative_bias + key_bias_sink"); return run_float(variant(window(d, c), relbias(d, c), key_bias(d, c)), c);
        case 22: name("block_sparse<causal> + sink_logit"); return run_float(variant(blocks(d, c), sink_logit(d, c)), c);
        case 23: name("region_mask + alibi (symmetric) + key_bias_sink"); return run_float(variant(regions(d, c), alibi(d, c, true), key_bias(d, c)), c);
        case 24: name("prefix_sharing + softcap + sink_logit"); return run_float(variant(prefix(d, c), softcap(d), sink_logit(d, c)), c);
        case 25: name("sigmoid + causal"); c.lse = false; return run_float(variant(sigmoid(d), attune::causal{}), c);
        case 26: name("sigmoid + no_mask + alibi (symmetric)"); c.lse = false; return run_float(variant(sigmoid(d), alibi(d, c, true)), c);
        case 27: name("sigmoid + document_mask + relative_bias"); c.lse = false; return run_float(variant(sigmoid(d), documents(d, c), relbias(d, c)), c);
        case 28: name("sigmoid + block_sparse<causal>"); c.lse = false; return run_float(variant(sigmoid(d), blocks(d, c)), c);
        case 29: name("sigmoid + sinks_window + compose(softcap, relative_bias)"); c.lse = false;
            return run_float(variant(sigmoid(d), sinks_window(d, c), attune::compose(softcap(d), relbias(d, c))), c);
        case 30: name("and_mask(document_mask, sliding_window) + softcap");
            return run_float(variant(attune::and_mask(documents(d, c), window(d, c)), softcap(d)), c);
        case 31: name("or_mask(causal, region_mask) + sink_logit");
            return run_float(variant(attune::or_mask(attune::causal{}, regions(d, c)), sink_logit(d, c)), c);
        case 32: name("sliding_window + compose(relative_bias, softcap) + sink_logit");
            return run_float(variant(window(d, c), attune::compose(relbias(d, c), softcap(d)), sink_logit(d, c)), c);
        case 33: name("sigmoid + region_mask + softcap"); c.lse = false; return run_float(variant(sigmoid(d), regions(d, c), softcap(d)), c);
    }
    return "unknown variant";
}

long env_long(const char* name, long fallback) {
    const char* s = std::getenv(name);
    if (s == nullptr || *s == '\0') return fallback;
    return std::strtol(s, nullptr, 10);
}

}  // namespace

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
    std::cout << "random [" << ATTUNE_TEST_ARCH_NAME << "]: " << ran << " cases, " << failed << " failed, " << secs << " s; cases per variant:";
    for (long n : per_variant) std::cout << ' ' << n;
    std::cout << std::endl;
    CHECK(failed == 0);
}
