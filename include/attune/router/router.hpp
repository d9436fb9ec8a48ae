#pragma once
// What the tile engine asks of a head router (SPEC.md §5): for every query row — (batch, query
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
#include "attune/core/index_context.hpp"
#include "attune/core/types.hpp"

namespace attune {

// One query row as a router sees it.
struct row_context {
    index_t batch;
    index_t q_head;
    index_t q_index;  // query token index in [0, Lq)
    index_t q_pos;    // absolute position (bottom-right: Lk − Lq + q_index)
};

}  // namespace attune
