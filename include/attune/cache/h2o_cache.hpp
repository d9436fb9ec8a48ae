#pragma once
// h2o_cache<T>: heavy-hitter oracle cache (Zhang et al., "H2O: Heavy-Hitter Oracle for Efficient
// Generative Inference of Large Language Models", 2023): per kv head, every held key carries
// score_j = Σ over the queries processed since it arrived of p_ij; the cache keeps the last
// `recent` tokens and the `heavy` older ones of highest score, and evicts the rest with their scores.
//
//   attune::h2o_cache<float> cache(/*heads*/ 8, /*dk*/ 128, /*dv*/ 128, /*heavy*/ 4, /*recent*/ 512);
//   cache.step(q_prompt, k_prompt, v_prompt, out_prompt);   // prefill: causal over the prompt, then evict
//   cache.step(q, k, v, out);                               // decode: one token per step
//   cache.step(q, k, v, out, attune::softcap{30});          // any variant without a mask (cache/interface.hpp)
//
// Choices (the paper leaves them open; the tests pin them against a naive implementation):
//  - GQA: the cache's heads are kv heads; a key's score sums p_ij over every query head of its group.
//  - A step of n tokens appends them, runs causal attention of its n queries over held ∪ new (every
//    held key precedes the chunk; new keys sit at the end of each head's slots, so the bottom-right
//    causal mask of attune::attention is exactly right whatever order the held slots are in), adds
//    every query's probabilities, then evicts down to heavy + recent. A prompt given as one step is
//    therefore scored by all its queries before anything is evicted (H2O's prefill).
//  - Ties: among equal scores the older token (smaller position) is evicted first.
//  - Probabilities come from a second pass over the held keys: p = exp(τ·q·k − LSE) with the LSE the
//    kernel returned (sparse/probabilities.hpp), accumulated in double. Under a variant the score
//    is the modified one (at history positions) and the LSE includes the sink; for the sigmoid
//    family a key's score adds its weights σ(s + b) instead (there is no LSE).
//  - append(k, v) adds tokens with score 0 (no query saw them) and evicts as a step does.
// Memory: heads × (heavy + recent + largest step) × dim; buffers are reused from step to step.
//
// T may also be a quantized format (attune/quantized.hpp): rows are quantized as they are
// appended and read in place by the attention; the scores' second pass reads each head's held
// keys dequantized.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "attune/attention.hpp"
#include "attune/cache/chunk.hpp"
#include "attune/cache/interface.hpp"
#include "attune/cache/rows.hpp"
#include "attune/core/error.hpp"
#include "attune/core/view.hpp"
#include "attune/mask/causal.hpp"
#include "attune/sparse/probabilities.hpp"
#include "attune/exec/region.hpp"

namespace attune {

/// h2o_cache's options (cache/interface.hpp).
struct h2o_cache_options {
    index_t heavy = 4;     ///< heavy hitters kept per kv head
    index_t recent = 512;  ///< newest tokens kept per kv head
};

/// The heavy-hitter (H2O) cache of one sequence: per kv head it keeps the last `recent` tokens and
/// the `heavy` older ones with the largest accumulated attention, evicting the rest.
template <class T = float>
class h2o_cache {
    static constexpr bool quantized = quant::is_format_v<T>;
    static_assert(is_storage_type_v<T> || quantized,
                  "attune::h2o_cache: storage must be float, bf16, half or a quantized format (attune::quant)");
    using rows = detail::cache_rows<T>;
    using element = typename rows::element;  // T, or the bytes of a quantized row

public:
    using value_type = T;  ///< the storage type (an element type or a quantized format)

    /// A cache of `heads` kv heads (key dim `dk`, value dim `dv`) keeping `heavy` heavy hitters and
    /// the `recent` newest tokens per head (H2O's defaults: heavy 4, recent 512).
    h2o_cache(index_t heads, index_t dk, index_t dv, index_t heavy, index_t recent)
        : h2o_cache(heads, dk, dv, h2o_cache_options{heavy, recent}, T{}, T{}, 0) {}

    /// A cache of `heads` kv heads (key dim `dk`, value dim `dv`) with options `o`.
    h2o_cache(index_t heads, index_t dk, index_t dv, const h2o_cache_options& o) : h2o_cache(heads, dk, dv, o.heavy, o.recent) {}

