#pragma once
// Block formats: a row is dim / G blocks of G values, each with its own fp16 scale (and minimum).
// Bit-compatible with llama.cpp's cache types (ggml's block_q8_0, block_q4_0, block_q4_1), so an
// engine that holds such a cache hands its rows over as they are:
//   q8_0             {fp16 d; int8 q[32]}             x = d · q
//   q4_0             {fp16 d; uint8 q[16]}            x = d · (n − 8), n: 4 bits
//   int4_group<G>    {fp16 d; fp16 m; uint8 q[G/2]}   x = d · n + m (asymmetric, KIVI's int4 with a
//                                                     group of G; G = 32 is ggml's q4_1)
// 4-bit blocks hold element j in the low nibble of byte j and element j + G/2 in its high nibble.
// Quantization follows ggml's reference rounding (quantize_row_*_ref) so that the bytes match —
// its products rounded before the add, whatever the compiler would fuse (tests/quant's fixtures).
#include <cmath>
#include <cstdint>

#include "attune/quant/format.hpp"
#include "attune/simd/bytes.hpp"
#include "attune/simd/narrow.hpp"

namespace attune::quant {

// What every block format shares: rows of dim / G blocks of BlockBytes, no per-row or per-head
// constants (each block carries its own scale).
template <class Derived, index_t G, index_t BlockBytes>
struct block_format {
    static constexpr index_t group = G, block_bytes = BlockBytes;
    static index_t row_bytes(index_t dim) noexcept { return dim / group * block_bytes; }
    void check(index_t, index_t dim, const char* what) const { detail::check_group(dim, group, Derived::name(), what); }
    struct head_params {};
    head_params head(index_t) const noexcept { return {}; }
    Derived head_format(index_t) const noexcept { return static_cast<const Derived&>(*this); }
    static float row_scale(head_params, const std::uint8_t*) noexcept { return 1.0f; }
};

struct q8_0 : block_format<q8_0, 32, 34> {
    static constexpr const char* name() noexcept { return "q8_0"; }
    template <class Arch>
    static simd::vec<Arch> load(head_params, const std::uint8_t* row, index_t d) {
        const std::uint8_t* b = row + d / group * block_bytes;
        return simd::load_i8<Arch>(reinterpret_cast<const std::int8_t*>(b + 2 + d % group)) * simd::broadcast<Arch>(half_value(b));
    }
    static float value(head_params, const std::uint8_t* row, index_t e) noexcept {
        const std::uint8_t* b = row + e / group * block_bytes;
        return half_value(b) * static_cast<float>(static_cast<std::int8_t>(b[2 + e % group]));
    }
    template <class Arch = simd::default_arch>
    void quantize_row(index_t, const float* x, std::uint8_t* row, index_t dim) const {
        for (index_t i = 0; i < dim / group; ++i, x += group, row += block_bytes) {
            float amax = 0.0f;
            if constexpr (simd::narrowing<Arch>) amax = simd::abs_max<Arch>(x, group);
            else
                for (index_t j = 0; j < group; ++j) amax = std::fmax(amax, std::fabs(x[j]));
            const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
            store_half(row, d);
            if constexpr (simd::narrowing<Arch>) {
                using FV = simd::fvec<Arch>;
                for (index_t j = 0; j < group; j += static_cast<index_t>(FV::size))
                    simd::store_low_bytes<Arch>(row + 2 + j,
                                                simd::trunc_i32<Arch>(simd::round_half_away<Arch>(FV::load_unaligned(x + j) * FV(id))));
            } else {
                for (index_t j = 0; j < group; ++j) row[2 + j] = static_cast<std::uint8_t>(simd::trunc_i8(std::round(x[j] * id)));
            }
        }
    }
};

struct q4_0 : block_format<q4_0, 32, 18> {
    static constexpr const char* name() noexcept { return "q4_0"; }
    template <class Arch>
    static simd::vec<Arch> load(head_params, const std::uint8_t* row, index_t d) {
        const std::uint8_t* b = row + d / group * block_bytes;
        const index_t j = d % group;
        // (n − 8) · d, as ggml computes it: exact, and ±inf for an infinite d (an fma would give inf − inf).
        return (simd::load_nibbles<Arch>(b + 2 + j % 16, j >= 16) - simd::broadcast<Arch>(8.0f)) * simd::broadcast<Arch>(half_value(b));
    }
    static float value(head_params, const std::uint8_t* row, index_t e) noexcept {
        const std::uint8_t* b = row + e / group * block_bytes;
        const index_t j = e % group;
        const int n = (b[2 + j % 16] >> (j >= 16 ? 4 : 0)) & 0xf;
        return half_value(b) * static_cast<float>(n - 8);
    }
    template <class Arch = simd::default_arch>
    void quantize_row(index_t, const float* x, std::uint8_t* row, index_t dim) const {
        for (index_t i = 0; i < dim / group; ++i, x += group, row += block_bytes) {
            const float max = signed_max<Arch>(x);
            const float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
            store_half(row, d);
            if constexpr (simd::narrowing<Arch>) {
                using FV = simd::fvec<Arch>;
                using IV = simd::ivec<Arch>;
                const auto nibble = [&](index_t j) {  // min(trunc_i8(x · id + 8.5), 15), the product rounded first
                    const IV n = simd::low_byte_signed<Arch>(
                        simd::trunc_i32<Arch>(simd::unfused<Arch>(FV::load_unaligned(x + j) * FV(id)) + FV(8.5f)));
                    return xsimd::min(n, IV(15));
                };
                for (index_t j = 0; j < 16; j += static_cast<index_t>(FV::size))
                    simd::store_low_bytes<Arch>(row + 2 + j, nibble(j) | (nibble(j + 16) << 4));
            } else {
                for (index_t j = 0; j < 16; ++j) {
                    const int lo = simd::trunc_i8(detail::unfused_product(x[j], id) + 8.5f),
                              hi = simd::trunc_i8(detail::unfused_product(x[j + 16], id) + 8.5f);
                    row[2 + j] = static_cast<std::uint8_t>((lo < 15 ? lo : 15) | ((hi < 15 ? hi : 15) << 4));
                }
            }
        }
    }

private:
    // The block's value of largest magnitude, the first of them (ggml's scan), with its sign; 0 for
    // a block of zeros and NaN. On vectors, one pass for the block's range from 0: the larger of
    // hi and −lo is the magnitude and says its sign, unless both signs reach it (then the scan).
    template <class Arch>
    static float signed_max(const float* x) {
        float amax = 0.0f, max = 0.0f;
        if constexpr (simd::narrowing<Arch>) {
            float lo = 0.0f, hi = 0.0f;
            simd::scan_range<Arch>(x, group, lo, hi);
            if (hi != -lo) return hi > -lo ? hi : lo;
            if (hi == 0.0f) return 0.0f;
        }
        for (index_t j = 0; j < group; ++j)
            if (amax < std::fabs(x[j])) amax = std::fabs(x[j]), max = x[j];
        return max;
    }
};

template <int G>
struct int4_group : block_format<int4_group<G>, G, 4 + G / 2> {
    static_assert(G == 32 || G == 64 || G == 128, "int4_group: a group of 32, 64 or 128 values");
    static constexpr const char* name() noexcept { return G == 32 ? "int4_g32" : G == 64 ? "int4_g64" : "int4_g128"; }
    using base = block_format<int4_group<G>, G, 4 + G / 2>;
    using base::block_bytes;
    using base::group;
    using typename base::head_params;
    template <class Arch>
    static simd::vec<Arch> load(head_params, const std::uint8_t* row, index_t d) {
        const std::uint8_t* b = row + d / group * block_bytes;
        const index_t j = d % group;
        return simd::fma(simd::load_nibbles<Arch>(b + 4 + j % (G / 2), j >= G / 2), simd::broadcast<Arch>(half_value(b)),
                         simd::broadcast<Arch>(half_value(b + 2)));
    }
    static float value(head_params, const std::uint8_t* row, index_t e) noexcept {
        const std::uint8_t* b = row + e / group * block_bytes;
        const index_t j = e % group;
        const int n = (b[4 + j % (G / 2)] >> (j >= G / 2 ? 4 : 0)) & 0xf;
        return half_value(b) * static_cast<float>(n) + half_value(b + 2);
    }
    template <class Arch = simd::default_arch>
    void quantize_row(index_t, const float* x, std::uint8_t* row, index_t dim) const {
        for (index_t i = 0; i < dim / group; ++i, x += group, row += block_bytes) {
            float lo = x[0], hi = x[0];
            range<Arch>(x, lo, hi);
            const float d = (hi - lo) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
            store_half(row, d);
            store_half(row + 2, lo);
            if constexpr (simd::narrowing<Arch>) {
                using FV = simd::fvec<Arch>;
                using IV = simd::ivec<Arch>;
                const auto nibble = [&](index_t j) {  // min(trunc_i8((x − lo) · id + 0.5), 15), the product rounded first
                    const FV p = simd::unfused<Arch>((FV::load_unaligned(x + j) - FV(lo)) * FV(id));
                    return xsimd::min(simd::low_byte_signed<Arch>(simd::trunc_i32<Arch>(p + FV(0.5f))), IV(15));
                };
                for (index_t j = 0; j < G / 2; j += static_cast<index_t>(FV::size))
                    simd::store_low_bytes<Arch>(row + 4 + j, nibble(j) | (nibble(j + G / 2) << 4));
            } else {
                for (index_t j = 0; j < G / 2; ++j) {
                    const int a = simd::trunc_i8(detail::unfused_product(x[j] - lo, id) + 0.5f),
                              b = simd::trunc_i8(detail::unfused_product(x[j + G / 2] - lo, id) + 0.5f);
                    row[4 + j] = static_cast<std::uint8_t>((a < 15 ? a : 15) | ((b < 15 ? b : 15) << 4));
                }
            }
        }
    }

private:
    // The block's minimum and maximum as ggml's scan finds them from x[0] (a NaN x[0] stays; other
    // NaNs are skipped). On vectors each lane scans its column, then the lanes in order; a zero at
    // either end is rescanned, since +0 and −0 compare equal but store different halves.
    template <class Arch>
    static void range(const float* x, float& lo, float& hi) {
        if constexpr (simd::narrowing<Arch>) {
            simd::scan_range<Arch>(x, group, lo, hi);
            if (lo != 0.0f && hi != 0.0f) return;
            lo = hi = x[0];
        }
        for (index_t j = 1; j < group; ++j) lo = x[j] < lo ? x[j] : lo, hi = x[j] > hi ? x[j] : hi;
    }
};

using q4_1 = int4_group<32>;

}  // namespace attune::quant
