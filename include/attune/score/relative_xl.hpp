#pragma once
/// @file
/// Transformer-XL relative attention (Dai et al., "Transformer-XL: Attentive Language Models
/// Beyond a Fixed-Length Context", 2019, Section 3.3), the score of RCMHA (Sugiharto, Aradea and
/// Mubarok, "RCMHA: Relative Convolutional Multi-Head Attention for Natural Language Modelling",
/// 2023) and of Transformer-XL / XLNet:
///   A^rel_ij = q_iᵀk_j + q_iᵀW_R R_{i−j} + uᵀk_j + vᵀW_R R_{i−j}          (Dai et al., eq. (3)/(4))
///            = (q_i + u)ᵀk_j + (q_i + v)ᵀ r_{i−j},      r_t = W_R R_t (per head),
/// every term scaled by τ (1/√d in the paper), R_t the sinusoid encoding of the distance t.
///
/// How the four terms are computed without an L×L matrix:
///  - uᵀk_j does not depend on i: it is folded into the query, q'_i = q_i + u (add_content_bias),
///    so the engine's own q'·k GEMM computes the content and global-content terms together.
///  - q_iᵀr_{i−j} depends on i − j only through r: per tile the hook computes T = Q'_tile · r_sliceᵀ
///    over the ≤ Bq + Bk − 1 distances the tile spans and adds T[i − j][row] lane-wise (the
///    "relative shift" of the paper as an index instead of a pad-and-reshape).
///  - vᵀr_{i−j} depends on i − j only: with q' = q + u the position term is q'ᵀr + (v − u)ᵀr, and
///    (v − u)ᵀr_t is one scalar per head and distance, precomputed at construction and added to T.
/// Memory: r and (v − u)ᵀr, O(heads·distances·Dk) for a table of `distances` rows.
///
/// Distances: the table covers t ∈ [first_distance, first_distance + distances); a score at a
/// distance outside uses the nearest end row (as relative-position clipping does). Transformer-XL
/// is causal (t ≥ 0: first_distance 0, Lk distances); an encoder needs first_distance = −(Lk − 1)
/// and 2·Lk − 1 distances for the sinusoid to be exact everywhere. Positions may be position ids
/// (with_positions, score/positioned.hpp): t is then the difference of ids.
///
/// Usage (queries shifted by u first, the variant holds the modifier):
///     attune::relative_xl rel(attune::relative_xl::sinusoid(d_model, 0, Lk), 0, Lk, d_model, w_r, u, v, Hq, Dk);
///     attune::add_content_bias(rel, q, q_shifted);     // q + u
///     attune::attention(q_shifted, k, val, out, attune::variant(attune::causal{}, rel));
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include "attune/core/buffer.hpp"
#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/overlap.hpp"
#include "attune/core/policy.hpp"
#include "attune/core/view.hpp"
#include "attune/score/distance_table.hpp"
#include "attune/score/modifier.hpp"
#include "attune/simd/vec.hpp"

namespace attune {

/// Transformer-XL relative attention as a score modifier: s += τ·(q' + v − u)·W_R R_{i−j} for
/// queries q' = q + u (see the top of this file).
class relative_xl {
public:
    using policy_kind = score_kind;
    using hooks = provides<hook::query, hook::apply_tile, hook::validate>;
    static constexpr bool is_none = false;

    relative_xl() = default;  ///< no table (attention() rejects it)

