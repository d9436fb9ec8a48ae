// The extension contract (attune/hooks.hpp), arch-independent:
//  - each built-in policy is detected with the fast paths it is meant to use (the traits the engine
//    reads), and lists in `hooks` exactly the optional hooks it has;
//  - policies that break a rule fail it (read from the rules, so no static_assert fires here; the
//    diagnostics themselves are the compile_fail.* tests);
//  - the smallest mask, three lines without classify(), runs through attention() — prefill, GQA,
//    chunks, decode, splits, combined with and_mask — and equals the float64 reference and
//    attune::causal.
#include <cstdint>
#include <random>
#include <type_traits>

#include <catch2/catch.hpp>

#include "attune/attune.hpp"
#include "attune/hooks.hpp"
#include "attune/mask/key_span.hpp"
#include "attune/mask/shifted_groups.hpp"
#include "attune/reference/softmax.hpp"
#include "attune/router/head_subset.hpp"
#include "attune/testing.hpp"
#include "support.hpp"

using attune::index_t;
namespace hook = attune::hook;
namespace d = attune::detail;

namespace {

// The smallest mask: three lines (README, "Writing a variant: the hooks").
struct my_causal {
    using policy_kind = attune::mask_kind;
    bool visible(const attune::index_context& c) const { return c.k_pos <= c.q_pos; }
};

// README's mask with a listed fast path: the 64 most recent keys, the query's own included.
struct recent_64 {
    using policy_kind = attune::mask_kind;
    using hooks = attune::provides<attune::hook::keys>;  // checked: a misspelt keys() is an error
    bool visible(const attune::index_context& c) const { return c.q_pos - 64 < c.k_pos && c.k_pos <= c.q_pos; }
    attune::key_range keys(const attune::index_context& row) const { return {row.q_pos - 63, row.q_pos}; }
};

template <class P, class... Vocab>
constexpr bool lists_exactly_what_it_has() {
    return ((d::lists_v<P, Vocab> == d::found<P, Vocab>()) && ...);
}
template <class M>
constexpr bool mask_lists_exactly = lists_exactly_what_it_has<M, hook::classify, hook::keys, hook::key_pair, hook::span, hook::validate>();
template <class S>
constexpr bool score_lists_exactly = lists_exactly_what_it_has<S, hook::query, hook::prepare, hook::apply_tile, hook::validate>();
template <class R>
constexpr bool router_lists_exactly = lists_exactly_what_it_has<R, hook::active_fraction, hook::validate>();
template <class K>
constexpr bool sink_lists_exactly = lists_exactly_what_it_has<K, hook::validate>();
template <class F>
constexpr bool family_lists_exactly =
    lists_exactly_what_it_has<F, hook::update_tile, hook::live_rows, hook::weights_tile, hook::row_sum, hook::validate>();

template <class M>
constexpr int intervals = d::mask_row_intervals<M>;
template <class M>
constexpr bool classifies = d::mask_has_classify<M>::value;
template <class M>
constexpr bool spans = d::mask_has_span<M>::value;
template <class S>
constexpr bool tile_wise = d::has_tile_hook<S, attune::simd::default_arch>::value;

}  // namespace

