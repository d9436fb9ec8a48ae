#pragma once
// kv_cache<T>: the plain, growable KV cache of one sequence, heads × tokens × dim, storage T (float,
// bf16 or half; appended chunks of any storage type are converted).
//
//   attune::kv_cache<attune::bf16> cache(/*heads*/ 8, /*dk*/ 128, /*dv*/ 128);
//   cache.append(k_new, v_new);                       // k_new: [1, 8, n, 128], v_new: [1, 8, n, 128]
//   attune::attention(q, cache.keys(), cache.values(), out, attune::causal{});
//   cache.step(q, k_new, v_new, out, attune::softcap{30});   // append, then a causal step over the history
//
// keys()/values() are [1, heads, tokens, dim] views (head stride = capacity·dim) valid until the
// next append that grows the storage. Storage doubles when full (amortised O(1) per token); with
// `max_tokens` set, appending past it throws attune::error instead (a fixed memory budget).
// Every operation leaves the cache unchanged when it throws (sizes are checked before allocating).
#include <vector>

#include "attune/cache/chunk.hpp"
#include "attune/cache/interface.hpp"
#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/types.hpp"
#include "attune/core/view.hpp"
#include "attune/mask/causal.hpp"

namespace attune {

/// kv_cache's options (cache/interface.hpp).
struct kv_cache_options {
    index_t max_tokens = unbounded;  ///< the most tokens the cache accepts (a fixed memory budget)
    index_t reserve = 0;             ///< tokens allocated up front
};

/// The plain, growable KV cache of one sequence: heads × tokens × dim in storage T (float, bf16 or
/// half). Storage doubles when full; with `max_tokens` set, appending past it throws attune::error.
template <class T = float>
class kv_cache {
    static_assert(is_storage_type_v<T>, "attune::kv_cache: storage must be float, bf16 or half");

public:
    using value_type = T;  ///< the storage type

    /// An empty cache of `heads` kv heads with key dim `dk` and value dim `dv`, holding at most
    /// `max_tokens` tokens (a fixed memory budget; unbounded by default), with room for `reserve`
    /// tokens allocated up front.
    kv_cache(index_t heads, index_t dk, index_t dv, index_t max_tokens = unbounded, index_t reserve = 0)
        : heads_(heads), dk_(dk), dv_(dv), max_tokens_(max_tokens) {
        detail::require(heads > 0 && dk > 0 && dv > 0, "kv_cache: heads (", heads, "), dk (", dk, ") and dv (", dv, ") must be ≥ 1");
        detail::require(max_tokens >= 0, "kv_cache: max_tokens (", max_tokens, ") must be ≥ 0");
        detail::require(reserve >= 0, "kv_cache: reserve (", reserve, ") must be ≥ 0");
        // One token of every head must be addressable, whatever the capacity becomes.
        (void)detail::checked_product("kv_cache: heads × dk", heads, dk);
        (void)detail::checked_product("kv_cache: heads × dv", heads, dv);
        grow<T, T>(reserve < max_tokens ? reserve : max_tokens, "kv_cache: reserve", nullptr, nullptr);
    }

    /// An empty cache of `heads` kv heads with key dim `dk` and value dim `dv`, with options `o`.
    kv_cache(index_t heads, index_t dk, index_t dv, const kv_cache_options& o) : kv_cache(heads, dk, dv, o.max_tokens, o.reserve) {}

    index_t heads() const noexcept { return heads_; }            ///< kv heads
    index_t dk() const noexcept { return dk_; }                  ///< key head dim
    index_t dv() const noexcept { return dv_; }                  ///< value head dim
    index_t tokens() const noexcept { return tokens_; }          ///< tokens held
    index_t capacity() const noexcept { return capacity_; }      ///< tokens the storage holds before it grows
    index_t max_tokens() const noexcept { return max_tokens_; }  ///< the most tokens the cache accepts

