// positioned_mask (attune/mask/positioned.hpp) on position ids (attune/core/positions.hpp), through
// attune::attention of one SIMD arch (ATTUNE_TEST_ARCH):
//  - identity ids reproduce the plain mask bit for bit (outputs and LSE), and classify every tile
//    as the plain mask does;
//  - scattered ids (a permutation), StreamingLLM's in-cache ids (sinks, then a rotated ring),
//    prefix-shared ids (two candidates with the same ids) and random ids with repeats, against a
//    float64 reference written here that applies each mask's formula to the ids directly;
//  - check_mask on the adapter; ids that do not cover the call are attune::error, before any write.
// Sizes: Lq ≤ Lk ∈ {1, 7, 63, 65, 129}, GQA groups 1, 4, 8, head dims 32, 64, 80, 128, forced key
// splits 1–3 (serial) and automatic splits on a thread pool. Tolerances: support.hpp's float32 bounds.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/core/positions.hpp"
#include "attune/mask/masks.hpp"
#include "attune/mask/positioned.hpp"
#include "attune/testing.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

namespace positioned_mask_test {

using attune::index_t;
using namespace attune_test;
using arch = ATTUNE_TEST_ARCH;
using ids_t = std::vector<std::int32_t>;

struct shape {
    index_t B = 1, Hq = 1, Hkv = 1, Lq = 1, Lk = 1, D = 64;
    index_t splits = 1;  // 0: thread pool, automatic splits
};

std::string describe(const shape& s) {
    std::ostringstream os;
    os << "arch " << ATTUNE_TEST_ARCH_NAME << ": B " << s.B << " Hq " << s.Hq << " Hkv " << s.Hkv << " Lq " << s.Lq << " Lk " << s.Lk
       << " D " << s.D << " splits " << s.splits;
    return os.str();
}

// The sizes every case runs: square, chunked and decode; groups 1, 4, 8; dims 32, 64, 80, 128.
std::vector<shape> sizes() {
    struct lens {
        index_t lq, lk;
    };
    std::vector<shape> out;
    int i = 0;
    for (lens L : {lens{1, 1}, lens{7, 7}, lens{63, 63}, lens{65, 65}, lens{129, 129}, lens{1, 129}, lens{7, 65}, lens{65, 129}})
        for (index_t g : {1, 4, 8}) {
            shape s;
            s.B = 2;
            s.Hkv = g == 8 ? 1 : 2;
            s.Hq = s.Hkv * g;
            s.Lq = L.lq;
            s.Lk = L.lk;
            s.D = index_t{32} << (i % 3);  // 32, 64, 128
            if (i % 4 == 3) s.D = 80;
            s.splits = i % 5 == 4 ? 0 : 1 + i % 3;
            out.push_back(s);
            ++i;
        }
    return out;
}

struct inputs {
    tensor<float> q, k, v;
    inputs(const shape& s, std::uint32_t seed) : q(s.B, s.Hq, s.Lq, s.D), k(s.B, s.Hkv, s.Lk, s.D), v(s.B, s.Hkv, s.Lk, s.D) {
        std::mt19937 rng(seed);
        q.fill_random(rng);
        k.fill_random(rng);
        v.fill_random(rng);
    }
};

thread_pool& pool() {
    static thread_pool p(2);
    return p;
}

template <class Var>
void run(const Var& var, const shape& s, const inputs& in, tensor<float>& out, lse_buffer& lse) {
    out.poison();
    attune::options opt;
    opt.lse = lse.view;
    opt.kv_splits = s.splits;
    if (s.splits == 0) attune::attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, var, opt, make_pool_executor(pool()));
    else attune::attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, var, opt, attune::serial_executor{});
}

