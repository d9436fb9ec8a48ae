// Hostile matrix: the variant policies — masks, score modifiers, sinks and routers — their
// constructors and the validate(shape) hooks attention() runs before any work (tests/hostile/matrix.hpp).
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "attune/mask/key_span.hpp"
#include "attune/mask/shifted_groups.hpp"
#include "attune/router/head_subset.hpp"
#include "hostile/matrix.hpp"

namespace {
namespace policy_cases {

using attune::index_t;
using attune_test::tensor;
using arch = ATTUNE_TEST_ARCH;

// Past every vector's max_size: a size that must be refused by arithmetic, never by the allocator.
const index_t huge = std::numeric_limits<index_t>::max() / 2;
const index_t near_2_62 = index_t(1) << 62;
const float nan = std::numeric_limits<float>::quiet_NaN();
const float inf = std::numeric_limits<float>::infinity();

// A small problem with random q, k, v: run a variant through attention() and compare with the
// double-precision reference. Defaults: batch 1, GQA 4 query heads over 2 kv heads, Lq = 9 < Lk = 13.
struct problem {
    index_t B, Hq, Hkv, Lq, Lk, D;
    tensor<float> q, k, v, out;
    explicit problem(index_t b = 1, index_t hq = 4, index_t hkv = 2, index_t lq = 9, index_t lk = 13, index_t d = 16)
        : B(b), Hq(hq), Hkv(hkv), Lq(lq), Lk(lk), D(d), q(b, hq, lq, d), k(b, hkv, lk, d), v(b, hkv, lk, d), out(b, hq, lq, d) {
        std::mt19937 rng(static_cast<std::uint32_t>(11 + 7 * lq + 3 * lk + hq));
        q.fill_random(rng);
        k.fill_random(rng);
        v.fill_random(rng);
    }
    template <class Var>
    void run(const Var& var, index_t splits = 0) {
        out.poison();
        attune::options opt;
        opt.kv_splits = splits;
        attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, var, opt);
    }
    template <class Var>
    void check(const Var& var) {
        attune_test::check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), var),
                                             attune_test::fp32_tolerance());
    }
    template <class Var>
    void run_check(const Var& var, index_t splits = 0) {
        run(var, splits);
        check(var);
    }
    // Every output element is exactly zero (rows that see nothing).
    bool all_zero() const {
        for (index_t b = 0; b < B; ++b)
            for (index_t h = 0; h < Hq; ++h)
                for (index_t t = 0; t < Lq; ++t)
                    for (index_t d = 0; d < D; ++d)
                        if (out.view(b, h, t, d) != 0.0f) return false;
        return true;
    }
};