    /// A quantized cache: K rows in `k_format`, V rows in `v_format` (their scales, for fp8).
    template <class F = T, std::enable_if_t<quant::is_format_v<F>, int> = 0>
    h2o_cache(index_t heads, index_t dk, index_t dv, const h2o_cache_options& o, F k_format, F v_format)
        : h2o_cache(heads, dk, dv, o, k_format, v_format, 0) {}

    index_t heads() const noexcept { return heads_; }             ///< kv heads
    index_t dk() const noexcept { return dk_; }                   ///< key head dim
    index_t dv() const noexcept { return dv_; }                   ///< value head dim
    index_t heavy() const noexcept { return heavy_; }             ///< heavy hitters kept per head
    index_t recent() const noexcept { return recent_; }           ///< newest tokens kept per head
    index_t seen() const noexcept { return seen_; }               ///< tokens appended so far
    index_t tokens() const noexcept { return seen_; }             ///< the history's length, seen()
    index_t size() const noexcept { return size_; }               ///< tokens held per head (the same in every head)
    index_t budget() const noexcept { return heavy_ + recent_; }  ///< heavy + recent

    /// The held keys, [1, heads, size, dk] (a quant_view for a quantized T), in slot order (which
    /// differs per head).
    auto keys() const { return rows::view(kf_, k_.data(), {1, heads_, size_, dk_}, {heads_ * cap_ * kb_, cap_ * kb_, kb_}); }
    /// The held values, [1, heads, size, dv], in slot order.
    auto values() const { return rows::view(vf_, v_.data(), {1, heads_, size_, dv_}, {heads_ * cap_ * vb_, cap_ * vb_, vb_}); }
    /// The history position of the token in slot s of head h.
    index_t position(index_t h, index_t s) const { return pos_[checked_at("h2o_cache::position", h, s)]; }
    /// The accumulated attention score of the token in slot s of head h.
    double score(index_t h, index_t s) const { return score_[checked_at("h2o_cache::score", h, s)]; }
    /// The positions head h holds, ascending.
    std::vector<index_t> held_positions(index_t h) const {
        detail::require(h >= 0 && h < heads_, "h2o_cache::held_positions: head ", h, " outside [0, ", heads_, ")");
        std::vector<index_t> p(pos_.begin() + h * cap_, pos_.begin() + h * cap_ + size_);
        std::sort(p.begin(), p.end());
        return p;
    }

    /// Appends n tokens (k [1, heads, n, dk], v [1, heads, n, dv]) with score 0, then evicts down to
    /// heavy + recent. k and v may not share memory with the cache.
    template <class K, class V>
    void append(const tensor_view<K>& k, const tensor_view<V>& v) {
        static constexpr const char* who = "h2o_cache::append";
        const index_t n = detail::check_chunk(who, k, v, heads_, dk_, dv_);
        detail::check_not_storage(who, k, "k", k_, v_);
        detail::check_not_storage(who, v, "v", k_, v_);
        if (n == 0) return;
        detail::require(n <= detail::index_max - seen_, who, ": seen tokens overflow (", seen_, " + ", n, ")");
        const index_t grown = detail::checked_add(size_, n, "h2o_cache::append: held + chunk tokens");
        reserve(grown, "h2o_cache::append: heads × (held + chunk) × dim");
        detail::checked_reserve(cand_, grown, "h2o_cache::append: held + chunk tokens");
        detail::checked_reserve(gone_, grown, "h2o_cache::append: held + chunk tokens");
        rows::reserve_widening(wide_, dk_, dv_, "h2o_cache: a widened row");
        write(k, v, n);
        evict();
    }