    /**
     * The modifier of Transformer-XL's weights.
     * @param encodings R: [distances][model_dim], row e is distance first_distance + e (sinusoid() builds Transformer-XL's)
     * @param first_distance the distance of R's row 0
     * @param distances rows of R, ≥ 1
     * @param model_dim columns of R, ≥ 1
     * @param w_r W_R: [heads][dim][model_dim] (Transformer-XL's r_net weight, out features head-major)
     * @param u the global content bias: [heads][dim]
     * @param v the global position bias: [heads][dim]
     * @param heads 1 (shared by every query head) or one per query head
     * @param dim Dk
     * @param scale τ of the call (0: 1/√Dk, attention()'s default); the modifier needs it for vᵀr
     * All values finite, every size as stated: attune::error otherwise.
     */
    relative_xl(const std::vector<float>& encodings, index_t first_distance, index_t distances, index_t model_dim,
                const std::vector<float>& w_r, const std::vector<float>& u, const std::vector<float>& v, index_t heads, index_t dim,
                float scale = 0.0f)
        : u_(u), heads_(heads), distances_(distances), dim_(dim), first_(first_distance), scale_(scale) {
        detail::require(heads >= 1, "relative_xl: heads must be ≥ 1, got ", heads);
        detail::require(dim >= 1, "relative_xl: dim must be ≥ 1, got ", dim);
        detail::require(distances >= 1, "relative_xl: needs at least one distance row, got ", distances);
        detail::require(model_dim >= 1, "relative_xl: model_dim must be ≥ 1, got ", model_dim);
        detail::require(std::isfinite(scale) && scale >= 0.0f, "relative_xl: scale must be finite and ≥ 0, got ", scale);
        detail::require(first_distance > -(index_t(1) << 24) && first_distance + distances < (index_t(1) << 24),
                        "relative_xl: distances must lie in (−2^24, 2^24), got first_distance ", first_distance, " and ", distances,
                        " rows");
        const index_t nr = detail::checked_product("relative_xl: distances × model_dim (R)", distances, model_dim);
        const index_t nw = detail::checked_product("relative_xl: heads × dim × model_dim (W_R)", heads, dim, model_dim);
        const index_t nb = detail::checked_product("relative_xl: heads × dim (u, v)", heads, dim);
        require_values(encodings, nr, "R (encodings)", "distances × model_dim");
        require_values(w_r, nw, "W_R", "heads × dim × model_dim");
        require_values(u, nb, "u", "heads × dim");
        require_values(v, nb, "v", "heads × dim");
        // r_t = W_R R_t and (v − u)ᵀr_t, in double, rounded once.
        r_.assign(static_cast<std::size_t>(detail::checked_product("relative_xl: heads × distances × dim", heads, distances, dim)), 0.0f);
        bias_.assign(static_cast<std::size_t>(heads * distances), 0.0f);
        std::vector<double> r(static_cast<std::size_t>(dim));
        for (index_t h = 0; h < heads; ++h)
            for (index_t e = 0; e < distances; ++e) {
                const float* R = encodings.data() + e * model_dim;
                double b = 0.0;
                for (index_t d = 0; d < dim; ++d) {
                    const float* w = w_r.data() + (h * dim + d) * model_dim;
                    double acc = 0.0;
                    for (index_t m = 0; m < model_dim; ++m) acc += static_cast<double>(w[m]) * R[m];
                    r_[static_cast<std::size_t>((h * distances + e) * dim + d)] = static_cast<float>(acc);
                    b += (static_cast<double>(v[static_cast<std::size_t>(h * dim + d)]) - u[static_cast<std::size_t>(h * dim + d)]) * acc;
                }
                bias_[static_cast<std::size_t>(h * distances + e)] = static_cast<float>(b);
            }
    }

    /// Transformer-XL's sinusoid encodings R_t = [sin(t·ω_0) … sin(t·ω_{n−1}), cos(t·ω_0) … cos(t·ω_{n−1})],
    /// ω_i = 10000^(−2i/model_dim), n = model_dim / 2 (Vaswani et al. 2017's frequencies, sines then
    /// cosines as in Dai et al.'s code), for t = first, …, first + count − 1: [count][model_dim]. model_dim even, ≥ 2.
    static std::vector<float> sinusoid(index_t model_dim, index_t first, index_t count) {
        detail::require(model_dim >= 2 && model_dim % 2 == 0, "relative_xl::sinusoid: model_dim must be even and ≥ 2, got ", model_dim);
        detail::require(count >= 0, "relative_xl::sinusoid: count must be ≥ 0, got ", count);
        std::vector<float> R(
            static_cast<std::size_t>(detail::checked_product("relative_xl::sinusoid: count × model_dim", count, model_dim)));
        const index_t n = model_dim / 2;
        for (index_t e = 0; e < count; ++e)
            for (index_t i = 0; i < n; ++i) {
                const double a =
                    static_cast<double>(first + e) * std::pow(10000.0, -2.0 * static_cast<double>(i) / static_cast<double>(model_dim));
                R[static_cast<std::size_t>(e * model_dim + i)] = static_cast<float>(std::sin(a));
                R[static_cast<std::size_t>(e * model_dim + n + i)] = static_cast<float>(std::cos(a));
            }
        return R;
    }

