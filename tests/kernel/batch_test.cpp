// attune/batch.hpp: ragged batches with packed keys and paged keys (kernel/batch_driver.hpp and the
// paged K/V source of kernel/kv_source.hpp), against the double-precision reference run on each
// sequence alone: random lengths (empty sequences, sequences without queries or keys, Lq > Lk),
// prefill chunks and decode rows in one call, GQA, head dims, storage types, page sizes 1–256 in
// both pool layouts with shuffled and in-order page ids, forced and planned key splits, LSE, the
// variants (masks, modifiers, sinks, routers, a mask that reads the batch index) and hostile
// offsets and page tables.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/batch.hpp"
#include "attune/core/positions.hpp"
#include "attune/mask/positioned.hpp"
#include "attune/score/positioned.hpp"
#include "attune/reference/softmax.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;
using namespace attune_test;
using arch = ATTUNE_TEST_ARCH;

namespace {

// A mask that differs per batch index: sequence s sees key j unless (j + s) % 3 == 0.
struct batch_stripes {
    using policy_kind = attune::mask_kind;
    bool visible(const attune::index_context& c) const { return (c.k_pos + c.batch) % 3 != 0 && c.k_pos <= c.q_pos; }
};

// A ragged batch: packed q/out [total_q, Hq, D], packed k/v [total_k, Hkv, D], its offsets.
template <class TK>
struct batch {
    index_t Hq, Hkv, Dk, Dv;
    std::vector<std::int32_t> qo{0}, ko{0};
    std::vector<float> q, out;
    std::vector<TK> k, v;
    index_t sequences() const { return static_cast<index_t>(qo.size()) - 1; }
    index_t lq(index_t s) const { return qo[s + 1] - qo[s]; }
    index_t lk(index_t s) const { return ko[s + 1] - ko[s]; }

    batch(index_t hq, index_t hkv, index_t dk, index_t dv, const std::vector<std::pair<index_t, index_t>>& lengths, std::mt19937& rng)
        : Hq(hq), Hkv(hkv), Dk(dk), Dv(dv) {
        for (const auto& [nq, nk] : lengths) {
            qo.push_back(static_cast<std::int32_t>(qo.back() + nq));
            ko.push_back(static_cast<std::int32_t>(ko.back() + nk));
        }
        std::normal_distribution<float> n;
        q.resize(static_cast<std::size_t>(qo.back() * Hq * Dk));
        for (auto& x : q) x = n(rng);
        k.resize(static_cast<std::size_t>(ko.back() * Hkv * Dk));
        v.resize(static_cast<std::size_t>(ko.back() * Hkv * Dv));
        for (auto& x : k) x = attune::from_float<TK>(n(rng));
        for (auto& x : v) x = attune::from_float<TK>(n(rng));
        out.assign(static_cast<std::size_t>(qo.back() * Hq * Dv), std::numeric_limits<float>::quiet_NaN());
    }
    attune::tensor_view<const float> qv() const { return attune::packed_view<const float>(q.data(), qo.back(), Hq, Dk); }
    attune::tensor_view<float> ov() { return attune::packed_view<float>(out.data(), qo.back(), Hq, Dv); }
    attune::tensor_view<const TK> kv() const { return attune::packed_view<const TK>(k.data(), ko.back(), Hkv, Dk); }
    attune::tensor_view<const TK> vv() const { return attune::packed_view<const TK>(v.data(), ko.back(), Hkv, Dv); }
    attune::seq_offsets q_offsets() const { return {qo.data(), sequences()}; }
    attune::seq_offsets k_offsets() const { return {ko.data(), sequences()}; }

