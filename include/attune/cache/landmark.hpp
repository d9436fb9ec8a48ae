#pragma once
// Mean-key landmark retrieval: a heuristic for models trained WITHOUT landmark tokens, after the
// retrieval of Mohtashami & Jaggi, "Landmark Attention", 2023. The paper's own method (a trained
// landmark token per block, the grouped softmax, re-mapped positions) is landmark_attention
// (sparse/landmark.hpp) and landmark_attention_cache (cache/landmark_attention_cache.hpp); this
// retrieval policy stands in where the model has no landmark: the cache is cut into blocks of B
// tokens; each complete block's representative key is the mean of its keys; a query retrieves, per
// query head, the top-k blocks by q·mean and attends to them plus its local window under one
// ordinary softmax (no grouped softmax, no position re-mapping).
//
//   attune::mean_key_landmark_cache<float> cache(/*heads*/ 8, /*dk*/ 128, /*dv*/ 128, /*block*/ 64);
//   cache.append(k_new, v_new);                                         // representatives follow appends
//   cache.attend(q, out, /*top_k*/ 4, /*window*/ 256);                  // the last Lq tokens' queries
//
// Choices:
//  - the representative of a block is the mean of its keys, computed in float when the block
//    completes (a running sum per head, so append costs O(dk) per token);
//  - query position p (bottom-right: the last Lq tokens of the cache) has the local window
//    [w, p], w = the start of the block holding max(p − window + 1, 0): the window is widened down
//    to a block boundary so the window and the candidate blocks (every block before w, all of them
//    complete) are disjoint and every key is reachable;
//  - the k best candidates by q·mean per query head (ties: the earlier block) are retrieved;
//    rows with fewer candidates take them all;
//  - attention is sparse::gather_attention over the retrieved blocks' tokens and the window, one
//    list per (query head, query token): the cache is not copied.
// selected() returns the last attend's blocks: [Hq][Lq][top_k], −1 = none.
//
// T may also be a quantized format (attune/quantized.hpp): the tokens are kept in a quant_kv_cache,
// a block's mean is taken over its keys as stored (dequantized), and the gather reads the listed
// rows' bytes (sparse/gather_quantized.hpp).
//   attune::mean_key_landmark_cache<attune::quant::q8_0> cache(8, 128, 128, /*block*/ 64, {}, {});
#include <algorithm>
#include <type_traits>
#include <vector>

#include "attune/cache/growable.hpp"
#include "attune/attention.hpp"
#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/simd/vec.hpp"
#include "attune/sparse/gather.hpp"
#include "attune/sparse/gather_quantized.hpp"
#include "attune/exec/region.hpp"

namespace attune {

/// A KV cache with mean-key block retrieval (a heuristic stand-in for landmark tokens): every
/// complete block of `block` tokens gets its mean key as representative, and attend() runs each
/// query over its top-k blocks plus its local window.
template <class T = float>
class mean_key_landmark_cache {
    static constexpr bool quantized = quant::is_format_v<T>;

public:
    using value_type = T;  ///< the storage type (an element type or a quantized format)

    /// A cache of `heads` kv heads (key dim `dk`, value dim `dv`) cut into blocks of `block` tokens
    /// (the paper uses 50, or 63 + 1 landmark), holding at most `max_tokens`.
    mean_key_landmark_cache(index_t heads, index_t dk, index_t dv, index_t block, index_t max_tokens = unbounded)
        : mean_key_landmark_cache(heads, dk, dv, block, T{}, T{}, max_tokens, 0) {}

    /// A quantized cache: K rows in `k_format`, V rows in `v_format` (their scales, for fp8).
    template <class F = T, std::enable_if_t<quant::is_format_v<F>, int> = 0>
    mean_key_landmark_cache(index_t heads, index_t dk, index_t dv, index_t block, F k_format, F v_format, index_t max_tokens = unbounded)
        : mean_key_landmark_cache(heads, dk, dv, block, k_format, v_format, max_tokens, 0) {}

