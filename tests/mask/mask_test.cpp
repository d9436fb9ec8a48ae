// Every mask of attune/mask/ through the tile engine of one SIMD arch (ATTUNE_TEST_ARCH), against
// the double-precision reference applying the same mask's visible() element by element.
//
// Each mask runs over odd sizes (Lq = Lk ∈ {1, 7, 63, 65, 129, 300}), GQA groups 1 and 4, decode
// and short chunks against long keys (Lq 1 and 3, Lk 300 and 517), forced key splits 1 and 3 (serial;
// only 3 at 300 tokens, to keep the scalar build's run short) and once with the default executor and
// automatic splits. Parameters are picked so that windows,
// documents and blocks straddle the engine's 64-key tiles. Outputs are poisoned with NaN: every
// element must be written; rows with nothing visible must be zeros with LSE exactly −inf.
// Tolerances: support.hpp's float32 bounds (max abs 1e-4, relative L2 1e-5, LSE 1e-4).
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
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

struct shape {
    index_t B = 1, Hq = 1, Hkv = 1, Lq = 1, Lk = 1, D = 64;
};

struct run_result {
    tensor<float> out;
    lse_buffer lse;
    attune::reference::result ref;
};

// Runs the kernel (serial with `splits` forced, or the default executor with automatic splits when
// splits == 0) and the reference with the same mask, and compares them.
template <class Mask>
run_result check_mask(const std::string& what, const Mask& m, const shape& s, index_t splits, std::uint32_t seed) {
    INFO("arch " << ATTUNE_TEST_ARCH_NAME << ", mask " << what << ": B " << s.B << " Hq " << s.Hq << " Hkv " << s.Hkv << " Lq " << s.Lq
                 << " Lk " << s.Lk << " D " << s.D << " splits " << splits << " seed " << seed);
    std::mt19937 rng(seed);
    tensor<float> q(s.B, s.Hq, s.Lq, s.D), k(s.B, s.Hkv, s.Lk, s.D), v(s.B, s.Hkv, s.Lk, s.D);
    q.fill_random(rng);
    k.fill_random(rng);
    v.fill_random(rng);
    run_result r{tensor<float>(s.B, s.Hq, s.Lq, s.D), lse_buffer(s.B, s.Hq, s.Lq), {}};
    r.out.poison();
    attune::options opt;
    opt.lse = r.lse.view;
    opt.kv_splits = splits;
    if (splits == 0) attune::attention<arch>(q.cview(), k.cview(), v.cview(), r.out.view, m, opt);
    else attune::attention<arch>(q.cview(), k.cview(), v.cview(), r.out.view, m, opt, attune::serial_executor{});
    r.ref = attune::reference::attention(q.cview(), k.cview(), v.cview(), m);
    check_against_reference(r.out, r.ref, fp32_tolerance(), &r.lse);
    return r;
}

// The size sweep of one mask; make(Lq, Lk) builds the mask for the shape.
template <class Make>
void sweep(const std::string& what, const Make& make, std::uint32_t seed) {
    int i = 0;
    for (index_t L : {1, 7, 63, 65, 129, 300})
        for (index_t g : {1, 4})
            for (index_t splits : {1, 3}) {
                if (L == 300 && splits == 1) continue;  // the costliest size: split keys only
                shape s;
                s.Hkv = g == 1 ? 2 : 1;
                s.Hq = g * s.Hkv;
                s.B = L == 65 ? 2 : 1;
                s.Lq = s.Lk = L;
                s.D = i % 3 == 0 ? 64 : i % 3 == 1 ? 32 : 80;
                check_mask(what, make(s.Lq, s.Lk), s, splits, seed++);
                ++i;
            }
    for (index_t lq : {1, 3})
        for (index_t lk : {300, 517})
            for (index_t g : {1, 4})
                for (index_t splits : {1, 3}) {
                    shape s;
                    s.Hkv = 2;
                    s.Hq = g * s.Hkv;
                    s.Lq = lq;
                    s.Lk = lk;
                    check_mask(what, make(s.Lq, s.Lk), s, splits, seed++);
                }
    shape s;
    s.Hq = 4;
    s.Hkv = 2;
    s.Lq = s.Lk = 200;
    check_mask(what, make(s.Lq, s.Lk), s, 0, seed);
}