// The float64 reference: softmax(τ q·k) over the keys `vis(b, h, query id, key id)` accepts, with the
// ids read from the [B][Lk] table (query i is token Lk − Lq + i).
template <class Vis>
attune::reference::result reference(const inputs& in, const shape& s, const ids_t& ids, Vis vis) {
    auto r = attune::reference::result::zeros(s.B, s.Hq, s.Lq, s.D);
    const double tau = 1.0 / std::sqrt(static_cast<double>(s.D));
    std::vector<double> w(static_cast<std::size_t>(s.Lk));
    for (index_t b = 0; b < s.B; ++b)
        for (index_t h = 0; h < s.Hq; ++h)
            for (index_t i = 0; i < s.Lq; ++i) {
                const index_t hk = h / (s.Hq / s.Hkv), p = ids[static_cast<std::size_t>(b * s.Lk + s.Lk - s.Lq + i)];
                double m = -std::numeric_limits<double>::infinity();
                for (index_t j = 0; j < s.Lk; ++j) {
                    w[static_cast<std::size_t>(j)] = -std::numeric_limits<double>::infinity();
                    if (!vis(b, h, p, index_t{ids[static_cast<std::size_t>(b * s.Lk + j)]})) continue;
                    double dot = 0;
                    for (index_t d = 0; d < s.D; ++d) dot += double{in.q.view(b, h, i, d)} * double{in.k.view(b, hk, j, d)};
                    w[static_cast<std::size_t>(j)] = tau * dot;
                    m = std::max(m, tau * dot);
                }
                if (std::isinf(m)) continue;  // nothing visible: zeros, LSE −inf
                double l = 0;
                for (index_t j = 0; j < s.Lk; ++j) l += std::exp(w[static_cast<std::size_t>(j)] - m);
                for (index_t j = 0; j < s.Lk; ++j) {
                    const double p_j = std::exp(w[static_cast<std::size_t>(j)] - m) / l;
                    if (p_j == 0.0) continue;
                    for (index_t d = 0; d < s.D; ++d) r.at(b, h, i, d) += p_j * double{in.v.view(b, hk, j, d)};
                }
                r.lse[static_cast<std::size_t>((b * s.Hq + h) * s.Lq + i)] = m + std::log(l);
            }
    return r;
}

// ---- Position ids of B sequences of L tokens, [B][L].

enum class id_kind { identity, permuted, streaming, shared_prefix, random };

const char* name(id_kind k) {
    switch (k) {
        case id_kind::identity:
            return "identity";
        case id_kind::permuted:
            return "permuted";
        case id_kind::streaming:
            return "streaming";
        case id_kind::shared_prefix:
            return "shared prefix";
        case id_kind::random:
            return "random";
    }
    return "?";
}

ids_t make_ids(id_kind kind, index_t B, index_t L, std::mt19937& rng) {
    ids_t ids(static_cast<std::size_t>(B * L));
    for (index_t b = 0; b < B; ++b) {
        std::int32_t* row = ids.data() + b * L;
        for (index_t t = 0; t < L; ++t) row[t] = static_cast<std::int32_t>(t);
        switch (kind) {
            case id_kind::identity:
                break;
            case id_kind::permuted:
                std::shuffle(row, row + L, rng);
                break;
            case id_kind::streaming: {
                // StreamingLLM: 4 sinks at 0..3, a ring of the recent window whose oldest slot sits at a
                // random place (in-cache positions 4…, rotated), the new token last at the next position.
                const index_t sinks = std::min<index_t>(4, L), ring = L - sinks > 1 ? L - sinks - 1 : 0;
                const index_t head = ring > 0 ? static_cast<index_t>(rng() % static_cast<std::uint32_t>(ring)) : 0;
                for (index_t s = 0; s < ring; ++s) row[sinks + s] = static_cast<std::int32_t>(sinks + (s - head + ring) % ring);
                break;
            }
            case id_kind::shared_prefix: {
                // A context, then two candidates that both continue it: the second repeats the first's ids.
                const index_t cand = L / 3, prefix = L - 2 * cand;
                for (index_t t = prefix + cand; t < L; ++t) row[t] = static_cast<std::int32_t>(t - cand);
                break;
            }
            case id_kind::random:
                for (index_t t = 0; t < L; ++t) row[t] = static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(L + 20));
                break;
        }
    }
    return ids;
}

