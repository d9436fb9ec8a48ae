#pragma once
// streaming_cache<T>: StreamingLLM's cache (SPEC.md §4 sinks + window, §6): the first S tokens (the
// attention sinks) plus a ring of the last R tokens, heads × (S + R) × dim whatever the history's
// length, so decode time and memory stay flat.
//
//   attune::streaming_cache<float> cache(/*heads*/ 8, /*dk*/ 128, /*dv*/ 128, /*sinks*/ 4, /*recent*/ 1024);
//   cache.step(q, k_new, v_new, out);   // append n tokens, attend their n queries
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
// Slots: slot s < S holds token s; the ring slots S .. S + R − 1 hold tokens t ≥ S at S + (t − S) mod R.
// position(s) is a slot's token position in the history; cache_position(s) its rank 0..size−1 in
// position order — the re-indexed positions StreamingLLM applies RoPE with (keys cached before
// RoPE; the query then sits at size − 1 after its own append).
#include <type_traits>
#include <vector>

#include "attune/attention.hpp"
#include "attune/cache/chunk.hpp"
#include "attune/core/error.hpp"
#include "attune/core/view.hpp"
#include "attune/mask/sinks_window.hpp"

namespace attune {

template <class T = float>
class streaming_cache {
    static_assert(is_storage_type_v<T>, "attune::streaming_cache: storage must be float, bf16 or half");

public:
    using value_type = T;

    streaming_cache(index_t heads, index_t dk, index_t dv, index_t sinks, index_t recent)
        : heads_(heads), dk_(dk), dv_(dv), sinks_(sinks), recent_(recent) {
        detail::require(heads > 0 && dk > 0 && dv > 0, "streaming_cache: heads (", heads, "), dk (", dk, ") and dv (", dv,
                        ") must be ≥ 1");
        detail::require(sinks >= 0 && recent >= 1, "streaming_cache: sinks (", sinks, ") must be ≥ 0 and recent (", recent, ") ≥ 1");
        k_.resize(static_cast<std::size_t>(heads * slots() * dk));
        v_.resize(static_cast<std::size_t>(heads * slots() * dv));
    }

    index_t heads() const noexcept { return heads_; }
    index_t dk() const noexcept { return dk_; }
    index_t dv() const noexcept { return dv_; }
    index_t sinks() const noexcept { return sinks_; }
    index_t recent() const noexcept { return recent_; }
    index_t slots() const noexcept { return sinks_ + recent_; }     // the constant capacity
    index_t seen() const noexcept { return seen_; }                 // tokens appended so far
    index_t size() const noexcept { return seen_ < slots() ? seen_ : slots(); }  // tokens held
    std::size_t bytes() const noexcept { return (k_.size() + v_.size()) * sizeof(T); }

    // The held tokens as [1, heads, size, dim] views, in slot order (not position order).
    tensor_view<const T> keys() const {
        return tensor_view<const T>(k_.data(), {1, heads_, size(), dk_}, {heads_ * slots() * dk_, slots() * dk_, dk_});
    }
    tensor_view<const T> values() const {
        return tensor_view<const T>(v_.data(), {1, heads_, size(), dv_}, {heads_ * slots() * dv_, slots() * dv_, dv_});
    }

    // The history position of the token in slot s (s < size()).
    index_t position(index_t s) const {
        detail::require(s >= 0 && s < size(), "streaming_cache::position: slot ", s, " outside the ", size(), " held");
        if (s < sinks_) return s;
        // Ring tokens are t ≥ S; the newest, seen − 1, sits in slot S + (seen − 1 − S) mod R.
        const index_t newest = seen_ - 1, newest_slot = sinks_ + (newest - sinks_) % recent_;
        const index_t back = (newest_slot - s + recent_) % recent_;  // how many ring tokens are newer
        return newest - back;
    }
    // The slot's rank in position order, 0..size−1: the position RoPE is re-applied with.
    index_t cache_position(index_t s) const {
        const index_t p = position(s);
        if (p < sinks_) return p;
        const index_t oldest_ring = seen_ - (size() - (sinks_ < seen_ ? sinks_ : seen_));
        return sinks_ + (p - oldest_ring);
    }
    // All slots' history positions and cache positions (size() each).
    void positions(std::vector<index_t>& history, std::vector<index_t>& in_cache) const {
        history.resize(static_cast<std::size_t>(size()));
        in_cache.resize(static_cast<std::size_t>(size()));
        for (index_t s = 0; s < size(); ++s) {
            history[static_cast<std::size_t>(s)] = position(s);
            in_cache[static_cast<std::size_t>(s)] = cache_position(s);
        }
    }