    /// One step of n tokens: q [1, Hq, n, dk], k [1, heads, n, dk], v [1, heads, n, dv], out [1, Hq, n, dv],
    /// under the variant `var` (family, sink, router, a score modifier that reads no positions; no mask).
    template <class Arch = default_arch, class Q, class K, class V, class O, class Var = variant<>, class Exec = default_executor,
              std::enable_if_t<detail::is_step_variant_v<Var>, int> = 0>
    void step(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const tensor_view<O>& out, const Var& var = {},
              const options& opt_in = {}, const Exec& exec = {}) {
        static constexpr const char* who = "h2o_cache::step";
        using family = typename as_variant<Var>::type::family_type;
        const index_t n = detail::check_chunk(who, k, v, heads_, dk_, dv_);
        detail::check_queries(who, q, out, heads_, dk_, dv_);
        detail::require(q.tokens() == n, "h2o_cache::step: q has ", q.tokens(), " tokens but the chunk has ", n);
        // Everything is checked and allocated before anything changes (a bad call leaves the cache intact).
        detail::check_step(who, q, k, v, out, opt_in);
        detail::check_step_storage(who, q, out, opt_in, k_, v_);
        detail::check_not_storage(who, k, "k", k_, v_);
        detail::check_not_storage(who, v, "v", k_, v_);
        detail::require_no_mask<Var>(who);
        detail::require(detail::position_free_v<typename as_variant<Var>::type::score_type>, who,
                        ": variant: only score modifiers that read no positions (none, softcap) are accepted: the held slots' "
                        "history positions differ per kv head, position ids are per sequence");
        detail::check_variant(who, var, detail::step_problem(q, k, v, out, opt_in),
                              detail::checked_add(size_, n, "h2o_cache::step: held + chunk tokens"), opt_in);
        if (n == 0) return;
        detail::require(n <= detail::index_max - seen_, "h2o_cache::step: seen tokens overflow (", seen_, " + ", n, ")");
        const index_t grown = detail::checked_add(size_, n, "h2o_cache::step: held + chunk tokens");
        reserve(grown, "h2o_cache::step: heads × (held + chunk) × dim");  // relays the storage out, contents unchanged
        const index_t hq = q.heads(), group = hq / heads_;
        options opt = opt_in;
        if (family::has_lse && opt.lse.empty()) {
            detail::checked_resize(lse_, detail::checked_product("h2o_cache::step: query heads × tokens", hq, n),
                                   "h2o_cache::step: query heads × tokens");
            opt.lse = lse_view(lse_.data(), 1, hq, n);
        }
        detail::checked_resize(saved_score_, detail::checked_product("h2o_cache::step: heads × held", heads_, size_),
                               "h2o_cache::step: heads × held");
        detail::checked_reserve(cand_, grown, "h2o_cache::step: held + chunk tokens");
        detail::checked_reserve(gone_, grown, "h2o_cache::step: held + chunk tokens");
        for (index_t h = 0; h < heads_; ++h) std::copy_n(score_.begin() + h * cap_, size_, saved_score_.begin() + h * size_);
        rows::reserve_widening(wide_, dk_, dv_, "h2o_cache: a widened row");

        const index_t held = size_;
        write(k, v, n);
        try {
            attend<Arch>(q, out, detail::with_cache_mask(var, causal{}), opt, exec, held, n, group);
        } catch (...) {  // a user's executor or policy threw: back to the state before the call
            for (index_t h = 0; h < heads_; ++h) std::copy_n(saved_score_.begin() + h * held, held, score_.begin() + h * cap_);
            size_ = held;
            seen_ -= n;
            throw;
        }
        evict();  // cannot throw: cand_ and gone_ were reserved
    }
    /// The older form, step(q, k, v, out, options, executor): the default variant.
    template <class Arch = default_arch, class Q, class K, class V, class O, class Exec = default_executor>
    void step(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const tensor_view<O>& out, const options& opt,
              const Exec& exec = {}) {
        step<Arch>(q, k, v, out, variant<>{}, opt, exec);
    }

    /// Forgets every token and score.
    void clear() noexcept { size_ = seen_ = 0; }

private:
    h2o_cache(index_t heads, index_t dk, index_t dv, const h2o_cache_options& o, T k_format, T v_format, int)
        : heads_(heads), dk_(dk), dv_(dv), heavy_(o.heavy), recent_(o.recent), kf_(k_format), vf_(v_format) {
        detail::require(heads > 0 && dk > 0 && dv > 0, "h2o_cache: heads (", heads, "), dk (", dk, ") and dv (", dv, ") must be ≥ 1");
        detail::require(heavy_ >= 0 && recent_ >= 0 && (heavy_ > 0 || recent_ > 0), "h2o_cache: heavy (", heavy_, ") and recent (", recent_,
                        ") must be ≥ 0 with heavy + recent ≥ 1");
        if constexpr (quantized) {
            kf_.check(heads, dk, "h2o_cache: key format");
            vf_.check(heads, dv, "h2o_cache: value format");
        }
        kb_ = rows::elems(dk);
        vb_ = rows::elems(dv);
        const index_t budget = detail::checked_add(heavy_, recent_, "h2o_cache: heavy + recent");
        reserve(detail::checked_add(budget, 1, "h2o_cache: heavy + recent"), "h2o_cache: heads × (heavy + recent + 1) × dim");
    }

