#pragma once
// streaming_cache<T>: StreamingLLM's cache (Xiao et al., "Efficient Streaming Language Models with
// Attention Sinks", 2023): the first S tokens (the attention sinks) plus a ring of the last R
// tokens, heads × (S + R) × dim whatever the history's length, so decode time and memory stay flat.
//
//   attune::streaming_cache<float> cache(/*heads*/ 8, /*dk*/ 128, /*dv*/ 128, /*sinks*/ 4, /*recent*/ 1024);
//   cache.step(q, k_new, v_new, out);   // append n tokens, attend their n queries
//   cache.step(q, k_new, v_new, out, attune::variant(attune::softcap{30}, attune::sink_logit{z}));
//
// step() computes exactly sinks + window attention over the whole history (attune::sinks_window(S, R):
// query p sees j ≤ p with j < S or p − j < R). For one new token (decode) every cached key is
// visible to it, so the kernel runs with no mask over the slots as they lie: the ring's order does
// not matter to softmax. For a chunk of n > 1 tokens the earlier queries need keys the chunk pushes
// out of the ring, so the old cache is first copied in position order (sinks, ring oldest first)
// followed by the chunk into a per-cache scratch — O((S + R + n)·dim) per chunk, small next to the
// chunk's O(n·(S + R + n)·dim) attention — where sinks_window(S, R) over that view gives the same
// keys as over the full history (a sink is visible by the sink rule whatever the window says).
//
// A variant's score modifier sees the tokens' history positions: with one, every step (decode too)
// runs on the position-ordered scratch with the positions as ids (score/positioned.hpp); history
// positions must then stay below 2^24 (attune::error past it).
//
// Slots: slot s < S holds token s; the ring slots S .. S + R − 1 hold tokens t ≥ S at S + (t − S) mod R.
// position(s) is a slot's token position in the history; cache_position(s) its rank 0..size−1 in
// position order — the re-indexed positions StreamingLLM applies RoPE with (keys cached before
// RoPE; the query then sits at size − 1 after its own append).
//
// T may also be a quantized format (attune/quantized.hpp): streaming_cache<quant::q8_0> quantizes
// each row as it is appended (the chunk's rows in the step's scratch too, so a step attends to
// exactly the rows the ring keeps) and reads them in place.
#include <cstdint>
#include <type_traits>
#include <vector>

#include "attune/attention.hpp"
#include "attune/cache/chunk.hpp"
#include "attune/cache/interface.hpp"
#include "attune/cache/rows.hpp"
#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/view.hpp"
#include "attune/mask/sinks_window.hpp"
#include "attune/prepass/rope.hpp"

namespace attune {

/// streaming_cache's options (cache/interface.hpp).
struct streaming_cache_options {
    index_t sinks = 4;      ///< S, the first tokens kept (StreamingLLM's 4)
    index_t recent = 1024;  ///< R, the ring of the last tokens (≥ 1)
};

/// StreamingLLM's cache of one sequence: the first `sinks` tokens plus a ring of the last `recent`,
/// so memory and decode time stay flat; step() attends with sinks + window over the whole history.
template <class T = float>
class streaming_cache {
    static constexpr bool quantized = quant::is_format_v<T>;
    static_assert(is_storage_type_v<T> || quantized,
                  "attune::streaming_cache: storage must be float, bf16, half or a quantized format (attune::quant)");
    using rows = detail::cache_rows<T>;
    using element = typename rows::element;  // T, or the bytes of a quantized row

public:
    using value_type = T;  ///< the storage type (an element type or a quantized format)

    /// A cache of `heads` kv heads (key dim `dk`, value dim `dv`) keeping the first `sinks` tokens
    /// (≥ 0; StreamingLLM uses 4) and the last `recent` (≥ 1).
    streaming_cache(index_t heads, index_t dk, index_t dv, index_t sinks, index_t recent)
        : streaming_cache(heads, dk, dv, sinks, recent, T{}, T{}, 0) {}

    /// A cache of `heads` kv heads (key dim `dk`, value dim `dv`) with options `o`.
    streaming_cache(index_t heads, index_t dk, index_t dv, const streaming_cache_options& o)
        : streaming_cache(heads, dk, dv, o.sinks, o.recent) {}