    // Appends n tokens (k [1, heads, n, dk], v [1, heads, n, dv]); with n > R the chunk's own
    // earlier tokens leave the ring again.
    template <class K, class V>
    void append(const tensor_view<K>& k, const tensor_view<V>& v) {
        const index_t n = detail::check_chunk("streaming_cache::append", k, v, heads_, dk_, dv_);
        for (index_t t = 0; t < n; ++t) {
            const index_t pos = seen_ + t;
            const index_t s = pos < sinks_ ? pos : sinks_ + (pos - sinks_) % recent_;
            for (index_t h = 0; h < heads_; ++h) {
                detail::copy_row(k.row(0, h, t), key_slot(h, s), dk_);
                detail::copy_row(v.row(0, h, t), value_slot(h, s), dv_);
            }
        }
        seen_ += n;
    }

    // Appends the chunk's n tokens and writes the attention of its n queries (q [1, Hq, n, dk],
    // out [1, Hq, n, dv], Hq a multiple of heads) under sinks + window over the whole history.
    template <class Arch = default_arch, class Q, class K, class V, class O, class Exec = default_executor>
    void step(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const tensor_view<O>& out,
              const options& opt = {}, const Exec& exec = {}) {
        const index_t n = detail::check_chunk("streaming_cache::step", k, v, heads_, dk_, dv_);
        detail::check_queries("streaming_cache::step", q, out, heads_, dk_, dv_);
        detail::require(q.tokens() == n, "streaming_cache::step: q has ", q.tokens(), " tokens but the chunk has ", n);
        if (n == 1) {  // decode: every held key is visible to the new token
            // The call is checked on the views it will see before the ring changes, so a bad call
            // (an LSE of the wrong shape, out overlapping the cache…) throws with the cache intact.
            const index_t after = seen_ + 1 < slots() ? seen_ + 1 : slots();
            const tensor_view<const T> k_after(k_.data(), {1, heads_, after, dk_}, {heads_ * slots() * dk_, slots() * dk_, dk_});
            const tensor_view<const T> v_after(v_.data(), {1, heads_, after, dv_}, {heads_ * slots() * dv_, slots() * dv_, dv_});
            (void)detail::make_problem<std::remove_const_t<Q>, T, T, O>(tensor_view<const Q>(q), k_after, v_after, out, opt);
            append(k, v);
            attention<Arch>(tensor_view<const Q>(q), keys(), values(), out, variant<>{}, opt, exec);
            return;
        }
        // Old cache in position order, then the chunk, in scratch: sinks_window(S, R) over it.
        const index_t held = size(), total = held + n;
        sk_.resize(static_cast<std::size_t>(heads_ * total * dk_));
        sv_.resize(static_cast<std::size_t>(heads_ * total * dv_));
        std::vector<index_t>& order = order_;
        order.assign(static_cast<std::size_t>(held), 0);
        for (index_t s = 0; s < held; ++s) order[static_cast<std::size_t>(cache_position(s))] = s;
        for (index_t h = 0; h < heads_; ++h) {
            for (index_t r = 0; r < held; ++r) {
                const index_t s = order[static_cast<std::size_t>(r)];
                detail::copy_row(key_slot(h, s), sk_.data() + (h * total + r) * dk_, dk_);
                detail::copy_row(value_slot(h, s), sv_.data() + (h * total + r) * dv_, dv_);
            }
            for (index_t t = 0; t < n; ++t) {
                detail::copy_row(k.row(0, h, t), sk_.data() + (h * total + held + t) * dk_, dk_);
                detail::copy_row(v.row(0, h, t), sv_.data() + (h * total + held + t) * dv_, dv_);
            }
        }
        const tensor_view<const T> kk(sk_.data(), {1, heads_, total, dk_}, {heads_ * total * dk_, total * dk_, dk_});
        const tensor_view<const T> vv(sv_.data(), {1, heads_, total, dv_}, {heads_ * total * dv_, total * dv_, dv_});
        attention<Arch>(tensor_view<const Q>(q), kk, vv, out, variant<sinks_window>(sinks_window(sinks_, recent_)), opt, exec);
        append(k, v);
    }

    void clear() noexcept { seen_ = 0; }

private:
    T* key_slot(index_t h, index_t s) noexcept { return k_.data() + (h * slots() + s) * dk_; }
    T* value_slot(index_t h, index_t s) noexcept { return v_.data() + (h * slots() + s) * dv_; }
    const T* key_slot(index_t h, index_t s) const noexcept { return k_.data() + (h * slots() + s) * dk_; }
    const T* value_slot(index_t h, index_t s) const noexcept { return v_.data() + (h * slots() + s) * dv_; }

    index_t heads_, dk_, dv_, sinks_, recent_;
    index_t seen_ = 0;
    std::vector<T> k_, v_;
    std::vector<T> sk_, sv_;     // chunk scratch (prefill only)
    std::vector<index_t> order_;  // slots in position order (prefill only)
};

}  // namespace attune