    // Sequence s's rows of a packed [total, H, D] array as batch index s of a batch of all
    // sequences (batch stride 0), so policies see batch = s as in the batch call.
    template <class T>
    attune::tensor_view<const T> rows(const std::vector<T>& a, index_t first, index_t n, index_t H, index_t D) const {
        return attune::tensor_view<const T>(a.data() + first * H * D, {sequences(), H, n, D}, {0, D, H * D});
    }
};

// Compares every sequence of b's output (and LSE) with the reference of that sequence alone.
template <class TK, class Var>
void check_batch(const batch<TK>& b, const Var& var, const std::vector<float>* lse = nullptr, double tol = 1e-4) {
    double worst = 0, worst_lse = 0;
    index_t unwritten = 0;
    for (index_t s = 0; s < b.sequences(); ++s) {
        if (b.lq(s) == 0) continue;
        const auto ref = attune::reference::attention(b.rows(b.q, b.qo[s], b.lq(s), b.Hq, b.Dk), b.rows(b.k, b.ko[s], b.lk(s), b.Hkv, b.Dk),
                                                      b.rows(b.v, b.ko[s], b.lk(s), b.Hkv, b.Dv), var);
        for (index_t h = 0; h < b.Hq; ++h)
            for (index_t t = 0; t < b.lq(s); ++t) {
                const index_t row = b.qo[s] + t;
                for (index_t d = 0; d < b.Dv; ++d) {
                    const float o = b.out[static_cast<std::size_t>((row * b.Hq + h) * b.Dv + d)];
                    if (std::isnan(o)) ++unwritten;
                    else worst = std::max(worst, std::abs(o - ref.at(s, h, t, d)));
                }
                if (lse != nullptr) {
                    const float l = (*lse)[static_cast<std::size_t>(h * b.qo.back() + row)];
                    const double r = ref.lse_at(s, h, t);
                    if (std::isinf(r)) CHECK(l == static_cast<float>(r));
                    else worst_lse = std::max(worst_lse, std::abs(l - r));
                }
            }
    }
    INFO("max abs error " << worst << ", LSE " << worst_lse);
    CHECK(unwritten == 0);
    CHECK(worst <= tol);
    CHECK(worst_lse <= 1e-4);
}

// Random (queries, keys) per sequence: decode rows, prefill chunks over a cached prefix, whole
// prompts, empty sequences, sequences without keys, more queries than keys.
std::vector<std::pair<index_t, index_t>> random_lengths(std::mt19937& rng, index_t count) {
    const index_t sizes[] = {0, 1, 7, 63, 65, 129, 300};
    std::vector<std::pair<index_t, index_t>> l;
    for (index_t s = 0; s < count; ++s) {
        const index_t nk = sizes[rng() % 7];
        const int kind = static_cast<int>(rng() % 4);
        const index_t nq = kind == 0 ? 1 : kind == 1 ? nk : kind == 2 ? sizes[rng() % 7] : (nk > 7 ? nk / 3 : 0);
        l.emplace_back(nq, nk);
    }
    return l;
}

// The same keys in pages: a pool of `pages` pages (shuffled ids, or in order), NHD or HND.
template <class TK>
struct paged_copy {
    index_t page_size;
    std::vector<TK> kpool, vpool;
    std::vector<std::int32_t> ids, first{0}, lengths;
    attune::tensor_view<const TK> kp, vp;

