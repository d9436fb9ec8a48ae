#pragma once
// variant<P...>: an attention variant composed from policies at compile time, e.g.
//   attune::variant<attune::causal>                      causal softmax
//   attune::variant<attune::softmax, attune::no_mask>    the same as variant<>
// Each policy fills one extension point (family, mask, score, sink, router); missing ones take the
// defaults. Runtime parameters (window sizes, caps, slopes…) live in the policy objects. Each
// policy's hooks are checked here (attune/hooks.hpp).
#include <tuple>
#include <utility>

#include "attune/core/policy.hpp"
#include "attune/family/softmax.hpp"
#include "attune/hooks.hpp"
#include "attune/mask/none.hpp"
#include "attune/router/all_heads.hpp"
#include "attune/score/modifier.hpp"
#include "attune/score/none.hpp"
#include "attune/sink/none.hpp"

namespace attune {

namespace detail {
template <class P, class = void>
struct known_kind : std::false_type {};
template <class P>
struct known_kind<P, std::void_t<typename P::policy_kind>>
    : std::bool_constant<is_kind_v<family_kind, P> || is_kind_v<mask_kind, P> || is_kind_v<score_kind, P> || is_kind_v<sink_kind, P> ||
                         is_kind_v<router_kind, P>> {};
}  // namespace detail

template <class... Ps>
class variant {
    static_assert((detail::has_policy_kind<Ps>::value && ...),
                  "attune::variant: every argument must be a policy (a type with `using policy_kind = …`)");
    static_assert((detail::known_kind<Ps>::value && ...),
                  "attune::variant: a policy_kind must be attune::family_kind, mask_kind, "
                  "score_kind, sink_kind or router_kind");
    static_assert(detail::count_kind_v<family_kind, Ps...> <= 1, "attune::variant: at most one family");
    static_assert(detail::count_kind_v<mask_kind, Ps...> <= 1,
                  "attune::variant: at most one mask (combine masks with the and/or combinators)");
    static_assert(detail::count_kind_v<score_kind, Ps...> <= 1, "attune::variant: at most one score modifier (compose modifiers into one)");
    static_assert(detail::count_kind_v<sink_kind, Ps...> <= 1, "attune::variant: at most one sink policy");
    static_assert(detail::count_kind_v<router_kind, Ps...> <= 1, "attune::variant: at most one head router");

    // Each policy's hooks (attune/hooks.hpp): a missing or misspelt one fails one static_assert
    // naming it, in the instantiation of that policy's check. A policy that fails is replaced by
    // the default of its kind, so that the engine compiles and no cascade of errors follows.
    static_assert(((sizeof(detail::policy_check<Ps>) > 0) && ...));

    // Whether the variant holds a policy of kind Kind that passes its checks.
    template <class Kind, class Default>
    static constexpr bool holds() {
        if constexpr (detail::count_kind_v<Kind, Ps...> == 0) return false;
        else return detail::policy_ok_v<std::tuple_element_t<detail::find_kind<Kind, Ps...>(), std::tuple<Ps...>>>;
    }

    template <class Kind, class Default>
    using pick = std::conditional_t<!holds<Kind, Default>(), Default,
                                    std::tuple_element_t<detail::find_kind<Kind, Ps..., Default>(), std::tuple<Ps..., Default>>>;

    // The policy of kind Kind, or a shared default instance when the variant has none. Only
    // missing kinds are default-constructed, so a user's policy needs no default constructor.
    template <class Kind, class Default>
    static const Default& get_or(const std::tuple<Ps...>& t) {
        if constexpr (!holds<Kind, Default>()) {
            static const Default fallback{};
            return (void)t, fallback;
        } else {
            return std::get<detail::find_kind<Kind, Ps...>()>(t);
        }
    }

public:
    using family_type = pick<family_kind, softmax>;
    using mask_type = pick<mask_kind, no_mask>;
    using score_type = pick<score_kind, no_score>;
    using sink_type = pick<sink_kind, no_sink>;
    using router_type = pick<router_kind, all_heads>;
    static_assert(family_type::row_statistics || detail::is_none_v<sink_type>,
                  "attune::variant: sink policies belong to the softmax family (a family with row statistics)");

    // Default-constructible when every policy is.
    variant() = default;
    template <std::size_t N = sizeof...(Ps), std::enable_if_t<(N > 0), int> = 0>
    explicit variant(Ps... ps) : parts_(std::move(ps)...) {}

    const family_type& family() const { return get_or<family_kind, family_type>(parts_); }
    const mask_type& mask() const { return get_or<mask_kind, mask_type>(parts_); }
    const score_type& score() const { return get_or<score_kind, score_type>(parts_); }
    const sink_type& sink() const { return get_or<sink_kind, sink_type>(parts_); }
    const router_type& router() const { return get_or<router_kind, router_type>(parts_); }

private:
    std::tuple<Ps...> parts_;
};

template <class... Ps>
variant(Ps...) -> variant<Ps...>;

// The same variant with one part replaced, the others copied: how multi-pass kernels (probes,
// calibration) run the user's variant over fewer keys, without its sink, or on fewer heads.
template <class M, class... Ps>
auto with_mask(const variant<Ps...>& v, M mask) {
    using V = variant<Ps...>;
    return variant<typename V::family_type, M, typename V::score_type, typename V::sink_type, typename V::router_type>(
        v.family(), std::move(mask), v.score(), v.sink(), v.router());
}
template <class K, class... Ps>
auto with_sink(const variant<Ps...>& v, K sink) {
    using V = variant<Ps...>;
    return variant<typename V::family_type, typename V::mask_type, typename V::score_type, K, typename V::router_type>(
        v.family(), v.mask(), v.score(), std::move(sink), v.router());
}
template <class R, class... Ps>
auto with_router(const variant<Ps...>& v, R router) {
    using V = variant<Ps...>;
    return variant<typename V::family_type, typename V::mask_type, typename V::score_type, typename V::sink_type, R>(
        v.family(), v.mask(), v.score(), v.sink(), std::move(router));
}

// A lone policy (or a variant) passed where a variant is expected.
template <class P>
struct as_variant {
    using type = variant<P>;
};
template <class... Ps>
struct as_variant<variant<Ps...>> {
    using type = variant<Ps...>;
};
template <class P>
typename as_variant<P>::type to_variant(const P& p) {
    if constexpr (std::is_same_v<typename as_variant<P>::type, P>) return p;
    else return typename as_variant<P>::type(p);
}

}  // namespace attune