    /// A quantized cache: K rows in `k_format`, V rows in `v_format` (their scales, for fp8).
    template <class F = T, std::enable_if_t<quant::is_format_v<F>, int> = 0>
    streaming_cache(index_t heads, index_t dk, index_t dv, const streaming_cache_options& o, F k_format, F v_format)
        : streaming_cache(heads, dk, dv, o.sinks, o.recent, k_format, v_format, 0) {}

    index_t heads() const noexcept { return heads_; }                                         ///< kv heads
    index_t dk() const noexcept { return dk_; }                                               ///< key head dim
    index_t dv() const noexcept { return dv_; }                                               ///< value head dim
    index_t sinks() const noexcept { return sinks_; }                                         ///< S, the sink tokens kept
    index_t recent() const noexcept { return recent_; }                                       ///< R, the ring's length
    index_t slots() const noexcept { return slots_; }                                         ///< S + R, the constant capacity
    index_t seen() const noexcept { return seen_; }                                           ///< tokens appended so far
    index_t tokens() const noexcept { return seen_; }                                         ///< the history's length, seen()
    index_t size() const noexcept { return seen_ < slots() ? seen_ : slots(); }               ///< tokens held
    std::size_t bytes() const noexcept { return (k_.size() + v_.size()) * sizeof(element); }  ///< bytes of K/V storage

    /// The held keys as a [1, heads, size, dk] view (a quant_view for a quantized T), in slot order
    /// (not position order).
    auto keys() const { return rows::view(kf_, k_.data(), {1, heads_, size(), dk_}, {heads_ * slots_ * kb_, slots_ * kb_, kb_}); }
    /// The held values as a [1, heads, size, dv] view, in slot order.
    auto values() const { return rows::view(vf_, v_.data(), {1, heads_, size(), dv_}, {heads_ * slots_ * vb_, slots_ * vb_, vb_}); }

    /// The history position of the token in slot s (s < size()).
    index_t position(index_t s) const {
        detail::require(s >= 0 && s < size(), "streaming_cache::position: slot ", s, " outside the ", size(), " held");
        if (s < sinks_) return s;
        // Ring tokens are t ≥ S; the newest, seen − 1, sits in slot S + (seen − 1 − S) mod R.
        const index_t newest = seen_ - 1, newest_slot = sinks_ + (newest - sinks_) % recent_;
        const index_t back = (newest_slot - s + recent_) % recent_;  // how many ring tokens are newer
        return newest - back;
    }
    /// The slot's rank in position order, 0..size−1: the position RoPE is re-applied with.
    index_t cache_position(index_t s) const {
        const index_t p = position(s);
        if (p < sinks_) return p;
        const index_t oldest_ring = seen_ - (size() - (sinks_ < seen_ ? sinks_ : seen_));
        return sinks_ + (p - oldest_ring);
    }
    /// All slots' history positions and cache positions (size() each).
    void positions(std::vector<index_t>& history, std::vector<index_t>& in_cache) const {
        history.resize(static_cast<std::size_t>(size()));
        in_cache.resize(static_cast<std::size_t>(size()));
        for (index_t s = 0; s < size(); ++s) {
            history[static_cast<std::size_t>(s)] = position(s);
            in_cache[static_cast<std::size_t>(s)] = cache_position(s);
        }
    }

    /// StreamingLLM with RoPE (Xiao et al. 2023, §3.2): the cache holds keys before RoPE, and
    /// attention rotates them by their positions in the cache, not in the history, so positions
    /// never exceed S + R whatever the history's length. Writes the held keys, in slot order, rotated
    /// to their cache positions (cache_position(s)) into out [1, heads, size(), dk]; the chunk's n
    /// queries then rotate at size() − n + i (apply_rope with rope_positions::from_offset(size() − n)).
    /// out may not share memory with the cache. Quantized keys are rotated from their values.
    template <class Arch = default_arch, class O, class Exec = default_executor>
    void rotated_keys(const rope& r, const tensor_view<O>& out, const Exec& exec = {}) {
        detail::require(out.batch() == 1 && out.heads() == heads_ && out.tokens() == size() && out.dim() == dk_,
                        "streaming_cache::rotated_keys: out must be [1, ", heads_, ", ", size(), ", ", dk_, "]");
        detail::check_not_storage("streaming_cache::rotated_keys", out, "out", k_, v_);
        detail::checked_resize(rank_, size(), "streaming_cache::rotated_keys: held tokens");
        for (index_t s = 0; s < size(); ++s) rank_[static_cast<std::size_t>(s)] = static_cast<std::int32_t>(cache_position(s));
        if constexpr (quantized) {
            detail::checked_resize(values_,
                                   detail::checked_product("streaming_cache::rotated_keys: heads × held × dk", heads_, size(), dk_),
                                   "streaming_cache::rotated_keys: heads × held × dk");
            const tensor_view<float> k(values_.data(), {1, heads_, size(), dk_}, {heads_ * size() * dk_, size() * dk_, dk_});
            quant::dequantize<T, Arch>(keys(), k);
            rotate_keys_to_cache<Arch>(r, tensor_view<const float>(k), out, rope_positions::per_token(rank_.data()), exec);
        } else {
            rotate_keys_to_cache<Arch>(r, keys(), out, rope_positions::per_token(rank_.data()), exec);
        }
    }