index_t extent(const ids_t& ids) { return ids.empty() ? 0 : index_t{*std::max_element(ids.begin(), ids.end())} + 1; }

// ---- The masks: each built for the id space [0, E) and its formula on ids (query p, key j).

// A mask's element and tile rules without keys() / key_pair(): the engine then computes and masks a partial
// tile as it does for positioned_mask (keys() lets it skip the blocks of a tile no row sees, which
// changes the summation's grouping, not the result beyond rounding).
template <class Mask>
struct without_keys {
    using policy_kind = attune::mask_kind;
    using hooks = attune::provides<attune::hook::classify, attune::hook::span>;
    Mask m;
    bool visible(const attune::index_context& c) const { return m.visible(c); }
    attune::tile_class classify(const attune::tile_context& t) const { return m.classify(t); }
    attune::key_range span(const attune::tile_context& t) const { return m.span(t); }
};

// Each case: what(), make(E) (the mask over ids [0, E)), rule(p, j, E) (its formula on ids) and
// twin(L) (what identity ids must reproduce bit for bit: the mask itself, or without its keys() /
// key_pair() where those let the engine skip blocks inside a tile: windows, sinks).
struct causal_case {
    static const char* what() { return "causal"; }
    static attune::causal make(index_t) { return {}; }
    static attune::causal twin(index_t) { return {}; }
    static bool rule(index_t p, index_t j, index_t) { return j <= p; }
};
struct window_case {
    static const char* what() { return "sliding_window(9, 2)"; }
    static attune::sliding_window make(index_t) { return attune::sliding_window(9, 2); }
    static without_keys<attune::sliding_window> twin(index_t) { return {make(0)}; }
    static bool rule(index_t p, index_t j, index_t) { return p - 9 <= j && j <= p + 2; }
};
struct sinks_case {
    static const char* what() { return "sinks_window(3, 20)"; }
    static attune::sinks_window make(index_t) { return attune::sinks_window(3, 20); }
    static without_keys<attune::sinks_window> twin(index_t) { return {make(0)}; }
    static bool rule(index_t p, index_t j, index_t) { return j <= p && (j < 3 || j > p - 20); }
};
// Documents of 11 positions each (ids 0, 1, 2…), causal inside a document.
struct document_case {
    static const char* what() { return "document_mask(11 per document)"; }
    static attune::document_mask make(index_t E) {
        std::vector<attune::document_mask::id_type> doc(static_cast<std::size_t>(E));
        for (index_t x = 0; x < E; ++x) doc[static_cast<std::size_t>(x)] = static_cast<attune::document_mask::id_type>(x / 11);
        return attune::document_mask(doc);
    }
    static attune::document_mask twin(index_t L) { return make(L); }
    static bool rule(index_t p, index_t j, index_t) { return p / 11 == j / 11 && j <= p; }
};
// A context of E/4 positions, then segments of 5 positions (the last takes the rest), not causal.
struct prefix_case {
    static const char* what() { return "prefix_sharing(E/4, 5…, bidirectional)"; }
    static index_t prefix(index_t E) { return E / 4; }
    static attune::prefix_sharing make(index_t E) {
        std::vector<index_t> lens;
        for (index_t at = prefix(E); at < E; at += 5) lens.push_back(std::min<index_t>(5, E - at));
        return attune::prefix_sharing(prefix(E), lens, false);
    }
    static attune::prefix_sharing twin(index_t L) { return make(L); }
    static bool rule(index_t p, index_t j, index_t E) {
        const index_t P = prefix(E);
        const auto seg = [P](index_t x) { return x < P ? index_t{-1} : (x - P) / 5; };
        return seg(p) == seg(j) || (j < P && p >= P);
    }
};

