#pragma once
// What the tile engine asks of a head router: for every query row — (batch, query
// head, query index i in [0, Lq), absolute position) — a gate g that multiplies the row's output.
//   g = 0   the row is inactive: not computed at all, its output is zeros and its LSE −inf
//           (PH3 pruning, MoH's unselected heads);
//   g ≠ 0   the row is computed and its output scaled by g (VHR's α, MoH's gates; g = 1: as is).
// A router is a policy of kind router_kind:
//   struct my_router {
//       using policy_kind = attune::router_kind;
//       float gate(const attune::row_context& row) const;
//   };
// The engine compacts each work item to its active rows, so inactive rows cost nothing; a kv head
// whose query heads are all inactive for a query tile is not read at all. The query head → kv head
// map stays GQA's (h → h / (Hq / Hkv)); per-head variant choices are masks and modifiers that read
// the head (DuoAttention's duo_heads mask, uniform_heads).
#include <type_traits>
#include <utility>

#include "attune/core/index_context.hpp"
#include "attune/core/types.hpp"

namespace attune {

/// One query row as a router sees it.
struct row_context {
    index_t batch;    ///< batch index
    index_t q_head;   ///< query head
    index_t q_index;  ///< query token index in [0, Lq)
    index_t q_pos;    ///< absolute position (bottom-right: Lk − Lq + q_index)
};

namespace detail {
template <class R, class = void>
struct has_active_fraction : std::false_type {};
template <class R>
struct has_active_fraction<R, std::void_t<decltype(std::declval<const R&>().active_fraction())>> : std::true_type {};

// The fraction of rows a router keeps (its `double active_fraction() const`, if it has one): the
// planner sizes query tiles by it.
template <class R>
double router_density(const R& router) {
    if constexpr (has_active_fraction<R>::value) return router.active_fraction();
    else return (void)router, 1.0;
}
}  // namespace detail

}  // namespace attune
