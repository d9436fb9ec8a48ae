#pragma once
// The query rows of one work item: the (query head, query token) pairs of a kv group's heads over
// the query tokens [i0, i0 + nq). Without a router every pair, head-major (row r = head r / nq,
// token r % nq); with one (router/router.hpp) only the pairs whose gate is nonzero, in the same
// order, with their gates. The engine computes exactly these rows; the split path's merge rebuilds
// the same list.
#include "attune/core/policy.hpp"
#include "attune/kernel/problem.hpp"
#include "attune/kernel/scratch.hpp"
#include "attune/router/router.hpp"
#include "attune/score/modifier.hpp"

namespace attune::kernel {

struct item_rows {
    index_t count = 0;                  // rows to compute
    bool all = true;                    // every pair of the tile (head-major, as without a router)
    const index_t* head = nullptr;      // [count] query head
    const index_t* token = nullptr;     // [count] query token index in [0, Lq)
    const float* gate = nullptr;        // [count] output gates, or null: all 1
    index_t pos_min = 0, pos_max = -1;  // absolute positions spanned by the rows
};

template <class Router, class P>
item_rows gather_rows(const Router& router, const P& p, index_t b, index_t hkv, index_t i0, index_t nq, row_scratch& s) {
    const index_t total = p.group * nq;
    index_t* idx = s.index.get(2 * total);
    item_rows rows;
    rows.head = idx;
    rows.token = idx + total;
    index_t* hd = idx;
    index_t* tk = idx + total;
    if constexpr (detail::is_none_v<Router>) {
        (void)router;
        for (index_t r = 0; r < total; ++r) {
            hd[r] = hkv * p.group + r / nq;
            tk[r] = i0 + r % nq;
        }
        rows.count = total;
    } else {
        float* g = s.gate.get(total);
        index_t n = 0;
        for (index_t r = 0; r < total; ++r) {
            const index_t h = hkv * p.group + r / nq, t = i0 + r % nq;
            const float gv = router.gate(row_context{b, h, t, p.q_pos0() + t});
            if (gv == 0.0f) continue;
            hd[n] = h;
            tk[n] = t;
            g[n] = gv;
            ++n;
        }
        rows.count = n;
        rows.all = n == total;
        rows.gate = g;
    }
    if (rows.count > 0) {
        index_t lo = rows.token[0], hi = rows.token[0];
        for (index_t r = 1; r < rows.count; ++r) {
            lo = rows.token[r] < lo ? rows.token[r] : lo;
            hi = rows.token[r] > hi ? rows.token[r] : hi;
        }
        rows.pos_min = p.q_pos0() + lo;
        rows.pos_max = p.q_pos0() + hi;
    }
    return rows;
}

}  // namespace attune::kernel