    paged_copy(const batch<TK>& b, index_t ps, bool nhd, bool shuffled, std::mt19937& rng) : page_size(ps) {
        index_t pages = 1;  // page 0 stays unused: an id of 0 in a table is never needed to be right
        std::vector<index_t> per_seq;
        for (index_t s = 0; s < b.sequences(); ++s) per_seq.push_back((b.lk(s) + ps - 1) / ps + static_cast<index_t>(rng() % 2));
        for (index_t n : per_seq) pages += n;
        std::vector<std::int32_t> order(static_cast<std::size_t>(pages - 1));
        std::iota(order.begin(), order.end(), 1);
        if (shuffled) std::shuffle(order.begin(), order.end(), rng);
        kpool.assign(static_cast<std::size_t>(pages * ps * b.Hkv * b.Dk), attune::from_float<TK>(std::numeric_limits<float>::quiet_NaN()));
        vpool.assign(static_cast<std::size_t>(pages * ps * b.Hkv * b.Dv), attune::from_float<TK>(std::numeric_limits<float>::quiet_NaN()));
        auto kview =
            nhd ? attune::page_pool_nhd(kpool.data(), pages, ps, b.Hkv, b.Dk) : attune::page_pool_hnd(kpool.data(), pages, ps, b.Hkv, b.Dk);
        auto vview =
            nhd ? attune::page_pool_nhd(vpool.data(), pages, ps, b.Hkv, b.Dv) : attune::page_pool_hnd(vpool.data(), pages, ps, b.Hkv, b.Dv);
        std::size_t next = 0;
        for (index_t s = 0; s < b.sequences(); ++s) {
            for (index_t i = 0; i < per_seq[s]; ++i) ids.push_back(order[next++]);
            first.push_back(static_cast<std::int32_t>(ids.size()));
            lengths.push_back(static_cast<std::int32_t>(b.lk(s)));
            for (index_t t = 0; t < b.lk(s); ++t) {
                const index_t page = ids[first[s] + t / ps], slot = t % ps;
                for (index_t h = 0; h < b.Hkv; ++h) {
                    std::copy_n(&b.k[((b.ko[s] + t) * b.Hkv + h) * b.Dk], b.Dk, kview.row(page, h, slot));
                    std::copy_n(&b.v[((b.ko[s] + t) * b.Hkv + h) * b.Dv], b.Dv, vview.row(page, h, slot));
                }
            }
        }
        kp = kview;
        vp = vview;
    }
    attune::paged_kv<TK> kv(index_t sequences) const {
        return {kp, vp, attune::page_table{ids.data(), first.data(), lengths.data(), sequences}};
    }
};

template <class TK, class Var>
void run_both(std::mt19937& rng, index_t Hq, index_t Hkv, index_t D, const Var& var, index_t splits = 0) {
    const auto lengths = random_lengths(rng, 1 + static_cast<index_t>(rng() % 6));
    batch<TK> b(Hq, Hkv, D, D, lengths, rng);
    attune::options opt;
    opt.kv_splits = splits;
    attune::ragged_attention<arch>(b.qv(), b.q_offsets(), b.kv(), b.vv(), b.k_offsets(), b.ov(), var, opt);
    {
        INFO("ragged, packed keys");
        check_batch(b, var);
    }
    const index_t page_sizes[] = {1, 3, 16, 64, 100, 256};
    const index_t ps = page_sizes[rng() % 6];
    const bool nhd = rng() % 2 == 0, shuffled = rng() % 3 != 0;
    paged_copy<TK> pc(b, ps, nhd, shuffled, rng);
    std::fill(b.out.begin(), b.out.end(), std::numeric_limits<float>::quiet_NaN());
    attune::paged_attention<arch>(b.qv(), b.q_offsets(), pc.kv(b.sequences()), b.ov(), var, opt);
    INFO("paged: page size " << ps << (nhd ? " NHD" : " HND") << (shuffled ? " shuffled" : " in order"));
    check_batch(b, var);
}

}  // namespace

TEST_CASE("batch: ragged and paged batches equal each sequence's reference", "[batch]") {
    std::mt19937 rng(2024);
    const index_t heads[][2] = {{1, 1}, {4, 1}, {8, 1}, {8, 2}};
    const index_t dims[] = {32, 64, 80, 128};
    for (int round = 0; round < 6; ++round) {
        const auto* hh = heads[round % 4];
        const index_t D = dims[(round + 1) % 4];
        INFO("round " << round << " Hq " << hh[0] << " Hkv " << hh[1] << " D " << D);
        run_both<float>(rng, hh[0], hh[1], D, attune::variant<>{});
        run_both<float>(rng, hh[0], hh[1], D, attune::causal{});
        run_both<attune::bf16>(rng, hh[0], hh[1], D, attune::causal{});
        run_both<float>(rng, hh[0], hh[1], D, attune::causal_window(20));
        run_both<float>(rng, hh[0], hh[1], D, attune::sinks_window(4, 32));
    }
}