    /// Appends n tokens: k [1, heads, n, dk], v [1, heads, n, dv], any storage type and strides.
    /// k and v may be views of this cache's own tokens (they are read before old storage is freed).
    template <class K, class V>
    void append(const tensor_view<K>& k, const tensor_view<V>& v) {
        const index_t n = detail::check_chunk("kv_cache::append", k, v, heads_, dk_, dv_);
        detail::require(n <= max_tokens_ - tokens_, "kv_cache::append: capacity exceeded: ", tokens_, " tokens + ", n,
                        " appended > max_tokens ", max_tokens_);
        const index_t need = tokens_ + n;  // ≤ max_tokens: no overflow
        if (need > capacity_) {
            index_t c = capacity_ > 0 ? capacity_ : 16;
            while (c < need) c = c > detail::index_max / 2 ? need : c * 2;
            grow(c < max_tokens_ ? c : max_tokens_, "kv_cache::append: heads × capacity × dim", &k, &v);
        } else {
            write(k, v, k_.data(), v_.data(), capacity_);
        }
        tokens_ = need;
    }

    /// Appends the chunk (k [1, heads, n, dk], v [1, heads, n, dv]) and writes the attention of its n
    /// queries q [1, Hq, n, dk] into out [1, Hq, n, dv] (Hq a multiple of heads): a causal step over
    /// the whole history, under `var` (its mask, if any, composed with causal; positions are the
    /// history's), options `opt`, on executor `exec`. A throwing call leaves the cache as it was.
    template <class Arch = default_arch, class Q, class K, class V, class O, class Var = variant<>, class Exec = default_executor,
              std::enable_if_t<detail::is_step_variant_v<Var>, int> = 0>
    void step(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const tensor_view<O>& out, const Var& var = {},
              const options& opt = {}, const Exec& exec = {}) {
        static constexpr const char* who = "kv_cache::step";
        const index_t n = detail::check_chunk(who, k, v, heads_, dk_, dv_);
        detail::check_queries(who, q, out, heads_, dk_, dv_);
        detail::require(q.tokens() == n, who, ": q has ", q.tokens(), " tokens but the chunk has ", n);
        detail::require(n <= max_tokens_ - tokens_, who, ": capacity exceeded: ", tokens_, " tokens + ", n, " appended > max_tokens ",
                        max_tokens_);
        // Everything is checked before the cache changes (the growth's allocation is append's own).
        detail::check_step(who, q, k, v, out, opt);
        detail::check_step_storage(who, q, out, opt, k_, v_);
        detail::check_variant(who, var, detail::step_problem(q, k, v, out, opt), tokens_ + n, opt);
        const auto full = detail::with_cache_mask(var, causal{});
        const index_t before = tokens_;
        append(k, v);
        try {
            attention<Arch>(tensor_view<const Q>(q), keys(), values(), out, full, opt, exec);
        } catch (...) {  // a user's executor or policy threw: the appended rows go (the storage may have grown)
            truncate(before);
            throw;
        }
    }
    /// The older form, step(q, k, v, out, options, executor): the default variant.
    template <class Arch = default_arch, class Q, class K, class V, class O, class Exec = default_executor>
    void step(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const tensor_view<O>& out, const options& opt,
              const Exec& exec = {}) {
        step<Arch>(q, k, v, out, variant<>{}, opt, exec);
    }

    /// Forgets every token; the storage stays allocated.
    void clear() noexcept { tokens_ = 0; }

    /// The keys as a [1, heads, tokens, dk] view over the cache's storage, valid until an append
    /// grows it.
    tensor_view<const T> keys() const { return keys(0, tokens_); }
    /// The values as a [1, heads, tokens, dv] view, valid until an append grows the storage.
    tensor_view<const T> values() const { return values(0, tokens_); }
    /// The keys of tokens [first, first + n) only (one part of a cascade, say).
    tensor_view<const T> keys(index_t first, index_t n) const {
        check_range("kv_cache::keys", first, n);
        return tensor_view<const T>(k_.data() + first * dk_, {1, heads_, n, dk_}, {heads_ * capacity_ * dk_, capacity_ * dk_, dk_});
    }
    /// The values of tokens [first, first + n) only.
    tensor_view<const T> values(index_t first, index_t n) const {
        check_range("kv_cache::values", first, n);
        return tensor_view<const T>(v_.data() + first * dv_, {1, heads_, n, dv_}, {heads_ * capacity_ * dv_, capacity_ * dv_, dv_});
    }