// Document lengths 1, 1, 5, 64, 1, 33, 70, 2, … cut to Lk (many of length 1, some straddling tiles).
std::vector<index_t> doc_lengths(index_t lk) {
    const index_t pattern[] = {1, 1, 5, 64, 1, 33, 70, 2, 129, 1};
    std::vector<index_t> out;
    for (index_t n = 0, i = 0; n < lk; ++i) {
        const index_t len = std::min(pattern[i % 10], lk - n);
        out.push_back(len);
        n += len;
    }
    return out;
}

}  // namespace

TEST_CASE("mask sliding_window vs reference", "[mask]") {
    sweep(
        "window {0, 0}", [](index_t, index_t) { return attune::sliding_window(0, 0); }, 100);
    sweep(
        "window {63, 0}", [](index_t, index_t) { return attune::sliding_window(63, 0); }, 200);
    sweep(
        "window {5, 70}", [](index_t, index_t) { return attune::sliding_window(5, 70); }, 300);
    sweep(
        "window of 65 tokens", [](index_t, index_t) { return attune::causal_window_of(65); }, 400);
    // Longer than the sequence: every key in range (causal, or everything).
    sweep(
        "window {1000, 0}", [](index_t, index_t) { return attune::sliding_window(1000, 0); }, 500);
    sweep(
        "window {∞, ∞}", [](index_t, index_t) { return attune::sliding_window(attune::unbounded, attune::unbounded); }, 600);
}

TEST_CASE("mask sinks_window vs reference", "[mask]") {
    sweep(
        "sinks 4 window 32", [](index_t, index_t) { return attune::sinks_window(4, 32); }, 1100);
    sweep(
        "sinks 0 window 17", [](index_t, index_t) { return attune::sinks_window(0, 17); }, 1200);
    sweep(
        "sinks 3 window 0", [](index_t, index_t) { return attune::sinks_window(3, 0); }, 1300);
    sweep(
        "sinks 70 window 100", [](index_t, index_t) { return attune::sinks_window(70, 100); }, 1400);
    shape s;
    s.Hq = 4;
    s.Hkv = 2;
    s.Lq = s.Lk = 1000;
    check_mask("sinks 4 window 256, L 1000", attune::sinks_window(4, 256), s, 3, 1500);
}

TEST_CASE("mask document vs reference", "[mask]") {
    for (bool causal : {true, false}) {
        const std::string c = causal ? " causal" : " full";
        sweep(
            "documents" + c, [&](index_t, index_t lk) { return attune::document_mask::from_lengths(doc_lengths(lk), causal); },
            causal ? 2100 : 2200);
        sweep(
            "documents of length 1" + c,
            [&](index_t, index_t lk) {
                return attune::document_mask::from_lengths(std::vector<index_t>(static_cast<std::size_t>(lk), 1), causal);
            },
            causal ? 2300 : 2400);
        // Batch-aware: batch 0 has the documents above, batch 1 unsorted ids.
        sweep(
            "per-batch ids" + c,
            [&](index_t, index_t lk) {
                std::vector<std::vector<std::int32_t>> ids(2);
                const auto lens = doc_lengths(lk);
                for (std::size_t d = 0; d < lens.size(); ++d)
                    ids[0].insert(ids[0].end(), static_cast<std::size_t>(lens[d]), static_cast<std::int32_t>(d));
                for (index_t j = 0; j < lk; ++j) ids[1].push_back(static_cast<std::int32_t>((j * 7) % 3));
                return attune::document_mask(ids, causal);
            },
            causal ? 2500 : 2600);
    }
}

TEST_CASE("mask block_sparse vs reference", "[mask]") {
    sweep(
        "blocks 16 x 32", [](index_t, index_t lk) { return sparse_layout(lk, 16, 32, 1); }, 3100);
    sweep(
        "blocks 7 x 13", [](index_t, index_t lk) { return sparse_layout(lk, 7, 13, 2); }, 3200);
    sweep(
        "blocks 64 x 64", [](index_t, index_t lk) { return sparse_layout(lk, 64, 64, 3); }, 3300);
    sweep(
        "blocks 40 x 100, no inner mask", [](index_t, index_t lk) { return sparse_layout<attune::no_mask>(lk, 40, 100, 4); }, 3400);
}

