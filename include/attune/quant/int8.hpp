#pragma once
// int8: symmetric, one float scale per (token, head) — KIVI's per-token form (Liu et al. 2024,
// "KIVI: A Tuning-Free Asymmetric 2bit Quantization for KV Cache") at 8 bits. A row is the scale
// (4 bytes, little-endian float) then dim int8 values: x ≈ scale · q, q ∈ [−127, 127],
// scale = max|x| / 127, q = round-to-nearest-even(x / scale). A row holding inf or NaN gets a NaN
// scale, so the non-finite value reaches the rows that see it, as it does in float attention.

#include <cmath>
#include <cstdint>
#include <cstring>

#include "attune/quant/format.hpp"
#include "attune/simd/bytes.hpp"

namespace attune::quant {

struct int8 {
    static constexpr const char* name() noexcept { return "int8"; }
    static constexpr index_t group = 1;
    static index_t row_bytes(index_t dim) noexcept { return 4 + dim; }
    void check(index_t, index_t dim, const char* what) const { detail::check_group(dim, group, name(), what); }

    struct head_params {};
    head_params head(index_t) const noexcept { return {}; }
    static float row_scale(head_params, const std::uint8_t* row) noexcept {
        float s;
        std::memcpy(&s, row, sizeof s);
        return s;
    }
    template <class Arch>
    static simd::vec<Arch> load(head_params, const std::uint8_t* row, index_t d) {
        return simd::load_i8<Arch>(reinterpret_cast<const std::int8_t*>(row + 4 + d));
    }
    static float value(head_params, const std::uint8_t* row, index_t e) noexcept {
        return static_cast<float>(static_cast<std::int8_t>(row[4 + e]));
    }

    void quantize_row(index_t, const float* x, std::uint8_t* row, index_t dim) const {
        float amax = 0.0f;
        bool finite = true;
        for (index_t d = 0; d < dim; ++d) {
            finite = finite && std::isfinite(x[d]);
            amax = std::fabs(x[d]) > amax ? std::fabs(x[d]) : amax;
        }
        const float scale = !finite ? std::nanf("") : amax / 127.0f;
        std::memcpy(row, &scale, sizeof scale);
        const float inv = finite && amax > 0.0f ? 127.0f / amax : 0.0f;
        auto* q = reinterpret_cast<std::int8_t*>(row + 4);
        for (index_t d = 0; d < dim; ++d) {
            float r = std::nearbyint(x[d] * inv);
            r = r > 127.0f ? 127.0f : r < -127.0f ? -127.0f : r;
            q[d] = static_cast<std::int8_t>(finite ? r : 0.0f);
        }
    }
};

}  // namespace attune::quant