// The mask on ids of every kind against the reference, over every size.
template <class Case>
void check_on_ids(std::uint32_t seed) {
    for (id_kind kind : {id_kind::identity, id_kind::permuted, id_kind::streaming, id_kind::shared_prefix, id_kind::random})
        for (const shape& s : sizes()) {
            INFO(Case::what() << " on " << name(kind) << " ids; " << describe(s) << " seed " << seed);
            std::mt19937 rng(seed);
            const ids_t ids = make_ids(kind, s.B, s.Lk, rng);
            const index_t E = extent(ids);
            const inputs in(s, seed++);
            tensor<float> out(s.B, s.Hq, s.Lq, s.D);
            lse_buffer lse(s.B, s.Hq, s.Lq);
            run(attune::with_positions(Case::make(E), attune::position_ids::dense(ids.data(), s.B, s.Lk)), s, in, out, lse);
            const auto ref = reference(in, s, ids, [E](index_t, index_t, index_t p, index_t j) { return Case::rule(p, j, E); });
            check_against_reference(out, ref, fp32_tolerance(), &lse);
        }
}

// Identity ids: the same bits as the plain mask (its twin; same executor, same splits), and within
// float32 rounding of the plain mask itself.
template <class Case>
void check_identity(std::uint32_t seed) {
    for (const shape& s : sizes()) {
        INFO(Case::what() << ", identity ids against the plain mask; " << describe(s) << " seed " << seed);
        std::mt19937 rng(seed);
        const ids_t ids = make_ids(id_kind::identity, s.B, s.Lk, rng);
        const inputs in(s, seed++);
        tensor<float> plain(s.B, s.Hq, s.Lq, s.D), positioned(s.B, s.Hq, s.Lq, s.D);
        lse_buffer plain_lse(s.B, s.Hq, s.Lq), positioned_lse(s.B, s.Hq, s.Lq);
        run(Case::twin(s.Lk), s, in, plain, plain_lse);
        run(attune::with_positions(Case::make(s.Lk), attune::position_ids::dense(ids.data(), s.B, s.Lk)), s, in, positioned,
            positioned_lse);
        CHECK(plain.nan_count() == 0);
        CHECK(std::memcmp(plain.buf.data(), positioned.buf.data(), plain.buf.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(plain_lse.data.data(), positioned_lse.data.data(), plain_lse.data.size() * sizeof(float)) == 0);
        run(Case::make(s.Lk), s, in, plain, plain_lse);
        CHECK(max_difference(plain, positioned) <= 1e-6);
    }
}

// check_mask on the adapter; with identity ids its tile classes are the plain mask's. The tables
// hold 80 ids past Lk: check_mask's random tiles may reach 79 positions past the call.
template <class Case>
void check_hooks(std::uint32_t seed) {
    const attune::testing::mask_shape ms{65, 129, 2, 4, 2};
    const index_t L = ms.lk + 80;
    std::mt19937 rng(seed);
    const ids_t identity = make_ids(id_kind::identity, ms.batch, L, rng);
    const auto plain = attune::testing::check_mask(Case::make(L), ms);
    const auto same =
        attune::testing::check_mask(attune::with_positions(Case::make(L), attune::position_ids::dense(identity.data(), ms.batch, L)), ms);
    CHECK(same.tiles == plain.tiles);
    CHECK(same.empty == plain.empty);
    CHECK(same.full == plain.full);
    CHECK(same.partial == plain.partial);
    CHECK(same.loose_spans == plain.loose_spans);
    for (id_kind kind : {id_kind::permuted, id_kind::streaming, id_kind::shared_prefix, id_kind::random}) {
        INFO(Case::what() << " on " << name(kind) << " ids");
        const ids_t ids = make_ids(kind, ms.batch, L, rng);
        const auto r = attune::testing::check_mask(
            attune::with_positions(Case::make(extent(ids)), attune::position_ids::dense(ids.data(), ms.batch, L)), ms);
        CHECK(r.tiles == plain.tiles);
        CHECK(r.empty + r.full + r.partial == r.tiles);
    }
}

}  // namespace positioned_mask_test