TEST_CASE("mask block_sparse: empty query blocks give zero rows and LSE -inf", "[mask]") {
    // Query blocks of 16: block 1 (positions 16..31) lists nothing; blocks 0 and 2 one block each.
    const attune::block_sparse<> m(16, 16, {0, 1, 1, 3}, {0, 0, 2}, {1, 1, 0});
    for (index_t splits : {1, 3}) {
        shape s;
        s.Hq = 4;
        s.Hkv = 2;
        s.Lq = s.Lk = 100;  // rows 48..99 are past the layout: zeros too
        const run_result r = check_mask("empty query blocks", m, s, splits, 3500);
        index_t nonzero = 0, finite = 0;
        for (index_t h = 0; h < s.Hq; ++h)
            for (index_t t = 16; t < s.Lq; ++t) {
                if (t >= 32 && t < 48) continue;
                finite += std::isfinite(*r.lse.view.row(0, h, t));
                for (index_t d = 0; d < s.D; ++d) nonzero += r.out.view(0, h, t, d) != 0.0f;
            }
        CHECK(nonzero == 0);
        CHECK(finite == 0);
    }
}

TEST_CASE("mask prefix_sharing vs reference", "[mask]") {
    for (bool causal : {true, false}) {
        sweep(
            causal ? "prefix sharing causal" : "prefix sharing full",
            [&](index_t, index_t lk) {
                const index_t p = lk / 4;
                std::vector<index_t> segs;
                for (index_t n = p, i = 0; n < lk; ++i) {
                    const index_t len = std::min<index_t>(i % 2 == 0 ? 1 + 3 * i : 70, lk - n);
                    segs.push_back(len);
                    n += len;
                }
                return attune::prefix_sharing(p, segs, causal);
            },
            causal ? 4100 : 4200);
    }
}

TEST_CASE("mask and/or combinations vs reference", "[mask]") {
    // Both parts intervals: and_mask has keys(), the engine masks partial tiles lane-wise.
    sweep(
        "window {40, 10} and causal", [](index_t, index_t) { return attune::and_mask(attune::sliding_window(40, 10), attune::causal{}); },
        5100);
    sweep(
        "causal and documents",
        [](index_t, index_t lk) { return attune::and_mask(attune::causal{}, attune::document_mask::from_lengths(doc_lengths(lk), false)); },
        5200);
    sweep(
        "window {16, 0} or prefix keys 8",
        [](index_t, index_t) { return attune::or_mask(attune::sliding_window(16, 0), attune::prefix_keys(8)); }, 5300);
}

TEST_CASE("mask region (cross-attention, Lq != Lk) vs reference", "[mask]") {
    const auto regions = [](index_t lq, index_t lk) {
        // Rows [0, lq/2) see the first third of the keys, rows [lq/3, 5lq/6) the second half; the
        // last rows (from 5lq/6) see nothing.
        return attune::region_mask(lq, lk, {{0, lq / 2, 0, lk / 3 + 1}, {lq / 3, lq * 5 / 6, lk / 2, lk}});
    };
    sweep("regions", regions, 6100);
    std::uint32_t seed = 6200;
    for (auto lqk : std::vector<std::pair<index_t, index_t>>{{77, 300}, {300, 77}, {1, 129}, {65, 7}, {129, 1}, {256, 12}})
        for (index_t g : {1, 4})
            for (index_t splits : {1, 3}) {
                shape s;
                s.Hkv = 2;
                s.Hq = 2 * g;
                s.Lq = lqk.first;
                s.Lk = lqk.second;
                check_mask("regions, cross-attention", regions(s.Lq, s.Lk), s, splits, seed++);
            }
}

// mask/shifted.hpp through the engine: a block of queries [q0, q0 + lq) against keys [k0, k0 + lk)
// of a sequence of 300 (as context-parallel attention calls it), the engine's lane-wise masking of
// the shifted intervals (keys for the window, key_pair for sinks + window) against the reference
// applying the same mask's visible() element by element (mask_unit_test checks visible() against
// the global rule).
TEST_CASE("mask shifted_mask blocks vs reference", "[mask]") {
    std::uint32_t seed = 2100;
    const index_t length = 300;
    for (index_t lq : {1, 7, 65, 129})
        for (index_t lk : {1, 63, 129})
            for (index_t q0 : {index_t(0), index_t(100), length - lq})
                for (index_t k0 : {index_t(0), index_t(90), length - lk}) {
                    shape s;
                    s.Hkv = seed % 2 == 0 ? 1 : 2;
                    s.Hq = 4;
                    s.Lq = lq;
                    s.Lk = lk;
                    s.D = seed % 3 == 0 ? 80 : 32;
                    const index_t splits = seed % 2 == 0 ? 1 : 3;
                    check_mask("shifted window {40, 3}", attune::at_positions(attune::sliding_window(40, 3), q0, lq, k0, lk, length), s,
                               splits, seed++);
                    check_mask("shifted sinks 5 + window 50", attune::at_positions(attune::sinks_window(5, 50), q0, lq, k0, lk, length), s,
                               splits, seed++);
                }
}
