#pragma once
// The recurrent state of causal linear attention: per (batch, kv head) S = Σ_j φ(k_j) v_jᵀ (dk×dv)
// and z = Σ_j φ(k_j) (dk), over the tokens seen so far. prefill() (chunked) and step() (one token
// at a time) both continue from it and leave it at the last token, so a decode loop is
//   linear::state st(B, Hkv, dk, dv);  linear::prefill(q, k, v, out, st);  linear::step(q1, k1, v1, o1, st);
// Its size does not depend on the tokens seen: a step costs O(dk·dv) per head, whatever the history.
// It is a value: copying it saves it (std::vector inside); save()/restore() move it through a flat
// float array in a fixed layout, [batch][kv head]{S[dk][dv], z[dk]}, independent of the SIMD arch.
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/third_party.hpp"
#include "attune/core/types.hpp"
#include "attune/linear/gemm.hpp"

namespace attune::linear {

/// The recurrent state (S, z) of causal linear attention per (batch, kv head); see the top of this
/// file.
class state {
public:
    /// A shapeless state (prefill and step refuse it).
    state() = default;
    /// The zero state for `batch` × `kv_heads` heads, key dim `dk`, value dim `dv`.
    state(index_t batch, index_t kv_heads, index_t dk, index_t dv) : batch_(batch), heads_(kv_heads), dk_(dk), dv_(dv) {
        attune::detail::require(batch > 0 && kv_heads > 0 && dk > 0 && dv > 0, "linear::state: batch (", batch, "), kv heads (", kv_heads,
                                "), dk (", dk, ") and dv (", dv, ") must all be > 0");
        const char* what = "linear::state: batch × kv heads × (dk × dv + dk)";
        index_t per = 0;
        attune::detail::require(dk <= attune::detail::index_max / 2 && dv <= attune::detail::index_max / 2 &&
                                    !__builtin_mul_overflow(dk, detail::padded(dv), &per) &&
                                    !__builtin_add_overflow(per, detail::padded(dk), &per),
                                what, ": size overflows (dk ", dk, ", dv ", dv, ")");
        attune::detail::checked_assign(data_, attune::detail::checked_product(what, batch, kv_heads, per), 0.0f, what);
    }

    index_t batch() const noexcept { return batch_; }      ///< batch size
    index_t heads() const noexcept { return heads_; }      ///< kv heads
    index_t dk() const noexcept { return dk_; }            ///< key head dim
    index_t dv() const noexcept { return dv_; }            ///< value head dim
    index_t tokens() const noexcept { return tokens_; }    ///< tokens folded in since construction / reset / restore
    bool empty() const noexcept { return data_.empty(); }  ///< whether the state has no shape

    /// The row stride of S (dv rounded up to the kernels' vector width).
    index_t s_stride() const noexcept { return detail::padded(dv_); }
    /// S of (b, h): dk rows of dv values, row stride s_stride().
    float* s(index_t b, index_t h) noexcept { return data_.data() + (b * heads_ + h) * per_head(); }
    /// S of (b, h), read-only.
    const float* s(index_t b, index_t h) const noexcept { return data_.data() + (b * heads_ + h) * per_head(); }
    /// z of (b, h): dk values.
    float* z(index_t b, index_t h) noexcept { return s(b, h) + dk_ * s_stride(); }
    /// z of (b, h), read-only.
    const float* z(index_t b, index_t h) const noexcept { return s(b, h) + dk_ * s_stride(); }

    /// Back to the zero state (tokens() 0), keeping the shape.
    void reset() noexcept {
        for (float& x : data_) x = 0.0f;
        tokens_ = 0;
    }

    /// Floats in save()'s layout.
    index_t saved_size() const noexcept { return batch_ * heads_ * (dk_ * dv_ + dk_); }

    /// S and z as a flat array, [batch][kv head]{S[dk][dv], z[dk]}, independent of the SIMD arch.
    std::vector<float> save() const {
        std::vector<float> out(static_cast<std::size_t>(saved_size()));
        float* o = out.data();
        for (index_t b = 0; b < batch_; ++b)
            for (index_t h = 0; h < heads_; ++h) {
                for (index_t i = 0; i < dk_; ++i)
                    for (index_t j = 0; j < dv_; ++j) *o++ = s(b, h)[i * s_stride() + j];
                for (index_t i = 0; i < dk_; ++i) *o++ = z(b, h)[i];
            }
        return out;
    }

    /// Sets S and z from save()'s layout; `tokens` is what tokens() reports afterwards.
    void restore(const std::vector<float>& saved, index_t tokens = 0) {
        attune::detail::require(!empty(), "linear::state::restore: the state has no shape (default-constructed)");
        attune::detail::require(static_cast<index_t>(saved.size()) == saved_size(), "linear::state::restore: ", saved.size(),
                                " floats given, this state's layout holds ", saved_size(), " (batch ", batch_, ", heads ", heads_, ", dk ",
                                dk_, ", dv ", dv_, ")");
        attune::detail::require(tokens >= 0, "linear::state::restore: tokens must be ≥ 0, got ", tokens);
        reset();
        const float* p = saved.data();
        for (index_t b = 0; b < batch_; ++b)
            for (index_t h = 0; h < heads_; ++h) {
                for (index_t i = 0; i < dk_; ++i)
                    for (index_t j = 0; j < dv_; ++j) s(b, h)[i * s_stride() + j] = *p++;
                for (index_t i = 0; i < dk_; ++i) z(b, h)[i] = *p++;
            }
        tokens_ = tokens;
    }

    /// Counts n more tokens folded in (prefill and step call it).
    void add_tokens(index_t n) noexcept { tokens_ += n; }

private:
    // S rows padded to 16 floats (the kernels read whole vectors; padding stays 0), then z.
    index_t per_head() const noexcept { return dk_ * detail::padded(dv_) + detail::padded(dk_); }

    index_t batch_ = 0, heads_ = 0, dk_ = 0, dv_ = 0, tokens_ = 0;
    std::vector<float, xsimd::aligned_allocator<float, 64>> data_;
};

}  // namespace attune::linear
