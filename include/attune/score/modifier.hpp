#pragma once
// What the tile engine asks of a score modifier, and the two ways a modifier can answer.
//
// A score modifier (FlexAttention's score_mod) maps a scaled score s to s' from its
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
//  3. Query-dependent (Music Transformer's relative attention): a modifier whose per-element form
//       template <class T> T operator()(T s, const index_context& c, const query_row<T>& q) const;
//     also receives the row's scaled query τ·q (Dk elements). In the tile hook, score_rows::query(r)
//     gives lane r's, and score_rows::q / q_lane_step / q_dim_step the packed tile of them.
#include <type_traits>
#include <utility>

#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/simd/arch.hpp"

namespace attune {

/// One query row as a query-dependent modifier sees it: the scaled query τ·q, `dim` elements `step` apart.
template <class T>
struct query_row {
    const T* data;                                                     ///< element 0
    index_t step;                                                      ///< distance between consecutive elements
    index_t dim;                                                       ///< Dk
    T operator[](index_t d) const noexcept { return data[d * step]; }  ///< element d
};

/// The rows of one work item as score hooks see them: lane r is query head q_head(r) at absolute
/// position q_pos(r), for r < rows; lanes [rows, rows_padded) are padding (zero queries).
struct score_rows {
    index_t batch;             ///< batch index
    index_t kv_head;           ///< kv head
    index_t group;             ///< query heads per kv head
    index_t nq;                ///< the rows' positions lie in [q_first, q_first + nq)
    index_t q_first;           ///< first query position of the item
    index_t rows;              ///< real rows (lanes)
    index_t rows_padded;       ///< rows rounded up to the vector width
    const float* q_pos_lanes;  ///< [rows_padded] q_pos(r) as float (exact below 2^24); padding: q_first
    /// The packed, scaled queries: element d of lane r is q[r·q_lane_step + d·q_dim_step]. Many rows:
    /// transposed, Qt[d][rows_padded] (lane step 1); few rows (decode): rows [r][dk] (dim step 1).
    const float* q = nullptr;
    index_t q_lane_step = 0;  ///< distance between lanes in q
    index_t q_dim_step = 0;   ///< distance between dims in q
    index_t dk = 0;           ///< the query head dim
    /// Lane r's query head and token (positions = q_pos0 + token). Without a router the rows are
    /// head-major over nq consecutive tokens (head_major: lanes [g·nq, (g+1)·nq) are head g of the
    /// group); with one they are the active rows only, and q_first/nq bound their positions.
    const index_t* heads = nullptr;
    const index_t* tokens = nullptr;                                        ///< [rows_padded] lane r's query token index
    index_t q_pos0 = 0;                                                     ///< the position of token 0
    bool head_major = true;                                                 ///< whether lanes are head-major over nq consecutive tokens
    index_t q_head(index_t r) const noexcept { return heads[r]; }           ///< lane r's query head
    index_t q_pos(index_t r) const noexcept { return q_pos0 + tokens[r]; }  ///< lane r's absolute position
    /// Lane r's scaled query.
    query_row<float> query(index_t r) const noexcept { return {q + r * q_lane_step, q_dim_step, dk}; }
};

namespace detail {

template <class M, class = void>
struct score_lane_arrays : std::integral_constant<int, 0> {};
template <class M>
struct score_lane_arrays<M, std::void_t<decltype(M::lane_arrays)>> : std::integral_constant<int, M::lane_arrays> {};

template <class M, class Arch, class = void>
struct has_tile_hook : std::false_type {};
template <class M, class Arch>
struct has_tile_hook<M, Arch,
                     std::void_t<decltype(std::declval<const M&>().template apply_tile<Arch>(
                         std::declval<float*>(), index_t{}, index_t{}, std::declval<const score_rows&>(), std::declval<const float*>()))>>
    : std::true_type {};

template <class M, class = void>
struct has_prepare : std::false_type {};
template <class M>
struct has_prepare<M, std::void_t<decltype(std::declval<const M&>().prepare(std::declval<const score_rows&>(), std::declval<float*>()))>>
    : std::true_type {};

template <class M, class T, class = void>
struct takes_query : std::false_type {};
template <class M, class T>
struct takes_query<M, T,
                   std::void_t<decltype(std::declval<const M&>()(std::declval<T>(), std::declval<const index_context&>(),
                                                                 std::declval<const query_row<T>&>()))>> : std::true_type {};

}  // namespace detail

namespace score_hooks {

/// True when the modifier's per-element form wants the query row (form 3 above).
template <class M, class T = float>
inline constexpr bool takes_query_v = detail::takes_query<M, T>::value;

/// The per-element modifier, with the query row when the modifier takes one.
template <class M, class T>
inline auto call(const M& mod, T s, const index_context& c, const query_row<T>& q) {
    if constexpr (takes_query_v<M, T>) return mod(s, c, q);
    else return (void)q, mod(s, c);
}

/// The modifier's `lane_arrays` (0 when it declares none).
template <class M>
inline constexpr int lane_arrays_v = detail::score_lane_arrays<M>::value;

/// The modifier's prepare() when it has one.
template <class M>
inline void prepare(const M& mod, const score_rows& rows, float* lanes) {
    if constexpr (detail::has_prepare<M>::value) mod.prepare(rows, lanes);
    else (void)mod, (void)rows, (void)lanes;
}

/// Applies the modifier to S[0..nk)[0..rows_padded): tile-wise when it has the hook, else per element.
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
                s = static_cast<float>(call(mod, s, c, rows.query(r)));
            }
    }
}

}  // namespace score_hooks
}  // namespace attune
