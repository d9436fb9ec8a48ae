#pragma once
// Relative position bias table (T5 / Music Transformer style: Raffel et al., "Exploring the Limits
// of Transfer Learning with a Unified Text-to-Text Transformer", 2020):
//   s += table[h, clamp(j − p, −R, R) + R]
// table is [heads][2R + 1] row-major (query head h, R = max_distance; at least one row per query
// head, extra rows unused), p the query's absolute
// position (bottom-right), j the key's. Distances beyond ±R share the edge buckets.
// Tile path, lane-wise: a tile whose distances j − p all lie beyond ±R (most tiles of a long
// sequence) adds one per-lane constant, its head's edge bucket; other tiles gather per column:
// lane r reads table[lane base + clamp(j − p_r, −R, R)], lane base = head offset + R, prepared once
// per item; positions are floats (exact below
// 2^24) and so are table indices (the table must have fewer than 2^24 entries). The scalar arch
// walks each row instead: consecutive keys read consecutive table entries.
// max_distance ≥ 0 with 2R + 1 representable, table entries finite: attune::error otherwise, at
// construction and again when attention() validates the call (the members are public).
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/score/modifier.hpp"
#include "attune/simd/vec.hpp"

namespace attune {

/// Relative position bias table: s += table[h, clamp(j − p, −R, R) + R].
struct relative_bias {
    using policy_kind = score_kind;
    using hooks = provides<hook::prepare, hook::apply_tile, hook::validate>;
    static constexpr bool is_none = false;
    std::vector<float> table;  ///< [heads][2·max_distance + 1]
    index_t max_distance = 0;  ///< R

    relative_bias() = default;  ///< an empty table (valid only for a call with no query heads)
    /// Table `t`, [heads][2r + 1] row-major, at least one row per query head, finite; R = `r`.
    relative_bias(std::vector<float> t, index_t r) : table(std::move(t)), max_distance(r) { check_table(); }

    /// The table column of (q_pos, k_pos): clamp(k_pos − q_pos, −R, R) + R.
    index_t bucket(index_t q_pos, index_t k_pos) const noexcept {
        const index_t d = k_pos - q_pos;
        return (d < -max_distance ? -max_distance : d > max_distance ? max_distance : d) + max_distance;
    }
    /// Query head h's row of the table.
    const float* head_row(index_t h) const noexcept { return table.data() + h * (2 * max_distance + 1); }

    /// The biased score of one element.
    template <class T>
    T operator()(T s, const index_context& c) const {
        return s + static_cast<T>(head_row(c.q_head)[bucket(c.q_pos, c.k_pos)]);
    }

    /// Per lane: head_row offset + R (as float), the head's bucket −R, and its bucket +R.
    static constexpr int lane_arrays = 3;

    /// Each lane's row offset and edge buckets, once per work item.
    void prepare(const score_rows& rows, float* lanes) const {
        const index_t rp = rows.rows_padded;
        for (index_t r = 0; r < rp; ++r) {
            const index_t h = r < rows.rows ? rows.q_head(r) : 0;
            lanes[r] = static_cast<float>(h * (2 * max_distance + 1) + max_distance);
            lanes[rp + r] = head_row(h)[0];
            lanes[2 * rp + r] = head_row(h)[2 * max_distance];
        }
    }

    /// The bias of a whole score tile, lane-wise.
    template <class Arch>
    void apply_tile(float* S, index_t k_first, index_t nk, const score_rows& rows, const float* lanes) const {
        const index_t rp = rows.rows_padded;
        if constexpr (!std::is_same_v<Arch, simd::scalar>) {
            using fb = xsimd::batch<float, Arch>;
            constexpr index_t W = static_cast<index_t>(fb::size);
            const fb lo(static_cast<float>(-max_distance)), hi(static_cast<float>(max_distance)), one(1.0f);
            const index_t q_last = rows.q_first + rows.nq - 1;
            const bool all_low = k_first + nk - 1 - rows.q_first <= -max_distance;  // every j − p ≤ −R
            const bool all_high = k_first - q_last >= max_distance;                 // every j − p ≥ R
            if (all_low || all_high) {
                const float* edge = lanes + (all_low ? rp : 2 * rp);
                for (index_t r = 0; r < rp; r += W) {
                    const fb e = fb::load_aligned(edge + r);
                    for (index_t n = 0; n < nk; ++n) {
                        float* s = S + n * rp + r;
                        (fb::load_aligned(s) + e).store_aligned(s);
                    }
                }
                return;
            }
            for (index_t r = 0; r < rp; r += W) {
                const fb base = fb::load_aligned(lanes + r);
                fb d = fb(static_cast<float>(k_first)) - fb::load_aligned(rows.q_pos_lanes + r);  // j − p
                for (index_t n = 0; n < nk; ++n, d += one) {
                    const auto idx = xsimd::to_int(xsimd::min(xsimd::max(d, lo), hi) + base);
                    float* s = S + n * rp + r;
                    (fb::load_aligned(s) + fb::gather(table.data(), idx)).store_aligned(s);
                }
            }
            return;
        }
        for (index_t r = 0; r < rows.rows; ++r) {
            const float* t = head_row(rows.q_head(r));
            const index_t p = rows.q_pos(r);
            // keys with j − p ≤ −R use t[0]; j − p ≥ R use t[2R]; in between t[j − p + R].
            index_t n = 0;
            const float lo = t[0], hi = t[2 * max_distance];
            for (; n < nk && k_first + n - p <= -max_distance; ++n) S[n * rp + r] += lo;
            for (; n < nk && k_first + n - p < max_distance; ++n) S[n * rp + r] += t[k_first + n - p + max_distance];
            for (; n < nk; ++n) S[n * rp + r] += hi;
        }
    }

    /// Throws attune::error unless the table is well formed with a row per query head.
    template <class Shape>
    void validate(const Shape& p) const {
        const index_t row = check_table();
        const index_t need = detail::checked_mul(p.q_heads, row, "relative_bias: query heads × (2·max_distance + 1)");
        detail::require(static_cast<index_t>(table.size()) >= need, "relative_bias: table has ", table.size(),
                        " entries, expected rows of 2·max_distance + 1 = ", row, " for each of the ", p.q_heads, " query heads");
    }

private:
    // The row length 2R + 1, after checking R and the table (size and values).
    index_t check_table() const {
        detail::require(max_distance >= 0, "relative_bias: max_distance must be ≥ 0, got ", max_distance);
        const index_t row =
            detail::checked_add(detail::checked_mul(2, max_distance, "relative_bias: max_distance"), 1, "relative_bias: max_distance");
        detail::require(table.size() < (std::size_t(1) << 24), "relative_bias: the table must have fewer than 2^24 entries, got ",
                        table.size());
        detail::require(static_cast<index_t>(table.size()) % row == 0, "relative_bias: table has ", table.size(),
                        " entries, not whole rows of 2·max_distance + 1 = ", row);
        for (std::size_t i = 0; i < table.size(); ++i)
            detail::require(std::isfinite(table[i]), "relative_bias: table[", i, "] must be finite, got ", table[i]);
        return row;
    }
};

}  // namespace attune
