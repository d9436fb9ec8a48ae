#pragma once
// Region mask for cross-attention (Lq ≠ Lk, no causal): a list of rectangles "query rows
// [q_begin, q_end) × keys [k_begin, k_end)" that are visible, everything else masked — e.g. image
// tokens attending only to the text tokens of their region (region-constrained cross-attention in
// diffusion models).
//
//   attune::region_mask m(Lq, Lk, {{0, 256, 0, 12}, {256, 1024, 12, 40}});   // query indices 0..Lq
//
// Every mask sees absolute, bottom-right aligned query positions p = Lk − Lq + i, which
// is not what cross-attention users think in; this mask takes query *indices* i ∈ [0, Lq) and
// converts them with the Lq and Lk given at construction (`region_mask::absolute` takes positions
// as the engine sees them). The mask is then valid only for that (Lq, Lk): attention() rejects a
// call of another shape (its query indices would map to other positions). Rows in no region give
// zeros (LSE −inf). Regions may overlap. A default-constructed mask sees nothing at any shape.
//
// visible(): inside any rectangle. classify(): full when one rectangle holds the whole tile, empty
// when no rectangle meets it, partial otherwise — both read the same rectangle list.
#include <memory>
#include <vector>

#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/mask/interval.hpp"

namespace attune {

/// Half-open ranges: query rows [q_begin, q_end) × keys [k_begin, k_end).
struct region {
    index_t q_begin;  ///< first query row
    index_t q_end;    ///< one past the last query row
    index_t k_begin;  ///< first key
    index_t k_end;    ///< one past the last key
};

/// Region mask for cross-attention: the keys of a list of rectangles are visible, everything else
/// masked; see the top of this file.
class region_mask {
public:
    using policy_kind = mask_kind;
    static constexpr bool is_none = false;
    using hooks = provides<hook::classify, hook::validate>;

    /// Default: no regions, nothing visible (variant<> keeps a default-constructed copy; no allocation).
    region_mask() : lq_(0), lk_(0), rects_(no_rects()), sized_(false) {}
    /// Visible rectangles `regions`, their query ranges indices 0..lq of the query tensor; valid
    /// only for calls with Lq = `lq` and Lk = `lk`.
    region_mask(index_t lq, index_t lk, const std::vector<region>& regions) : region_mask(lq, lk, regions, true) {}

    /// Query ranges are absolute positions (p = Lk − Lq + i), as visible()/classify() receive them.
    static region_mask absolute(index_t lq, index_t lk, const std::vector<region>& regions) { return region_mask(lq, lk, regions, false); }

    index_t lq() const noexcept { return lq_; }  ///< the Lq the mask was built for
    index_t lk() const noexcept { return lk_; }  ///< the Lk the mask was built for

    /// Throws attune::error unless the call has the (Lq, Lk) the mask was built for.
    template <class Shape>
    void validate(const Shape& p) const {
        if (!sized_) return;
        detail::require(p.lq == lq_ && p.lk == lk_, "region_mask: built for (Lq, Lk) = (", lq_, ", ", lk_, "), but the call has (", p.lq,
                        ", ", p.lk, ")");
    }

    /// Whether the element lies inside any rectangle.
    bool visible(const index_context& c) const noexcept {
        for (const rect& r : *rects_)
            if (r.q0 <= c.q_pos && c.q_pos <= r.q1 && r.k0 <= c.k_pos && c.k_pos <= r.k1) return true;
        return false;
    }
    /// Full when one rectangle holds the tile, empty when none meets it, partial otherwise.
    tile_class classify(const tile_context& t) const noexcept {
        bool meets = false;
        for (const rect& r : *rects_) {
            if (detail::covers(t, r.q0, r.q1, r.k0, r.k1)) return tile_class::full;
            meets = meets || detail::clip(t, r.q0, r.q1, r.k0, r.k1).ok;
        }
        return meets ? tile_class::partial : tile_class::empty;
    }

private:
    struct rect {
        index_t q0, q1, k0, k1;  // absolute, inclusive
    };
    region_mask(index_t lq, index_t lk, const std::vector<region>& regions, bool relative)
        : lq_(lq), lk_(lk), rects_(std::make_shared<std::vector<rect>>()), sized_(true) {
        detail::require(lq >= 0 && lk >= 0, "region_mask: Lq (", lq, ") and Lk (", lk, ") must be ≥ 0");
        const index_t shift = relative ? lk - lq : 0;                // index i → position p = Lk − Lq + i
        const index_t qlo = relative ? 0 : lk - lq, qhi = qlo + lq;  // valid query range in the given coordinates
        for (std::size_t n = 0; n < regions.size(); ++n) {
            const region& g = regions[n];
            detail::require(qlo <= g.q_begin && g.q_begin <= g.q_end && g.q_end <= qhi, "region_mask: region ", n, " query range [",
                            g.q_begin, ", ", g.q_end, ") is not inside [", qlo, ", ", qhi, ")");
            detail::require(0 <= g.k_begin && g.k_begin <= g.k_end && g.k_end <= lk, "region_mask: region ", n, " key range [", g.k_begin,
                            ", ", g.k_end, ") is not inside [0, ", lk, ")");
            if (g.q_begin == g.q_end || g.k_begin == g.k_end) continue;
            rects_->push_back({g.q_begin + shift, g.q_end - 1 + shift, g.k_begin, g.k_end - 1});
        }
    }

    static const std::shared_ptr<std::vector<rect>>& no_rects() {
        static const std::shared_ptr<std::vector<rect>> none = std::make_shared<std::vector<rect>>();
        return none;
    }
    index_t lq_, lk_;
    std::shared_ptr<std::vector<rect>> rects_;
    bool sized_;
};

}  // namespace attune