    index_t heads() const noexcept { return heads_; }                       ///< 1 (shared) or the query heads
    index_t distances() const noexcept { return distances_; }               ///< rows of the table
    index_t first_distance() const noexcept { return first_; }              ///< the distance of row 0
    index_t dim() const noexcept { return dim_; }                           ///< Dk
    const std::vector<float>& content_bias() const noexcept { return u_; }  ///< u: [heads][dim]
    /// r_t = W_R R_t of query head h at table row e (distance first_distance + e).
    const float* position_row(index_t h, index_t e) const noexcept { return r_.data() + ((heads_ == 1 ? 0 : h) * distances_ + e) * dim_; }
    /// (v − u)ᵀr_t of query head h at table row e.
    float offset_bias(index_t h, index_t e) const noexcept {
        return bias_[static_cast<std::size_t>((heads_ == 1 ? 0 : h) * distances_ + e)];
    }
    /// The table row of distance t (clipped to the table).
    index_t row_of(index_t t) const noexcept { return std::min(std::max<index_t>(t - first_, 0), distances_ - 1); }
    /// τ for a head dim: the scale given, or 1/√Dk as attention() chooses.
    float tau(index_t dk) const noexcept { return scale_ > 0.0f ? scale_ : 1.0f / std::sqrt(static_cast<float>(dk)); }

    /// The score plus τ·(q' + v − u)ᵀr_{i−j}, q the row's scaled query τ·q'.
    template <class T>
    T operator()(T s, const index_context& c, const query_row<T>& q) const {
        const index_t e = row_of(c.q_pos - c.k_pos);
        const float* r = position_row(c.q_head, e);
        T term = 0;
        for (index_t d = 0; d < q.dim; ++d) term += q[d] * static_cast<T>(r[d]);
        return s + term + static_cast<T>(tau(q.dim)) * static_cast<T>(offset_bias(c.q_head, e));
    }

    /// The position terms of a whole score tile (one small GEMM and a lane-wise gather).
    template <class Arch>
    void apply_tile(float* S, index_t k_first, index_t nk, const score_rows& rows, const float*) const {
        const index_t rp = rows.rows_padded;
        // Table rows the tile spans: distances from q_first − (k_first + nk − 1) to q_first + nq − 1 − k_first.
        const index_t e_lo = row_of(rows.q_first - (k_first + nk - 1));
        const index_t e_hi = row_of(rows.q_first + rows.nq - 1 - k_first);
        const index_t nt = e_hi - e_lo + 1;
        float* T = table_scratch().get(nt * rp);
        fill_table<Arch>(T, e_lo, nt, rows);

        // Distance t of lane r at key n reads T[clip(t) − (first + e_lo)].
        const index_t t0 = first_ + e_lo, t1 = first_ + e_hi;
        if constexpr (!std::is_same_v<Arch, simd::scalar>) {
            using fb = xsimd::batch<float, Arch>;
            constexpr index_t W = static_cast<index_t>(fb::size);
            alignas(64) float iota[W];
            for (index_t i = 0; i < W; ++i) iota[i] = static_cast<float>(i);
            const fb lo(static_cast<float>(t0)), hi(static_cast<float>(t1)), stride(static_cast<float>(rp)), one(1.0f);
            for (index_t r = 0; r < rp; r += W) {
                const fb lane = fb::load_aligned(iota) + fb(static_cast<float>(r));
                fb t = fb::load_aligned(rows.q_pos_lanes + r) - fb(static_cast<float>(k_first));  // distance at key n
                for (index_t n = 0; n < nk; ++n, t -= one) {
                    const auto idx = xsimd::to_int((xsimd::min(xsimd::max(t, lo), hi) - lo) * stride + lane);
                    float* s = S + n * rp + r;
                    (fb::load_aligned(s) + fb::gather(T, idx)).store_aligned(s);
                }
            }
            return;
        }
        for (index_t r = 0; r < rows.rows; ++r) {
            const index_t p = rows.q_pos(r);
            for (index_t n = 0; n < nk; ++n) S[n * rp + r] += T[(std::min(std::max(p - k_first - n, t0), t1) - t0) * rp + r];
        }
    }

    /// Throws attune::error unless the tables are of dim Dk, shared or per query head, and τ is the call's.
    template <class Shape>
    void validate(const Shape& p) const {
        detail::require(heads_ >= 1 && distances_ >= 1 && dim_ >= 1, "relative_xl: no table (default-constructed)");
        detail::require(dim_ == p.dk, "relative_xl: table dim (", dim_, ") differs from the query/key head dim (", p.dk, ")");
        detail::require(heads_ == 1 || heads_ == p.q_heads, "relative_xl: tables for ", heads_,
                        " heads; expected 1 (shared) or one per query head (", p.q_heads, ")");
        if constexpr (has_scale<Shape>::value)
            detail::require(tau(p.dk) == p.scale, "relative_xl: scale τ ", tau(p.dk), " differs from the call's ", p.scale,
                            " (vᵀr is scaled by it: construct the modifier with options::scale)");
    }

private:
    template <class S, class = void>
    struct has_scale : std::false_type {};
    template <class S>
    struct has_scale<S, std::void_t<decltype(std::declval<const S&>().scale)>> : std::true_type {};

