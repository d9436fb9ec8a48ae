#pragma once
// Policies are small types that the tile engine inlines. Each declares which extension point it
// fills through `using policy_kind = …`; a `variant<P...>` collects at most one of each kind and
// fills the rest with the defaults (softmax, no mask, no score modifier, no sink, all heads).
#include <tuple>
#include <type_traits>

namespace attune {

struct family_kind {};
struct mask_kind {};
struct score_kind {};
struct sink_kind {};
struct router_kind {};

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
}  // namespace detail

}  // namespace attune