TEST_CASE("batch: every variant kind through the batch path", "[batch]") {
    std::mt19937 rng(7);
    const index_t Hq = 8, Hkv = 2, D = 64;
    std::vector<float> slopes(Hq), z(Hq), gates(Hq);
    for (index_t h = 0; h < Hq; ++h) slopes[h] = 0.05f * (h + 1), z[h] = 0.3f * h - 1.0f, gates[h] = h % 3 == 0 ? 0.0f : 0.5f + 0.1f * h;
    run_both<float>(rng, Hq, Hkv, D, attune::variant(attune::causal{}, attune::alibi(slopes)));
    run_both<float>(rng, Hq, Hkv, D, attune::variant(attune::causal{}, attune::softcap(5.0f)));
    run_both<float>(rng, Hq, Hkv, D, attune::variant(attune::causal{}, attune::sink_logit(z)));
    run_both<float>(rng, Hq, Hkv, D, attune::variant(attune::causal{}, attune::head_gates(gates)));
    run_both<float>(rng, Hq, Hkv, D, attune::variant(attune::sigmoid{-2.0f}, attune::causal{}));
    run_both<float>(rng, Hq, Hkv, D, batch_stripes{});  // policies see batch index = sequence
}

TEST_CASE("batch: long decode rows split over the workers, and forced splits", "[batch]") {
    std::mt19937 rng(11);
    for (index_t splits : {index_t(0), index_t(3)}) {
        // One long decode row among short ones: the plan splits it (more than a worker's share).
        batch<float> b(8, 2, 64, 64, {{1, 5000}, {1, 3}, {16, 200}, {1, 0}, {0, 40}, {1, 900}}, rng);
        std::vector<float> lse(static_cast<std::size_t>(8 * b.qo.back()), std::numeric_limits<float>::quiet_NaN());
        attune::options opt;
        opt.kv_splits = splits;
        opt.lse = attune::lse_view(lse.data(), 1, 8, b.qo.back());
        attune::ragged_attention<arch>(b.qv(), b.q_offsets(), b.kv(), b.vv(), b.k_offsets(), b.ov(), attune::causal{}, opt);
        check_batch(b, attune::causal{}, &lse);
        paged_copy<float> pc(b, 16, true, true, rng);
        std::fill(b.out.begin(), b.out.end(), std::numeric_limits<float>::quiet_NaN());
        std::fill(lse.begin(), lse.end(), std::numeric_limits<float>::quiet_NaN());
        attune::paged_attention<arch>(b.qv(), b.q_offsets(), pc.kv(b.sequences()), b.ov(), attune::causal{}, opt,
                                      attune::serial_executor{});
        check_batch(b, attune::causal{}, &lse);
    }
}

TEST_CASE("batch: a long row's automatic splits, whatever workers() the executor reports", "[batch]") {
    // items_per_worker items a worker at most, each split at least 256 keys (kernel/problem.hpp):
    // the long row (3000 keys: 47 tiles, at most 11 splits: of 5 tiles, 10 cover the row) splits
    // into 10 whatever the executor claims beyond a few workers, and not at all on one; the share is
    // computed without wrapping for any count, index max included.
    constexpr index_t imax = std::numeric_limits<index_t>::max();
    std::mt19937 rng(12);
    // Sequences: one long decode row, a short one, a short prefill chunk; 2 kv heads, 1 query tile each.
    const index_t groups = 3 * 2;
    for (const auto& [w, splits] : {std::pair<index_t, index_t>{imax, 10}, {imax / 2 + 1, 10}, {64, 10}, {1, 1}, {0, 1}, {-7, 1}}) {
        CAPTURE(w);
        batch<float> b(4, 2, 32, 32, {{1, 3000}, {1, 5}, {8, 100}}, rng);
        index_t items = -1;
        attune::ragged_attention<arch>(b.qv(), b.q_offsets(), b.kv(), b.vv(), b.k_offsets(), b.ov(), attune::causal{}, {},
                                       reversed_executor{w, &items});
        CHECK(items == groups + 2 * (splits - 1));
        check_batch(b, attune::causal{});
    }
}

