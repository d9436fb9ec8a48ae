#pragma once
// Shared by the variant tests (tests/score, tests/family, tests/sink): runs attune::attention<arch>
// with a variant on one case and compares it with attune::reference::attention on the same variant
// (double precision, element by element). Tolerances are support.hpp's float32 bounds
// (golden/README.md): max |ours − ref| ≤ 1e-4, ‖ours − ref‖/‖ref‖ ≤ 1e-5, LSE ≤ 1e-4.
#include <cstdint>
#include <random>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

namespace attune_test {

struct vcase {
    index_t B = 1, Hq = 1, Hkv = 1, Lq = 1, Lk = 1, Dk = 64, Dv = 64;
    index_t splits = 0;    // 0: automatic (with the executor's workers)
    bool threads = false;  // pool executor with 3 workers (else serial)
    float sigma = 1.0f;    // spread of q and k
    layout lay = layout::bhld;
};

inline std::string describe(const vcase& c) {
    std::ostringstream os;
    os << "arch " << ATTUNE_TEST_ARCH_NAME << ": B " << c.B << " Hq " << c.Hq << " Hkv " << c.Hkv << " Lq " << c.Lq << " Lk " << c.Lk
       << " Dk " << c.Dk << " Dv " << c.Dv << " splits " << c.splits << (c.threads ? " threads" : " serial") << " sigma " << c.sigma
       << " layout " << layout_name(c.lay);
    return os.str();
}

inline thread_pool& variant_pool() {
    static thread_pool pool(2);
    return pool;
}

template <class TIn = float>
struct vinputs {
    tensor<TIn> q, k, v;
    vinputs(const vcase& c, std::uint32_t seed)
        : q(c.B, c.Hq, c.Lq, c.Dk, c.lay, 3), k(c.B, c.Hkv, c.Lk, c.Dk, c.lay, 3), v(c.B, c.Hkv, c.Lk, c.Dv, c.lay, 3) {
        std::mt19937 rng(seed);
        q.fill_random(rng, c.sigma);
        k.fill_random(rng, c.sigma);
        v.fill_random(rng);
    }
};

// Runs the kernel into a poisoned output (and LSE, when the family has one).
template <class Var, class TIn>
void run_variant(const Var& var, const vcase& c, const vinputs<TIn>& in, tensor<float>& out, lse_buffer* lse) {
    out.poison();
    attune::options opt;
    if (lse != nullptr) opt.lse = lse->view;
    opt.kv_splits = c.splits;
    if (c.threads)
        attune::attention<ATTUNE_TEST_ARCH>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, var, opt,
                                            make_pool_executor(variant_pool()));
    else attune::attention<ATTUNE_TEST_ARCH>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, var, opt, attune::serial_executor{});
}

// Kernel vs reference for one case; returns the reference for further checks.
template <class Var, class TIn = float>
attune::reference::result check_variant(const Var& var, const vcase& c, std::uint32_t seed, const tolerance& tol = fp32_tolerance()) {
    using family = typename attune::as_variant<Var>::type::family_type;
    INFO(describe(c) << " in " << attune::storage_name<TIn>() << " seed " << seed);
    const vinputs<TIn> in(c, seed);
    tensor<float> out(c.B, c.Hq, c.Lq, c.Dv, c.lay, 3);
    lse_buffer lse(c.B, c.Hq, c.Lq);
    run_variant(var, c, in, out, family::has_lse ? &lse : nullptr);
    auto ref = attune::reference::attention(in.q.cview(), in.k.cview(), in.v.cview(), var);
    check_against_reference(out, ref, tol, family::has_lse ? &lse : nullptr);
    return ref;
}

// The size sweep every variant goes through: Lq/Lk 1, 7, 63, 65, 129 (square, chunked and Lq > Lk),
// GQA groups 1 and 4, decode (Lq 1) against 1000 keys, forced splits 1, 2, 3 and automatic splits
// on a thread pool. Query heads 2 or 8 (policies' per-head parameters need 8).
template <class Var>
void sweep(const Var& var, std::uint32_t seed, float sigma = 1.0f) {
    struct lens {
        index_t lq, lk;
    };
    int i = 0;
    for (lens L : {lens{1, 1}, lens{7, 7}, lens{63, 63}, lens{65, 65}, lens{129, 129}, lens{7, 129}, lens{65, 129}, lens{129, 63},
                   lens{1, 1000}, lens{3, 1000}})
        for (index_t g : {1, 4}) {
            vcase c;
            c.Hkv = 2;
            c.Hq = 2 * g;
            c.Lq = L.lq;
            c.Lk = L.lk;
            c.Dk = c.Dv = (i % 3 == 0) ? 80 : 64;
            c.sigma = sigma;
            c.lay = i % 2 == 0 ? layout::bhld : layout::blhd;
            c.splits = 1 + i % 3;  // 1, 2, 3
            check_variant(var, c, seed++);
            if (L.lk >= 129) {  // automatic splits across threads (decode uses them)
                c.splits = 0;
                c.threads = true;
                check_variant(var, c, seed++);
            }
            ++i;
        }
}

// The same sweep for variants whose parameters depend on the case (per-head tables sized to
// c.Hq, embeddings of c.Dk): make(c) builds the variant for each case. Adds GQA group 8.
template <class MakeVar>
void sweep_built(MakeVar make, std::uint32_t seed) {
    struct lens {
        index_t lq, lk;
    };
    int i = 0;
    for (lens L : {lens{1, 1}, lens{7, 7}, lens{63, 63}, lens{65, 65}, lens{129, 129}, lens{7, 129}, lens{65, 129}, lens{129, 63},
                   lens{1, 1000}, lens{3, 1000}})
        for (index_t g : {1, 4, 8}) {
            vcase c;
            c.Hkv = g == 8 ? 1 : 2;
            c.Hq = c.Hkv * g;
            c.Lq = L.lq;
            c.Lk = L.lk;
            c.Dk = c.Dv = (i % 3 == 0) ? 80 : (i % 3 == 1 ? 32 : 64);
            c.lay = i % 2 == 0 ? layout::bhld : layout::blhd;
            c.splits = 1 + i % 3;
            check_variant(make(c), c, seed++);
            if (L.lk >= 129) {
                c.splits = 0;
                c.threads = true;
                check_variant(make(c), c, seed++);
            }
            ++i;
        }
}

}  // namespace attune_test