TEST_CASE("built-in masks: the engine finds the fast paths each is meant to use, and each lists exactly those", "[hooks]") {
    using namespace attune;
    // classify: empty tiles skipped, full ones untested; keys / key_pair: lane-wise masking; span:
    // only the keys some row sees.
    STATIC_REQUIRE((classifies<no_mask> && intervals<no_mask> == 0 && !spans<no_mask>));
    STATIC_REQUIRE((classifies<causal> && intervals<causal> == 1 && !spans<causal>));
    STATIC_REQUIRE((classifies<sliding_window> && intervals<sliding_window> == 1 && spans<sliding_window>));
    STATIC_REQUIRE((classifies<sinks_window> && intervals<sinks_window> == 2 && spans<sinks_window>));
    STATIC_REQUIRE((classifies<key_span_mask> && intervals<key_span_mask> == 1 && spans<key_span_mask>));
    STATIC_REQUIRE((classifies<outside_key_span_mask> && intervals<outside_key_span_mask> == 2 && spans<outside_key_span_mask>));
    STATIC_REQUIRE((classifies<key_set_mask> && intervals<key_set_mask> == 0 && spans<key_set_mask>));
    STATIC_REQUIRE((classifies<prefix_keys> && intervals<prefix_keys> == 1 && spans<prefix_keys>));
    STATIC_REQUIRE((classifies<document_mask> && intervals<document_mask> == 0 && !spans<document_mask>));
    STATIC_REQUIRE((classifies<block_sparse<>> && intervals<block_sparse<>> == 0));
    STATIC_REQUIRE((classifies<region_mask> && intervals<region_mask> == 0));
    STATIC_REQUIRE((classifies<shifted_groups> && intervals<shifted_groups> == 2));
    STATIC_REQUIRE((classifies<duo_heads> && intervals<duo_heads> == 2 && spans<duo_heads>));
    STATIC_REQUIRE((classifies<prefix_sharing> && intervals<prefix_sharing> == 0));
    // Combinators: and of intervals is an interval, of an interval and a pair a pair; or of two
    // intervals a pair; a span when either part has one.
    STATIC_REQUIRE((intervals<and_mask<sliding_window, causal>> == 1 && spans<and_mask<sliding_window, causal>>));
    STATIC_REQUIRE((intervals<and_mask<causal, sinks_window>> == 2 && spans<and_mask<causal, sinks_window>>));
    STATIC_REQUIRE((intervals<and_mask<causal, document_mask>> == 0 && !spans<and_mask<causal, document_mask>>));
    STATIC_REQUIRE((intervals<or_mask<sliding_window, prefix_keys>> == 2 && !spans<or_mask<sliding_window, prefix_keys>>));
    STATIC_REQUIRE(intervals<or_mask<sliding_window, document_mask>> == 0);

    STATIC_REQUIRE(mask_lists_exactly<no_mask>);
    STATIC_REQUIRE(mask_lists_exactly<causal>);
    STATIC_REQUIRE(mask_lists_exactly<sliding_window>);
    STATIC_REQUIRE(mask_lists_exactly<sinks_window>);
    STATIC_REQUIRE(mask_lists_exactly<key_span_mask>);
    STATIC_REQUIRE(mask_lists_exactly<outside_key_span_mask>);
    STATIC_REQUIRE(mask_lists_exactly<key_set_mask>);
    STATIC_REQUIRE(mask_lists_exactly<prefix_keys>);
    STATIC_REQUIRE(mask_lists_exactly<document_mask>);
    STATIC_REQUIRE(mask_lists_exactly<block_sparse<>>);
    STATIC_REQUIRE(mask_lists_exactly<block_sparse<no_mask>>);
    STATIC_REQUIRE(mask_lists_exactly<region_mask>);
    STATIC_REQUIRE(mask_lists_exactly<shifted_groups>);
    STATIC_REQUIRE(mask_lists_exactly<duo_heads>);
    STATIC_REQUIRE(mask_lists_exactly<prefix_sharing>);
    STATIC_REQUIRE(mask_lists_exactly<and_mask<sliding_window, causal>>);
    STATIC_REQUIRE(mask_lists_exactly<and_mask<causal, sinks_window>>);
    STATIC_REQUIRE(mask_lists_exactly<and_mask<causal, document_mask>>);
    STATIC_REQUIRE(mask_lists_exactly<or_mask<sliding_window, prefix_keys>>);
    STATIC_REQUIRE(mask_lists_exactly<or_mask<sliding_window, document_mask>>);
    STATIC_REQUIRE(mask_lists_exactly<and_mask<my_causal, causal>>);
}

