#pragma once
// What the tile engine asks of a score modifier, and the two ways a modifier can answer.
//
// A score modifier (FlexAttention's score_mod, SPEC.md §4) maps a scaled score s to s' from its
// indices. The engine applies it to the scaled score before the mask (masked entries are −inf
// afterwards whatever the modifier did). The sink's logit is never modified.
//
//  1. Per element (the fallback, enough for a user-written modifier):
//       struct my_mod {
//           using policy_kind = attune::score_kind;
//           float operator()(float s, const attune::index_context& c) const;  // c.q_pos, c.k_pos, c.q_head…
//       };
//     The engine calls it for every (row, key) of a visited tile. Templating it on the scalar
//     type (`template <class T> T operator()(T s, const index_context&) const`) lets the
//     double-precision reference evaluate it in double; a float-only one is evaluated in float there.
//  2. Tile-wise (the built-ins): the score tile is S[n][r], key n in [0, nk) at absolute position
//     k_first + n, row r of the item in the lanes (score_rows says which query head and position a
//     lane is). A modifier that defines
//       static constexpr int lane_arrays = N;    // per-item lane data it wants (N × rows_padded floats)
//       void prepare(const score_rows& rows, float* lanes) const;          // once per work item
//       template <class Arch>
//       void apply_tile(float* S, index_t k_first, index_t nk, const score_rows& rows, const float* lanes) const;
//     is applied a whole tile at a time, lane-wise with simd::vec<Arch>. It must also keep the
//     per-element operator() (the reference uses it); both must agree.
// Lanes past `rows` (padding rows) may be modified freely but must not become NaN from finite input.
#include <type_traits>
#include <utility>

#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/simd/arch.hpp"

namespace attune {

// The rows of one work item as score hooks see them: lane r is query head q_head(r) at absolute
// position q_pos(r), for r < rows; lanes [rows, rows_padded) are padding.
struct score_rows {
    index_t batch;
    index_t kv_head;
    index_t group;  // query heads per kv head
    index_t nq;     // query tokens of the item; row r = (head r / nq, token r % nq)
    index_t q_first;
    index_t rows;
    index_t rows_padded;
    const float* q_pos_lanes;  // [rows_padded] q_pos(r) as float (exact below 2^24); padding: q_first
    index_t q_head(index_t r) const noexcept { return kv_head * group + r / nq; }
    index_t q_pos(index_t r) const noexcept { return q_first + r % nq; }
};

namespace detail {

template <class P, class = void>
struct is_none_policy : std::false_type {};
template <class P>
struct is_none_policy<P, std::void_t<decltype(P::is_none)>> : std::bool_constant<P::is_none> {};
// A policy's `is_none` flag; a user-written policy that omits it is not none.
template <class P>
inline constexpr bool is_none_v = is_none_policy<P>::value;

template <class M, class = void>
struct score_lane_arrays : std::integral_constant<int, 0> {};
template <class M>
struct score_lane_arrays<M, std::void_t<decltype(M::lane_arrays)>> : std::integral_constant<int, M::lane_arrays> {};

template <class M, class Arch, class = void>
struct has_tile_hook : std::false_type {};
template <class M, class Arch>
struct has_tile_hook<M, Arch,
                     std::void_t<decltype(std::declval<const M&>().template apply_tile<Arch>(
                         std::declval<float*>(), index_t{}, index_t{}, std::declval<const score_rows&>(),
                         std::declval<const float*>()))>> : std::true_type {};

template <class M, class = void>
struct has_prepare : std::false_type {};
template <class M>
struct has_prepare<M, std::void_t<decltype(std::declval<const M&>().prepare(std::declval<const score_rows&>(),
                                                                            std::declval<float*>()))>> : std::true_type {};

}  // namespace detail

namespace score_hooks {

template <class M>
inline constexpr int lane_arrays_v = detail::score_lane_arrays<M>::value;

template <class M>
inline void prepare(const M& mod, const score_rows& rows, float* lanes) {
    if constexpr (detail::has_prepare<M>::value) mod.prepare(rows, lanes);
    else (void)mod, (void)rows, (void)lanes;
}

// Applies the modifier to S[0..nk)[0..rows_padded): tile-wise when it has the hook, else per element.
template <class Arch, class M>
inline void apply(const M& mod, float* S, index_t k_first, index_t nk, const score_rows& rows, const float* lanes) {
    if constexpr (detail::has_tile_hook<M, Arch>::value) {
        mod.template apply_tile<Arch>(S, k_first, nk, rows, lanes);
    } else {
        (void)lanes;
        for (index_t n = 0; n < nk; ++n)
            for (index_t r = 0; r < rows.rows; ++r) {
                const index_context c{rows.batch, rows.q_head(r), rows.kv_head, rows.q_pos(r), k_first + n};
                float& s = S[n * rows.rows_padded + r];
                s = static_cast<float>(mod(s, c));
            }
    }
}

}  // namespace score_hooks
}  // namespace attune
