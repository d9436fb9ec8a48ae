#pragma once
// The attention probabilities of a few query rows over a key range, recomputed from the scores and
// the LSE that attune::attention returns (options.lse): p_j = exp(τ·q·k_j − LSE). The caches and
// selectors that rank keys by attention (H2O, top-k / recycled) need them; the kernel does not keep
// P, so this is one extra pass over the keys (a dot product per key and query row, no P·V).
#include <cmath>
#include <vector>

#include "attune/core/row_state.hpp"
#include "attune/core/view.hpp"
#include "attune/simd/vec.hpp"

namespace attune::sparse::detail {

// Per-thread float copies of query and key rows (bf16/half storage is widened once per row).
struct probability_scratch {
    std::vector<float> q, k;
    static probability_scratch& local() {
        thread_local probability_scratch s;
        return s;
    }
};

// acc[j] += exp(τ·q·k_j − lse) for keys j in [0, n) of (k, b, h): q is one row of dk elements
// (any storage type), τ the scale. A row with LSE −inf (nothing visible) adds nothing.
template <class Arch, class TQ, class TK, class Acc>
void accumulate_probabilities(const TQ* q_row, float scale, const tensor_view<const TK>& k, index_t b, index_t h, index_t n,
                              float lse, Acc* acc) {
    if (!(lse > neg_inf)) return;
    const index_t dk = k.dim();
    probability_scratch& s = probability_scratch::local();
    s.q.resize(static_cast<std::size_t>(dk));
    simd::convert_row<Arch>(q_row, s.q.data(), dk, scale);
    if constexpr (!std::is_same_v<TK, float>) s.k.resize(static_cast<std::size_t>(dk));
    for (index_t j = 0; j < n; ++j) {
        const float* kr;
        if constexpr (std::is_same_v<TK, float>) {
            kr = k.row(b, h, j);
        } else {
            simd::convert_row<Arch>(k.row(b, h, j), s.k.data(), dk);
            kr = s.k.data();
        }
        acc[j] += static_cast<Acc>(std::exp(simd::dot<Arch>(s.q.data(), kr, dk) - lse));
    }
}

}  // namespace attune::sparse::detail