    std::size_t at(index_t h, index_t s) const { return static_cast<std::size_t>(h * cap_ + s); }
    std::size_t checked_at(const char* who, index_t h, index_t s) const {
        detail::require(h >= 0 && h < heads_ && s >= 0 && s < size_, who, ": (head ", h, ", slot ", s, ") outside [0, ", heads_, ") × [0, ",
                        size_, ")");
        return at(h, s);
    }

    // Writes n checked tokens after the held ones, score 0 (room reserved: cannot throw).
    template <class K, class V>
    void write(const tensor_view<K>& k, const tensor_view<V>& v, index_t n) {
        for (index_t h = 0; h < heads_; ++h)
            for (index_t t = 0; t < n; ++t) {
                rows::write(kf_, h, k.row(0, h, t), k_.data() + (h * cap_ + size_ + t) * kb_, dk_, wide_.data());
                rows::write(vf_, h, v.row(0, h, t), v_.data() + (h * cap_ + size_ + t) * vb_, dv_, wide_.data());
                pos_[at(h, size_ + t)] = seen_ + t;
                score_[at(h, size_ + t)] = 0.0;
            }
        size_ += n;
        seen_ += n;
    }

    // The attention of the chunk's queries over held ∪ new, then their weights added to the scores.
    template <class Arch, class Q, class O, class Var, class Exec>
    void attend(const tensor_view<Q>& q, const tensor_view<O>& out, const Var& var, const options& opt, const Exec& exec, index_t held,
                index_t n, index_t group) {
        using family = typename Var::family_type;
        // The plain softmax takes the vector pass; any other variant the per-element one.
        constexpr bool plain = detail::is_none_v<typename Var::score_type> && family::row_statistics;
        // Attention of the chunk's queries; the LSE is needed for the probabilities.
        attention<Arch>(tensor_view<const Q>(q), keys(), values(), out, var, opt, exec);

        // Scores: query i of the chunk sees the held slots and the new ones up to itself.
        const float scale = opt.scale > 0.0f ? opt.scale : 1.0f / std::sqrt(static_cast<float>(dk_));
        const auto kv = keys();
        const index_t first = seen_ - n;  // the chunk's first history position
        ::attune::detail::parallel_for(exec, heads_, [&](index_t h) {
            thread_local std::vector<const std::remove_const_t<Q>*> q_rows;
            thread_local std::vector<float> lse;
            thread_local std::vector<index_t> visible, qh, qp;
            q_rows.clear(), lse.clear(), visible.clear(), qh.clear(), qp.clear();
            for (index_t g = 0; g < group; ++g)
                for (index_t i = 0; i < n; ++i) {
                    q_rows.push_back(q.row(0, h * group + g, i));
                    lse.push_back(family::has_lse ? *opt.lse.row(0, h * group + g, i) : 0.0f);
                    visible.push_back(held + i + 1);
                    qh.push_back(h * group + g);
                    qp.push_back(first + i);
                }
            const auto accumulate = [&](const auto& k) {
                if constexpr (plain)
                    sparse::detail::accumulate_probabilities<Arch>(q_rows.data(), lse.data(), visible.data(), group * n, scale, k, 0, h,
                                                                   score_.data() + h * cap_);
                else
                    sparse::detail::accumulate_weights<Arch>(var, q_rows.data(), lse.data(), visible.data(), qh.data(), qp.data(),
                                                             pos_.data() + h * cap_, group * n, scale, k, 0, h, score_.data() + h * cap_);
            };
            if constexpr (quantized) {  // head h's keys dequantized, seen through a view whose every head is them
                thread_local std::vector<float> kd;
                kd.resize(static_cast<std::size_t>(size_ * dk_));
                for (index_t j = 0; j < size_; ++j) quant::dequantize_row<Arch>(kf_, h, kv.row(0, h, j), kd.data() + j * dk_, dk_);
                accumulate(tensor_view<const float>(kd.data(), {1, heads_, size_, dk_}, {0, 0, dk_}));
            } else {
                accumulate(kv);
            }
        });
    }

