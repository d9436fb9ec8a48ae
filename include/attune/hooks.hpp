#pragma once
/// @file
/// The hooks of attune's policies, in one place: what each kind of policy must define, what it may
/// define for speed, and how their names are checked.
///
/// A policy is a small type with `using policy_kind = attune::<kind>_kind;` (core/policy.hpp). The
/// tile engine asks it questions through member functions, its hooks. Where a variant is composed
/// (`attune::variant<P...>`, or a lone policy passed to attention()) every policy is checked:
///  - a missing required hook is one static_assert naming the hook, at the policy's type (the
///    variant then uses the default policy of that kind, so no template errors follow it);
///  - an optional hook is found by its name and signature, so a misspelt one would silently leave
///    the slower path in place. A policy states the ones it means to provide,
///        using hooks = attune::provides<attune::hook::keys, attune::hook::span>;
///    and a listed hook that is not found (misspelt, not const, other parameter types) is a
///    static_assert naming it. A member function that has a hook's name but not its signature is
///    one too, listed or not. Every built-in policy lists its hooks.
///
/// | hook                      | signature                                                          | what it buys |
/// |---------------------------|--------------------------------------------------------------------|--------------|
/// | **mask** (mask_kind)      |                                                                    | |
/// | hook::visible (required)  | `bool visible(const index_context& c) const`                       | the rule: query c.q_pos sees key c.k_pos |
/// | hook::classify            | `tile_class classify(const tile_context& t) const`                 | empty tiles skipped, full tiles take no element test; without it every tile is partial |
/// | hook::keys                | `key_range keys(const index_context& row) const`                   | the row's visible keys are one interval: partial tiles masked with two vector compares, key blocks no row sees not computed |
/// | hook::key_pair            | `key_range_pair key_pair(const index_context& row) const`          | the same for a union of two intervals (keys() wins when a mask has both) |
/// | hook::span                | `key_range span(const tile_context& t) const`                      | only the keys of a partial tile that some row sees are computed |
/// | **score modifier** (score_kind) |                                                              | |
/// | hook::modify (required)   | `T operator()(T s, const index_context& c) const`                  | s' from s, per element; T is float in the engine, double in the float64 reference (template on T, or take float) |
/// | hook::query               | `T operator()(T s, const index_context& c, const query_row<T>& q) const` | instead of hook::modify: also reads the row's scaled query (template on T) |
/// | hook::prepare             | `void prepare(const score_rows& rows, float* lanes) const` and `static constexpr int lane_arrays = N;` | per-item lane data (N × rows_padded floats) for apply_tile |
/// | hook::apply_tile          | `template <class Arch> void apply_tile(float* S, index_t k_first, index_t nk, const score_rows& rows, const float* lanes) const` | a whole score tile at once, lane-wise, instead of a call per element |
/// | **sink** (sink_kind)      |                                                                    | |
/// | hook::start (required)    | `template <class T> void start(const basic_sink_row<T>& row, T& m, T& l, T* acc) const` | the row's online state starts at the sink (float in the engine, double in the reference) |
/// | **router** (router_kind)  |                                                                    | |
/// | hook::gate (required)     | `float gate(const row_context& row) const`                         | 0: the row is not computed; otherwise its output is scaled |
/// | hook::active_fraction     | `double active_fraction() const`                                   | the planner grows query tiles so an item still holds ~64 active rows |
/// | **family** (family_kind)  | `static constexpr bool row_statistics, has_lse;` (required)        | |
/// | hook::update_tile         | `template <class Arch> static bool update_tile(float* S, index_t nk, index_t rows_padded, float* m, float* l, float* alpha)` | required with row_statistics: the online-softmax step |
/// | hook::live_rows           | update_tile with a seventh parameter `index_t live_rows`           | the engine passes the item's row count (decode packs four keys per vector) |
/// | hook::weights_tile        | `template <class Arch> void weights_tile(float* S, index_t nk, index_t rows_padded) const` | required without row_statistics: scores to final weights |
/// | hook::row_sum             | `static constexpr float row_sum_eps;` (a family without row_statistics) | the engine keeps each row's weight sum l (added over tiles and split partials) and writes o = acc / (l + row_sum_eps) |
/// | **every kind**            |                                                                    | |
/// | hook::validate            | `template <class Shape> void validate(const Shape& shape) const`   | parameters checked against the call (shape.q_heads, lk…) before any work; throws attune::error |
///
/// Besides hooks, a policy may declare `static constexpr bool is_none` (true only for the defaults,
/// whose work the engine then skips) and, when it is built from other policies (and_mask,
/// compose, block_sparse's inner mask), `using parts = std::tuple<A, B>;` so that they are checked
/// too. attune/testing.hpp checks a mask's hooks against its visible() at run time.
#include <tuple>
#include <type_traits>
#include <utility>