TEST_CASE("batch: paged equals packed for every page size, bit for bit on one executor", "[batch]") {
    std::mt19937 rng(5);
    batch<float> b(4, 1, 80, 80, {{1, 257}, {33, 130}, {1, 1}}, rng);
    attune::ragged_attention<arch>(b.qv(), b.q_offsets(), b.kv(), b.vv(), b.k_offsets(), b.ov(), attune::causal{}, {},
                                   attune::serial_executor{});
    const std::vector<float> packed = b.out;
    for (index_t ps = 1; ps <= 256; ps = ps < 8 ? ps + 1 : ps * 2 + 1)
        for (bool nhd : {true, false}) {
            paged_copy<float> pc(b, ps, nhd, false, rng);
            std::fill(b.out.begin(), b.out.end(), std::numeric_limits<float>::quiet_NaN());
            attune::paged_attention<arch>(b.qv(), b.q_offsets(), pc.kv(b.sequences()), b.ov(), attune::causal{}, {},
                                          attune::serial_executor{});
            double d = 0;
            for (std::size_t i = 0; i < packed.size(); ++i) d = std::max(d, static_cast<double>(std::abs(packed[i] - b.out[i])));
            INFO("page size " << ps << (nhd ? " NHD" : " HND"));
            // Tiles cut at page ends change the order of the online softmax's updates, not the math.
            CHECK(d <= 2e-6);
        }
}

TEST_CASE("batch: hostile offsets and page tables are attune::errors", "[batch]") {
    std::mt19937 rng(3);
    batch<float> b(4, 2, 32, 32, {{2, 10}, {1, 20}}, rng);
    paged_copy<float> pc(b, 4, true, true, rng);
    const auto ragged = [&](std::vector<std::int32_t> qo, std::vector<std::int32_t> ko, index_t n) {
        attune::ragged_attention<arch>(b.qv(), attune::seq_offsets{qo.data(), n}, b.kv(), b.vv(), attune::seq_offsets{ko.data(), n},
                                       b.ov());
    };
    CHECK_NOTHROW(ragged(b.qo, b.ko, 2));
    CHECK_THROWS_AS(ragged({1, 2, 3}, b.ko, 2), attune::error);    // does not start at 0
    CHECK_THROWS_AS(ragged({0, 3, 2}, b.ko, 2), attune::error);    // decreases
    CHECK_THROWS_AS(ragged({0, 1, 2}, b.ko, 2), attune::error);    // ends before q's rows
    CHECK_THROWS_AS(ragged(b.qo, {0, 10, 31}, 2), attune::error);  // ends past k's rows
    CHECK_THROWS_AS(ragged(b.qo, {0, 30}, 1), attune::error);      // sequence counts differ
    CHECK_THROWS_AS(attune::ragged_attention<arch>(b.qv(), attune::seq_offsets{nullptr, 2}, b.kv(), b.vv(), b.k_offsets(), b.ov()),
                    attune::error);
    // out over q
    std::vector<float> qo_buf(b.q);
    auto qv = attune::packed_view<float>(qo_buf.data(), b.qo.back(), 4, 32);
    CHECK_THROWS_AS(attune::ragged_attention<arch>(attune::tensor_view<const float>(qv), b.q_offsets(), b.kv(), b.vv(), b.k_offsets(), qv),
                    attune::error);

    const auto paged = [&](attune::page_table t) {
        attune::paged_attention<arch>(b.qv(), b.q_offsets(), attune::paged_kv<float>{pc.kp, pc.vp, t}, b.ov());
    };
    auto good = pc.kv(2).table;
    CHECK_NOTHROW(paged(good));
    auto ids = pc.ids;
    ids[1] = static_cast<std::int32_t>(pc.kp.batch());  // not a page of the pool
    CHECK_THROWS_AS(paged({ids.data(), good.first, good.lengths, 2}), attune::error);
    ids[1] = -1;
    CHECK_THROWS_AS(paged({ids.data(), good.first, good.lengths, 2}), attune::error);
    std::vector<std::int32_t> len{-1, 20};
    CHECK_THROWS_AS(paged({good.ids, good.first, len.data(), 2}), attune::error);
    len = {10, 1000};  // more tokens than its pages hold
    CHECK_THROWS_AS(paged({good.ids, good.first, len.data(), 2}), attune::error);
    std::vector<std::int32_t> first{0, 5, 3};
    CHECK_THROWS_AS(paged({good.ids, first.data(), good.lengths, 2}), attune::error);
    CHECK_THROWS_AS(paged({good.ids, nullptr, good.lengths, 2}), attune::error);
    CHECK_THROWS_AS(paged({good.ids, good.first, good.lengths, 3}), attune::error);  // sequence count differs from q_offsets
    // Pools that disagree, an output inside the pool.
    CHECK_THROWS_AS(attune::paged_attention<arch>(b.qv(), b.q_offsets(),
                                                  attune::paged_kv<float>{pc.kp, attune::tensor_view<const float>{}, good}, b.ov()),
                    attune::error);
    std::vector<float> pool(pc.kpool);
    auto pool_out = attune::packed_view<float>(pool.data(), b.qo.back(), 4, 32);
    auto kpool = attune::page_pool_nhd<const float>(pool.data(), pc.kp.batch(), 4, 2, 32);
    CHECK_THROWS_AS(attune::paged_attention<arch>(b.qv(), b.q_offsets(), attune::paged_kv<float>{kpool, pc.vp, good}, pool_out),
                    attune::error);
}