    /// Appends n tokens (k [1, heads, n, dk], v [1, heads, n, dv]); with n > R the chunk's own
    /// earlier tokens leave the ring again. k and v may not share memory with the cache.
    template <class K, class V>
    void append(const tensor_view<K>& k, const tensor_view<V>& v) {
        const index_t n = detail::check_chunk("streaming_cache::append", k, v, heads_, dk_, dv_);
        detail::check_not_storage("streaming_cache::append", k, "k", k_, v_);
        detail::check_not_storage("streaming_cache::append", v, "v", k_, v_);
        commit(k, v, n);
    }

    /// Appends the chunk's n tokens and writes the attention of its n queries (q [1, Hq, n, dk],
    /// out [1, Hq, n, dv], Hq a multiple of heads) under sinks + window over the whole history, for
    /// the variant `var` (family, score modifier, sink, router; its mask must be none; the score
    /// modifier sees history positions), options `opt`, executor `exec`.
    template <class Arch = default_arch, class Q, class K, class V, class O, class Var = variant<>, class Exec = default_executor,
              std::enable_if_t<detail::is_step_variant_v<Var>, int> = 0>
    void step(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const tensor_view<O>& out, const Var& var = {},
              const options& opt = {}, const Exec& exec = {}) {
        static constexpr const char* who = "streaming_cache::step";
        const index_t n = detail::check_chunk(who, k, v, heads_, dk_, dv_);
        detail::check_queries(who, q, out, heads_, dk_, dv_);
        detail::require(q.tokens() == n, "streaming_cache::step: q has ", q.tokens(), " tokens but the chunk has ", n);
        // Everything the call needs is checked before the ring changes: a bad call throws with the cache intact.
        detail::check_step(who, q, k, v, out, opt);
        detail::check_step_storage(who, q, out, opt, k_, v_);
        detail::check_not_storage(who, k, "k", k_, v_);
        detail::check_not_storage(who, v, "v", k_, v_);
        detail::require_no_mask<Var>(who);
        const index_t held = size(), total = detail::checked_add(held, n, "streaming_cache::step: held + chunk tokens");
        detail::check_variant(who, var, detail::step_problem(q, k, v, out, opt), n == 1 ? (held < slots_ ? held + 1 : held) : total, opt);
        // A score modifier reads positions: the keys go in position order (the scratch below) with
        // their history positions as ids, the new tokens last (the kernel's queries are its last keys).
        constexpr bool positioned = !detail::is_none_v<typename as_variant<Var>::type::score_type>;
        if (positioned)
            detail::require(seen_ + n <= positioned_score<no_score>::max_id + 1, who, ": history positions reach ", seen_ + n,
                            ", past the score modifier's position limit ", positioned_score<no_score>::max_id);
        if (n == 1 && !positioned) {  // decode: every held key is visible to the new token
            commit(k, v, 1);
            try {
                attention<Arch>(tensor_view<const Q>(q), keys(), values(), out, var, opt, exec);
            } catch (...) {  // a user's executor (or the kernel) threw: the ring goes back as it was
                undo();
                throw;
            }
            return;
        }
        // Old cache in position order, then the chunk, in scratch: sinks_window(S, R) over it.
        detail::checked_resize(sk_, detail::checked_product("streaming_cache::step: heads × tokens × dk", heads_, total, kb_),
                               "streaming_cache::step: heads × tokens × dk");
        detail::checked_resize(sv_, detail::checked_product("streaming_cache::step: heads × tokens × dv", heads_, total, vb_),
                               "streaming_cache::step: heads × tokens × dv");
        rows::reserve_widening(wide_, dk_, dv_, "streaming_cache: a widened row");
        std::vector<index_t>& order = order_;
        detail::checked_assign(order, held, index_t{0}, "streaming_cache::step: held tokens");
        for (index_t s = 0; s < held; ++s) order[static_cast<std::size_t>(cache_position(s))] = s;
        for (index_t h = 0; h < heads_; ++h) {
            for (index_t r = 0; r < held; ++r) {
                const index_t s = order[static_cast<std::size_t>(r)];
                detail::copy_row(key_slot(h, s), sk_.data() + (h * total + r) * kb_, kb_);
                detail::copy_row(value_slot(h, s), sv_.data() + (h * total + r) * vb_, vb_);
            }
            for (index_t t = 0; t < n; ++t) {
                rows::write(kf_, h, k.row(0, h, t), sk_.data() + (h * total + held + t) * kb_, dk_, wide_.data());
                rows::write(vf_, h, v.row(0, h, t), sv_.data() + (h * total + held + t) * vb_, dv_, wide_.data());
            }
        }
        if (positioned) {
            detail::checked_resize(ids_, total, "streaming_cache::step: held + chunk tokens");
            for (index_t r = 0; r < held; ++r)
                ids_[static_cast<std::size_t>(r)] = static_cast<std::int32_t>(position(order[static_cast<std::size_t>(r)]));
            for (index_t t = 0; t < n; ++t) ids_[static_cast<std::size_t>(held + t)] = static_cast<std::int32_t>(seen_ + t);
        }
        const auto kk = rows::view(kf_, sk_.data(), {1, heads_, total, dk_}, {heads_ * total * kb_, total * kb_, kb_});
        const auto vv = rows::view(vf_, sv_.data(), {1, heads_, total, dv_}, {heads_ * total * vb_, total * vb_, vb_});
        attention<Arch>(tensor_view<const Q>(q), kk, vv, out,
                        detail::with_score_positions(detail::with_cache_mask(var, sinks_window(sinks_, recent_)),
                                                     positioned ? position_ids::shared(ids_.data(), total) : position_ids()),
                        opt, exec);
        commit(k, v, n);  // the cache changes only once the attention succeeded
    }
    /// The older form, step(q, k, v, out, options, executor): the default variant.
    template <class Arch = default_arch, class Q, class K, class V, class O, class Exec = default_executor>
    void step(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const tensor_view<O>& out, const options& opt,
              const Exec& exec = {}) {
        step<Arch>(q, k, v, out, variant<>{}, opt, exec);
    }

