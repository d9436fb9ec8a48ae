#pragma once
// compose<A, B>: one score modifier that applies A, then B (s' = B(A(s))). Nest for more:
// compose<A, compose<B, C>>. Each part keeps its own fast path: a part with a tile hook runs
// tile-wise, a per-element part (a user's struct) element by element.
#include <tuple>
#include <utility>

#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/score/modifier.hpp"

namespace attune {

/// One score modifier that applies `A`, then `B`: s' = B(A(s)).
template <class A, class B>
struct compose {
    using policy_kind = score_kind;
    static constexpr bool is_none = false;
    using hooks = detail::join_hooks_t<provides<hook::prepare, hook::apply_tile, hook::validate>,
                                       detail::hooks_if<score_hooks::takes_query_v<A> || score_hooks::takes_query_v<B>, hook::query>>;
    using parts = std::tuple<A, B>;  ///< the two modifiers, for the variant's checks
    /// Lane arrays of both parts.
    static constexpr int lane_arrays = score_hooks::lane_arrays_v<A> + score_hooks::lane_arrays_v<B>;
    A first;   ///< applied first
    B second;  ///< applied to first's result

    compose() = default;  ///< when both parts have defaults
    /// `a`, then `b`.
    compose(A a, B b) : first(std::move(a)), second(std::move(b)) {}

    /// s' = B(A(s)).
    // Return types are spelt out (not deduced) so that checking compose's hooks never instantiates
    // a call into a part that lacks one: the part's own check names it instead.
    template <class T>
    T operator()(T s, const index_context& c) const {
        return static_cast<T>(second(static_cast<T>(first(s, c)), c));
    }
    /// Query-dependent when a part is (score/modifier.hpp, form 3).
    template <class T, class U = T, std::enable_if_t<score_hooks::takes_query_v<A, U> || score_hooks::takes_query_v<B, U>, int> = 0>
    T operator()(T s, const index_context& c, const query_row<T>& q) const {
        return static_cast<T>(score_hooks::call(second, static_cast<T>(score_hooks::call(first, s, c, q)), c, q));
    }

    /// Both parts' per-item lane data.
    void prepare(const score_rows& rows, float* lanes) const {
        score_hooks::prepare(first, rows, lanes);
        score_hooks::prepare(second, rows, lanes + score_hooks::lane_arrays_v<A> * rows.rows_padded);
    }

    /// Both parts on a score tile, each by its fastest path.
    template <class Arch>
    void apply_tile(float* S, index_t k_first, index_t nk, const score_rows& rows, const float* lanes) const {
        score_hooks::apply<Arch>(first, S, k_first, nk, rows, lanes);
        score_hooks::apply<Arch>(second, S, k_first, nk, rows, lanes + score_hooks::lane_arrays_v<A> * rows.rows_padded);
    }

    /// Validates both parts.
    template <class Shape>
    void validate(const Shape& p) const {
        detail::validate_policy(first, p);
        detail::validate_policy(second, p);
    }
};

template <class A, class B>
compose(A, B) -> compose<A, B>;

}  // namespace attune
