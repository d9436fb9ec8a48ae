#pragma once
// The randomized differential test's shared pieces (tests/random/random_test.cpp says what a case
// draws): the case, the random policy parameters, and one case run through attune::attention<arch>
// or attune::linear against the float64 references. The cases are split over several translation
// units so a build runs them in parallel: random_masks.cpp (variants 0–33), random_routers.cpp
// (34–42), random_linear.cpp (43–49).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "attune/mask/masks.hpp"
#include "mask/sparse_layout.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

namespace attune_random {

using attune::index_t;
using namespace attune_test;
using arch = ATTUNE_TEST_ARCH;

enum class storage { f32, bf16, f16, f32q_bf16kv, bf16_in_f32_out };
inline const char* storage_name(storage s) {
    switch (s) {
        case storage::f32:
            return "float";
        case storage::bf16:
            return "bf16 in/out";
        case storage::f16:
            return "half in/out";
        case storage::f32q_bf16kv:
            return "q float, k/v bf16, out float";
        case storage::bf16_in_f32_out:
            return "bf16 in, float out";
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

inline std::string describe(const rcase& c) {
    std::ostringstream os;
    os << "arch " << ATTUNE_TEST_ARCH_NAME << ", ATTUNE_RANDOM_SEED=" << c.seed << " ATTUNE_RANDOM_CASE=" << c.index << ": B " << c.B
       << " Hq " << c.Hq << " Hkv " << c.Hkv << " Lq " << c.Lq << " Lk " << c.Lk << " Dk " << c.Dk << " Dv " << c.Dv << " layouts q "
       << layout_name(c.lq) << " kv " << layout_name(c.lk) << " out " << layout_name(c.lo) << " pad " << c.pad << " storage "
       << storage_name(c.st) << " variant #" << c.variant << " [" << c.policies << "] scale " << c.scale << " sigma " << c.sigma
       << " workers " << c.workers << " splits " << c.splits << (c.lse ? " lse" : "");
    return os.str();
}

inline std::uint64_t splitmix(std::uint64_t x) {
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

constexpr int variant_count = 50;  // 0–33 masks, modifiers, sinks; 34–42 routers; 43–49 linear

// The linear variants and what their shapes need (make_case applies it).
constexpr int linear_first = 43;
enum linear_kind { lin_noncausal = 43, lin_causal, lin_recurrent, lin_inline, lin_flow, lin_gated_delta, lin_aaren };
inline bool is_linear(int variant) { return variant >= linear_first; }
inline bool linear_causal(const rcase& c) {
    return c.variant == lin_causal || c.variant == lin_recurrent || c.variant == lin_gated_delta ||
           (c.variant == lin_flow && (c.params & 1u));
}

inline thread_pool& pool_of(int workers) {
    static std::unique_ptr<thread_pool> pools[4];
    auto& p = pools[workers - 1];
    if (!p) p = std::make_unique<thread_pool>(workers - 1);
    return *p;
}

// ---- random policy parameters ----

inline std::vector<index_t> random_lengths(draw& d, index_t total, index_t max_len) {
    std::vector<index_t> out;
    for (index_t n = 0; n < total;) {
        const index_t len = std::min(d.chance(0.3) ? index_t{1} : d.uniform(1, max_len), total - n);
        out.push_back(len);
        n += len;
    }
    return out;
}

inline attune::sliding_window window(draw& d, const rcase& c) {
    const index_t left = d.chance(0.1) ? attune::unbounded : d.uniform(0, c.Lk + 8);
    const index_t right = d.chance(0.6) ? 0 : d.chance(0.2) ? attune::unbounded : d.uniform(0, 80);
    return attune::sliding_window(left, right);
}
inline attune::sinks_window sinks_window(draw& d, const rcase& c) {
    return attune::sinks_window(d.uniform(0, 8), d.uniform(0, std::max<index_t>(c.Lk, 1)));
}
inline attune::document_mask documents(draw& d, const rcase& c) {
    const bool causal = d.chance(0.6);
    if (c.B > 1 && d.chance(0.3)) {  // one row of ids per batch, unsorted ids in the last
        std::vector<std::vector<std::int32_t>> ids(static_cast<std::size_t>(c.B));
        for (auto& row : ids)
            for (index_t j = 0; j < c.Lk; ++j) row.push_back(static_cast<std::int32_t>(d.uniform(0, 2)));
        return attune::document_mask(ids, causal);
    }
    return attune::document_mask::from_lengths(random_lengths(d, c.Lk, 90), causal);
}
inline attune::block_sparse<attune::causal> blocks(draw& d, const rcase& c) {
    return sparse_layout(std::max<index_t>(c.Lk, 1), d.uniform(1, 70), d.uniform(1, 100), static_cast<std::uint32_t>(d.rng()));
}
inline attune::prefix_sharing prefix(draw& d, const rcase& c) {
    const index_t p = d.uniform(0, c.Lk);
    return attune::prefix_sharing(p, random_lengths(d, c.Lk - p, 80), d.chance(0.5));
}
inline attune::region_mask regions(draw& d, const rcase& c) {
    std::vector<attune::region> rs;
    const index_t n = d.uniform(0, 3);
    for (index_t i = 0; i < n; ++i) {
        const index_t q0 = d.uniform(0, c.Lq - 1), q1 = d.uniform(q0 + 1, c.Lq);
        const index_t k0 = d.uniform(0, c.Lk - 1), k1 = d.uniform(k0 + 1, c.Lk);
        rs.push_back({q0, q1, k0, k1});
    }
    return attune::region_mask(c.Lq, c.Lk, rs);
}
inline attune::softcap softcap(draw& d) { return attune::softcap(d.real(1.0f, 50.0f)); }
inline attune::alibi alibi(draw& d, const rcase& c, bool symmetric) {
    std::vector<float> s = d.chance(0.5) ? attune::alibi_slopes(c.Hq) : std::vector<float>{};
    if (s.empty())
        for (index_t h = 0; h < c.Hq; ++h) s.push_back(d.real(0.0f, 0.5f));
    return attune::alibi(s, symmetric ? attune::alibi_form::symmetric : attune::alibi_form::causal);
}
inline attune::relative_bias relbias(draw& d, const rcase& c) {
    const index_t R = d.uniform(0, 40);
    std::vector<float> t(static_cast<std::size_t>(c.Hq * (2 * R + 1)));
    for (auto& x : t) x = d.real(-2.0f, 2.0f);
    return attune::relative_bias(t, R);
}
inline attune::sink_logit sink_logit(draw& d, const rcase& c) {
    std::vector<float> z;
    for (index_t h = 0; h < c.Hq; ++h) z.push_back(d.chance(0.1) ? -std::numeric_limits<float>::infinity() : d.real(-4.0f, 6.0f));
    return attune::sink_logit(z);
}
inline attune::key_bias_sink key_bias(draw& d, const rcase& c) {
    std::vector<float> k(static_cast<std::size_t>(c.Hkv * c.Dk)), v(static_cast<std::size_t>(c.Hkv * c.Dv));
    const bool zero_v = d.chance(0.2);
    for (auto& x : k) x = d.real(-0.6f, 0.6f);
    for (auto& x : v) x = zero_v ? 0.0f : d.real(-1.0f, 1.0f);
    return attune::key_bias_sink(k, v);
}
inline attune::sigmoid sigmoid(draw& d) { return attune::sigmoid(d.real(-4.0f, 1.0f)); }

// ---- random routers ----

// A gate value: often 0 (the row is skipped) or 1, else a weight in [0.25, 3) or, rarely, negative.
inline float gate_value(draw& d) {
    if (d.chance(0.3)) return 0.0f;
    if (d.chance(0.3)) return 1.0f;
    return d.chance(0.1) ? d.real(-2.0f, -0.1f) : d.real(0.25f, 3.0f);
}
inline std::vector<index_t> some_heads(draw& d, index_t H) {
    std::vector<index_t> hs;
    for (index_t h = 0; h < H; ++h)
        if (d.chance(0.4)) hs.push_back(h);
    return hs;
}
inline attune::head_gates head_gates(draw& d, const rcase& c) {
    switch (d.uniform(0, 2)) {
        case 0:
            return attune::head_gates::pruned(c.Hq, some_heads(d, c.Hq));
        case 1:
            return attune::head_gates::scaled(c.Hq, some_heads(d, c.Hq), d.real(0.25f, 3.0f));
        default: {
            std::vector<float> g(static_cast<std::size_t>(c.Hq));
            for (auto& x : g) x = gate_value(d);
            return attune::head_gates(g);
        }
    }
}
// Per-(token, head) gates, a random fraction of them off.
inline attune::token_gates token_gates(draw& d, const rcase& c) {
    const double off = d.pick<double>({0.0, 0.3, 0.7, 0.95, 1.0});
    std::vector<float> g(static_cast<std::size_t>(c.B * c.Lq * c.Hq));
    for (auto& x : g) x = d.chance(off) ? 0.0f : d.chance(0.1) ? d.real(-2.0f, -0.1f) : d.real(0.25f, 3.0f);
    return attune::token_gates(std::move(g), c.B, c.Lq, c.Hq);
}
inline std::vector<float> logits(draw& d, index_t n) {
    std::vector<float> x(static_cast<std::size_t>(n));
    for (auto& e : x) e = d.real(-3.0f, 3.0f);
    return x;
}
// MoH's learned router: the first `shared` heads always on, top-k of the routed ones.
inline attune::token_gates moh(draw& d, const rcase& c) {
    const index_t shared = d.uniform(0, c.Hq), routed = c.Hq - shared, top_k = d.uniform(0, routed), rows = c.B * c.Lq;
    const auto routed_logits = logits(d, rows * routed);
    const auto shared_logits = d.chance(0.5) ? logits(d, rows * shared) : std::vector<float>{};
    const auto split_logits = d.chance(0.5) ? logits(d, rows * 2) : std::vector<float>{};
    return attune::moh_gates(c.B, c.Lq, shared, routed, top_k, routed_logits, shared_logits, split_logits);
}
inline attune::token_gates soft_mixture(draw& d, const rcase& c) {
    return attune::soft_mixture_gates(c.B, c.Lq, c.Hq, logits(d, c.B * c.Lq * c.Hq));
}
// DuoAttention: each kv head retrieval (causal) or streaming (sinks + recent window).
inline attune::duo_heads duo(draw& d, const rcase& c) {
    std::vector<bool> streaming(static_cast<std::size_t>(c.Hkv));
    const double p = d.pick<double>({0.0, 0.5, 0.5, 1.0});
    for (std::size_t h = 0; h < streaming.size(); ++h) streaming[h] = d.chance(p);
    return attune::duo_heads(streaming, d.uniform(0, 8), d.uniform(0, std::max<index_t>(c.Lk, 1)));
}

// ---- one case: kernel vs reference ----

// rms_floor: the relative L2 error is taken against max(‖ref‖, rms_floor·√n). An output of few
// elements may cancel to near 0 — a softmax average of N(0, 1) values that comes out at 8e-4, a
// sigmoid sum of 0.03 whose terms add up to ~10, a row whose keys all sit under an ALiBi penalty of
// e^-450 beside a zero sink value (‖ref‖ 1e-55, below float's range) — and float's error relative to
// such a result says nothing about the kernel. The per-element bound still applies in full. Rows
// with a router's gate g have floor·max|g|.
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
                        if (unwritten++ == 0 && over == 0)
                            first << "NaN at [" << b << "," << h << "," << t << "," << e << "] (ref " << r << ")";
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

// make(q) builds the variant from the case's queries (a router may read them: MoH's query-norm gates).
template <class TQ, class TKV, class TO, class Make>
std::string run_typed(const Make& make, const rcase& c) {
    std::mt19937 rng(static_cast<std::uint32_t>(splitmix(c.seed + 7 * static_cast<std::uint64_t>(c.index))));
    tensor<TQ> q(c.B, c.Hq, c.Lq, c.Dk, c.lq, c.pad);
    tensor<TKV> k(c.B, c.Hkv, c.Lk, c.Dk, c.lk, c.pad), v(c.B, c.Hkv, c.Lk, c.Dv, c.lk, c.pad);
    q.fill_random(rng, c.sigma);
    k.fill_random(rng, c.sigma);
    v.fill_random(rng);
    tensor<TO> out(c.B, c.Hq, c.Lq, c.Dv, c.lo, c.pad);
    out.poison();
    const auto var = make(q.cview());
    using Var = std::decay_t<decltype(var)>;
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
    // A router's gates scale the output and its rounding error alike: the floor scales with them.
    double gate_max = 1.0;
    const auto full = attune::to_variant(var);
    const auto& router = full.router();
    for (index_t b = 0; b < c.B; ++b)
        for (index_t h = 0; h < c.Hq; ++h)
            for (index_t i = 0; i < c.Lq; ++i)
                gate_max = std::max(gate_max, std::abs(static_cast<double>(router.gate(attune::row_context{b, h, i, c.Lk - c.Lq + i}))));
    // Sigmoid outputs are plain sums of up to ~1000 weighted values (|o| up to ~100): float's
    // accumulation error grows with |o|, so the element bound gets a relative part.
    auto tol = output_tolerance<TO>();
    if (sums) tol.rel_elem = std::max(tol.rel_elem, 1e-5);
    if constexpr (std::is_same_v<TQ, attune::bf16> && std::is_same_v<TKV, attune::bf16> && std::is_same_v<TO, attune::bf16>) {
        // Weights rounded to bf16 on AMX: the bound's Σ w|v| is the reference on |V|, times the gates.
        tensor<TKV> v_abs(c.B, c.Hkv, c.Lk, c.Dv, c.lk, c.pad);
        for (std::size_t i = 0; i < v.buf.size(); ++i) v_abs.buf[i] = attune::from_float<TKV>(std::abs(attune::to_float(v.buf[i])));
        const auto weighted = attune::reference::attention(q.cview(), k.cview(), v_abs.cview(), var, static_cast<double>(c.scale));
        double weighted_max = 0.0;
        for (const double x : weighted.out) weighted_max = std::max(weighted_max, std::isfinite(x) ? x : 0.0);
        tol = with_rounded_weights<TQ, TKV, TKV, TO>(tol, weighted_max * gate_max);
    }
    return compare(out, ref, tol, c.lse ? &lse : nullptr, (sums ? 0.1 : 0.05) * gate_max);
}

// A variant that does not depend on the queries.
template <class Var>
auto fixed(const Var& var) {
    return [&var](const auto&) -> const Var& { return var; };
}

template <class Make>
std::string run_stored_with(const Make& make, rcase& c) {
    using attune::bf16;
    using attune::half;
    switch (c.st) {
        case storage::f32:
            return run_typed<float, float, float>(make, c);
        case storage::bf16:
            return run_typed<bf16, bf16, bf16>(make, c);
        case storage::f16:
            return run_typed<half, half, half>(make, c);
        case storage::f32q_bf16kv:
            return run_typed<float, bf16, float>(make, c);
        case storage::bf16_in_f32_out:
            return run_typed<bf16, bf16, float>(make, c);
    }
    return "unknown storage";
}

template <class Var>
std::string run_stored(const Var& var, rcase& c) {
    return run_stored_with(fixed(var), c);
}

template <class Var>
std::string run_float(const Var& var, rcase& c) {
    return run_typed<float, float, float>(fixed(var), c);
}

// The variants of each translation unit.
std::string run_masks_case(rcase& c);    // random_masks.cpp: 0–33
std::string run_routers_case(rcase& c);  // random_routers.cpp: 34–42
std::string run_linear_case(rcase& c);   // random_linear.cpp: 43–49

}  // namespace attune_random