TEST_CASE("built-in score modifiers, sinks, routers and families: fast paths found and listed", "[hooks]") {
    using namespace attune;
    // Tile-wise modifiers, with per-item lane data where they prepare some.
    STATIC_REQUIRE((tile_wise<softcap> && score_hooks::lane_arrays_v<softcap> == 0));
    STATIC_REQUIRE((tile_wise<alibi> && d::has_prepare<alibi>::value && score_hooks::lane_arrays_v<alibi> == 1));
    STATIC_REQUIRE((tile_wise<relative_bias> && d::has_prepare<relative_bias>::value && score_hooks::lane_arrays_v<relative_bias> == 3));
    STATIC_REQUIRE((tile_wise<uniform_heads> && d::has_prepare<uniform_heads>::value && score_hooks::lane_arrays_v<uniform_heads> == 1));
    STATIC_REQUIRE((tile_wise<music_relative> && score_hooks::takes_query_v<music_relative>));
    STATIC_REQUIRE((tile_wise<compose<alibi, softcap>> && score_hooks::lane_arrays_v<compose<alibi, softcap>> == 1));
    STATIC_REQUIRE((tile_wise<compose<music_relative, softcap>> && score_hooks::takes_query_v<compose<music_relative, softcap>>));
    STATIC_REQUIRE(!tile_wise<no_score>);
    STATIC_REQUIRE(score_lists_exactly<no_score>);
    STATIC_REQUIRE(score_lists_exactly<softcap>);
    STATIC_REQUIRE(score_lists_exactly<alibi>);
    STATIC_REQUIRE(score_lists_exactly<relative_bias>);
    STATIC_REQUIRE(score_lists_exactly<uniform_heads>);
    STATIC_REQUIRE(score_lists_exactly<music_relative>);
    STATIC_REQUIRE(score_lists_exactly<compose<alibi, softcap>>);
    STATIC_REQUIRE(score_lists_exactly<compose<music_relative, softcap>>);

    STATIC_REQUIRE(sink_lists_exactly<no_sink>);
    STATIC_REQUIRE(sink_lists_exactly<sink_logit>);
    STATIC_REQUIRE(sink_lists_exactly<key_bias_sink>);

    // Routers that know their density grow the planner's query tiles.
    STATIC_REQUIRE(d::has_active_fraction<token_gates>::value);
    STATIC_REQUIRE(d::has_active_fraction<head_subset<head_gates>>::value);
    STATIC_REQUIRE(!d::has_active_fraction<head_gates>::value);
    STATIC_REQUIRE(router_lists_exactly<all_heads>);
    STATIC_REQUIRE(router_lists_exactly<head_gates>);
    STATIC_REQUIRE(router_lists_exactly<token_gates>);
    STATIC_REQUIRE(router_lists_exactly<head_subset<head_gates>>);

    // softmax takes the live row count (decode packs four keys per vector).
    STATIC_REQUIRE(d::found<softmax, hook::live_rows>());
    STATIC_REQUIRE(family_lists_exactly<softmax>);
    STATIC_REQUIRE(family_lists_exactly<sigmoid>);
    STATIC_REQUIRE(family_lists_exactly<normalized_sigmoid>);
    STATIC_REQUIRE(d::found<normalized_sigmoid, hook::row_sum>() && !d::found<sigmoid, hook::row_sum>());

    // Every built-in passes every rule.
    STATIC_REQUIRE((d::policy_ok_v<softmax> && d::policy_ok_v<sigmoid> && d::policy_ok_v<normalized_sigmoid> &&
                    d::policy_ok_v<compose<music_relative, alibi>> && d::policy_ok_v<head_subset<token_gates>> &&
                    d::policy_ok_v<block_sparse<document_mask>> && d::policy_ok_v<prefix_sharing> && d::policy_ok_v<sink_logit>));
}