    // Per head: the tokens older than the last `recent` compete for `heavy` places; the lowest
    // scores leave (ties: the older first); the slots left free are filled from the end.
    void evict() {
        const index_t first_recent = seen_ - recent_;  // positions ≥ this are among the last `recent`
        index_t keep = size_;
        for (index_t h = 0; h < heads_; ++h) {
            cand_.clear();
            for (index_t s = 0; s < size_; ++s)
                if (pos_[at(h, s)] < first_recent) cand_.push_back(s);
            const index_t evict_n = static_cast<index_t>(cand_.size()) - heavy_;
            if (evict_n <= 0) continue;
            const double* sc = score_.data() + h * cap_;
            const index_t* ps = pos_.data() + h * cap_;
            std::nth_element(cand_.begin(), cand_.begin() + (evict_n - 1), cand_.end(),
                             [&](index_t a, index_t b) { return sc[a] < sc[b] || (sc[a] == sc[b] && ps[a] < ps[b]); });
            // cand_[0, evict_n) leave. Fill their slots, lowest first, with kept slots from the end.
            std::sort(cand_.begin(), cand_.begin() + evict_n);
            gone_.assign(static_cast<std::size_t>(size_), 0);
            for (index_t e = 0; e < evict_n; ++e) gone_[static_cast<std::size_t>(cand_[static_cast<std::size_t>(e)])] = 1;
            index_t last = size_ - 1;
            for (index_t e = 0; e < evict_n; ++e) {
                const index_t hole = cand_[static_cast<std::size_t>(e)];
                while (last > hole && gone_[static_cast<std::size_t>(last)]) --last;
                if (last > hole) {
                    move_slot(h, last, hole);
                    gone_[static_cast<std::size_t>(last)] = 1;
                    gone_[static_cast<std::size_t>(hole)] = 0;
                    --last;
                }
            }
            keep = size_ - evict_n;
        }
        size_ = keep;  // every head evicts the same number: the same recent tokens, the same heavy count
    }

    void move_slot(index_t h, index_t from, index_t to) {
        std::copy_n(k_.data() + (h * cap_ + from) * kb_, kb_, k_.data() + (h * cap_ + to) * kb_);
        std::copy_n(v_.data() + (h * cap_ + from) * vb_, vb_, v_.data() + (h * cap_ + to) * vb_);
        pos_[at(h, to)] = pos_[at(h, from)];
        score_[at(h, to)] = score_[at(h, from)];
    }

    // Grows the slots per head to `cap`, sizes checked and allocated before anything changes.
    void reserve(index_t cap, const char* what) {
        if (cap <= cap_) return;
        std::vector<element> k, v;
        std::vector<index_t> p;
        std::vector<double> sc;
        detail::checked_assign(k, detail::checked_product(what, heads_, cap, kb_), element{}, what);
        detail::checked_assign(v, detail::checked_product(what, heads_, cap, vb_), element{}, what);
        detail::checked_assign(p, detail::checked_product(what, heads_, cap), index_t{0}, what);
        detail::checked_assign(sc, detail::checked_product(what, heads_, cap), 0.0, what);
        for (index_t h = 0; h < heads_; ++h) {
            std::copy_n(k_.begin() + h * cap_ * kb_, size_ * kb_, k.begin() + h * cap * kb_);
            std::copy_n(v_.begin() + h * cap_ * vb_, size_ * vb_, v.begin() + h * cap * vb_);
            std::copy_n(pos_.begin() + h * cap_, size_, p.begin() + h * cap);
            std::copy_n(score_.begin() + h * cap_, size_, sc.begin() + h * cap);
        }
        k_.swap(k), v_.swap(v), pos_.swap(p), score_.swap(sc);
        cap_ = cap;
    }

    index_t heads_, dk_, dv_, heavy_, recent_;
    index_t kb_ = 0, vb_ = 0;  // elements a key / value row takes (bytes for a quantized T)
    index_t seen_ = 0, size_ = 0, cap_ = 0;
    T kf_{}, vf_{};  // a quantized T's formats (unused for element types)
    std::vector<element> k_, v_;
    std::vector<float> wide_;  // a bf16 / half row widened before quantization
    std::vector<index_t> pos_;
    std::vector<double> score_;
    std::vector<float> lse_;
    std::vector<double> saved_score_;  // the held slots' scores before a step (its rollback)
    std::vector<index_t> cand_;
    std::vector<unsigned char> gone_;
};

}  // namespace attune