TEST_CASE("batch: position ids per sequence (CSR) reach masks and score modifiers", "[batch]") {
    std::mt19937 rng(17);
    const index_t Hq = 4, Hkv = 2, D = 32;
    batch<float> b(Hq, Hkv, D, D, {{1, 70}, {9, 9}, {0, 5}, {3, 130}}, rng);
    // Each sequence's ids: a prefix 0.., then a gap (tokens dropped from the middle), some repeated.
    std::vector<std::int32_t> ids;
    for (index_t s = 0; s < b.sequences(); ++s)
        for (index_t t = 0; t < b.lk(s); ++t)
            ids.push_back(static_cast<std::int32_t>(t < 4 ? t : t + 10 + static_cast<index_t>(rng() % 3)));
    const auto pos = attune::position_ids::ragged(ids.data(), b.k_offsets());
    std::vector<float> slopes{0.1f, 0.2f, 0.3f, 0.4f};
    const auto var = attune::variant(attune::with_positions(attune::causal{}, pos), attune::with_positions(attune::alibi(slopes), pos));
    attune::ragged_attention<arch>(b.qv(), b.q_offsets(), b.kv(), b.vv(), b.k_offsets(), b.ov(), var);
    // The reference: each sequence alone, its ids as a table shared by every batch row.
    double worst = 0;
    for (index_t s = 0; s < b.sequences(); ++s) {
        if (b.lq(s) == 0) continue;
        const auto own = attune::position_ids::shared(ids.data() + b.ko[s], b.lk(s));
        const auto ref = attune::reference::attention(
            b.rows(b.q, b.qo[s], b.lq(s), Hq, D), b.rows(b.k, b.ko[s], b.lk(s), Hkv, D), b.rows(b.v, b.ko[s], b.lk(s), Hkv, D),
            attune::variant(attune::with_positions(attune::causal{}, own), attune::with_positions(attune::alibi(slopes), own)));
        for (index_t h = 0; h < Hq; ++h)
            for (index_t t = 0; t < b.lq(s); ++t)
                for (index_t d = 0; d < D; ++d)
                    worst =
                        std::max(worst, std::abs(b.out[static_cast<std::size_t>(((b.qo[s] + t) * Hq + h) * D + d)] - ref.at(s, h, t, d)));
    }
    CHECK(worst <= 1e-4);
}