// A block layout for problem() (Lq 9, Lk 13: query positions 4..12) in 4 × 4 blocks: full blocks,
// partial (causal) blocks and empty ones.
attune::block_sparse<> layout_4x4() {
    return attune::block_sparse<>(4, 4, {0, 1, 3, 6, 8}, {0, 0, 1, 0, 1, 2, 1, 3}, {1, 1, 0, 1, 1, 0, 0, 0});
}
std::vector<attune::document_mask::id_type> ids_13() { return {0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}; }
std::vector<float> ramp(index_t n, float scale = 0.05f) {
    std::vector<float> x(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = scale * static_cast<float>(static_cast<int>(i % 17) - 8);
    return x;
}
attune::music_relative music(index_t heads, index_t distances, index_t dim) {
    return attune::music_relative(ramp(heads * distances * dim, 0.02f), heads, distances, dim);
}

// ---- block_sparse: the CSR structure checked in full ----
HOSTILE_THROWS("policies/ block_sparse: row_offsets decrease mid-list (reads past col_indices)", "row_offsets") {
    attune::block_sparse<> m(32, 32, {0, 5, 2}, {0, 1}, {1, 1});
};
HOSTILE_THROWS("policies/ block_sparse: row_offsets past the column indices", "row_offsets") {
    attune::block_sparse<> m(4, 4, {0, 3, 3, 2}, {0, 1}, {1, 1});
};
HOSTILE_THROWS("policies/ block_sparse: negative row offset", "row_offsets") {
    attune::block_sparse<> m(4, 4, {0, -1, 2}, {0, 1}, {1, 1});
};
HOSTILE_THROWS("policies/ block_sparse: row_offsets not starting at 0", "row_offsets") {
    attune::block_sparse<> m(4, 4, {1, 2}, {0, 1}, {1, 1});
};
HOSTILE_THROWS("policies/ block_sparse: empty row_offsets", "row_offsets") { attune::block_sparse<> m(4, 4, {}, {}, {}); };
HOSTILE_THROWS("policies/ block_sparse: row_offsets end before the last column index", "row_offsets") {
    attune::block_sparse<> m(4, 4, {0, 1}, {0, 1}, {1, 1});
};
HOSTILE_THROWS("policies/ block_sparse: fewer full flags than column indices", "full flags") {
    attune::block_sparse<> m(4, 4, {0, 2}, {0, 1}, {1});
};
HOSTILE_THROWS("policies/ block_sparse: negative kv block index", "col_indices") { attune::block_sparse<> m(4, 4, {0, 1}, {-3}, {1}); };
HOSTILE_THROWS("policies/ block_sparse: kv block index near 2^62 wraps times the block size", "col_indices") {
    attune::block_sparse<> m(32, 32, {0, 1}, {near_2_62}, {1});
};
HOSTILE_THROWS("policies/ block_sparse: kv block index at the index maximum", "col_indices") {
    attune::block_sparse<> m(1, 1, {0, 1}, {std::numeric_limits<index_t>::max()}, {1});
};
HOSTILE_THROWS("policies/ block_sparse: query blocks × q_block overflows", "q_block") {
    attune::block_sparse<> m(huge + 2, 4, {0, 0, 0}, {}, {});
};
HOSTILE_THROWS("policies/ block_sparse: zero block size", "block sizes") { attune::block_sparse<> m(0, 4, {0}, {}, {}); };
HOSTILE_THROWS("policies/ block_sparse: negative block size", "block sizes") { attune::block_sparse<> m(4, -4, {0}, {}, {}); };
HOSTILE_THROWS("policies/ block_sparse: a kv block listed twice in one row", "col_indices") {
    attune::block_sparse<> m(4, 4, {0, 2}, {1, 1}, {1, 0});
};
HOSTILE_OK("policies/ block_sparse: full, partial and empty blocks, Lq < Lk, GQA") {
    problem p;
    p.run_check(layout_4x4());
};
HOSTILE_OK("policies/ block_sparse: decode (Lq = 1) reads the last block row, split keys") {
    problem p(1, 4, 2, 1, 13);
    p.run_check(layout_4x4(), 3);
};
HOSTILE_OK("policies/ block_sparse: a layout shorter than Lk: positions past it see nothing") {
    problem p(2, 2, 1, 9, 13);
    attune::block_sparse<> m(2, 4, {0, 1, 2}, {0, 1}, {1, 0});  // query positions 0..3 only; the queries are at 4..12
    p.run_check(m);
    CHECK(p.all_zero());
};
HOSTILE_OK("policies/ block_sparse: default (no blocks) gives zeros at any shape") {
    problem p(1, 2, 2, 5, 7);
    p.run_check(attune::block_sparse<>());
    CHECK(p.all_zero());
};
HOSTILE_OK("policies/ block_sparse: one token") {
    problem p(1, 1, 1, 1, 1);
    p.run_check(attune::block_sparse<>(1, 1, {0, 1}, {0}, {0}));
};

// ---- document_mask: ids sized for the call ----
HOSTILE_THROWS("policies/ document_mask: fewer ids than Lk", "document_mask: ids cover") {
    problem p;
    p.run(attune::document_mask(std::vector<attune::document_mask::id_type>{0, 0, 1, 1, 1, 1, 1, 1, 1}));
};
HOSTILE_THROWS("policies/ document_mask: more ids than Lk", "document_mask: ids cover") {
    problem p(1, 2, 2, 4, 4);
    p.run(attune::document_mask(ids_13()));
};
HOSTILE_THROWS("policies/ document_mask: two rows of ids for batch 3", "rows of ids") {
    problem p(3, 2, 1, 9, 13);
    p.run(attune::document_mask(std::vector<std::vector<attune::document_mask::id_type>>{ids_13(), ids_13()}));
};
HOSTILE_OK("policies/ document_mask: three rows of ids for batch 2 (the third unused)") {
    problem p(2, 2, 1, 9, 13);
    std::vector<attune::document_mask::id_type> other = {0, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2};
    p.run_check(attune::document_mask(std::vector<std::vector<attune::document_mask::id_type>>{other, ids_13(), ids_13()}));
};
HOSTILE_THROWS("policies/ document_mask: ragged rows", "one length") {
    attune::document_mask m(std::vector<std::vector<attune::document_mask::id_type>>{{0, 0, 1}, {0, 1}});
};
HOSTILE_THROWS("policies/ document_mask: null ids", "null ids") {
    attune::document_mask m(static_cast<const attune::document_mask::id_type*>(nullptr), 8, 1);
};
HOSTILE_THROWS("policies/ document_mask: negative length", "length") {
    attune::document_mask::id_type x = 0;
    attune::document_mask m(&x, -1, 1);
};
HOSTILE_THROWS("policies/ document_mask: zero batches", "batches") {
    attune::document_mask::id_type x = 0;
    attune::document_mask m(&x, 1, 0);
};
HOSTILE_THROWS("policies/ document_mask: length × batches wraps", "length × batches") {
    attune::document_mask::id_type x = 0;
    attune::document_mask m(&x, near_2_62, 4);
};
HOSTILE_THROWS("policies/ document_mask: length × batches past any allocation", "length × batches") {
    attune::document_mask::id_type x = 0;
    attune::document_mask m(&x, attune_test::hostile::opaque(huge), 1);
};
HOSTILE_THROWS("policies/ document_mask::from_lengths: negative length", "from_lengths") {
    (void)attune::document_mask::from_lengths({3, -1});
};
HOSTILE_THROWS("policies/ document_mask::from_lengths: total length wraps", "from_lengths: lengths") {
    (void)attune::document_mask::from_lengths({huge, huge, huge});
};
HOSTILE_OK("policies/ document_mask: one row of ids serves every batch") {
    problem p(2, 4, 2, 9, 13);
    p.run_check(attune::document_mask(ids_13()));
};
HOSTILE_OK("policies/ document_mask: one row per batch, non-causal, unsorted ids") {
    problem p(2, 2, 2, 13, 13);
    std::vector<attune::document_mask::id_type> other = {3, 1, 1, 0, 0, 3, 3, 2, 2, 2, 1, 0, 0};
    p.run_check(attune::document_mask(std::vector<std::vector<attune::document_mask::id_type>>{ids_13(), other}, false));
};
HOSTILE_OK("policies/ document_mask: decode (Lq = 1) uses the id of the last position") {
    problem p(1, 4, 1, 1, 13);
    p.run_check(attune::document_mask::from_lengths({5, 8}));
};
HOSTILE_OK("policies/ document_mask: default (no ids) gives zeros at any shape") {
    problem p(1, 2, 1, 3, 6);
    p.run_check(attune::document_mask());
    CHECK(p.all_zero());
};

// ---- region_mask: valid for the (Lq, Lk) it was built for ----
HOSTILE_THROWS("policies/ region_mask: built for (10, 20), used at (70, 70)", "region_mask: built for") {
    problem p(1, 2, 1, 70, 70);
    p.run(attune::region_mask(10, 20, {{0, 10, 0, 20}}));
};
HOSTILE_THROWS("policies/ region_mask: right Lq, other Lk", "region_mask: built for") {
    problem p;
    p.run(attune::region_mask(9, 12, {{0, 9, 0, 12}}));
};
HOSTILE_THROWS("policies/ region_mask::absolute: used at another shape", "region_mask: built for") {
    problem p;
    p.run(attune::region_mask::absolute(4, 13, {{9, 13, 0, 13}}));
};
HOSTILE_THROWS("policies/ region_mask: query range past Lq", "query range") { attune::region_mask m(10, 20, {{0, 11, 0, 20}}); };
HOSTILE_THROWS("policies/ region_mask: key range past Lk", "key range") { attune::region_mask m(10, 20, {{0, 10, 5, 21}}); };
HOSTILE_THROWS("policies/ region_mask: reversed query range", "query range") { attune::region_mask m(10, 20, {{6, 2, 0, 20}}); };
HOSTILE_THROWS("policies/ region_mask: negative Lq", "Lq") { attune::region_mask m(-1, 20, {}); };
HOSTILE_OK("policies/ region_mask: cross-attention at its own shape, GQA") {
    problem p;
    p.run_check(attune::region_mask(9, 13, {{0, 4, 0, 6}, {4, 9, 3, 13}, {2, 3, 12, 13}}));
};
HOSTILE_OK("policies/ region_mask::absolute at its own shape, Lq > Lk") {
    problem p(1, 2, 2, 13, 9);
    p.run_check(attune::region_mask::absolute(13, 9, {{-4, 3, 0, 9}, {3, 9, 2, 5}}));
};
HOSTILE_OK("policies/ region_mask: default (no regions) gives zeros at any shape") {
    problem p(1, 2, 1, 4, 9);
    p.run_check(attune::region_mask());
    CHECK(p.all_zero());
};

// ---- prefix_sharing: its layout covers Lk ----
HOSTILE_THROWS("policies/ prefix_sharing: layout shorter than Lk", "prefix_sharing: the layout") {
    problem p;
    p.run(attune::prefix_sharing(3, {4, 4}));
};
HOSTILE_THROWS("policies/ prefix_sharing: layout longer than Lk", "prefix_sharing: the layout") {
    problem p;
    p.run(attune::prefix_sharing(5, {4, 4, 4}));
};
HOSTILE_THROWS("policies/ prefix_sharing: negative prefix", "prefix length") { attune::prefix_sharing m(-2, {4}); };
HOSTILE_THROWS("policies/ prefix_sharing: negative segment", "segment 1") { attune::prefix_sharing m(2, {4, -4}); };
HOSTILE_THROWS("policies/ prefix_sharing: prefix + segments wrap", "segment_lengths") { attune::prefix_sharing m(huge, {huge, huge}); };
HOSTILE_OK("policies/ prefix_sharing: causal layout covering Lk, Lq < Lk") {
    problem p;
    p.run_check(attune::prefix_sharing(5, {4, 4}));
};
HOSTILE_OK("policies/ prefix_sharing: bidirectional layout, decode") {
    problem p(2, 4, 4, 1, 13);
    p.run_check(attune::prefix_sharing(5, {3, 5}, false));
};

// ---- shifted_groups ----
HOSTILE_THROWS("policies/ shifted_groups: zero group", "group size") { attune::shifted_groups m(0, 4); };
HOSTILE_THROWS("policies/ shifted_groups: zero heads", "heads") { attune::shifted_groups m(4, 0); };
HOSTILE_THROWS("policies/ shifted_groups: negative sinks", "sinks") { attune::shifted_groups m(4, 4, -1); };
HOSTILE_THROWS("policies/ shifted_groups: built for 8 heads, the call has 4", "query heads") {
    problem p;
    p.run(attune::shifted_groups(4, 8));
};
HOSTILE_OK("policies/ shifted_groups: LongLoRA and SinkLoRA, GQA across the middle") {
    problem p(1, 4, 2, 13, 13);
    p.run_check(attune::shifted_groups::longlora(13, 4));
    p.run_check(attune::shifted_groups::sinklora(13, 4, 2));
};
HOSTILE_OK("policies/ shifted_groups: default is causal at any head count") {
    problem p(1, 6, 3, 5, 8);
    p.run(attune::shifted_groups());
    p.check(attune::causal{});
};

// ---- windows, spans and key sets ----
HOSTILE_THROWS("policies/ sinks_window: negative sinks", "sinks") { attune::sinks_window m(-1, 4); };
HOSTILE_THROWS("policies/ sinks_window: negative window", "window") { attune::sinks_window m(1, -4); };
HOSTILE_THROWS("policies/ sliding_window: negative left", "left") { attune::sliding_window m(-1, 0); };
HOSTILE_THROWS("policies/ sliding_window: negative right", "right") { attune::sliding_window m(0, -1); };
HOSTILE_THROWS("policies/ causal_window_of: a window of 0 tokens", "causal_window_of") { (void)attune::causal_window_of(0); };
HOSTILE_THROWS("policies/ key_span_mask: negative first", "first") { attune::key_span_mask m(-1, 3); };
HOSTILE_THROWS("policies/ outside_key_span_mask: negative first", "first") { attune::outside_key_span_mask m(-1, 3); };
HOSTILE_THROWS("policies/ prefix_keys: negative prefix", "prefix length") { attune::prefix_keys m(-1); };
HOSTILE_OK("policies/ sinks_window: sinks and window both past the sequence, Lq < Lk") {
    problem p;
    p.run_check(attune::sinks_window(2, 3));
    p.run_check(attune::sinks_window(huge, huge));
};
HOSTILE_OK("policies/ sliding_window: unbounded sides equal no mask") {
    problem p;
    p.run(attune::sliding_window(attune::unbounded, attune::unbounded));
    p.check(attune::no_mask{});
};
HOSTILE_OK("policies/ key spans: and_mask(causal, key span) and the outside span, split keys") {
    problem p;
    p.run_check(attune::and_mask(attune::causal{}, attune::key_span_mask(3, 9)), 2);
    p.run_check(attune::outside_key_span_mask(3, 9), 2);
};
HOSTILE_THROWS("policies/ key_set_mask: negative key position", "key positions") {
    attune::key_set_mask m(std::vector<std::vector<index_t>>{{0, -2}});
};
HOSTILE_THROWS("policies/ key_set_mask: negative q_heads", "q_heads") {
    attune::key_set_mask m(std::vector<std::vector<index_t>>{{0}}, -1);
};
HOSTILE_THROWS("policies/ key_set_mask: 2 lists for 4 query heads", "key lists") {
    problem p;
    p.run(attune::key_set_mask(std::vector<std::vector<index_t>>{{0}, {1}}));
};
HOSTILE_THROWS("policies/ key_set_mask: per-(batch, head) lists for batch 1, the call has batch 2", "key lists") {
    problem p(2, 2, 1, 9, 13);
    p.run(attune::key_set_mask(std::vector<std::vector<index_t>>{{0}, {1}}, 2));
};
HOSTILE_THROWS("policies/ key_set_mask: default (no lists) at 4 query heads", "key lists") {
    problem p;
    p.run(attune::key_set_mask());
};
HOSTILE_OK("policies/ key_set_mask: per head and shared, keys past Lk ignored") {
    problem p;
    p.run_check(attune::key_set_mask(std::vector<std::vector<index_t>>{{0, 3, 12}, {7}, {}, {40, 2, 2}}));
    p.run_check(attune::key_set_mask::shared({1, 5, 11, 1000}));
};

// ---- combinators validate their parts ----
HOSTILE_THROWS("policies/ and_mask: a document part of the wrong length", "document_mask: ids cover") {
    problem p;
    p.run(attune::and_mask(attune::causal{}, attune::document_mask(std::vector<attune::document_mask::id_type>{0, 0, 1})));
};
HOSTILE_THROWS("policies/ or_mask: a region part of the wrong shape", "region_mask: built for") {
    problem p;
    p.run(attune::or_mask(attune::causal{}, attune::region_mask(4, 4, {{0, 4, 0, 4}})));
};
HOSTILE_THROWS("policies/ block_sparse: an inner mask of the wrong shape", "document_mask: ids cover") {
    problem p;
    using inner = attune::document_mask;
    p.run(attune::block_sparse<inner>(4, 4, {0, 1}, {0}, {0}, inner(std::vector<inner::id_type>{0, 1})));
};
HOSTILE_OK("policies/ or_mask: causal or a region, and_mask: document and window") {
    problem p;
    p.run_check(attune::or_mask(attune::causal{}, attune::region_mask(9, 13, {{0, 2, 10, 13}})));
    p.run_check(attune::and_mask(attune::document_mask(ids_13()), attune::sliding_window(2, 0)));
};
HOSTILE_OK("policies/ causal: one token") {
    problem p(1, 1, 1, 1, 1);
    p.run_check(attune::causal{});
};
HOSTILE_OK("policies/ causal: Lq > Lk leaves the first rows with nothing visible (zeros)") {
    problem p(1, 2, 1, 13, 4);
    p.run_check(attune::causal{});
};

// ---- duo_heads ----
HOSTILE_THROWS("policies/ duo_heads: 3 head classes for 2 kv heads", "duo_heads: 3 head classes") {
    problem p;
    p.run(attune::duo_heads({true, false, true}, 2, 4));
};
HOSTILE_THROWS("policies/ duo_heads: empty head classes for 2 kv heads", "duo_heads: 0 head classes") {
    problem p;
    p.run(attune::duo_heads(std::vector<bool>{}, 2, 4));
};
HOSTILE_THROWS("policies/ duo_heads::by_threshold: NaN alpha", "alpha[1]") { (void)attune::duo_heads::by_threshold({0.2f, nan}, 0.5f); };
HOSTILE_THROWS("policies/ duo_heads::by_threshold: NaN threshold", "threshold") { (void)attune::duo_heads::by_threshold({0.2f}, nan); };
HOSTILE_THROWS("policies/ duo_heads::by_sparsity: NaN alpha", "alpha[0]") { (void)attune::duo_heads::by_sparsity({nan, 0.2f, 0.1f}); };
HOSTILE_THROWS("policies/ duo_heads::by_sparsity: sparsity past 1", "sparsity") { (void)attune::duo_heads::by_sparsity({0.1f}, 1.5); };
HOSTILE_THROWS("policies/ duo_heads: negative sinks", "sinks") { attune::duo_heads m({true}, -1, 4); };
HOSTILE_OK("policies/ duo_heads: one streaming and one retrieval kv head, GQA") {
    problem p(1, 4, 2, 13, 13);
    p.run_check(attune::duo_heads(attune::duo_heads::by_sparsity({0.9f, 0.1f}, 0.5), 2, 3));
};
HOSTILE_OK("policies/ duo_heads: default is causal at any kv head count") {
    problem p;
    p.run(attune::duo_heads());
    p.check(attune::causal{});
};

// ---- score modifiers: finite tables, sized for the call ----
HOSTILE_THROWS("policies/ alibi: NaN slope", "slopes[1]") { attune::alibi m({0.5f, nan}); };
HOSTILE_THROWS("policies/ alibi: infinite slope", "slopes[0]") { attune::alibi m({inf, 0.5f}); };
HOSTILE_THROWS("policies/ alibi: 2 slopes for 4 query heads", "alibi: 2 slopes") {
    problem p;
    p.run(attune::alibi(attune::alibi_slopes(2)));
};
HOSTILE_THROWS("policies/ alibi: a slope made NaN after construction", "slopes[3]") {
    problem p;
    attune::alibi m(attune::alibi_slopes(4));
    m.slopes[3] = nan;
    p.run(m);
};
HOSTILE_THROWS("policies/ alibi_slopes: zero heads", "alibi_slopes: heads") { (void)attune::alibi_slopes(0); };
HOSTILE_THROWS("policies/ alibi_slopes: heads past any allocation", "alibi_slopes: heads") { (void)attune::alibi_slopes(huge); };
HOSTILE_OK("policies/ alibi: symmetric form, Lq < Lk, GQA") {
    problem p;
    p.run_check(attune::alibi(attune::alibi_slopes(4), attune::alibi_form::symmetric));
};
HOSTILE_OK("policies/ alibi: causal form under a causal mask, 6 heads (not a power of two), decode") {
    problem p(1, 6, 3, 1, 13);
    p.run_check(attune::variant(attune::causal{}, attune::alibi(attune::alibi_slopes(6))));
};

HOSTILE_THROWS("policies/ relative_bias: max_distance near 2^62 (2R + 1 wraps)", "max_distance") {
    problem p;
    attune::relative_bias m;
    m.max_distance = near_2_62;
    p.run(m);
};
HOSTILE_THROWS("policies/ relative_bias: max_distance at the index maximum", "max_distance") {
    attune::relative_bias m({}, std::numeric_limits<index_t>::max());
};
HOSTILE_THROWS("policies/ relative_bias: negative max_distance", "max_distance") { attune::relative_bias m({1.0f}, -1); };
HOSTILE_THROWS("policies/ relative_bias: NaN entry", "table[2]") { attune::relative_bias m({0.0f, 1.0f, nan}, 1); };
HOSTILE_THROWS("policies/ relative_bias: infinite entry", "table[0]") { attune::relative_bias m({-inf, 1.0f, 0.0f}, 1); };
HOSTILE_THROWS("policies/ relative_bias: table not whole rows", "table has 4") { attune::relative_bias m({0.0f, 1.0f, 2.0f, 3.0f}, 1); };
HOSTILE_THROWS("policies/ relative_bias: rows for 2 heads, the call has 4", "query heads") {
    problem p;
    p.run(attune::relative_bias(ramp(2 * 7), 3));
};
HOSTILE_THROWS("policies/ relative_bias: an entry made infinite after construction", "table[5]") {
    problem p;
    attune::relative_bias m(ramp(4 * 7), 3);
    m.table[5] = inf;
    p.run(m);
};
HOSTILE_OK("policies/ relative_bias: distances inside and beyond ±R, GQA") {
    problem p;
    p.run_check(attune::relative_bias(ramp(4 * 7), 3));
};
HOSTILE_OK("policies/ relative_bias: R = 0 and extra rows, one token") {
    problem p(1, 2, 1, 1, 1);
    p.run_check(attune::relative_bias({0.5f, -0.25f, 9.0f}, 0));
};

HOSTILE_THROWS("policies/ music_relative: embedding dim differs from Dk", "embedding dim") {
    problem p;
    p.run(attune::variant(attune::causal{}, music(1, 5, 8)));
};
HOSTILE_THROWS("policies/ music_relative: embeddings for 3 heads, the call has 4", "embeddings for 3 heads") {
    problem p;
    p.run(attune::variant(attune::causal{}, music(3, 5, 16)));
};
HOSTILE_THROWS("policies/ music_relative: too few embedding values", "embedding values") { attune::music_relative m(ramp(10), 1, 5, 16); };
HOSTILE_THROWS("policies/ music_relative: NaN embedding", "embeddings[4]") {
    std::vector<float> e = ramp(5 * 16);
    e[4] = nan;
    attune::music_relative m(e, 1, 5, 16);
};
HOSTILE_THROWS("policies/ music_relative: heads × distances × dim wraps", "heads × distances × dim") {
    attune::music_relative m({}, 4, near_2_62, 16);
};
HOSTILE_THROWS("policies/ music_relative: zero distances", "distance row") { attune::music_relative m({}, 1, 0, 16); };
HOSTILE_THROWS("policies/ music_relative: zero heads", "heads") { attune::music_relative m({}, 0, 5, 16); };
HOSTILE_THROWS("policies/ music_relative: a size changed after construction", "embedding values") {
    problem p;
    attune::music_relative m = music(1, 5, 16);
    m.distances = 6;
    p.run(attune::variant(attune::causal{}, m));
};
HOSTILE_OK("policies/ music_relative: shared and per-head embeddings, Lq < Lk") {
    problem p;
    p.run_check(attune::variant(attune::causal{}, music(1, 5, 16)));
    p.run_check(attune::variant(attune::causal{}, music(4, 3, 16)));
};

HOSTILE_THROWS("policies/ softcap: zero cap", "softcap: cap") { attune::softcap m(0.0f); };
HOSTILE_THROWS("policies/ softcap: negative cap", "softcap: cap") { attune::softcap m(-5.0f); };
HOSTILE_THROWS("policies/ softcap: NaN cap", "softcap: cap") { attune::softcap m(nan); };
HOSTILE_THROWS("policies/ softcap: infinite cap", "softcap: cap") { attune::softcap m(inf); };
HOSTILE_THROWS("policies/ softcap: cap set to 0 after construction", "softcap: cap") {
    problem p;
    attune::softcap m(5.0f);
    m.cap = 0.0f;
    p.run(m);
};
HOSTILE_OK("policies/ softcap: a small cap, Lq > Lk") {
    problem p(1, 4, 2, 13, 9);
    p.run_check(attune::softcap(0.5f));
};

HOSTILE_THROWS("policies/ uniform_heads: 3 flags for 4 query heads", "uniform_heads: 3 flags") {
    problem p;
    p.run(attune::uniform_heads({true, false, true}));
};
HOSTILE_OK("policies/ uniform_heads: two of four heads uniform, causal") {
    problem p;
    p.run_check(attune::variant(attune::causal{}, attune::uniform_heads({true, false, false, true})));
};

HOSTILE_THROWS("policies/ compose: a part sized for other heads", "alibi: 2 slopes") {
    problem p;
    p.run(attune::compose(attune::softcap(10.0f), attune::alibi(attune::alibi_slopes(2))));
};
HOSTILE_THROWS("policies/ compose: a part with a NaN table", "table[1]") {
    problem p;
    attune::relative_bias b(ramp(4 * 3), 1);
    b.table[1] = nan;
    p.run(attune::compose(attune::softcap(10.0f), b));
};
HOSTILE_OK("policies/ compose: softcap then alibi then relative bias") {
    problem p;
    p.run_check(attune::compose(attune::softcap(3.0f),
                                attune::compose(attune::alibi(attune::alibi_slopes(4)), attune::relative_bias(ramp(4 * 5), 2))));
};

// ---- sinks ----
HOSTILE_THROWS("policies/ sink_logit: NaN logit", "logits[1]") { attune::sink_logit s({0.0f, nan}); };
HOSTILE_THROWS("policies/ sink_logit: +inf logit", "logits[0]") { attune::sink_logit s({inf}); };
HOSTILE_THROWS("policies/ sink_logit: 3 logits for 4 query heads", "sink_logit: 3 logits") {
    problem p;
    p.run(attune::sink_logit({0.0f, 1.0f, 2.0f}));
};
HOSTILE_THROWS("policies/ sink_logit: an extra logit made NaN after construction", "logits[4]") {
    problem p;
    attune::sink_logit s({0.0f, 1.0f, 2.0f, 3.0f, 0.0f});
    s.logits[4] = nan;
    p.run(s);
};
HOSTILE_OK("policies/ sink_logit: −inf disables a head's sink; one token") {
    problem p(1, 4, 2, 1, 1);
    p.run_check(attune::sink_logit({-inf, 0.0f, 2.0f, -inf}));
};
HOSTILE_OK("policies/ sink_logit: rows with nothing visible give zeros and LSE = z") {
    problem p(1, 2, 1, 9, 4);
    p.run_check(attune::variant(attune::causal{}, attune::sink_logit({1.0f, -2.0f})));
};

HOSTILE_THROWS("policies/ key_bias_sink: k_star sized for other heads", "k_star has") {
    problem p;
    p.run(attune::key_bias_sink(ramp(1 * 16), ramp(2 * 16)));
};
HOSTILE_THROWS("policies/ key_bias_sink: v_star sized for another dim", "v_star has") {
    problem p;
    p.run(attune::key_bias_sink(ramp(2 * 16), ramp(2 * 8)));
};
HOSTILE_THROWS("policies/ key_bias_sink: NaN in k_star", "k_star[3]") {
    std::vector<float> k = ramp(2 * 16);
    k[3] = nan;
    attune::key_bias_sink s(k, ramp(2 * 16));
};
HOSTILE_THROWS("policies/ key_bias_sink: inf in v_star", "v_star[0]") {
    std::vector<float> v = ramp(2 * 16);
    v[0] = -inf;
    attune::key_bias_sink s(ramp(2 * 16), v);
};
HOSTILE_THROWS("policies/ key_bias_sink: v_star made NaN after construction", "v_star[7]") {
    problem p;
    attune::key_bias_sink s(ramp(2 * 16), ramp(2 * 16));
    s.v_star[7] = nan;
    p.run(s);
};
HOSTILE_OK("policies/ key_bias_sink: per kv head, GQA, causal, Lq > Lk") {
    problem p(1, 4, 2, 13, 9);
    p.run_check(attune::variant(attune::causal{}, attune::key_bias_sink(ramp(2 * 16, 0.1f), ramp(2 * 16, 0.3f))));
};

// ---- routers ----
HOSTILE_THROWS("policies/ head_gates: NaN gate", "gates[2]") { attune::head_gates g({1.0f, 1.0f, nan, 1.0f}); };
HOSTILE_THROWS("policies/ head_gates: infinite gate", "gates[0]") { attune::head_gates g({inf}); };
HOSTILE_THROWS("policies/ head_gates: 2 gates for 4 query heads", "head_gates: 2 gates") {
    problem p;
    p.run(attune::head_gates({1.0f, 0.0f}));
};
HOSTILE_THROWS("policies/ head_gates::pruned: head outside the heads", "head 4") { (void)attune::head_gates::pruned(4, {4}); };
HOSTILE_THROWS("policies/ head_gates::pruned: zero heads", "q_heads") { (void)attune::head_gates::pruned(0, {}); };
HOSTILE_THROWS("policies/ head_gates::pruned: heads past any allocation", "head_gates: q_heads") {
    (void)attune::head_gates::pruned(huge, {});
};
HOSTILE_THROWS("policies/ head_gates::scaled: NaN alpha", "alpha") { (void)attune::head_gates::scaled(4, {1}, nan); };
HOSTILE_OK("policies/ head_gates: pruned and amplified heads, split keys") {
    problem p;
    attune::head_gates g({0.0f, 2.0f, 1.0f, -0.5f});
    p.run_check(g, 3);
};

HOSTILE_THROWS("policies/ head_subset: head outside the heads", "head_subset: head 4") {
    (void)attune::head_subset<attune::all_heads>({}, 4, {1, 4});
};
HOSTILE_THROWS("policies/ head_subset: zero q_heads", "head_subset: q_heads") { (void)attune::head_subset<attune::all_heads>({}, 0, {}); };
HOSTILE_THROWS("policies/ head_subset: negative q_heads", "head_subset: q_heads") {
    (void)attune::head_subset<attune::all_heads>({}, -3, {});
};
HOSTILE_THROWS("policies/ head_subset: built for 2 heads, the call has 4", "head_subset: built for 2") {
    problem p;
    p.run(attune::head_subset<attune::all_heads>({}, 2, {0}));
};
HOSTILE_THROWS("policies/ head_subset: inner router sized for other heads", "head_gates: 2 gates") {
    problem p;
    p.run(attune::head_subset<attune::head_gates>(attune::head_gates({1.0f, 2.0f}), 4, {0, 3}));
};
HOSTILE_OK("policies/ head_subset: two heads of four, inner gates") {
    problem p;
    p.run_check(attune::head_subset<attune::head_gates>(attune::head_gates({1.0f, 2.0f, 3.0f, 0.5f}), 4, {1, 3}));
};

HOSTILE_THROWS("policies/ token_gates: gate count differs from batch × tokens × heads", "token_gates: 5 gates") {
    attune::token_gates g(std::vector<float>(5, 1.0f), 1, 2, 3);
};
HOSTILE_THROWS("policies/ token_gates: negative size", "token_gates: batch, tokens, heads") { attune::token_gates g({}, 1, -2, 0); };
HOSTILE_THROWS("policies/ token_gates: batch × tokens × heads wraps", "batch × tokens × heads") {
    attune::token_gates g({}, near_2_62, 4, 4);
};
HOSTILE_THROWS("policies/ token_gates: NaN gate", "gates[1]") { attune::token_gates g({1.0f, nan}, 1, 1, 2); };
HOSTILE_THROWS("policies/ token_gates: infinite gate", "gates[0]") { attune::token_gates g({inf, 1.0f}, 1, 2, 1); };
HOSTILE_THROWS("policies/ token_gates: gates for fewer tokens than Lq", "token_gates: gates for [1, 8, 4]") {
    problem p;
    p.run(attune::token_gates(std::vector<float>(8 * 4, 1.0f), 1, 8, 4));
};
HOSTILE_THROWS("policies/ token_gates: gates for batch 1, the call has batch 2", "token_gates: gates for [1, 9, 4]") {
    problem p(2, 4, 2, 9, 13);
    p.run(attune::token_gates(std::vector<float>(9 * 4, 1.0f), 1, 9, 4));
};
HOSTILE_THROWS("policies/ token_gates: a gate made NaN after construction", "gates[10]") {
    problem p;
    attune::token_gates g(std::vector<float>(9 * 4, 1.0f), 1, 9, 4);
    g.gates[10] = nan;
    p.run(g);
};
HOSTILE_OK("policies/ token_gates: per-(token, head) gates with zeros, causal") {
    problem p;
    std::vector<float> g = ramp(9 * 4, 0.25f);
    p.run_check(attune::variant(attune::causal{}, attune::token_gates(g, 1, 9, 4)));
};

HOSTILE_THROWS("policies/ soft_mixture_gates: zero experts (a softmax over nothing)", "experts") {
    (void)attune::soft_mixture_gates(1, 4, 0, {});
};
HOSTILE_THROWS("policies/ soft_mixture_gates: NaN logit", "logits[3]") {
    (void)attune::soft_mixture_gates(1, 2, 2, {0.0f, 1.0f, 2.0f, nan});
};
HOSTILE_THROWS("policies/ soft_mixture_gates: -inf logit", "logits[0]") { (void)attune::soft_mixture_gates(1, 1, 2, {-inf, 1.0f}); };
HOSTILE_THROWS("policies/ soft_mixture_gates: logit count", "soft_mixture_gates: 3 logits") {
    (void)attune::soft_mixture_gates(1, 2, 2, {0.0f, 1.0f, 2.0f});
};
HOSTILE_THROWS("policies/ soft_mixture_gates: batch × tokens × experts wraps", "batch × tokens × experts") {
    (void)attune::soft_mixture_gates(near_2_62, 2, 4, {});
};
HOSTILE_THROWS("policies/ soft_mixture_gates: zero batch", "batch") { (void)attune::soft_mixture_gates(0, 2, 2, {}); };
HOSTILE_OK("policies/ soft_mixture_gates: gates of each token sum to 1, attention matches the reference") {
    const auto g = attune::soft_mixture_gates(1, 9, 4, ramp(9 * 4, 0.7f));
    for (index_t t = 0; t < 9; ++t) {
        float sum = 0.0f;
        for (index_t h = 0; h < 4; ++h) sum += g.at(0, t, h);
        CHECK(std::abs(sum - 1.0f) < 1e-6f);
    }
    problem p;
    p.run_check(g);
};

HOSTILE_THROWS("policies/ moh_gates: top_k past the routed heads", "top_k") {
    (void)attune::moh_gates(1, 2, 1, 3, 4, std::vector<float>(6));
};
HOSTILE_THROWS("policies/ moh_gates: NaN routed logit", "routed_logits[4]") {
    std::vector<float> r(6, 0.5f);
    r[4] = nan;
    (void)attune::moh_gates(1, 2, 1, 3, 2, r);
};
HOSTILE_THROWS("policies/ moh_gates: infinite split logit", "split_logits[1]") {
    (void)attune::moh_gates(1, 1, 1, 2, 1, {0.0f, 1.0f}, {}, {0.0f, inf});
};
HOSTILE_THROWS("policies/ moh_gates: routed logit count", "routed logits have") {
    (void)attune::moh_gates(1, 2, 0, 3, 1, std::vector<float>(5));
};
HOSTILE_THROWS("policies/ moh_gates: shared logit count", "shared logits have") {
    (void)attune::moh_gates(1, 2, 2, 2, 1, std::vector<float>(4), std::vector<float>(3));
};
HOSTILE_THROWS("policies/ moh_gates: batch × tokens wraps", "moh_gates: batch × tokens") {
    (void)attune::moh_gates(near_2_62, 8, 0, 1, 1, {});
};
HOSTILE_THROWS("policies/ moh_gates: negative routed heads", "routed_heads") { (void)attune::moh_gates(1, 1, 0, -1, 0, {}); };
HOSTILE_OK("policies/ moh_gates: shared and top-k routed heads against the reference") {
    const auto g = attune::moh_gates(1, 9, 1, 3, 2, ramp(9 * 3, 0.4f), ramp(9 * 1), ramp(9 * 2, 0.3f));
    CHECK(g.heads == 4);
    problem p;
    p.run_check(attune::variant(attune::causal{}, g));
};

HOSTILE_THROWS("policies/ moh_query_norm_gates: a NaN in q", "moh_query_norm_gates: q has a NaN") {
    problem p;
    p.q.view(0, 2, 3, 5) = nan;
    (void)attune::moh_query_norm_gates(p.q.cview(), 1, 2);
};
HOSTILE_THROWS("policies/ moh_query_norm_gates: top_k past the routed heads", "top_k") {
    problem p;
    (void)attune::moh_query_norm_gates(p.q.cview(), 2, 3);
};
HOSTILE_THROWS("policies/ moh_query_norm_gates: more shared heads than heads", "shared heads") {
    problem p;
    (void)attune::moh_query_norm_gates(p.q.cview(), 5, 0);
};
HOSTILE_OK("policies/ moh_query_norm_gates: an infinite q ranks first") {
    problem p;
    p.q.view(0, 3, 0, 0) = inf;
    const auto g = attune::moh_query_norm_gates(p.q.cview(), 1, 1);
    CHECK(g.at(0, 0, 3) == 1.0f);
    CHECK(g.at(0, 0, 0) == 1.0f);
    CHECK(g.at(0, 0, 1) + g.at(0, 0, 2) == 0.0f);
};

HOSTILE_THROWS("policies/ retrieval_probe: zero heads", "q_heads") { attune::retrieval_probe r(0, {1}); };
HOSTILE_THROWS("policies/ retrieval_probe: heads past any allocation", "retrieval_probe: q_heads") {
    attune::retrieval_probe r(huge, {1});
};
HOSTILE_THROWS("policies/ retrieval_probe: empty needle", "needle") { attune::retrieval_probe r(4, {}); };
HOSTILE_THROWS("policies/ retrieval_probe: negative needle position", "needle positions") { attune::retrieval_probe r(4, {3, -1}); };
HOSTILE_THROWS("policies/ retrieval_probe::observe: q with other heads", "q has 4 heads") {
    problem p(1, 4, 2, 1, 13);
    attune::retrieval_probe r(2, {3});
    (void)r.observe<arch>(p.q.cview(), p.k.cview(), std::vector<int>(13, 0), 0);
};
HOSTILE_THROWS("policies/ retrieval_probe::observe: fewer token ids than keys", "token ids") {
    problem p(1, 4, 2, 1, 13);
    attune::retrieval_probe r(4, {3});
    (void)r.observe<arch>(p.q.cview(), p.k.cview(), std::vector<int>(12, 0), 0);
};
HOSTILE_THROWS("policies/ retrieval_probe::observe: null q", "q has null data") {
    problem p(1, 4, 2, 1, 13);
    attune::retrieval_probe r(4, {3});
    (void)r.observe<arch>(attune::tensor_view<const float>(nullptr, {1, 4, 1, 16}, {64, 16, 16}), p.k.cview(), std::vector<int>(13, 0), 0);
};
HOSTILE_OK("policies/ retrieval_probe: a head whose query is the needle key retrieves it") {
    problem p(1, 2, 1, 1, 13);
    for (index_t d = 0; d < 16; ++d) {  // key 5 long and q of head 1 along it: its score is the largest by far
        p.k.view(0, 0, 5, d) *= 3.0f;
        p.q.view(0, 1, 0, d) = p.k.view(0, 0, 5, d);
    }
    std::vector<int> tokens(13, 0);
    tokens[5] = 42;
    attune::retrieval_probe r(2, {5, 99});  // a needle position past the keys is never hit
    const auto heads = r.observe<arch>(p.q.cview(), p.k.cview(), tokens, 42);
    REQUIRE(!heads.empty());
    CHECK(heads.back() == 1);
    CHECK(r.scores()[1] == 0.5f);
};

}  // namespace policy_cases
}  // namespace