    /// The underlying cache of every token (a quant_kv_cache for a quantized T).
    const detail::growable_cache<T>& kv() const noexcept { return kv_; }
    index_t heads() const noexcept { return kv_.heads(); }    ///< kv heads
    index_t tokens() const noexcept { return kv_.tokens(); }  ///< tokens held
    index_t block() const noexcept { return block_; }         ///< tokens per block
    /// The number of complete blocks (those with a landmark).
    index_t blocks() const noexcept { return static_cast<index_t>(reps_.size()) / (heads() * kv_.dk()); }
    /// The landmark of block c in head h (dk floats).
    const float* landmark(index_t h, index_t c) const {
        detail::require(h >= 0 && h < heads() && c >= 0 && c < blocks(), "mean_key_landmark_cache::landmark: (head ", h, ", block ", c,
                        ") outside [0, ", heads(), ") × [0, ", blocks(), ")");
        return reps_.data() + (c * heads() + h) * kv_.dk();
    }
    /// The blocks the last attend() retrieved, [Hq][Lq][top_k] row-major, −1 where a row had fewer.
    const std::vector<index_t>& selected() const noexcept { return selected_; }

    /// Appends n tokens, k [1, heads, n, dk], v [1, heads, n, dv]; a block's landmark (the mean of
    /// its keys) is computed when the block completes.
    template <class K, class V>
    void append(const tensor_view<K>& k, const tensor_view<V>& v) {
        const index_t first = kv_.tokens(), H = heads(), dk = kv_.dk();
        // The landmarks' room is reserved first: after kv_.append (checks shapes and capacity) nothing can throw.
        if (k.tokens() >= 0 && k.tokens() <= kv_.max_tokens() - first) {
            const index_t need =
                detail::checked_product("mean_key_landmark_cache::append: blocks × heads × dk", (first + k.tokens()) / block_, H, dk);
            const auto have = static_cast<index_t>(reps_.capacity());
            if (need > have)  // doubling keeps a token-by-token append amortised O(dk)
                detail::checked_reserve(reps_, need > detail::index_max / 2 || need > 2 * have ? need : 2 * have,
                                        "mean_key_landmark_cache::append: blocks × heads × dk");
        }
        kv_.append(k, v);
        const auto keys = kv_.keys();
        for (index_t t = first; t < kv_.tokens(); ++t) {
            for (index_t h = 0; h < H; ++h) {
                detail::row_as_float<default_arch>(keys, h, t, key_.data());  // the key as stored
                float* s = sum_.data() + h * dk;
                for (index_t d = 0; d < dk; ++d) s[d] += key_[static_cast<std::size_t>(d)];
            }
            if ((t + 1) % block_ == 0) {  // the block is complete: its landmark is the mean key
                const float inv = 1.0f / static_cast<float>(block_);
                for (index_t i = 0; i < H * dk; ++i) reps_.push_back(sum_[static_cast<std::size_t>(i)] * inv);
                std::fill(sum_.begin(), sum_.end(), 0.0f);
            }
        }
    }

