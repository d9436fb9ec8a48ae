#pragma once
// A variant's per-head policies in a call over a slice of the heads. Gather attention and the
// duo cache attend each kv head's query heads in a call of their own, where query head g of the
// slice is head `q_offset + g` of the whole call; head-indexed policies (ALiBi's slopes, sink
// logits, a router) must see the whole call's head indices. with_head_offset wraps the variant's
// score modifier, sink and router so their hooks get the shifted indices (kv head too).
// The wrapped modifier runs per element (its tile hooks would read the slice's head table); the
// caller validates the unwrapped variant against the whole call first (the wrappers validate nothing).
#include <type_traits>
#include <utility>

#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/router/router.hpp"
#include "attune/score/modifier.hpp"
#include "attune/score/softcap.hpp"
#include "attune/sink/sink.hpp"
#include "attune/variant.hpp"

namespace attune::sparse::detail {

template <class Mod>
struct head_offset_score {
    using policy_kind = score_kind;
    using hooks = attune::detail::hooks_if<score_hooks::takes_query_v<Mod>, hook::query>;
    static constexpr bool is_none = false;
    const Mod* inner = nullptr;
    index_t q_offset = 0, kv_offset = 0;

    index_context shift(const index_context& c) const noexcept {
        return {c.batch, c.q_head + q_offset, c.kv_head + kv_offset, c.q_pos, c.k_pos};
    }
    template <class T, class M = Mod, std::enable_if_t<!score_hooks::takes_query_v<M, T>, int> = 0>
    T operator()(T s, const index_context& c) const {
        return static_cast<T>((*inner)(s, shift(c)));
    }
    template <class T, class M = Mod, std::enable_if_t<score_hooks::takes_query_v<M, T>, int> = 0>
    T operator()(T s, const index_context& c, const query_row<T>& q) const {
        return static_cast<T>((*inner)(s, shift(c), q));
    }
};

template <class Sink>
struct head_offset_sink {
    using policy_kind = sink_kind;
    static constexpr bool is_none = false;
    const Sink* inner = nullptr;
    index_t q_offset = 0, kv_offset = 0;

    template <class T>
    void start(const basic_sink_row<T>& row, T& m, T& l, T* acc) const {
        basic_sink_row<T> r = row;
        r.q_head += q_offset;
        r.kv_head += kv_offset;
        inner->start(r, m, l, acc);
    }
};

template <class Router>
struct head_offset_router {
    using policy_kind = router_kind;
    static constexpr bool is_none = false;
    const Router* inner = nullptr;
    index_t q_offset = 0;

    float gate(const row_context& row) const {
        row_context r = row;
        r.q_head += q_offset;
        return inner->gate(r);
    }
};

// Score modifiers known not to read positions (the rest may: ALiBi, relative bias, a user's own).
template <class S>
inline constexpr bool position_free_v = attune::detail::is_none_v<S> || std::is_same_v<S, softcap>;

// The parts of variant `v` (held by reference: `v` must outlive the result) with head indices
// shifted by q_offset (query heads) and kv_offset (kv heads); parts that are none stay as they are.
template <class P, class Wrapped>
using offset_if = std::conditional_t<attune::detail::is_none_v<P>, P, Wrapped>;

template <class... Ps>
auto with_head_offset(const variant<Ps...>& v, index_t q_offset, index_t kv_offset) {
    using V = variant<Ps...>;
    using S = typename V::score_type;
    using K = typename V::sink_type;
    using R = typename V::router_type;
    using S2 = offset_if<S, head_offset_score<S>>;
    using K2 = offset_if<K, head_offset_sink<K>>;
    using R2 = offset_if<R, head_offset_router<R>>;
    S2 s;
    K2 k;
    R2 r;
    if constexpr (!attune::detail::is_none_v<S>) s = S2{&v.score(), q_offset, kv_offset};
    if constexpr (!attune::detail::is_none_v<K>) k = K2{&v.sink(), q_offset, kv_offset};
    if constexpr (!attune::detail::is_none_v<R>) r = R2{&v.router(), q_offset};
    return variant<typename V::family_type, typename V::mask_type, S2, K2, R2>(v.family(), v.mask(), std::move(s), std::move(k),
                                                                               std::move(r));
}

}  // namespace attune::sparse::detail
