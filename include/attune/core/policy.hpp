#pragma once
// Policies are small types that the tile engine inlines. Each declares which extension point it
// fills through `using policy_kind = …`; a `variant<P...>` collects at most one of each kind and
// fills the rest with the defaults (softmax, no mask, no score modifier, no sink, all heads).
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

namespace attune {

/// `policy_kind` of an attention family (softmax, sigmoid).
struct family_kind {};
/// `policy_kind` of a mask.
struct mask_kind {};
/// `policy_kind` of a score modifier.
struct score_kind {};
/// `policy_kind` of a sink policy.
struct sink_kind {};
/// `policy_kind` of a head router.
struct router_kind {};

/// The names of the policies' optional and required hooks, for a policy's list of the ones it
/// provides, `using hooks = attune::provides<attune::hook::keys, attune::hook::span>;`, which the
/// variant checks (attune/hooks.hpp documents each hook: its signature and what it buys).
namespace hook {
struct visible {};          ///< mask, required
struct classify {};         ///< mask
struct keys {};             ///< mask
struct key_pair {};         ///< mask
struct span {};             ///< mask
struct modify {};           ///< score modifier, required (or query)
struct query {};            ///< score modifier
struct prepare {};          ///< score modifier
struct apply_tile {};       ///< score modifier
struct start {};            ///< sink, required
struct gate {};             ///< router, required
struct active_fraction {};  ///< router
struct update_tile {};      ///< family with row statistics, required
struct live_rows {};        ///< family with row statistics
struct weights_tile {};     ///< family without row statistics, required
struct row_sum {};          ///< family without row statistics: outputs divided by the row's weight sum
struct validate {};         ///< every kind
}  // namespace hook

/// The hooks a policy provides (attune::hook tags); see attune/hooks.hpp.
template <class... Hooks>
struct provides {};

namespace detail {
// One hook list from several (a combined policy lists what its parts give it).
template <class... Lists>
struct join_hooks {
    using type = provides<>;
};
template <class... H>
struct join_hooks<provides<H...>> {
    using type = provides<H...>;
};
template <class... A, class... B, class... Rest>
struct join_hooks<provides<A...>, provides<B...>, Rest...> : join_hooks<provides<A..., B...>, Rest...> {};
template <class... Lists>
using join_hooks_t = typename join_hooks<Lists...>::type;
template <bool Cond, class... H>
using hooks_if = std::conditional_t<Cond, provides<H...>, provides<>>;
}  // namespace detail

namespace detail {
template <class P, class = void>
struct has_policy_kind : std::false_type {};
template <class P>
struct has_policy_kind<P, std::void_t<typename P::policy_kind>> : std::true_type {};

template <class Kind, class P>
inline constexpr bool is_kind_v = std::is_same_v<typename P::policy_kind, Kind>;

template <class Kind, class... Ps>
inline constexpr int count_kind_v = (0 + ... + (is_kind_v<Kind, Ps> ? 1 : 0));

// Index of the first policy of Kind in Ps, or sizeof...(Ps) when there is none.
template <class Kind, class... Ps>
constexpr std::size_t find_kind() {
    constexpr bool hits[] = {is_kind_v<Kind, Ps>..., true};
    std::size_t i = 0;
    while (!hits[i]) ++i;
    return i;
}

template <class P, class = void>
struct is_none_policy : std::false_type {};
template <class P>
struct is_none_policy<P, std::void_t<decltype(P::is_none)>> : std::bool_constant<P::is_none> {};
// A policy's `is_none` flag; a user-written policy that omits it is not none.
template <class P>
inline constexpr bool is_none_v = is_none_policy<P>::value;

// A family that normalises its rows by the weight sum (hook::row_sum: `static constexpr float
// row_sum_eps`): the engine keeps l = Σ_j w_ij beside the accumulator, adds both across tiles and
// split partials, and writes o = acc / (l + row_sum_eps).
template <class F, class = void>
struct row_sum_family : std::false_type {};
template <class F>
struct row_sum_family<F, std::void_t<decltype(float{F::row_sum_eps})>> : std::true_type {};
template <class F>
inline constexpr bool row_sum_v = row_sum_family<F>::value;

template <class P, class Shape, class = void>
struct has_validate : std::false_type {};
template <class P, class Shape>
struct has_validate<P, Shape, std::void_t<decltype(std::declval<const P&>().validate(std::declval<const Shape&>()))>> : std::true_type {};

// Checks a policy's runtime parameters (slopes, tables, sink logits…) against the call's shapes
// when it has a `template <class Shape> void validate(const Shape&) const` member (Shape is a
// kernel::problem: q_heads, kv_heads, lq, lk, dk, dv…); it throws attune::error. A policy that
// wraps others (a combined mask, a composed score) forwards the shape to each of them.
template <class P, class Shape>
inline void validate_policy(const P& policy, const Shape& shape) {
    if constexpr (has_validate<P, Shape>::value) policy.validate(shape);
    else (void)policy, (void)shape;
}
}  // namespace detail

}  // namespace attune
