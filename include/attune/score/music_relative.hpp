#pragma once
// Music Transformer relative attention (Huang et al., "Music Transformer", 2018): a query-dependent term
//   s += τ·q_i · E[R − 1 − min(p_i − j, R − 1)]      for keys at or before the query (p_i − j ≥ 0),
// with E one learned row per distance in the paper's order (row R − 1 is distance 0, row 0 the
// farthest; distances ≥ R share row 0, as relative-position clipping does). Keys after the query
// get no term: the model is causal, and such keys are masked there anyway. τ is the score scale,
// so the term is scaled with q·k as in softmax((QKᵀ + S_rel)/√d). E is [heads][R][Dk], heads = 1
// (shared by all query heads) or one per query head; heads, R, Dk ≥ 1, heads·R·Dk values, all
// finite: attune::error otherwise, at construction and again when attention() validates the call
// (the members are public).
//
// Memory is O(R·Dk): the L×L matrix S_rel is never formed. Per tile the hook computes
// T = Q_tile · E_sliceᵀ over the ≤ Bq + Bk − 1 distances the tile spans (one micro-kernel call,
// the same as a score tile), then adds T[distance(r, n)][r] to S[n][r] lane-wise with a gather
// (the "skew" of the paper, done as an index instead of a reshape). Far tiles with every distance
// ≥ R − 1 need one row of T. Cost: about one more score tile per visited tile (×group for the
// ragged last query tile with per-head E).
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include "attune/core/buffer.hpp"
#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/score/distance_table.hpp"
#include "attune/score/modifier.hpp"
#include "attune/simd/vec.hpp"

namespace attune {

/// Music Transformer relative attention: s += τ·q_i · E[distance], one learned embedding row per
/// clipped distance, for keys at or before the query.
struct music_relative {
    using policy_kind = score_kind;
    using hooks = provides<hook::query, hook::apply_tile, hook::validate>;
    static constexpr bool is_none = false;
    std::vector<float> embeddings;  ///< E: [heads][distances][dim], row distances − 1 is distance 0
    index_t heads = 0;              ///< 1 (shared) or the number of query heads
    index_t distances = 0;          ///< R
    index_t dim = 0;                ///< Dk

    music_relative() = default;  ///< no table (attention() rejects it)
    /// Embeddings `e`, [h][r][d] row-major: `h` = 1 (shared) or one per query head, `r` distances
    /// (row r − 1 is distance 0), `d` = Dk; all finite.
    music_relative(std::vector<float> e, index_t h, index_t r, index_t d) : embeddings(std::move(e)), heads(h), distances(r), dim(d) {
        check_table();
    }

    /// E's row for query head h at distance t ≥ 0.
    const float* row(index_t h, index_t t) const noexcept {
        const index_t e = distances - 1 - (t < distances - 1 ? t : distances - 1);
        return embeddings.data() + ((heads == 1 ? 0 : h) * distances + e) * dim;
    }

    /// The score plus the query's dot product with its distance's embedding row.
    template <class T>
    T operator()(T s, const index_context& c, const query_row<T>& q) const {
        const index_t t = c.q_pos - c.k_pos;
        if (t < 0) return s;
        const float* e = row(c.q_head, t);
        T term = 0;
        for (index_t d = 0; d < q.dim; ++d) term += q[d] * static_cast<T>(e[d]);
        return s + term;
    }