    static void require_values(const std::vector<float>& x, index_t n, const char* name, const char* formula) {
        detail::require(static_cast<index_t>(x.size()) == n, "relative_xl: ", x.size(), " values of ", name, ", expected ", formula, " = ",
                        n);
        for (std::size_t i = 0; i < x.size(); ++i)
            detail::require(std::isfinite(x[i]), "relative_xl: ", name, "[", i, "] must be finite, got ", x[i]);
    }

    // The per-thread table T of one tile: at most (Bq + Bk − 1) × rows_padded floats.
    static detail::grow_buffer<float>& table_scratch() {
        thread_local detail::grow_buffer<float> b;
        return b;
    }

    // T[v][r] = τq'_r · r_{e_lo + v} + τ(v − u)ᵀr_{e_lo + v} for lane r's head
    // (detail::fill_distance_table: the score micro-kernel with the table rows as keys in prefill).
    template <class Arch>
    void fill_table(float* T, index_t e_lo, index_t nt, const score_rows& rows) const {
        const float tau_ = tau(rows.dk);
        detail::fill_distance_table<Arch>(
            T, nt, dim_, heads_ == 1, rows, [&](index_t h) { return position_row(h, e_lo); },
            [&](index_t h, index_t v) { return tau_ * offset_bias(h, e_lo + v); });
    }

    std::vector<float> r_;     // r_t = W_R R_t: [heads][distances][dim]
    std::vector<float> bias_;  // (v − u)ᵀr_t: [heads][distances]
    std::vector<float> u_;     // [heads][dim]
    index_t heads_ = 0, distances_ = 0, dim_ = 0, first_ = 0;
    float scale_ = 0.0f;
};

/// q' = q + u (Transformer-XL's global content bias, folded into the queries: see the top of this
/// file): `out` [B, Hq, L, Dk] from `q` of the same shape, u per query head (or shared). `out` may
/// be `q` itself (same data and strides); any other overlap, or with u, is an attune::error.
template <class TI, class TO>
void add_content_bias(const relative_xl& rel, tensor_view<TI> q, tensor_view<TO> out) {
    static_assert(!std::is_const_v<TO>, "attune::add_content_bias: out must be a view of non-const elements");
    detail::require(q.data() != nullptr || q.size() == 0, "add_content_bias: q has null data");
    detail::require(out.data() != nullptr || out.size() == 0, "add_content_bias: out has null data");
    detail::require(q.shape() == out.shape(), "add_content_bias: out shape [", out.batch(), ", ", out.heads(), ", ", out.tokens(), ", ",
                    out.dim(), "] differs from q shape [", q.batch(), ", ", q.heads(), ", ", q.tokens(), ", ", q.dim(), "]");
    detail::require(rel.dim() == q.dim(), "add_content_bias: u has dim ", rel.dim(), ", q has head dim ", q.dim());
    detail::require(rel.heads() == 1 || rel.heads() == q.heads(), "add_content_bias: u for ", rel.heads(),
                    " heads; expected 1 (shared) or one per query head (", q.heads(), ")");
    const bool same = static_cast<const void*>(q.data()) == static_cast<const void*>(out.data()) && q.strides() == out.strides() &&
                      std::is_same_v<std::remove_const_t<TI>, TO>;
    detail::require(!detail::overlaps_itself(out),
                    "add_content_bias: out overlaps itself: two of its rows share memory (check its strides)");
    detail::require(same || !detail::shares_elements(out, q),
                    "add_content_bias: out overlaps q without being the same view (in place needs the same data and strides)");
    const std::vector<float>& u = rel.content_bias();
    detail::require(!detail::shares_elements(out, tensor_view<const float>(u.data(), {1, 1, 1, static_cast<index_t>(u.size())},
                                                                           {0, 0, static_cast<index_t>(u.size())})),
                    "add_content_bias: out overlaps u");
    for (index_t b = 0; b < q.batch(); ++b)
        for (index_t h = 0; h < q.heads(); ++h) {
            const float* uh = u.data() + (rel.heads() == 1 ? 0 : h) * q.dim();
            for (index_t t = 0; t < q.tokens(); ++t) {
                const auto* x = q.row(b, h, t);
                auto* y = out.row(b, h, t);
                for (index_t d = 0; d < q.dim(); ++d) y[d] = from_float<TO>(to_float(x[d]) + uh[d]);
            }
        }
}

}  // namespace attune