    /// Forgets every token.
    void clear() noexcept { seen_ = 0; }

private:
    template <class>
    friend class duo_cache;

    streaming_cache(index_t heads, index_t dk, index_t dv, index_t sinks, index_t recent, T k_format, T v_format, int)
        : heads_(heads), dk_(dk), dv_(dv), sinks_(sinks), recent_(recent), kf_(k_format), vf_(v_format) {
        detail::require(heads > 0 && dk > 0 && dv > 0, "streaming_cache: heads (", heads, "), dk (", dk, ") and dv (", dv, ") must be ≥ 1");
        detail::require(sinks >= 0 && recent >= 1, "streaming_cache: sinks (", sinks, ") must be ≥ 0 and recent (", recent, ") ≥ 1");
        if constexpr (quantized) {
            kf_.check(heads, dk, "streaming_cache: key format");
            vf_.check(heads, dv, "streaming_cache: value format");
        }
        kb_ = rows::elems(dk);
        vb_ = rows::elems(dv);
        slots_ = detail::checked_add(sinks, recent, "streaming_cache: sinks + recent");
        detail::checked_assign(k_, detail::checked_product("streaming_cache: heads × (sinks + recent) × dk", heads, slots_, kb_), element{},
                               "streaming_cache: heads × (sinks + recent) × dk");
        detail::checked_assign(v_, detail::checked_product("streaming_cache: heads × (sinks + recent) × dv", heads, slots_, vb_), element{},
                               "streaming_cache: heads × (sinks + recent) × dv");
    }

    index_t slot_of(index_t pos) const noexcept { return pos < sinks_ ? pos : sinks_ + (pos - sinks_) % recent_; }

