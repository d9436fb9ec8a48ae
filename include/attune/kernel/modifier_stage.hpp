#pragma once
// The score-modifier stage: a variant's score modifier (score/modifier.hpp) sees each tile's scores
// after the product and before the mask, with the item's rows as lanes (their query positions as
// floats) and the per-item lane data it prepared once. Nothing at all without a modifier.
#include "attune/core/policy.hpp"
#include "attune/kernel/item.hpp"
#include "attune/kernel/mask_stage.hpp"
#include "attune/kernel/scratch.hpp"
#include "attune/score/modifier.hpp"

namespace attune::kernel {

template <class Arch, class Modifier>
class modifier_stage {
public:
    template <class It>
    modifier_stage(const Modifier& mod, It& it) : mod_(mod) {
        if constexpr (!detail::is_none_v<Modifier>) {
            const index_t rp = it.rp;
            float* buf = score_lane_scratch().get((1 + score_hooks::lane_arrays_v<Modifier>)*rp);
            for (index_t r = 0; r < rp; ++r) buf[r] = static_cast<float>(r < it.rows ? it.q_pos(r) : it.q_first);
            rows_ = score_rows{it.b,
                               it.hkv,
                               it.p.group,
                               it.q_span,
                               it.q_first,
                               it.rows,
                               rp,
                               buf,
                               it.qt,
                               it.few_rows ? it.p.dk : 1,
                               it.q_dim_step(),
                               it.p.dk,
                               it.R.head,
                               it.R.token,
                               it.p.q_pos0(),
                               it.R.all};
            lanes_ = buf + rp;
            score_hooks::prepare(mod_, rows_, lanes_);
        }
    }

    template <class It>
    void apply([[maybe_unused]] It& it, [[maybe_unused]] const key_span& t) const {
        if constexpr (!detail::is_none_v<Modifier>) score_hooks::apply<Arch>(mod_, it.S, t.n0, t.nk, rows_, lanes_);
    }

private:
    const Modifier& mod_;
    [[maybe_unused]] score_rows rows_{};
    [[maybe_unused]] float* lanes_ = nullptr;
};

}  // namespace attune::kernel