using namespace positioned_mask_test;

TEST_CASE("positions: identity ids reproduce the plain mask bit for bit", "[positions]") {
    check_identity<causal_case>(100);
    check_identity<window_case>(200);
    check_identity<sinks_case>(300);
    check_identity<document_case>(400);
    check_identity<prefix_case>(500);
}

TEST_CASE("positions: masks on ids against the float64 reference", "[positions]") {
    SECTION("causal") { check_on_ids<causal_case>(1000); }
    SECTION("sliding window") { check_on_ids<window_case>(2000); }
    SECTION("sinks + window") { check_on_ids<sinks_case>(3000); }
    SECTION("document") { check_on_ids<document_case>(4000); }
    SECTION("prefix sharing") { check_on_ids<prefix_case>(5000); }
}

TEST_CASE("positions: check_mask accepts the adapter's hooks on any ids", "[positions]") {
    check_hooks<causal_case>(11);
    check_hooks<window_case>(12);
    check_hooks<sinks_case>(13);
    check_hooks<document_case>(14);
    check_hooks<prefix_case>(15);
}

TEST_CASE("positions: a shared row and CSR rows give the dense table's results", "[positions]") {
    shape s;
    s.B = 3, s.Hq = 4, s.Hkv = 2, s.Lq = 65, s.Lk = 129, s.D = 64;
    std::mt19937 rng(7);
    const ids_t row = make_ids(id_kind::streaming, 1, s.Lk, rng);
    const inputs in(s, 8);
    // Shared: one row for every batch.
    ids_t dense;
    for (index_t b = 0; b < s.B; ++b) dense.insert(dense.end(), row.begin(), row.end());
    tensor<float> a(s.B, s.Hq, s.Lq, s.D), c(s.B, s.Hq, s.Lq, s.D), r(s.B, s.Hq, s.Lq, s.D);
    lse_buffer la(s.B, s.Hq, s.Lq), lc(s.B, s.Hq, s.Lq), lr(s.B, s.Hq, s.Lq);
    run(attune::with_positions(attune::causal{}, attune::position_ids::shared(row.data(), s.Lk)), s, in, a, la);
    check_against_reference(a, reference(in, s, dense, [](index_t, index_t, index_t p, index_t j) { return j <= p; }), fp32_tolerance(),
                            &la);
    // CSR: sequences of different lengths (the ids past Lk unused), each its own ids.
    const ids_t other = make_ids(id_kind::permuted, s.B, s.Lk, rng);
    ids_t packed;
    std::vector<std::int32_t> at{0};
    for (index_t b = 0; b < s.B; ++b) {
        packed.insert(packed.end(), other.begin() + b * s.Lk, other.begin() + (b + 1) * s.Lk);
        for (index_t extra = 0; extra < 5 * b; ++extra) packed.push_back(-1);  // never read
        at.push_back(static_cast<std::int32_t>(packed.size()));
    }
    const attune::seq_offsets offsets{at.data(), s.B};
    run(attune::with_positions(attune::sliding_window(9, 2), attune::position_ids::ragged(packed.data(), offsets)), s, in, c, lc);
    check_against_reference(c, reference(in, s, other, [](index_t, index_t, index_t p, index_t j) { return window_case::rule(p, j, 0); }),
                            fp32_tolerance(), &lc);
}