#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/kernel/problem.hpp"
#include "attune/mask/traits.hpp"
#include "attune/router/router.hpp"
#include "attune/score/modifier.hpp"
#include "attune/simd/arch.hpp"
#include "attune/sink/sink.hpp"

namespace attune::detail {

// ---- The hooks a policy lists (`using hooks = provides<…>`) and the parts it is built from.

template <class P, class = void>
struct listed_hooks {
    using type = provides<>;
};
template <class P>
struct listed_hooks<P, std::void_t<typename P::hooks>> {
    using type = typename P::hooks;
};

template <class L>
struct is_provides : std::false_type {};
template <class... H>
struct is_provides<provides<H...>> : std::true_type {};

template <class H, class L>
struct lists : std::false_type {};
template <class H, class... Hs>
struct lists<H, provides<Hs...>> : std::bool_constant<(std::is_same_v<H, Hs> || ...)> {};

// Whether P lists hook H.
template <class P, class H>
inline constexpr bool lists_v = lists<H, typename listed_hooks<P>::type>::value;

// Whether every hook P lists is one of Vocab.
template <class H, class... Vocab>
inline constexpr bool one_of = (std::is_same_v<H, Vocab> || ...);
template <class L, class... Vocab>
struct lists_only : std::true_type {};  // not a provides<…>: the form's own rule says so
template <class... H, class... Vocab>
struct lists_only<provides<H...>, Vocab...> : std::bool_constant<(one_of<H, Vocab...> && ...)> {};

template <class P, class = void>
struct parts_of {
    using type = std::tuple<>;
};
template <class P>
struct parts_of<P, std::void_t<typename P::parts>> {
    using type = typename P::parts;
};

// ---- Detection of each hook, by name and signature.

// The shape validate() receives from attention(): one representative instantiation.
using any_problem = kernel::problem<float, float, float, float>;

template <class P, class = void>
struct mask_has_visible : std::false_type {};
template <class P>
struct mask_has_visible<P, std::void_t<decltype(std::declval<const P&>().visible(std::declval<const index_context&>()))>>
    : std::is_convertible<decltype(std::declval<const P&>().visible(std::declval<const index_context&>())), bool> {};

template <class P, class T, class = void>
struct score_modifies : std::false_type {};
template <class P, class T>
struct score_modifies<P, T, std::void_t<decltype(std::declval<const P&>()(std::declval<T>(), std::declval<const index_context&>()))>>
    : std::is_convertible<decltype(std::declval<const P&>()(std::declval<T>(), std::declval<const index_context&>())), T> {};

template <class P, class T, class = void>
struct sink_starts : std::false_type {};
template <class P, class T>
struct sink_starts<P, T,
                   std::void_t<decltype(std::declval<const P&>().start(std::declval<const basic_sink_row<T>&>(), std::declval<T&>(),
                                                                       std::declval<T&>(), std::declval<T*>()))>> : std::true_type {};

template <class P, class = void>
struct router_gates : std::false_type {};
template <class P>
struct router_gates<P, std::void_t<decltype(std::declval<const P&>().gate(std::declval<const row_context&>()))>>
    : std::is_convertible<decltype(std::declval<const P&>().gate(std::declval<const row_context&>())), float> {};

template <class P, class = void>
struct family_flags : std::false_type {};
template <class P>
struct family_flags<P, std::void_t<decltype(bool{P::row_statistics}), decltype(bool{P::has_lse})>> : std::true_type {};

template <class P, class = void>
struct family_updates6 : std::false_type {};
template <class P>
struct family_updates6<
    P, std::void_t<decltype(bool{P::template update_tile<simd::default_arch>(
           std::declval<float*>(), index_t{}, index_t{}, std::declval<float*>(), std::declval<float*>(), std::declval<float*>())})>>
    : std::true_type {};
template <class P, class = void>
struct family_updates7 : std::false_type {};
template <class P>
struct family_updates7<P, std::void_t<decltype(bool{P::template update_tile<simd::default_arch>(
                              std::declval<float*>(), index_t{}, index_t{}, std::declval<float*>(), std::declval<float*>(),
                              std::declval<float*>(), index_t{})})>> : std::true_type {};

template <class P, class = void>
struct family_weights : std::false_type {};
template <class P>
struct family_weights<P, std::void_t<decltype(std::declval<const P&>().template weights_tile<simd::default_arch>(
                             std::declval<float*>(), index_t{}, index_t{}))>> : std::true_type {};

template <class P, class = void>
struct has_lane_arrays : std::false_type {};
template <class P>
struct has_lane_arrays<P, std::void_t<decltype(int{P::lane_arrays})>> : std::true_type {};

template <class P, class H>
constexpr bool found() {
    if constexpr (std::is_same_v<H, hook::visible>) return mask_has_visible<P>::value;
    else if constexpr (std::is_same_v<H, hook::classify>) return mask_has_classify<P>::value;
    else if constexpr (std::is_same_v<H, hook::keys>) return mask_has_keys<P>::value;
    else if constexpr (std::is_same_v<H, hook::key_pair>) return mask_has_key_pair<P>::value;
    else if constexpr (std::is_same_v<H, hook::span>) return mask_has_span<P>::value;
    // Float in the engine, double in the reference (a float-only plain form converts).
    else if constexpr (std::is_same_v<H, hook::modify>) return score_modifies<P, float>::value && score_modifies<P, double>::value;
    else if constexpr (std::is_same_v<H, hook::query>) return takes_query<P, float>::value && takes_query<P, double>::value;
    else if constexpr (std::is_same_v<H, hook::prepare>) return has_prepare<P>::value && has_lane_arrays<P>::value;
    else if constexpr (std::is_same_v<H, hook::apply_tile>) return has_tile_hook<P, simd::default_arch>::value;
    else if constexpr (std::is_same_v<H, hook::start>) return sink_starts<P, float>::value && sink_starts<P, double>::value;
    else if constexpr (std::is_same_v<H, hook::gate>) return router_gates<P>::value;
    else if constexpr (std::is_same_v<H, hook::active_fraction>) return has_active_fraction<P>::value;
    else if constexpr (std::is_same_v<H, hook::update_tile>) return family_updates6<P>::value || family_updates7<P>::value;
    else if constexpr (std::is_same_v<H, hook::live_rows>) return family_updates7<P>::value;
    else if constexpr (std::is_same_v<H, hook::weights_tile>) return family_weights<P>::value;
    else if constexpr (std::is_same_v<H, hook::row_sum>) return row_sum_v<P>;
    else if constexpr (std::is_same_v<H, hook::validate>) return has_validate<P, any_problem>::value;
    else return false;
}

// A member function with an optional hook's name, whatever its signature (an overloaded or
// templated name is not seen here; its signature is still checked when it is listed).
template <class P, class = void>
struct named_classify : std::false_type {};
template <class P>
struct named_classify<P, std::void_t<decltype(&P::classify)>> : std::is_member_function_pointer<decltype(&P::classify)> {};
template <class P, class = void>
struct named_keys : std::false_type {};
template <class P>
struct named_keys<P, std::void_t<decltype(&P::keys)>> : std::is_member_function_pointer<decltype(&P::keys)> {};
template <class P, class = void>
struct named_key_pair : std::false_type {};
template <class P>
struct named_key_pair<P, std::void_t<decltype(&P::key_pair)>> : std::is_member_function_pointer<decltype(&P::key_pair)> {};
template <class P, class = void>
struct named_span : std::false_type {};
template <class P>
struct named_span<P, std::void_t<decltype(&P::span)>> : std::is_member_function_pointer<decltype(&P::span)> {};
template <class P, class = void>
struct named_prepare : std::false_type {};
template <class P>
struct named_prepare<P, std::void_t<decltype(&P::prepare)>> : std::is_member_function_pointer<decltype(&P::prepare)> {};
template <class P, class = void>
struct named_apply_tile : std::false_type {};
template <class P>
struct named_apply_tile<P, std::void_t<decltype(&P::apply_tile)>> : std::is_member_function_pointer<decltype(&P::apply_tile)> {};
template <class P, class = void>
struct named_apply_tile_template : std::false_type {};
template <class P>
struct named_apply_tile_template<P, std::void_t<decltype(&P::template apply_tile<simd::default_arch>)>>
    : std::is_member_function_pointer<decltype(&P::template apply_tile<simd::default_arch>)> {};
template <class P, class = void>
struct named_active_fraction : std::false_type {};
template <class P>
struct named_active_fraction<P, std::void_t<decltype(&P::active_fraction)>>
    : std::is_member_function_pointer<decltype(&P::active_fraction)> {};

template <class P, class H>
constexpr bool named() {
    if constexpr (std::is_same_v<H, hook::classify>) return named_classify<P>::value;
    else if constexpr (std::is_same_v<H, hook::keys>) return named_keys<P>::value;
    else if constexpr (std::is_same_v<H, hook::key_pair>) return named_key_pair<P>::value;
    else if constexpr (std::is_same_v<H, hook::span>) return named_span<P>::value;
    else if constexpr (std::is_same_v<H, hook::prepare>) return named_prepare<P>::value || has_lane_arrays<P>::value;
    else if constexpr (std::is_same_v<H, hook::apply_tile>) return named_apply_tile<P>::value || named_apply_tile_template<P>::value;
    else if constexpr (std::is_same_v<H, hook::active_fraction>) return named_active_fraction<P>::value;
    else return false;
}

// An optional hook is right when it is found, or neither listed nor named.
template <class P, class H>
inline constexpr bool hook_ok = found<P, H>() || !(lists_v<P, H> || named<P, H>());

template <class P, class = void>
struct kind_of {
    using type = void;
};
template <class P>
struct kind_of<P, std::void_t<typename P::policy_kind>> {
    using type = typename P::policy_kind;
};

// ---- The rules, as plain constants (no static_assert, so that a failed rule can be read to
// replace the policy), and the diagnostics, one static_assert per rule, in policy_check below.

template <class P, class Kind = typename kind_of<P>::type>
struct rules {
    static constexpr bool ok = false;  // not a policy, or a kind attune does not know
};

template <class Parts>
struct parts_rules;
template <class... Ps>
struct parts_rules<std::tuple<Ps...>> {
    static constexpr bool ok = (rules<Ps>::ok && ...);
};

template <class P>
struct common_rules {
    static constexpr bool form = is_provides<typename listed_hooks<P>::type>::value;
    static constexpr bool validate = hook_ok<P, hook::validate>;
    static constexpr bool ok = form && validate && parts_rules<typename parts_of<P>::type>::ok;
};

template <class P>
struct rules<P, mask_kind> {
    static constexpr bool only = lists_only<typename listed_hooks<P>::type, hook::visible, hook::classify, hook::keys, hook::key_pair,
                                            hook::span, hook::validate>::value;
    static constexpr bool visible = found<P, hook::visible>();
    static constexpr bool classify = hook_ok<P, hook::classify>;
    static constexpr bool keys = hook_ok<P, hook::keys>;
    static constexpr bool key_pair = hook_ok<P, hook::key_pair>;
    static constexpr bool span = hook_ok<P, hook::span>;
    static constexpr bool ok = common_rules<P>::ok && only && visible && classify && keys && key_pair && span;
};

template <class P>
struct rules<P, score_kind> {
    static constexpr bool only =
        lists_only<typename listed_hooks<P>::type, hook::modify, hook::query, hook::prepare, hook::apply_tile, hook::validate>::value;
    static constexpr bool modify = found<P, hook::modify>() || found<P, hook::query>();
    static constexpr bool query = !lists_v<P, hook::query> || found<P, hook::query>();
    static constexpr bool prepare = hook_ok<P, hook::prepare>;
    static constexpr bool apply_tile = hook_ok<P, hook::apply_tile>;
    static constexpr bool ok = common_rules<P>::ok && only && modify && query && prepare && apply_tile;
};

template <class P>
struct rules<P, sink_kind> {
    static constexpr bool only = lists_only<typename listed_hooks<P>::type, hook::start, hook::validate>::value;
    static constexpr bool start = found<P, hook::start>();
    static constexpr bool ok = common_rules<P>::ok && only && start;
};

template <class P>
struct rules<P, router_kind> {
    static constexpr bool only = lists_only<typename listed_hooks<P>::type, hook::gate, hook::active_fraction, hook::validate>::value;
    static constexpr bool gate = found<P, hook::gate>();
    static constexpr bool active_fraction = hook_ok<P, hook::active_fraction>;
    static constexpr bool ok = common_rules<P>::ok && only && gate && active_fraction;
};

template <class P, bool = family_flags<P>::value>
struct row_statistics_of : std::false_type {};
template <class P>
struct row_statistics_of<P, true> : std::bool_constant<P::row_statistics> {};

template <class P>
struct rules<P, family_kind> {
    static constexpr bool only = lists_only<typename listed_hooks<P>::type, hook::update_tile, hook::live_rows, hook::weights_tile,
                                            hook::row_sum, hook::validate>::value;
    static constexpr bool flags = family_flags<P>::value;
    static constexpr bool stats = row_statistics_of<P>::value;
    // row_sum: found when listed, and only without row statistics (softmax normalises itself).
    static constexpr bool row_sum = (!lists_v<P, hook::row_sum> || found<P, hook::row_sum>()) && !(stats && row_sum_v<P>);
    static constexpr bool update_tile = !flags || !(stats || lists_v<P, hook::update_tile>) || found<P, hook::update_tile>();
    static constexpr bool live_rows = !lists_v<P, hook::live_rows> || found<P, hook::live_rows>();
    static constexpr bool weights_tile = !flags || !(!stats || lists_v<P, hook::weights_tile>) || found<P, hook::weights_tile>();
    static constexpr bool ok = common_rules<P>::ok && only && flags && update_tile && live_rows && weights_tile && row_sum;
};

/// Whether policy P passes every check of its hooks and its parts' (attune/hooks.hpp).
template <class P>
inline constexpr bool policy_ok_v = rules<P>::ok;

/// The diagnostics: instantiating policy_check<P> (`sizeof(policy_check<P>)`) fails one
/// static_assert per broken rule, each naming the hook, in the instantiation of P's own check.
template <class P, class Kind = typename kind_of<P>::type>
struct policy_check {};

template <class Parts>
struct parts_check;
template <class... Ps>
struct parts_check<std::tuple<Ps...>> {
    static_assert(((sizeof(policy_check<Ps>) > 0) && ...));
};

template <class P>
struct common_check {
    using R = common_rules<P>;
    static_assert(R::form, "attune policy: `hooks` must be attune::provides<attune::hook::…>");
    static_assert(R::validate,
                  "attune policy: hook `validate` (listed in `hooks`) must be "
                  "`template <class Shape> void validate(const Shape&) const`");
    static_assert(sizeof(parts_check<typename parts_of<P>::type>) > 0);
};

template <class P>
struct policy_check<P, mask_kind> {
    using R = rules<P, mask_kind>;
    static_assert(sizeof(common_check<P>) > 0);
    static_assert(R::only, "attune mask: `hooks` lists a hook that masks do not have (visible, classify, keys, key_pair, span, validate)");
    static_assert(R::visible, "attune mask: a mask needs `bool visible(const attune::index_context&) const`");
    static_assert(R::classify,
                  "attune mask: hook `classify` (listed in `hooks`, or a member of that name) must be "
                  "`attune::tile_class classify(const attune::tile_context&) const`");
    static_assert(R::keys,
                  "attune mask: hook `keys` (listed in `hooks`, or a member of that name) must be "
                  "`attune::key_range keys(const attune::index_context&) const`");
    static_assert(R::key_pair,
                  "attune mask: hook `key_pair` (listed in `hooks`, or a member of that name) must be "
                  "`attune::key_range_pair key_pair(const attune::index_context&) const`");
    static_assert(R::span,
                  "attune mask: hook `span` (listed in `hooks`, or a member of that name) must be "
                  "`attune::key_range span(const attune::tile_context&) const`");
};

template <class P>
struct policy_check<P, score_kind> {
    using R = rules<P, score_kind>;
    static_assert(sizeof(common_check<P>) > 0);
    static_assert(R::only,
                  "attune score modifier: `hooks` lists a hook that score modifiers do not have (modify, query, prepare, "
                  "apply_tile, validate)");
    static_assert(R::modify,
                  "attune score modifier: a score modifier needs `float operator()(float s, const attune::index_context&) "
                  "const` (or on the scalar type, `template <class T> T operator()(T s, const attune::index_context&) "
                  "const`, or with the query, `template <class T> T operator()(T s, const attune::index_context&, const "
                  "attune::query_row<T>&) const`)");
    static_assert(R::query,
                  "attune score modifier: hook `query` (listed in `hooks`) must be `template <class T> T operator()(T s, "
                  "const attune::index_context&, const attune::query_row<T>&) const`");
    static_assert(R::prepare,
                  "attune score modifier: hook `prepare` (listed in `hooks`, or a member `prepare` or `lane_arrays`) "
                  "needs both `void prepare(const attune::score_rows&, float* lanes) const` and "
                  "`static constexpr int lane_arrays`");
    static_assert(R::apply_tile,
                  "attune score modifier: hook `apply_tile` (listed in `hooks`, or a member of that name) must be "
                  "`template <class Arch> void apply_tile(float* S, attune::index_t k_first, attune::index_t nk, "
                  "const attune::score_rows&, const float* lanes) const`");
};

template <class P>
struct policy_check<P, sink_kind> {
    using R = rules<P, sink_kind>;
    static_assert(sizeof(common_check<P>) > 0);
    static_assert(R::only, "attune sink: `hooks` lists a hook that sinks do not have (start, validate)");
    static_assert(R::start,
                  "attune sink: a sink needs `template <class T> void start(const attune::basic_sink_row<T>&, T& m, T& l, "
                  "T* acc) const` (T is float in the engine, double in the reference)");
};

template <class P>
struct policy_check<P, router_kind> {
    using R = rules<P, router_kind>;
    static_assert(sizeof(common_check<P>) > 0);
    static_assert(R::only, "attune router: `hooks` lists a hook that routers do not have (gate, active_fraction, validate)");
    static_assert(R::gate, "attune router: a router needs `float gate(const attune::row_context&) const`");
    static_assert(R::active_fraction,
                  "attune router: hook `active_fraction` (listed in `hooks`, or a member of that name) must be "
                  "`double active_fraction() const`");
};

template <class P>
struct policy_check<P, family_kind> {
    using R = rules<P, family_kind>;
    static_assert(sizeof(common_check<P>) > 0);
    static_assert(R::only,
                  "attune family: `hooks` lists a hook that families do not have (update_tile, live_rows, weights_tile, "
                  "row_sum, validate)");
    static_assert(R::row_sum, "attune family: hook `row_sum` is `static constexpr float row_sum_eps`, in a family without row_statistics");
    static_assert(R::flags, "attune family: a family needs `static constexpr bool row_statistics` and `static constexpr bool has_lse`");
    static_assert(R::update_tile,
                  "attune family: a family with row_statistics needs `template <class Arch> static bool "
                  "update_tile(float* S, attune::index_t nk, attune::index_t rows_padded, float* m, float* l, "
                  "float* alpha[, attune::index_t live_rows])`");
    static_assert(R::live_rows,
                  "attune family: hook `live_rows` (listed in `hooks`) is update_tile's seventh parameter, "
                  "`attune::index_t live_rows`");
    static_assert(R::weights_tile,
                  "attune family: a family without row_statistics needs `template <class Arch> void "
                  "weights_tile(float* S, attune::index_t nk, attune::index_t rows_padded) const`");
};

}  // namespace attune::detail