namespace {
// Policies that break one rule each (the compile_fail.* tests show their diagnostics).
struct no_visible {
    using policy_kind = attune::mask_kind;
};
struct keys_not_const : my_causal {
    attune::key_range keys(const attune::index_context& row) { return {0, row.q_pos}; }
};
struct keys_misspelt_listed : my_causal {
    using hooks = attune::provides<hook::keys>;
    attune::key_range key(const attune::index_context& row) const { return {0, row.q_pos}; }
};
struct keys_misspelt_unlisted : my_causal {  // nothing can see this one: the reason to list hooks
    attune::key_range key(const attune::index_context& row) const { return {0, row.q_pos}; }
};
struct classify_wrong_type : my_causal {
    int classify(const attune::tile_context&) const { return 1; }
};
struct lists_router_hook : my_causal {
    using hooks = attune::provides<hook::gate>;
};
struct span_listed : my_causal {
    using hooks = attune::provides<hook::span, hook::classify>;
    attune::key_range span(const attune::tile_context& t) const { return {t.k_first, t.k_last}; }
    attune::tile_class classify(const attune::tile_context&) const { return attune::tile_class::partial; }
};
struct float_modifier {
    using policy_kind = attune::score_kind;
    float operator()(float s, const attune::index_context&) const { return s; }
};
struct lanes_without_prepare : float_modifier {
    static constexpr int lane_arrays = 2;
};
struct float_query_only {  // the reference calls it in double
    using policy_kind = attune::score_kind;
    float operator()(float s, const attune::index_context&, const attune::query_row<float>&) const { return s; }
};
struct float_sink {
    using policy_kind = attune::sink_kind;
    void start(const attune::sink_row&, float&, float&, float*) const {}
};
struct my_router {
    using policy_kind = attune::router_kind;
    float gate(const attune::row_context&) const { return 1.0f; }
};
struct fraction_not_const : my_router {
    double active_fraction() { return 0.5; }
};
struct bad_family {
    using policy_kind = attune::family_kind;
    static constexpr bool has_lse = false;
    static constexpr bool row_statistics = false;
};
struct row_sum_without_eps : attune::sigmoid {  // lists row_sum, declares no row_sum_eps
    using hooks = attune::provides<attune::hook::weights_tile, attune::hook::row_sum, attune::hook::validate>;
};
struct row_sum_with_statistics : attune::softmax {  // softmax normalises itself: a row sum too is an error
    static constexpr float row_sum_eps = 1e-8f;
};
struct unknown_kind {
    using policy_kind = int;
};
}  // namespace

TEST_CASE("rules: a policy missing a required hook, or with a listed or same-named hook of another signature, fails", "[hooks]") {
    using d::policy_ok_v;
    STATIC_REQUIRE(policy_ok_v<my_causal>);
    STATIC_REQUIRE(!policy_ok_v<no_visible>);
    STATIC_REQUIRE(!policy_ok_v<keys_not_const>);
    STATIC_REQUIRE(!policy_ok_v<keys_misspelt_listed>);
    STATIC_REQUIRE(policy_ok_v<keys_misspelt_unlisted>);
    STATIC_REQUIRE(!policy_ok_v<classify_wrong_type>);
    STATIC_REQUIRE(!policy_ok_v<lists_router_hook>);
    STATIC_REQUIRE(policy_ok_v<span_listed>);
    STATIC_REQUIRE(!policy_ok_v<attune::and_mask<no_visible, attune::causal>>);
    STATIC_REQUIRE(!policy_ok_v<attune::or_mask<attune::causal, keys_not_const>>);
    STATIC_REQUIRE(!policy_ok_v<attune::block_sparse<no_visible>>);
    STATIC_REQUIRE(policy_ok_v<float_modifier>);
    STATIC_REQUIRE(!policy_ok_v<lanes_without_prepare>);
    STATIC_REQUIRE(!policy_ok_v<float_query_only>);
    STATIC_REQUIRE(!policy_ok_v<attune::compose<attune::softcap, lanes_without_prepare>>);
    STATIC_REQUIRE(policy_ok_v<attune::compose<float_modifier, attune::softcap>>);
    STATIC_REQUIRE(!policy_ok_v<float_sink>);
    STATIC_REQUIRE(policy_ok_v<my_router>);
    STATIC_REQUIRE(!policy_ok_v<fraction_not_const>);
    STATIC_REQUIRE(!policy_ok_v<attune::head_subset<fraction_not_const>>);
    STATIC_REQUIRE(!policy_ok_v<bad_family>);
    STATIC_REQUIRE(!policy_ok_v<row_sum_without_eps>);
    STATIC_REQUIRE(!policy_ok_v<row_sum_with_statistics>);
    STATIC_REQUIRE(!policy_ok_v<unknown_kind>);
    STATIC_REQUIRE(!policy_ok_v<int>);
    // A mask without classify() is every tile partial.
    CHECK(d::classify_tile(my_causal{}, attune::tile_context{0, 0, 0, 3, 10, 20}) == attune::tile_class::partial);
    CHECK(d::classify_tile(attune::causal{}, attune::tile_context{0, 0, 0, 3, 10, 20}) == attune::tile_class::empty);
}