TEST_CASE("positions: ids that do not cover the call are attune::error, before any write", "[positions]") {
    shape s;
    s.B = 2, s.Hq = 2, s.Hkv = 1, s.Lq = 7, s.Lk = 65, s.D = 32;
    const inputs in(s, 9);
    std::mt19937 rng(9);
    ids_t ids = make_ids(id_kind::permuted, s.B, s.Lk, rng);
    tensor<float> out(s.B, s.Hq, s.Lq, s.D);
    lse_buffer lse(s.B, s.Hq, s.Lq);
    const auto fails = [&](const attune::position_ids& pos, const char* why) {
        INFO(why);
        CHECK_THROWS_AS(run(attune::with_positions(attune::causal{}, pos), s, in, out, lse), attune::error);
        CHECK(out.nan_count() == s.B * s.Hq * s.Lq * s.D);  // nothing written
    };
    fails(attune::position_ids::dense(ids.data(), s.B, s.Lk - 1), "rows shorter than Lk");
    fails(attune::position_ids::dense(ids.data(), s.B - 1, s.Lk), "a row missing");
    fails(attune::position_ids(), "no ids");
    ids[static_cast<std::size_t>(s.Lk + 3)] = -2;
    fails(attune::position_ids::dense(ids.data(), s.B, s.Lk), "a negative id");
    ids[static_cast<std::size_t>(s.Lk + 3)] = 3;
    std::vector<std::int32_t> at{0, static_cast<std::int32_t>(s.Lk), static_cast<std::int32_t>(2 * s.Lk - 1)};
    fails(attune::position_ids::ragged(ids.data(), attune::seq_offsets{at.data(), 2}), "a CSR sequence shorter than Lk");
    // Lq > Lk: the first queries have no token of their own.
    {
        shape t = s;
        t.Lq = 9, t.Lk = 5;
        const inputs in2(t, 10);
        tensor<float> out2(t.B, t.Hq, t.Lq, t.D);
        lse_buffer lse2(t.B, t.Hq, t.Lq);
        CHECK_THROWS_AS(run(attune::with_positions(attune::causal{}, attune::position_ids::dense(ids.data(), t.B, 9)), t, in2, out2, lse2),
                        attune::error);
    }
    // Malformed tables at construction.
    CHECK_THROWS_AS(attune::position_ids(ids.data(), 2, 65, 64), attune::error);                               // rows overlap
    CHECK_THROWS_AS(attune::position_ids(ids.data(), 2, 65, 0), attune::error);                                // stride 0 with two rows
    CHECK_THROWS_AS(attune::position_ids(nullptr, 2, 65, 65), attune::error);                                  // null ids
    CHECK_THROWS_AS(attune::position_ids(ids.data(), -1, 65, 65), attune::error);                              // negative rows
    CHECK_THROWS_AS(attune::position_ids(ids.data(), index_t{1} << 40, 65, index_t{1} << 40), attune::error);  // offsets overflow
    std::vector<std::int32_t> down{0, 70, 60};
    CHECK_THROWS_AS(attune::position_ids::ragged(ids.data(), attune::seq_offsets{down.data(), 2}), attune::error);
    std::vector<std::int32_t> late{3, 70, 130};
    CHECK_THROWS_AS(attune::position_ids::ragged(ids.data(), attune::seq_offsets{late.data(), 2}), attune::error);
    CHECK_THROWS_AS(attune::position_ids::ragged(ids.data(), attune::seq_offsets{nullptr, 2}), attune::error);
    // A document mask over ids is checked in position space: its table must span 1 + the largest id.
    {
        shape t = s;
        const inputs in3(t, 11);
        ids_t wide = make_ids(id_kind::identity, t.B, t.Lk, rng);
        wide[static_cast<std::size_t>(t.Lk - 1)] = 200;  // the id space is [0, 201)
        const auto pos = attune::position_ids::dense(wide.data(), t.B, t.Lk);
        CHECK_THROWS_AS(run(attune::with_positions(document_case::make(t.Lk), pos), t, in3, out, lse), attune::error);
        CHECK_NOTHROW(run(attune::with_positions(document_case::make(201), pos), t, in3, out, lse));
    }
}
