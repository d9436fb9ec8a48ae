#pragma once
// The family's stage: scores become weights. A family with row statistics (softmax) keeps each
// row's online state (m, l) and rescales the row's accumulator when its reference max moves
// (FlashAttention's streaming form); a sink enters that state once, before the first key (sink/sink.hpp).
// A family without (sigmoid) turns each score into its final weight.
#include <type_traits>
#include <utility>

#include "attune/core/policy.hpp"
#include "attune/kernel/item.hpp"
#include "attune/sink/sink.hpp"
#include "attune/simd/vec.hpp"

namespace attune::kernel {

// Whether a family's update_tile takes the optional live_rows hint (family/softmax.hpp).
template <class F, class Arch, class = void>
struct takes_live_rows : std::false_type {};
template <class F, class Arch>
struct takes_live_rows<
    F, Arch,
    std::void_t<decltype(F::template update_tile<Arch>(std::declval<float*>(), index_t{}, index_t{}, std::declval<float*>(),
                                                       std::declval<float*>(), std::declval<float*>(), index_t{}))>> : std::true_type {};

// The sink's logit (and value) as each row's starting state; only the key range that starts at
// key 0 does this, so a row split over several ranges counts it once.
template <class It>
inline void enter_sink(It& it) {
    using sink_t = std::decay_t<decltype(it.var.sink())>;
    if constexpr (!detail::is_none_v<sink_t>) {
        for (index_t r = 0; r < it.rows; ++r) {
            const sink_row row{it.b, it.R.head[r], it.hkv, it.q_pos(r), it.q_row(r), it.q_dim_step(), it.p.dk, it.p.dv};
            it.var.sink().start(row, it.m[r], it.l[r], it.acc + r * it.dvp);
        }
    } else {
        (void)it;
    }
}

// Weights for the scores S[0..nk) of the item's rows.
template <class Arch, class It>
inline void weigh(It& it, index_t nk) {
    using family = typename std::decay_t<decltype(it.var)>::family_type;
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    if constexpr (family::row_statistics) {
        bool rescale;
        if constexpr (takes_live_rows<family, Arch>::value)
            rescale = family::template update_tile<Arch>(it.S, nk, it.rp, it.m, it.l, it.alpha, it.rows);
        else rescale = family::template update_tile<Arch>(it.S, nk, it.rp, it.m, it.l, it.alpha);
        if (!rescale) return;
        for (index_t r = 0; r < it.rows; ++r) {
            if (it.alpha[r] == 1.0f) continue;
            const simd::vec<Arch> a = simd::broadcast<Arch>(it.alpha[r]);
            float* acc = it.acc + r * it.dvp;
            for (index_t d = 0; d < it.dvp; d += W) simd::store_aligned<Arch>(acc + d, simd::load_aligned<Arch>(acc + d) * a);
        }
    } else {
        it.var.family().template weights_tile<Arch>(it.S, nk, it.rp);  // no row state: weights are final
        if constexpr (::attune::detail::row_sum_v<family>) {           // l += Σ_n w[n][r], lane-wise over rows
            for (index_t r = 0; r < it.rp; r += W) {
                simd::vec<Arch> sum = simd::load_aligned<Arch>(it.l + r);
                for (index_t n = 0; n < nk; ++n) sum += simd::load_aligned<Arch>(it.S + n * it.rp + r);
                simd::store_aligned<Arch>(it.l + r, sum);
            }
        }
    }
}

}  // namespace attune::kernel
