#pragma once
// The per-tile table of a query-dependent relative-position modifier — Music Transformer's
// S_rel (Huang et al. 2018) and Transformer-XL's position term (Dai et al. 2019):
//     T[v][r] = q_r · e_h(v) + bias_h(v)      for the nt distances v a tile spans, row r of head h,
// so a tile's scores read T at (distance, row) instead of an L×L matrix. The two modifiers differ
// only in their rows e_h(v) and the bias (none for Music Transformer); the layouts are the
// engine's: packed transposed queries (prefill: one GEMM block with the table rows as keys, the
// score micro-kernel) or query rows (decode: dot products).
#include "attune/core/buffer.hpp"
#include "attune/core/types.hpp"
#include "attune/score/modifier.hpp"
#include "attune/simd/gemm.hpp"
#include "attune/simd/vec.hpp"

namespace attune::detail {

// rows_of(h) → e_h(0), the table rows of head h for this tile, `dim` floats apart; bias_of(h, v) →
// the term added at distance v. one_table: every head reads head 0's rows.
template <class Arch, class RowsOf, class BiasOf>
void fill_distance_table(float* T, index_t nt, index_t dim, bool one_table, const score_rows& rows, const RowsOf& rows_of,
                         const BiasOf& bias_of) {
    const index_t rp = rows.rows_padded;
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    // out[v][0..lanes) = Σ_d e[v][d]·qt[d][0..lanes), rows of out rp apart.
    const auto lane_products = [&](const float* qt, const float* e, float* out, index_t lanes) {
        simd::gemm<Arch, false>(simd::scalar_rows{e, dim, 1}, simd::vector_rows<Arch, float>{qt, rp}, nt, dim, lanes / W, out, rp);
    };
    const auto add_bias = [&](index_t h, index_t r_first, index_t r_last) {
        for (index_t v = 0; v < nt; ++v) {
            const float b = bias_of(h, v);
            if (b != 0.0f)
                for (index_t r = r_first; r < r_last; ++r) T[v * rp + r] += b;
        }
    };
    const bool transposed = rows.q_lane_step == 1 && rows.q_dim_step == rp;
    if (transposed && one_table) {
        lane_products(rows.q, rows_of(0), T, rp);
        add_bias(0, 0, rp);
        return;
    }
    if (transposed) {
        // Head-major rows over whole vectors: head g's lanes are [g·nq, (g + 1)·nq), its rows only.
        const bool aligned = rows.head_major && rows.nq % W == 0 && rows.rows == rows.group * rows.nq;
        for (index_t g = 0; g < rows.group; ++g) {
            const index_t h = rows.kv_head * rows.group + g;
            if (aligned) {
                lane_products(rows.q + g * rows.nq, rows_of(h), T + g * rows.nq, rows.nq);
                add_bias(h, g * rows.nq, (g + 1) * rows.nq);
                continue;
            }
            // A ragged last query tile or a router's rows: all lanes against this head's rows,
            // keep the lanes of this head.
            bool present = false;
            for (index_t r = 0; r < rows.rows && !present; ++r) present = rows.q_head(r) == h;
            if (!present) continue;
            thread_local grow_buffer<float> head_lanes;
            float* tmp = head_lanes.get(nt * rp);
            lane_products(rows.q, rows_of(h), tmp, rp);
            for (index_t r = 0; r < rows.rows; ++r)
                if (rows.q_head(r) == h)
                    for (index_t v = 0; v < nt; ++v) T[v * rp + r] = tmp[v * rp + r] + bias_of(h, v);
        }
        for (index_t r = rows.rows; r < rp; ++r)  // padding lanes: finite
            for (index_t v = 0; v < nt; ++v) T[v * rp + r] = 0.0f;
        return;
    }
    // Rows [r][dk] (decode, a few rows): dot products along d.
    for (index_t i = 0; i < nt * rp; ++i) T[i] = 0.0f;
    for (index_t r = 0; r < rows.rows; ++r) {
        const float* q = rows.q + r * rows.q_lane_step;
        const index_t h = one_table ? 0 : rows.q_head(r);
        const float* e = rows_of(h);
        for (index_t v = 0; v < nt; ++v) T[v * rp + r] = simd::dot<Arch>(q, e + v * dim, dim) + bias_of(h, v);
    }
}

}  // namespace attune::detail