    /// The relative term of a whole score tile (one small GEMM and a lane-wise gather).
    template <class Arch>
    void apply_tile(float* S, index_t k_first, index_t nk, const score_rows& rows, const float*) const {
        const index_t rp = rows.rows_padded;
        const index_t t_max = rows.q_first + rows.nq - 1 - k_first;  // largest distance in the tile
        if (t_max < 0) return;                                       // every key after every query
        const index_t t_min = rows.q_first - (k_first + nk - 1);
        const index_t t_hi = std::min(t_max, distances - 1);
        const index_t t_lo = std::min(std::max<index_t>(t_min, 0), distances - 1);
        const index_t nt = t_hi - t_lo + 1;
        // T[v][r] = τq_r · E[e0 + v], e0 = R − 1 − t_hi: E rows ascending, distances descending.
        const index_t e0 = distances - 1 - t_hi;
        float* T = table_scratch().get(nt * rp);
        fill_table<Arch>(T, e0, nt, rows);

        if constexpr (!std::is_same_v<Arch, simd::scalar>) {
            using fb = xsimd::batch<float, Arch>;
            constexpr index_t W = static_cast<index_t>(fb::size);
            alignas(64) float iota[W];
            for (index_t i = 0; i < W; ++i) iota[i] = static_cast<float>(i);
            const fb lo(static_cast<float>(t_lo)), hi(static_cast<float>(t_hi)), stride(static_cast<float>(rp)), zero(0.0f), one(1.0f);
            for (index_t r = 0; r < rp; r += W) {
                const fb lane = fb::load_aligned(iota) + fb(static_cast<float>(r));
                fb t = fb::load_aligned(rows.q_pos_lanes + r) - fb(static_cast<float>(k_first));  // distance at key n
                for (index_t n = 0; n < nk; ++n, t -= one) {
                    const auto idx = xsimd::to_int((hi - xsimd::min(xsimd::max(t, lo), hi)) * stride + lane);
                    const fb term = xsimd::select(t >= zero, fb::gather(T, idx), zero);
                    float* s = S + n * rp + r;
                    (fb::load_aligned(s) + term).store_aligned(s);
                }
            }
            return;
        }
        for (index_t r = 0; r < rows.rows; ++r) {
            const index_t p = rows.q_pos(r);
            for (index_t n = 0; n < nk; ++n) {
                const index_t t = p - k_first - n;
                if (t < 0) break;  // later keys are further after the query
                S[n * rp + r] += T[(t_hi - std::min(std::max(t, t_lo), t_hi)) * rp + r];
            }
        }
    }

    /// Throws attune::error unless the table is well formed, of dim Dk, shared or per query head.
    template <class Shape>
    void validate(const Shape& p) const {
        check_table();
        detail::require(dim == p.dk, "music_relative: embedding dim (", dim, ") differs from the query/key head dim (", p.dk, ")");
        detail::require(heads == 1 || heads == p.q_heads, "music_relative: embeddings for ", heads,
                        " heads; expected 1 (shared) or one per query head (", p.q_heads, ")");
    }

private:
    void check_table() const {
        detail::require(heads >= 1, "music_relative: heads must be ≥ 1, got ", heads);
        detail::require(distances >= 1, "music_relative: needs at least one distance row, got ", distances);
        detail::require(dim >= 1, "music_relative: embedding dim must be ≥ 1, got ", dim);
        const index_t n = detail::checked_product("music_relative: heads × distances × dim", heads, distances, dim);
        detail::require(static_cast<index_t>(embeddings.size()) == n, "music_relative: ", embeddings.size(),
                        " embedding values, expected heads × distances × dim = ", n);
        for (std::size_t i = 0; i < embeddings.size(); ++i)
            detail::require(std::isfinite(embeddings[i]), "music_relative: embeddings[", i, "] must be finite, got ", embeddings[i]);
    }

    // The per-thread table T of one tile: at most (Bq + Bk − 1) × rows_padded floats.
    static detail::grow_buffer<float>& table_scratch() {
        thread_local detail::grow_buffer<float> b;
        return b;
    }

    // T[v][r] = q_r · E_h[e0 + v] (detail::fill_distance_table: the score micro-kernel with E's rows
    // as keys in prefill, dot products in decode).
    template <class Arch>
    void fill_table(float* T, index_t e0, index_t nt, const score_rows& rows) const {
        detail::fill_distance_table<Arch>(
            T, nt, dim, heads == 1, rows, [&](index_t h) { return embeddings.data() + ((heads == 1 ? 0 : h) * distances + e0) * dim; },
            [](index_t, index_t) { return 0.0f; });
    }
};

}  // namespace attune
