#pragma once
// Retrieval-score probe (Wu et al., "Retrieval Head Mechanistically Explains Long-Context
// Factuality", 2024): run it over the decode steps of a needle-in-a-haystack prompt to find
// the heads that copy from the context. At each step, a head "retrieves" when the token being
// generated occurs in the needle and the key the head attends most (the largest score: softmax is
// monotone) is a needle position holding that token; the head's score is the fraction of needle
// positions it has retrieved from, |g_h ∩ needle| / |needle|. Heads with high scores are the
// retrieval heads that DuoAttention keeps whole (duo_heads::by_threshold on the scores).
//
//   attune::retrieval_probe probe(/*q_heads*/ 32, needle_positions);
//   for each step: probe.observe(q, cache.keys(), context_tokens, generated_token);
//   probe.scores();
#include <algorithm>
#include <limits>
#include <new>
#include <stdexcept>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/view.hpp"
#include "attune/simd/arch.hpp"
#include "attune/simd/vec.hpp"

namespace attune {

/// Retrieval-score probe (Wu et al., 2024): scores each query head by the fraction of needle
/// positions it has copied from over the observed decode steps.
class retrieval_probe {
public:
    /// A probe of `q_heads` query heads for a needle at key positions `needle_positions`.
    retrieval_probe(index_t q_heads, std::vector<index_t> needle_positions) : heads_(q_heads), needle_(std::move(needle_positions)) {
        detail::require(q_heads > 0, "retrieval_probe: q_heads must be > 0, got ", q_heads);
        detail::require(!needle_.empty(), "retrieval_probe: the needle has no positions");
        std::sort(needle_.begin(), needle_.end());
        needle_.erase(std::unique(needle_.begin(), needle_.end()), needle_.end());
        detail::require(needle_.front() >= 0, "retrieval_probe: needle positions must be ≥ 0");
        // One bit per (head, needle position): an absurd q_heads is an attune::error, not bad_alloc.
        const std::size_t heads = detail::checked_count<std::vector<bool>>(q_heads, "retrieval_probe: q_heads");
        detail::allocating(q_heads, "retrieval_probe: q_heads", [&] { hit_.assign(heads, std::vector<bool>(needle_.size(), false)); });
    }

    /// One decode step: q [1, Hq, 1, dk] (the new token's queries), k [1, Hkv, Lk, dk] (the cache
    /// with the context), tokens[j] the token id at key position j (Lk of them), generated the id
    /// the model emits at this step. Returns the heads that retrieved at this step.
    template <class Arch = default_arch, class TQ, class TK>
    std::vector<index_t> observe(const tensor_view<TQ>& q, const tensor_view<TK>& k, const std::vector<int>& tokens, int generated) {
        detail::require(q.batch() == 1 && k.batch() == 1 && q.tokens() == 1,
                        "retrieval_probe::observe: q must be [1, Hq, 1, dk] and k [1, Hkv, Lk, dk]");
        detail::require(q.heads() == heads_, "retrieval_probe::observe: q has ", q.heads(), " heads, the probe ", heads_);
        detail::require(q.data() != nullptr || q.size() == 0, "retrieval_probe::observe: q has null data");
        detail::require(k.data() != nullptr || k.size() == 0, "retrieval_probe::observe: k has null data");
        detail::require(k.heads() > 0 && q.heads() % k.heads() == 0, "retrieval_probe::observe: query heads (", q.heads(),
                        ") are not a multiple of kv heads (", k.heads(), ")");
        detail::require(q.dim() == k.dim(), "retrieval_probe::observe: q and k head dims differ");
        detail::require(static_cast<index_t>(tokens.size()) == k.tokens(), "retrieval_probe::observe: ", tokens.size(), " token ids for ",
                        k.tokens(), " keys");
        std::vector<index_t> retrieved;
        // Needle positions holding the generated token: a copy is possible only then.
        bool in_needle = false;
        for (index_t p : needle_) in_needle = in_needle || (p < k.tokens() && tokens[static_cast<std::size_t>(p)] == generated);
        if (!in_needle) return retrieved;
        const index_t group = q.heads() / k.heads(), dk = q.dim();
        std::vector<float> qr(static_cast<std::size_t>(dk)), kr(static_cast<std::size_t>(dk));
        for (index_t h = 0; h < heads_; ++h) {
            simd::convert_row<Arch>(q.row(0, h, 0), qr.data(), dk);
            index_t best = -1;
            float best_s = -std::numeric_limits<float>::infinity();
            for (index_t j = 0; j < k.tokens(); ++j) {
                simd::convert_row<Arch>(k.row(0, h / group, j), kr.data(), dk);
                const float s = simd::dot<Arch>(qr.data(), kr.data(), dk);
                if (s > best_s) best_s = s, best = j;
            }
            const auto it = std::lower_bound(needle_.begin(), needle_.end(), best);
            if (best >= 0 && it != needle_.end() && *it == best && tokens[static_cast<std::size_t>(best)] == generated) {
                hit_[static_cast<std::size_t>(h)][static_cast<std::size_t>(it - needle_.begin())] = true;
                retrieved.push_back(h);
            }
        }
        return retrieved;
    }

    /// Per query head: the fraction of needle positions it has copied from.
    std::vector<float> scores() const {
        std::vector<float> s(static_cast<std::size_t>(heads_));
        for (std::size_t h = 0; h < s.size(); ++h)
            s[h] = static_cast<float>(std::count(hit_[h].begin(), hit_[h].end(), true)) / static_cast<float>(needle_.size());
        return s;
    }

private:
    index_t heads_;
    std::vector<index_t> needle_;
    std::vector<std::vector<bool>> hit_;
};

}  // namespace attune
