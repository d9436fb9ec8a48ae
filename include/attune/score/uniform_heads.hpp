#pragma once
// Retrieval-head masking (Wu et al., "Retrieval Head Mechanistically Explains Long-Context
// Factuality", 2024): the chosen query heads attend uniformly — every
// score becomes 0 before the mask, so softmax gives each visible key the same weight and the
// output is the mean of the visible values (unlike pruning, which gives zeros).
#include <vector>

#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/score/modifier.hpp"
#include "attune/simd/vec.hpp"

namespace attune {

/// Retrieval-head masking: the chosen query heads attend uniformly (their output is the mean of
/// the visible values).
struct uniform_heads {
    using policy_kind = score_kind;
    using hooks = provides<hook::prepare, hook::apply_tile, hook::validate>;
    static constexpr bool is_none = false;
    std::vector<bool> uniform;  ///< per query head

    uniform_heads() = default;  ///< no flags (valid only for a call with no query heads)
    /// Query head h attends uniformly iff `heads[h]` (one flag per query head).
    explicit uniform_heads(std::vector<bool> heads) : uniform(std::move(heads)) {}

    /// Whether query head h attends uniformly.
    bool is_uniform(index_t h) const noexcept { return h < static_cast<index_t>(uniform.size()) && uniform[static_cast<std::size_t>(h)]; }

    /// 0 on uniform heads, s elsewhere.
    template <class T>
    T operator()(T s, const index_context& c) const {
        return is_uniform(c.q_head) ? T(0) : s;
    }

    /// Per lane: 1 where the lane's head attends uniformly.
    static constexpr int lane_arrays = 1;
    /// Each lane's flag, once per work item.
    void prepare(const score_rows& rows, float* lanes) const {
        for (index_t r = 0; r < rows.rows_padded; ++r) lanes[r] = r < rows.rows && is_uniform(rows.q_head(r)) ? 1.0f : 0.0f;
    }
    /// Zeroes the scores of uniform lanes in a whole tile.
    template <class Arch>
    void apply_tile(float* S, index_t, index_t nk, const score_rows& rows, const float* lanes) const {
        constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
        const index_t rp = rows.rows_padded;
        for (index_t r = 0; r < rp; r += W) {
            bool any = false;
            for (index_t i = r; i < r + W; ++i) any = any || lanes[i] != 0.0f;
            if (!any) continue;
            for (index_t n = 0; n < nk; ++n)
                for (index_t i = r; i < r + W; ++i)
                    if (lanes[i] != 0.0f) S[n * rp + i] = 0.0f;
        }
    }

    /// Throws attune::error unless there is one flag per query head.
    template <class Shape>
    void validate(const Shape& p) const {
        detail::require(static_cast<index_t>(uniform.size()) == p.q_heads, "uniform_heads: ", uniform.size(), " flags for ", p.q_heads,
                        " query heads");
    }
};

}  // namespace attune