TEST_CASE("the three-line mask runs through attention() and equals the reference and attune::causal", "[hooks]") {
    using attune_test::tensor;
    struct shape {
        index_t B, Hq, Hkv, Lq, Lk, D, splits;
    };
    std::mt19937 rng(20);
    for (const shape s :
         {shape{1, 1, 1, 70, 70, 32, 1}, shape{2, 4, 2, 37, 100, 16, 2}, shape{1, 4, 1, 1, 300, 64, 3}, shape{1, 2, 2, 130, 130, 8, 0}}) {
        INFO("B " << s.B << " Hq " << s.Hq << " Hkv " << s.Hkv << " Lq " << s.Lq << " Lk " << s.Lk << " D " << s.D << " splits "
                  << s.splits);
        tensor<float> q(s.B, s.Hq, s.Lq, s.D), k(s.B, s.Hkv, s.Lk, s.D), v(s.B, s.Hkv, s.Lk, s.D);
        q.fill_random(rng);
        k.fill_random(rng);
        v.fill_random(rng);
        tensor<float> out(s.B, s.Hq, s.Lq, s.D), built_in(s.B, s.Hq, s.Lq, s.D), combined(s.B, s.Hq, s.Lq, s.D);
        out.poison();
        combined.poison();
        attune_test::lse_buffer lse(s.B, s.Hq, s.Lq);
        attune::options opt;
        opt.kv_splits = s.splits;
        opt.lse = lse.view;
        attune::attention(q.cview(), k.cview(), v.cview(), out.view, my_causal{}, opt);
        attune_test::check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), my_causal{}),
                                             attune_test::fp32_tolerance(), &lse);
        opt.lse = {};
        attune::attention(q.cview(), k.cview(), v.cview(), built_in.view, attune::causal{}, opt);
        CHECK(attune_test::max_difference(out, built_in) <= 1e-6);
        // Inside a combinator, with a window that has every fast path.
        attune::attention(q.cview(), k.cview(), v.cview(), combined.view, attune::and_mask(my_causal{}, attune::sliding_window(20, 5)),
                          opt);
        attune_test::check_against_reference(
            combined,
            attune::reference::attention(q.cview(), k.cview(), v.cview(), attune::and_mask(my_causal{}, attune::sliding_window(20, 5))),
            attune_test::fp32_tolerance());
    }
    // The checker accepts it: every tile partial, always correct.
    const attune::testing::mask_report r = attune::testing::check_mask(my_causal{}, {64, 64});
    CHECK(r.partial == r.tiles);
}

TEST_CASE("README's listed-hook mask: its keys() is found, agrees with visible(), and runs against the reference", "[hooks]") {
    STATIC_REQUIRE(intervals<recent_64> == 1);
    STATIC_REQUIRE(mask_lists_exactly<recent_64>);
    const attune::testing::mask_report r = attune::testing::check_mask(recent_64{}, {300, 300});
    CHECK(r.rows == 300);
    using attune_test::tensor;
    std::mt19937 rng(64);
    tensor<float> q(1, 2, 200, 32), k(1, 1, 200, 32), v(1, 1, 200, 32), out(1, 2, 200, 32);
    q.fill_random(rng);
    k.fill_random(rng);
    v.fill_random(rng);
    out.poison();
    attune::attention(q.cview(), k.cview(), v.cview(), out.view, recent_64{});
    attune_test::check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), recent_64{}),
                                         attune_test::fp32_tolerance());
}