TEST_CASE("batch: bf16 prefill over pages (the AMX stages' gathered blocks) equals packed keys", "[batch]") {
    using attune::bf16;
    std::mt19937 rng(29);
    std::normal_distribution<float> nd;
    const index_t Hq = 4, Hkv = 2, D = 64, L = 150, ps = 16;
    std::vector<bf16> q(static_cast<std::size_t>(L * Hq * D)), k(static_cast<std::size_t>(L * Hkv * D)), v(k.size());
    for (auto* a : {&q, &k, &v})
        for (auto& x : *a) x = attune::from_float<bf16>(nd(rng));
    std::vector<bf16> packed_out(q.size()), paged_out(q.size());
    const std::int32_t offsets[] = {0, static_cast<std::int32_t>(L)};
    const attune::seq_offsets so{offsets, 1};
    attune::ragged_attention<arch>(attune::packed_view<const bf16>(q.data(), L, Hq, D), so,
                                   attune::packed_view<const bf16>(k.data(), L, Hkv, D),
                                   attune::packed_view<const bf16>(v.data(), L, Hkv, D), so,
                                   attune::packed_view<bf16>(packed_out.data(), L, Hq, D), attune::causal{}, {}, attune::serial_executor{});
    // The same keys in pages with reversed ids (no tile of 64 keys lies in one page).
    const index_t pages = (L + ps - 1) / ps;
    std::vector<bf16> kp(static_cast<std::size_t>(pages * ps * Hkv * D)), vp(kp.size());
    std::vector<std::int32_t> ids(static_cast<std::size_t>(pages)), first{0, static_cast<std::int32_t>(pages)},
        len{static_cast<std::int32_t>(L)};
    for (index_t i = 0; i < pages; ++i) ids[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(pages - 1 - i);
    const auto kview = attune::page_pool_nhd(kp.data(), pages, ps, Hkv, D), vview = attune::page_pool_nhd(vp.data(), pages, ps, Hkv, D);
    for (index_t t = 0; t < L; ++t)
        for (index_t h = 0; h < Hkv; ++h) {
            std::copy_n(&k[static_cast<std::size_t>((t * Hkv + h) * D)], D, kview.row(ids[static_cast<std::size_t>(t / ps)], h, t % ps));
            std::copy_n(&v[static_cast<std::size_t>((t * Hkv + h) * D)], D, vview.row(ids[static_cast<std::size_t>(t / ps)], h, t % ps));
        }
    attune::paged_attention<arch>(attune::packed_view<const bf16>(q.data(), L, Hq, D), so,
                                  attune::paged_kv<bf16>{kview, vview, attune::page_table{ids.data(), first.data(), len.data(), 1}},
                                  attune::packed_view<bf16>(paged_out.data(), L, Hq, D), attune::causal{}, {}, attune::serial_executor{});
    // The same arithmetic on the same bf16 values in the same order: equal bit for bit.
    index_t differ = 0;
    for (std::size_t i = 0; i < q.size(); ++i) differ += attune::to_float(packed_out[i]) != attune::to_float(paged_out[i]);
    CHECK(differ == 0);
}

namespace {
// A mask that throws on one sequence's keys (a user's policy failing inside the parallel region).
struct throwing_mask {
    using policy_kind = attune::mask_kind;
    bool visible(const attune::index_context& c) const {
        if (c.batch == 1 && c.k_pos == 5) throw std::runtime_error("throwing_mask");
        return c.k_pos <= c.q_pos;
    }
};
}  // namespace

TEST_CASE("batch: a policy throwing inside the region reaches the caller; the next call is right", "[batch]") {
    std::mt19937 rng(41);
    batch<float> b(4, 2, 32, 32, {{3, 9}, {2, 30}, {1, 200}}, rng);
    for (int round = 0; round < 2; ++round) {
        CHECK_THROWS_WITH(attune::ragged_attention<arch>(b.qv(), b.q_offsets(), b.kv(), b.vv(), b.k_offsets(), b.ov(), throwing_mask{}, {},
                                                         attune::openmp_executor{2}),
                          Catch::Contains("throwing_mask"));
        paged_copy<float> pc(b, 7, round == 0, true, rng);
        CHECK_THROWS_WITH(attune::paged_attention<arch>(b.qv(), b.q_offsets(), pc.kv(b.sequences()), b.ov(), throwing_mask{}),
                          Catch::Contains("throwing_mask"));
        std::fill(b.out.begin(), b.out.end(), std::numeric_limits<float>::quiet_NaN());
        attune::paged_attention<arch>(b.qv(), b.q_offsets(), pc.kv(b.sequences()), b.ov(), attune::causal{});
        check_batch(b, attune::causal{});
    }
    // Sizes whose products overflow are errors, not wrapped views.
    const index_t huge = index_t(1) << 40;
    CHECK_THROWS_AS(attune::packed_view<const float>(b.q.data(), huge, huge, 64), attune::error);
    CHECK_THROWS_AS(attune::page_pool_nhd<const float>(b.k.data(), huge, 256, huge, 128), attune::error);
    CHECK_THROWS_AS(attune::page_pool_hnd<const float>(b.k.data(), 4, huge, huge, 128), attune::error);
}
