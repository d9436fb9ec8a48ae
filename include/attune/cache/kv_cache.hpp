#pragma once
// kv_cache<T>: the plain, growable KV cache of one sequence, heads × tokens × dim, storage T (float,
// bf16 or half; appended chunks of any storage type are converted).
//
//   attune::kv_cache<attune::bf16> cache(/*heads*/ 8, /*dk*/ 128, /*dv*/ 128);
//   cache.append(k_new, v_new);                       // k_new: [1, 8, n, 128], v_new: [1, 8, n, 128]
//   attune::attention(q, cache.keys(), cache.values(), out, attune::causal{});
//
// keys()/values() are [1, heads, tokens, dim] views (head stride = capacity·dim) valid until the
// next append that grows the storage. Storage doubles when full (amortised O(1) per token); with
// `max_tokens` set, appending past it throws attune::error instead (a fixed memory budget).
#include <vector>

#include "attune/cache/chunk.hpp"
#include "attune/core/error.hpp"
#include "attune/core/view.hpp"
#include "attune/mask/interval.hpp"

namespace attune {

template <class T = float>
class kv_cache {
    static_assert(is_storage_type_v<T>, "attune::kv_cache: storage must be float, bf16 or half");

public:
    using value_type = T;

    kv_cache(index_t heads, index_t dk, index_t dv, index_t max_tokens = unbounded, index_t reserve = 0)
        : heads_(heads), dk_(dk), dv_(dv), max_tokens_(max_tokens) {
        detail::require(heads > 0 && dk > 0 && dv > 0, "kv_cache: heads (", heads, "), dk (", dk, ") and dv (", dv, ") must be ≥ 1");
        detail::require(max_tokens >= 0 && reserve >= 0, "kv_cache: max_tokens and reserve must be ≥ 0");
        grow(reserve < max_tokens ? reserve : max_tokens);
    }

    index_t heads() const noexcept { return heads_; }
    index_t dk() const noexcept { return dk_; }
    index_t dv() const noexcept { return dv_; }
    index_t tokens() const noexcept { return tokens_; }
    index_t capacity() const noexcept { return capacity_; }
    index_t max_tokens() const noexcept { return max_tokens_; }

    // Appends n tokens: k [1, heads, n, dk], v [1, heads, n, dv], any storage type and strides.
    template <class K, class V>
    void append(const tensor_view<K>& k, const tensor_view<V>& v) {
        const index_t n = detail::check_chunk("kv_cache::append", k, v, heads_, dk_, dv_);
        detail::require(n <= max_tokens_ - tokens_, "kv_cache::append: capacity exceeded: ", tokens_, " tokens + ", n,
                        " appended > max_tokens ", max_tokens_);
        if (tokens_ + n > capacity_) {
            index_t c = capacity_ > 0 ? capacity_ : 16;
            while (c < tokens_ + n) c *= 2;
            grow(c < max_tokens_ ? c : max_tokens_);
        }
        for (index_t h = 0; h < heads_; ++h)
            for (index_t t = 0; t < n; ++t) {
                detail::copy_row(k.row(0, h, t), key_row(h, tokens_ + t), dk_);
                detail::copy_row(v.row(0, h, t), value_row(h, tokens_ + t), dv_);
            }
        tokens_ += n;
    }

    void clear() noexcept { tokens_ = 0; }

    // [1, heads, tokens, dk] and [1, heads, tokens, dv] over the cache's storage.
    tensor_view<const T> keys() const { return keys(0, tokens_); }
    tensor_view<const T> values() const { return values(0, tokens_); }
    // Tokens [first, first + n) only (e.g. the part of a cascade).
    tensor_view<const T> keys(index_t first, index_t n) const {
        detail::require(first >= 0 && n >= 0 && first + n <= tokens_, "kv_cache::keys: tokens [", first, ", ", first + n,
                        ") outside the cache's ", tokens_);
        return tensor_view<const T>(k_.data() + first * dk_, {1, heads_, n, dk_}, {heads_ * capacity_ * dk_, capacity_ * dk_, dk_});
    }
    tensor_view<const T> values(index_t first, index_t n) const {
        detail::require(first >= 0 && n >= 0 && first + n <= tokens_, "kv_cache::values: tokens [", first, ", ", first + n,
                        ") outside the cache's ", tokens_);
        return tensor_view<const T>(v_.data() + first * dv_, {1, heads_, n, dv_}, {heads_ * capacity_ * dv_, capacity_ * dv_, dv_});
    }

    T* key_row(index_t h, index_t t) noexcept { return k_.data() + (h * capacity_ + t) * dk_; }
    T* value_row(index_t h, index_t t) noexcept { return v_.data() + (h * capacity_ + t) * dv_; }
    const T* key_row(index_t h, index_t t) const noexcept { return k_.data() + (h * capacity_ + t) * dk_; }
    const T* value_row(index_t h, index_t t) const noexcept { return v_.data() + (h * capacity_ + t) * dv_; }

private:
    // Re-lays the heads out for a new capacity (heads × capacity × dim keeps each head contiguous).
    void grow(index_t capacity) {
        if (capacity <= capacity_) return;
        std::vector<T> k(static_cast<std::size_t>(heads_ * capacity * dk_)), v(static_cast<std::size_t>(heads_ * capacity * dv_));
        for (index_t h = 0; h < heads_; ++h) {
            detail::copy_row(key_row(h, 0), k.data() + h * capacity * dk_, tokens_ * dk_);
            detail::copy_row(value_row(h, 0), v.data() + h * capacity * dv_, tokens_ * dv_);
        }
        k_.swap(k);
        v_.swap(v);
        capacity_ = capacity;
    }

    index_t heads_, dk_, dv_, max_tokens_;
    index_t tokens_ = 0, capacity_ = 0;
    std::vector<T> k_, v_;
};

}  // namespace attune
