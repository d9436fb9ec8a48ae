#pragma once
// The attention probabilities of a few query rows over a key range, recomputed from the scores and
// the LSE that attune::attention returns (options.lse): p_rj = exp(τ·q_r·k_j − LSE_r). The caches and
// selectors that rank keys by attention (H2O, top-k / recycled) need them; the kernel does not keep
// P, so this is one extra pass over the keys (dot products, no P·V). The rows are the query heads
// of one kv group (and a chunk's tokens): each K row is read once for all of them, and the
// exponentials run on whole vectors of a 64-key block.
// accumulate_weights is the same pass for any variant: the score modifier applied per element at
// the keys' and rows' given (history) positions, then exp(s' − LSE) for softmax (the LSE holds the
// sink, if any) or the family's own weight, σ(s' + b), for the sigmoid family.
#include <cmath>
#include <type_traits>
#include <vector>

#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/core/row_state.hpp"
#include "attune/score/modifier.hpp"
#include "attune/core/view.hpp"
#include "attune/simd/math.hpp"
#include "attune/simd/vec.hpp"

namespace attune::sparse::detail {

// Per-thread float copies of query rows, one widened key row and a block of scores.
struct probability_scratch {
    std::vector<float> q, k, s, sum;
    static probability_scratch& local() {
        thread_local probability_scratch s;
        return s;
    }
};

// acc[j] += Σ_r exp(τ·q_r·k_j − lse[r]) over rows r that see key j (j < visible[r]), for keys of
// (k, b, h). q_rows[r] is a row of dk elements (any storage type); rows with LSE −inf (nothing
// visible) add nothing. Scores of −inf-like magnitude give exactly 0 (simd::exp's range).
template <class Arch, class TQ, class TK, class Acc>
void accumulate_probabilities(const TQ* const* q_rows, const float* lse, const index_t* visible, index_t rows, float scale,
                              const tensor_view<const TK>& k, index_t b, index_t h, Acc* acc) {
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>), block = 64;
    const index_t dk = k.dim();
    probability_scratch& s = probability_scratch::local();
    s.q.resize(static_cast<std::size_t>(rows * dk));
    s.k.resize(static_cast<std::size_t>(dk));
    s.s.resize(static_cast<std::size_t>(rows * block));
    s.sum.resize(static_cast<std::size_t>(block));
    index_t n = 0;
    for (index_t r = 0; r < rows; ++r) {
        simd::convert_row<Arch>(q_rows[r], s.q.data() + r * dk, dk, scale);
        if (lse[r] > neg_inf && visible[r] > n) n = visible[r];
    }
    for (index_t j0 = 0; j0 < n; j0 += block) {
        const index_t nb = n - j0 < block ? n - j0 : block;
        for (index_t jj = 0; jj < nb; ++jj) {
            const float* kr;
            if constexpr (std::is_same_v<TK, float>) {
                kr = k.row(b, h, j0 + jj);
            } else {
                simd::convert_row<Arch>(k.row(b, h, j0 + jj), s.k.data(), dk);
                kr = s.k.data();
            }
            for (index_t r = 0; r < rows; ++r)
                s.s[static_cast<std::size_t>(r * block + jj)] =
                    (lse[r] > neg_inf && j0 + jj < visible[r]) ? simd::dot<Arch>(s.q.data() + r * dk, kr, dk) - lse[r] : neg_inf;
        }
        // Whole vectors: the lanes past the block's keys hold −inf, whose exp is exactly 0.
        const index_t nbp = (nb + W - 1) / W * W;
        for (index_t r = 0; r < rows; ++r)
            for (index_t jj = nb; jj < nbp; ++jj) s.s[static_cast<std::size_t>(r * block + jj)] = neg_inf;
        for (index_t jj = 0; jj < nbp; ++jj) s.sum[static_cast<std::size_t>(jj)] = 0.0f;
        for (index_t r = 0; r < rows; ++r) {
            const float* sr = s.s.data() + r * block;
            for (index_t jj = 0; jj < nbp; jj += W)
                simd::store<Arch>(s.sum.data() + jj, simd::load<Arch>(s.sum.data() + jj) + simd::exp(simd::load<Arch>(sr + jj)));
        }
        for (index_t jj = 0; jj < nb; ++jj) acc[j0 + jj] += static_cast<Acc>(s.sum[static_cast<std::size_t>(jj)]);
    }
}

// acc[j] += Σ_r w_rj over rows r that see key j (j < visible[r]), w the weight the variant `var`
// gives: s' = modifier(τ·q_r·k_j) at index_context{b, q_head[r], h, q_pos[r], k_pos[j]}, then
// exp(s' − lse[r]) (families with row statistics; rows with LSE −inf add nothing) or σ(s' + bias)
// (the sigmoid family; lse unused). Per element, in double: the callers (H2O's scores) rank keys by it.
template <class Arch, class Var, class TQ, class TK, class Acc>
void accumulate_weights(const Var& var, const TQ* const* q_rows, const float* lse, const index_t* visible, const index_t* q_head,
                        const index_t* q_pos, const index_t* k_pos, index_t rows, float scale, const tensor_view<const TK>& k, index_t b,
                        index_t h, Acc* acc) {
    using family = typename Var::family_type;
    static_assert(!::attune::detail::row_sum_v<family>,
                  "attune: per-key weights of a row-normalised family (normalized_sigmoid) need the row sums: not supported here");
    const index_t dk = k.dim();
    probability_scratch& s = probability_scratch::local();
    s.q.resize(static_cast<std::size_t>(rows * dk));
    s.k.resize(static_cast<std::size_t>(dk));
    index_t n = 0;
    for (index_t r = 0; r < rows; ++r) {
        simd::convert_row<Arch>(q_rows[r], s.q.data() + r * dk, dk, scale);
        if ((!family::row_statistics || lse[r] > neg_inf) && visible[r] > n) n = visible[r];
    }
    for (index_t j = 0; j < n; ++j) {
        simd::convert_row<Arch>(k.row(b, h, j), s.k.data(), dk);
        double sum = 0.0;
        for (index_t r = 0; r < rows; ++r) {
            if (j >= visible[r] || (family::row_statistics && !(lse[r] > neg_inf))) continue;
            const float* qr = s.q.data() + r * dk;
            const index_context c{b, q_head[r], h, q_pos[r], k_pos[j]};
            const float sc =
                static_cast<float>(score_hooks::call(var.score(), simd::dot<Arch>(qr, s.k.data(), dk), c, query_row<float>{qr, 1, dk}));
            if constexpr (family::row_statistics) sum += std::exp(static_cast<double>(sc) - static_cast<double>(lse[r]));
            else sum += 1.0 / (1.0 + std::exp(-(static_cast<double>(sc) + static_cast<double>(var.family().bias))));
        }
        acc[j] += static_cast<Acc>(sum);
    }
}

}  // namespace attune::sparse::detail
