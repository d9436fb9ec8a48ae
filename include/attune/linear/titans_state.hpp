#pragma once
// The state of Titans' neural long-term memory (Behrouz, Zhong & Mirrokni, "Titans: Learning to
// Memorize at Test Time", 2024, §3.1): per (batch, kv head) the memory's parameters M and their
// momentum ("surprise") S of Eq. 10, S_t = η_t S_{t−1} − θ_t ∇ℓ(M_{t−1}; x_t).
//
//   hidden == 0   linear memory   M(x) = W x,            W [dv][dk]
//   hidden  > 0   2-layer MLP     M(x) = W2 σ(W1 x),     W1 [hidden][dk], then W2 [dv][hidden]
//
// Both weights and momentum are row-major [out][in] float arrays in that order (no padding), so a
// user sets M_0 (the memory's learned initial parameters, §3.1) by writing weights(b, h) directly.
// A zero MLP never learns (with W1 = W2 = 0 and σ(0) = 0 every gradient is 0), so M_0 matters there. It is a value:
// copying it saves it.
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/types.hpp"

namespace attune::linear {

/// Titans' memory parameters M and momentum S per (batch, kv head); see the top of this file.
class titans_state {
public:
    /// A shapeless state (the Titans entry points refuse it).
    titans_state() = default;
    /// The zero state for `batch` × `kv_heads` heads, key dim `dk`, value dim `dv`, and MLP width
    /// `hidden` (0: the linear memory).
    titans_state(index_t batch, index_t kv_heads, index_t dk, index_t dv, index_t hidden = 0)
        : batch_(batch), heads_(kv_heads), dk_(dk), dv_(dv), hidden_(hidden) {
        const char* what = "linear::titans_state";
        attune::detail::require(batch > 0 && kv_heads > 0 && dk > 0 && dv > 0 && hidden >= 0, what, ": batch (", batch, "), kv heads (",
                                kv_heads, "), dk (", dk, ") and dv (", dv, ") must be > 0 and hidden (", hidden, ") ≥ 0");
        per_ = hidden == 0 ? attune::detail::checked_product(what, dk, dv)
                           : attune::detail::checked_add(attune::detail::checked_product(what, hidden, dk),
                                                         attune::detail::checked_product(what, dv, hidden), what);
        const index_t n = attune::detail::checked_product(what, batch, kv_heads, per_, 2);
        attune::detail::checked_assign(data_, n, 0.0f, what);
    }

    index_t batch() const noexcept { return batch_; }      ///< batch size
    index_t heads() const noexcept { return heads_; }      ///< kv heads
    index_t dk() const noexcept { return dk_; }            ///< key (memory input) dim
    index_t dv() const noexcept { return dv_; }            ///< value (memory output) dim
    index_t hidden() const noexcept { return hidden_; }    ///< MLP width; 0 for the linear memory
    index_t tokens() const noexcept { return tokens_; }    ///< tokens folded in since construction / reset
    bool empty() const noexcept { return data_.empty(); }  ///< whether the state has no shape
    /// Parameters of one head's memory: dk·dv (linear) or hidden·dk + dv·hidden (MLP).
    index_t params() const noexcept { return per_; }

    /// The memory's parameters M of (b, h): W, or W1 then W2 (see the top of this file).
    float* weights(index_t b, index_t h) noexcept { return data_.data() + (b * heads_ + h) * 2 * per_; }
    /// M of (b, h), read-only.
    const float* weights(index_t b, index_t h) const noexcept { return data_.data() + (b * heads_ + h) * 2 * per_; }
    /// The momentum S of (b, h), laid out as weights().
    float* momentum(index_t b, index_t h) noexcept { return weights(b, h) + per_; }
    /// S of (b, h), read-only.
    const float* momentum(index_t b, index_t h) const noexcept { return weights(b, h) + per_; }
    /// Every float of the state (for overlap checks): [batch][kv head]{M, S}.
    const std::vector<float>& data() const noexcept { return data_; }

    /// Zero memory and momentum (tokens() 0), keeping the shape.
    void reset() noexcept {
        for (float& x : data_) x = 0.0f;
        tokens_ = 0;
    }
    /// Counts n more tokens folded in (the entry points call it).
    void add_tokens(index_t n) noexcept { tokens_ += n; }

private:
    index_t batch_ = 0, heads_ = 0, dk_ = 0, dv_ = 0, hidden_ = 0, per_ = 0, tokens_ = 0;
    std::vector<float> data_;
};

}  // namespace attune::linear