    /// Row t of head h of the keys, t < capacity() (checked: a row outside the storage is an
    /// attune::error).
    T* key_row(index_t h, index_t t) { return k_.data() + (check_row("kv_cache::key_row", h, t) * capacity_ + t) * dk_; }
    /// Row t of head h of the values, t < capacity() (checked).
    T* value_row(index_t h, index_t t) { return v_.data() + (check_row("kv_cache::value_row", h, t) * capacity_ + t) * dv_; }
    /// Read-only row t of head h of the keys (checked).
    const T* key_row(index_t h, index_t t) const { return k_.data() + (check_row("kv_cache::key_row", h, t) * capacity_ + t) * dk_; }
    /// Read-only row t of head h of the values (checked).
    const T* value_row(index_t h, index_t t) const { return v_.data() + (check_row("kv_cache::value_row", h, t) * capacity_ + t) * dv_; }

private:
    template <class>
    friend class duo_cache;

    void check_range(const char* who, index_t first, index_t n) const {
        detail::require(first >= 0 && n >= 0 && first <= tokens_ && n <= tokens_ - first, who, ": first (", first, ") and n (", n,
                        ") select tokens outside the cache's [0, ", tokens_, ")");
    }
    index_t check_row(const char* who, index_t h, index_t t) const {
        detail::require(h >= 0 && h < heads_ && t >= 0 && t < capacity_, who, ": (head ", h, ", token ", t, ") outside [0, ", heads_,
                        ") × [0, ", capacity_, ")");
        return h;
    }

    // Copies the chunk into rows [tokens_, tokens_ + n) of storage of the given capacity.
    template <class K, class V>
    void write(const tensor_view<K>& k, const tensor_view<V>& v, T* kd, T* vd, index_t capacity) {
        for (index_t h = 0; h < heads_; ++h)
            for (index_t t = 0; t < k.tokens(); ++t) {
                detail::copy_row(k.row(0, h, t), kd + (h * capacity + tokens_ + t) * dk_, dk_);
                detail::copy_row(v.row(0, h, t), vd + (h * capacity + tokens_ + t) * dv_, dv_);
            }
    }

    // Re-lays the heads out for a new capacity (heads × capacity × dim keeps each head contiguous)
    // and writes the chunk (if any) into it before the old storage goes, so a chunk read from this
    // cache stays valid; the sizes are checked and nothing changes if the allocation fails.
    template <class K = T, class V = T>
    void grow(index_t capacity, const char* what, const tensor_view<K>* k, const tensor_view<V>* v) {
        if (capacity <= capacity_) return;
        std::vector<T> nk, nv;
        detail::checked_assign(nk, detail::checked_product(what, heads_, capacity, dk_), T{}, what);
        detail::checked_assign(nv, detail::checked_product(what, heads_, capacity, dv_), T{}, what);
        // Head by head with running pointers: the products were checked above, and GCC 12 cannot see
        // that through h · capacity · dk (it warns of an overflow at constant huge shapes).
        const T *ks = k_.data(), *vs = v_.data();
        T *kd = nk.data(), *vd = nv.data();
        for (index_t h = 0; h < heads_; ++h, ks += capacity_ * dk_, vs += capacity_ * dv_, kd += capacity * dk_, vd += capacity * dv_) {
            detail::copy_row(ks, kd, tokens_ * dk_);
            detail::copy_row(vs, vd, tokens_ * dv_);
        }
        if (k != nullptr) write(*k, *v, nk.data(), nv.data(), capacity);
        k_.swap(nk);
        v_.swap(nv);
        capacity_ = capacity;
    }

    // Undoes appends back to `tokens` (the rows past it were only added, never overwritten).
    void truncate(index_t tokens) noexcept { tokens_ = tokens; }

    index_t heads_, dk_, dv_, max_tokens_;
    index_t tokens_ = 0, capacity_ = 0;
    std::vector<T> k_, v_;
};

}  // namespace attune
