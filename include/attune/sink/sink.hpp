#pragma once
// What the tile engine asks of a sink policy (softmax family only).
//
// A sink is an extra "key" every row sees, outside the K/V tensors and untouched by masks and score
// modifiers: a logit z (and optionally a value v*) that takes part in the softmax denominator,
//   o_i = (e^{z}·v* + Σ_j e^{s_ij} v_j) / (e^{z} + Σ_j e^{s_ij}).
// The engine folds it in by starting the row's online state at (m = z, l = 1, a = v*) instead of the
// empty state (−inf, 0, 0), through the policy's hook
//   template <class T>   // float in the engine, double in the reference
//   void start(const basic_sink_row<T>& row, T& m, T& l, T* acc) const;   // acc: dv values, zeroed
// Exactly once per row: when the keys of a row are split (split-KV, decode across threads) only the
// item of split 0 starts with the sink; the other splits start empty and ⊕ adds them. Consequences:
//  - LSE includes the sink: LSE_i = ln(e^{z} + Σ_j e^{s_ij}).
//  - A row with no visible key gives o = v* (0 for a sink without value) and LSE = z, not −inf.
#include "attune/core/index_context.hpp"
#include "attune/core/types.hpp"

namespace attune {

/// One row as a sink hook sees it. q is the row's scaled query τ·q_i: element d at q[d·q_stride].
template <class T>
struct basic_sink_row {
    index_t batch;     ///< batch index
    index_t q_head;    ///< query head
    index_t kv_head;   ///< kv head
    index_t q_pos;     ///< absolute query position
    const T* q;        ///< the scaled query τ·q_i
    index_t q_stride;  ///< distance between elements of q
    index_t dk;        ///< key head dim
    index_t dv;        ///< value head dim
};

/// The row a sink hook sees in the engine (float).
using sink_row = basic_sink_row<float>;

}  // namespace attune