    // Writes n checked tokens into their slots, first saving what undo() needs: seen() and every
    // held slot the chunk overwrites (at most S + R distinct slots, whatever n). The saving
    // allocates before anything changes; the writes cannot throw.
    template <class K, class V>
    void commit(const tensor_view<K>& k, const tensor_view<V>& v, index_t n) {
        detail::require(n <= detail::index_max - seen_, "streaming_cache: seen tokens overflow (", seen_, " + ", n, ")");
        const index_t held = size();
        const index_t fresh_sinks = seen_ < sinks_ ? sinks_ - seen_ : 0;
        const index_t distinct = n < fresh_sinks + recent_ ? n : fresh_sinks + recent_;  // positions with distinct slots
        index_t saved = 0;
        for (index_t t = 0; t < distinct; ++t) saved += slot_of(seen_ + t) < held ? 1 : 0;
        detail::checked_resize(undo_slots_, saved, "streaming_cache: undo slots");
        detail::checked_resize(undo_k_, detail::checked_product("streaming_cache: undo keys", saved, heads_, kb_),
                               "streaming_cache: undo keys");
        detail::checked_resize(undo_v_, detail::checked_product("streaming_cache: undo values", saved, heads_, vb_),
                               "streaming_cache: undo values");
        rows::reserve_widening(wide_, dk_, dv_, "streaming_cache: a widened row");
        index_t i = 0;
        for (index_t t = 0; t < distinct; ++t) {
            const index_t s = slot_of(seen_ + t);
            if (s >= held) continue;
            undo_slots_[static_cast<std::size_t>(i)] = s;
            for (index_t h = 0; h < heads_; ++h) {
                detail::copy_row(key_slot(h, s), undo_k_.data() + (i * heads_ + h) * kb_, kb_);
                detail::copy_row(value_slot(h, s), undo_v_.data() + (i * heads_ + h) * vb_, vb_);
            }
            ++i;
        }
        undo_seen_ = seen_;
        for (index_t t = 0; t < n; ++t) {
            const index_t s = slot_of(seen_ + t);
            for (index_t h = 0; h < heads_; ++h) {
                rows::write(kf_, h, k.row(0, h, t), key_slot(h, s), dk_, wide_.data());
                rows::write(vf_, h, v.row(0, h, t), value_slot(h, s), dv_, wide_.data());
            }
        }
        seen_ += n;
    }
    // Puts the cache back as it was before the last commit (slots past the old size need no restoring).
    void undo() noexcept {
        for (std::size_t i = 0; i < undo_slots_.size(); ++i) {
            const index_t s = undo_slots_[i], j = static_cast<index_t>(i);
            for (index_t h = 0; h < heads_; ++h) {
                detail::copy_row(undo_k_.data() + (j * heads_ + h) * kb_, key_slot(h, s), kb_);
                detail::copy_row(undo_v_.data() + (j * heads_ + h) * vb_, value_slot(h, s), vb_);
            }
        }
        seen_ = undo_seen_;
    }

    element* key_slot(index_t h, index_t s) noexcept { return k_.data() + (h * slots_ + s) * kb_; }
    element* value_slot(index_t h, index_t s) noexcept { return v_.data() + (h * slots_ + s) * vb_; }
    const element* key_slot(index_t h, index_t s) const noexcept { return k_.data() + (h * slots_ + s) * kb_; }
    const element* value_slot(index_t h, index_t s) const noexcept { return v_.data() + (h * slots_ + s) * vb_; }

    index_t heads_, dk_, dv_, sinks_, recent_, slots_ = 0;
    index_t kb_ = 0, vb_ = 0;  // elements a key / value row takes (bytes for a quantized T)
    index_t seen_ = 0;
    T kf_{}, vf_{};  // a quantized T's formats (unused for element types)
    std::vector<element> k_, v_;
    std::vector<std::int32_t> rank_;        // rotated_keys: each slot's cache position
    std::vector<float> values_;             // rotated_keys: quantized keys' values
    std::vector<float> wide_;               // a bf16 / half row widened before quantization
    std::vector<element> sk_, sv_;          // chunk scratch (prefill only)
    std::vector<index_t> order_;            // slots in position order (prefill only)
    std::vector<std::int32_t> ids_;         // the scratch's history positions (score modifiers)
    std::vector<index_t> undo_slots_;       // what undo() restores: the slots the last commit overwrote,
    std::vector<element> undo_k_, undo_v_;  // their old rows,
    index_t undo_seen_ = 0;                 // and seen() before it
};

}  // namespace attune
