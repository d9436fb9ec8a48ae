#pragma once
// int8: symmetric, one float scale per (token, head) — KIVI's per-token form (Liu et al. 2024,
// "KIVI: A Tuning-Free Asymmetric 2bit Quantization for KV Cache") at 8 bits. A row is the scale
// (4 bytes, little-endian float) then dim int8 values: x ≈ scale · q, q ∈ [−127, 127],
// scale = max|x| / 127, q = round-to-nearest-even(x / scale). A row holding inf or NaN gets a NaN
// scale, so the non-finite value reaches the rows that see it, as it does in float attention.
//
// Per-channel K (KIVI: K has outlier channels, whose size would set every token's scale): with
// `channel` scales c[h][d] ([heads][channel_stride], e.g. channel_scales() of the prompt's keys)
// a row is quantized as x / c and read back as c · scale · q, so the outliers no longer drown the
// other channels. The kernels read c with each vector (one multiply more per vector).

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/view.hpp"
#include "attune/quant/format.hpp"
#include "attune/simd/bytes.hpp"
#include "attune/simd/narrow.hpp"

namespace attune::quant {

struct int8 {
    const float* channel = nullptr;  // optional per-channel scales [heads][channel_stride] (read while in use)
    index_t channel_stride = 0;

    static constexpr const char* name() noexcept { return "int8"; }
    static constexpr index_t group = 1;
    static index_t row_bytes(index_t dim) noexcept { return 4 + dim; }
    void check(index_t heads, index_t dim, const char* what) const {
        detail::check_group(dim, group, name(), what);
        if (channel == nullptr) return;
        attune::detail::require(channel_stride >= dim, what, ": int8 channel_stride (", channel_stride, ") must be ≥ the head dim (", dim,
                                ")");
        for (index_t h = 0; h < heads; ++h)
            for (index_t d = 0; d < dim; ++d) {
                const float c = channel[h * channel_stride + d];
                attune::detail::require(std::isfinite(c) && c > 0.0f, what, ": int8 channel[", h, "][", d, "] must be finite and > 0, got ",
                                        c);
            }
    }

    struct head_params {
        const float* channel;  // this head's channel scales, or null
    };
    head_params head(index_t h) const noexcept { return {channel != nullptr ? channel + h * channel_stride : nullptr}; }
    int8 head_format(index_t h) const noexcept { return {channel != nullptr ? channel + h * channel_stride : nullptr, channel_stride}; }
    static float row_scale(head_params, const std::uint8_t* row) noexcept {
        float s;
        std::memcpy(&s, row, sizeof s);
        return s;
    }
    template <class Arch>
    static simd::vec<Arch> load(head_params hp, const std::uint8_t* row, index_t d) {
        const simd::vec<Arch> q = simd::load_i8<Arch>(reinterpret_cast<const std::int8_t*>(row + 4 + d));
        return hp.channel != nullptr ? q * simd::load<Arch>(hp.channel + d) : q;
    }
    static float value(head_params hp, const std::uint8_t* row, index_t e) noexcept {
        const float q = static_cast<float>(static_cast<std::int8_t>(row[4 + e]));
        return hp.channel != nullptr ? q * hp.channel[e] : q;
    }

    template <class Arch>
    static simd::fvec<Arch> load_scaled(const float* x, const float* c, index_t d) {
        const auto v = simd::fvec<Arch>::load_unaligned(x + d);
        return c != nullptr ? simd::divide(v, simd::fvec<Arch>::load_unaligned(c + d)) : v;
    }
    // x / c (or x) of a row: its scale and its codes, on Arch's vectors (simd/narrow.hpp: the same
    // bytes as the scalar arch's loop, which is the reference).
    template <class Arch = simd::default_arch>
    void quantize_row(index_t h, const float* x_in, std::uint8_t* row, index_t dim) const {
        const float* c = head(h).channel;
        const auto x = [&](index_t d) { return c != nullptr ? x_in[d] / c[d] : x_in[d]; };
        float amax = 0.0f;
        bool finite = true;
        index_t body = 0;
        if constexpr (simd::narrowing<Arch>) {
            using FV = simd::fvec<Arch>;
            constexpr index_t W = static_cast<index_t>(FV::size);
            body = dim - dim % W;
            FV m(0.0f), inf(std::numeric_limits<float>::infinity());
            auto all_finite = m == m;
            for (index_t d = 0; d < body; d += W) {
                const FV a = xsimd::abs(load_scaled<Arch>(x_in, c, d));
                all_finite = all_finite & (a < inf);
                m = xsimd::select(a > m, a, m);
            }
            finite = xsimd::all(all_finite);
            amax = simd::max_lanes<Arch>(m);
        }
        for (index_t d = body; d < dim; ++d) {
            finite = finite && std::isfinite(x(d));
            amax = std::fabs(x(d)) > amax ? std::fabs(x(d)) : amax;
        }
        const float scale = !finite ? std::nanf("") : amax / 127.0f;
        std::memcpy(row, &scale, sizeof scale);
        auto* q = reinterpret_cast<std::int8_t*>(row + 4);
        if (!finite) {
            std::memset(q, 0, static_cast<std::size_t>(dim));
            return;
        }
        // 127 / amax overflows for a row of subnormal floats: such rows are scaled by 2^100 first
        // (exact), so that their codes still span ±127.
        const float pre = amax < 0x1p-100f ? 0x1p100f : 1.0f;
        const float inv = amax > 0.0f ? 127.0f / (amax * pre) : 0.0f;
        if constexpr (simd::narrowing<Arch>) {
            using FV = simd::fvec<Arch>;
            using IV = simd::ivec<Arch>;
            constexpr index_t W = static_cast<index_t>(FV::size);
            for (index_t d = 0; d < body; d += W) {
                const IV r = xsimd::nearbyint_as_int(load_scaled<Arch>(x_in, c, d) * FV(pre) * FV(inv));
                simd::store_low_bytes<Arch>(row + 4 + d, xsimd::min(xsimd::max(r, IV(-127)), IV(127)));
            }
        }
        for (index_t d = body; d < dim; ++d) {
            float r = std::nearbyint(x(d) * pre * inv);
            r = r > 127.0f ? 127.0f : r < -127.0f ? -127.0f : r;
            q[d] = static_cast<std::int8_t>(r);
        }
    }
};

/// Per-channel scales for int8's `channel`: max |x| over the tokens of each head's channel (1 where
/// a channel is all zeros), [heads][dim] — KIVI's per-channel statistics of K, taken from a prompt.
template <class T>
std::vector<float> channel_scales(const tensor_view<T>& x) {
    attune::detail::require(x.batch() == 1, "channel_scales: x must have batch 1");
    std::vector<float> c(static_cast<std::size_t>(attune::detail::checked_product("channel_scales", x.heads(), x.dim())), 0.0f);
    for (index_t h = 0; h < x.heads(); ++h)
        for (index_t t = 0; t < x.tokens(); ++t)
            for (index_t d = 0; d < x.dim(); ++d) {
                float& m = c[static_cast<std::size_t>(h * x.dim() + d)];
                const float a = std::fabs(to_float(x(0, h, t, d)));
                m = a > m ? a : m;
            }
    for (float& m : c) m = m > 0.0f && std::isfinite(m) ? m : 1.0f;
    return c;
}

}  // namespace attune::quant