    /// Attention of q [1, Hq, Lq, dk] (the last Lq tokens of the cache) into out [1, Hq, Lq, dv]:
    /// each (query head, query) attends to its `top_k` best blocks by q·landmark plus the local
    /// `window` of tokens ending at itself (widened down to a block boundary).
    template <class Arch = default_arch, class Q, class O, class Exec = default_executor>
    void attend(const tensor_view<Q>& q, const tensor_view<O>& out, index_t top_k, index_t window, const options& opt = {},
                const Exec& exec = {}) {
        using detail::require;
        static constexpr const char* who = "mean_key_landmark_cache::attend";
        detail::check_queries(who, q, out, heads(), kv_.dk(), kv_.dv());
        require(top_k >= 0 && window >= 1, "mean_key_landmark_cache::attend: top_k (", top_k, ") must be ≥ 0 and window (", window,
                ") ≥ 1");
        const index_t Hq = q.heads(), Lq = q.tokens(), Lk = kv_.tokens(), group = Hq / heads(), dk = kv_.dk();
        require(Lq <= Lk, "mean_key_landmark_cache::attend: ", Lq, " queries but the cache holds ", Lk, " tokens (append first)");
        // What the attention will check (options, out and lse against q and the cache), before selected() changes.
        require(opt.kv_splits >= 0, who, ": kv_splits must be ≥ 0, got ", opt.kv_splits);
        if constexpr (quantized)
            (void)detail::make_quant_problem<std::remove_const_t<Q>, T, T, O>(tensor_view<const Q>(q), kv_.keys(), kv_.values(), out, opt);
        else (void)detail::make_problem<std::remove_const_t<Q>, T, T, O>(tensor_view<const Q>(q), kv_.keys(), kv_.values(), out, opt);
        auto win_start = [&](index_t p) { return (p - window + 1 > 0 ? p - window + 1 : 0) / block_ * block_; };
        index_t widest = 0;  // window lengths are not monotone in p (the start jumps by whole blocks)
        for (index_t i = 0; i < Lq; ++i) {
            const index_t p = Lk - Lq + i;
            widest = p - win_start(p) + 1 > widest ? p - win_start(p) + 1 : widest;
        }
        // A row retrieves at most every complete block: a larger top_k costs no list room.
        const index_t listed = top_k < blocks() ? top_k : blocks();
        const index_t count = detail::checked_add(detail::checked_mul(listed, block_, "mean_key_landmark_cache::attend: top_k × block"),
                                                  widest, "mean_key_landmark_cache::attend: top_k × block + window");
        detail::checked_assign(list_,
                               detail::checked_product("mean_key_landmark_cache::attend: query heads × tokens × list", Hq, Lq, count),
                               index_t{-1}, "mean_key_landmark_cache::attend: query heads × tokens × list");
        // selected() changes only once the attention succeeded.
        detail::checked_assign(next_selected_, detail::checked_product("mean_key_landmark_cache::attend: top_k", Hq, Lq, top_k),
                               index_t{-1}, "mean_key_landmark_cache::attend: top_k");
        ::attune::detail::parallel_for(exec, Hq * Lq, [&](index_t r) {
            const index_t h = r / Lq, i = r % Lq, p = Lk - Lq + i, w = win_start(p), cands = w / block_;
            thread_local std::vector<float> qf, score;
            thread_local std::vector<index_t> order;
            qf.resize(static_cast<std::size_t>(dk));
            simd::convert_row<Arch>(q.row(0, h, i), qf.data(), dk);
            score.resize(static_cast<std::size_t>(cands));
            order.resize(static_cast<std::size_t>(cands));
            for (index_t c = 0; c < cands; ++c) {
                score[static_cast<std::size_t>(c)] = simd::dot<Arch>(qf.data(), reps_.data() + (c * heads() + h / group) * dk, dk);
                order[static_cast<std::size_t>(c)] = c;
            }
            const index_t n = top_k < cands ? top_k : cands;
            const float* sc = score.data();
            std::partial_sort(order.begin(), order.begin() + n, order.end(),
                              [sc](index_t a, index_t b) { return sc[a] > sc[b] || (sc[a] == sc[b] && a < b); });
            std::sort(order.begin(), order.begin() + n);
            index_t* dst = list_.data() + r * count;
            index_t* chosen = next_selected_.data() + r * top_k;
            for (index_t e = 0; e < n; ++e) {
                const index_t c = order[static_cast<std::size_t>(e)];
                chosen[e] = c;
                for (index_t j = 0; j < block_; ++j) *dst++ = c * block_ + j;
            }
            for (index_t j = w; j <= p; ++j) *dst++ = j;
        });
        sparse::gather_attention<Arch>(q, kv_.keys(), kv_.values(), index_view{list_.data(), 1, Hq, Lq, count}, out, opt, exec);
        selected_.swap(next_selected_);
    }

private:
    mean_key_landmark_cache(index_t heads, index_t dk, index_t dv, index_t block, const T& kf, const T& vf, index_t max_tokens, int)
        : kv_(detail::make_growable_cache<T>(heads, dk, dv, max_tokens, kf, vf)), block_(block) {
        detail::require(block >= 1, "mean_key_landmark_cache: block (", block, ") must be ≥ 1");
        detail::checked_assign(sum_, detail::checked_product("mean_key_landmark_cache: heads × dk", heads, dk), 0.0f,
                               "mean_key_landmark_cache: heads × dk");
        detail::checked_resize(key_, dk, "mean_key_landmark_cache: a key row");
    }

    detail::growable_cache<T> kv_;
    index_t block_;
    std::vector<float> key_;   // [dk]: one key as float
    std::vector<float> sum_;   // [heads][dk]: the incomplete block's key sum
    std::vector<float> reps_;  // [blocks][heads][dk]
    std::vector<index_t> list_, selected_, next_selected_;
};

/// The former name of mean_key_landmark_cache, kept for existing code. It is not the paper's landmark
/// attention: that is landmark_attention_cache.
template <class T = float>
using landmark_cache = mean_key_landmark_cache<T>;

}  // namespace attune
