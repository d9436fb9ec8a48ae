#pragma once
// Narrowing float → bytes, for quantization on append (quant/*.hpp's quantize_row<Arch>). Each
// vector function gives, lane by lane, the bits of the scalar function beside it, so a row
// quantized on one SIMD path holds the same bytes as on any other (tests/quant/encode_test.cpp
// runs every format's vector path against its scalar reference, on every arch):
//   trunc_i32        float → int32 toward zero; NaN and out of range give INT32_MIN (x86's
//                    cvttss2si, through which ggml's reference casts its rounded values)
//   round_half_away  std::round (halves away from zero), exactly: trunc, plus one where the
//                    fraction's size is at least a half
//   unfused          a copy the compiler cannot see through, so a product is rounded before the
//                    add that follows (ggml's reference rounds it; an fma would not)
//   store_low_bytes  each lane's low byte, stored (a truncating narrow)
//   max_lanes        the largest lane of a vector without NaN lanes (in registers)
//   scan_range       min and max over whole vectors from an initial value, NaN ignored
//   abs_max          max |x| over whole vectors, NaN ignored (std::fmax's fold)
//   select_bits      int32 lanes chosen by a float mask, on float lanes (xsimd 8.1's integer select
//                    for AVX-512BW does not compile at -O0: a Debug build of attune_dispatch()'s units)
// Only xsimd's vector archs take these paths (narrowing<Arch>); attune's scalar arch runs the reference.
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "attune/core/types.hpp"
#include "attune/simd/arch.hpp"
#include "attune/simd/caps.hpp"
#include "attune/simd/vec.hpp"

// GCC 12.2's AVX-512 intrinsics warn of their own undefined pass-through operand once inlined
// (GCC bug 105593, as in simd/bytes.hpp): silenced here, where those intrinsics are called.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace attune::simd {

template <class Arch>
inline constexpr bool narrowing = !std::is_same_v<Arch, scalar>;

template <class Arch>
using fvec = xsimd::batch<float, Arch>;
template <class Arch>
using ivec = xsimd::batch<std::int32_t, Arch>;

inline std::int32_t trunc_i32(float v) noexcept {
    return v >= -2147483648.0f && v < 2147483648.0f ? static_cast<std::int32_t>(v) : std::numeric_limits<std::int32_t>::min();
}
// The low byte of trunc_i32(v), as a signed byte (what a float → int8 cast gives on x86).
inline int trunc_i8(float v) noexcept {
    return static_cast<std::int8_t>(static_cast<std::uint8_t>(static_cast<std::uint32_t>(trunc_i32(v)) & 0xffu));
}

template <class Arch>
inline ivec<Arch> trunc_i32(const fvec<Arch>& v) {
    const fvec<Arch> low(-2147483648.0f);  // converts to INT32_MIN on every arch
    return xsimd::to_int(xsimd::select((v >= low) & (v < fvec<Arch>(2147483648.0f)), v, low));
}
// a where m, else b, bit for bit (a blend copies NaN patterns as they are).
template <class Arch>
inline ivec<Arch> select_bits(const xsimd::batch_bool<float, Arch>& m, const ivec<Arch>& a, const ivec<Arch>& b) {
    return xsimd::bitwise_cast<ivec<Arch>>(xsimd::select(m, xsimd::bitwise_cast<fvec<Arch>>(a), xsimd::bitwise_cast<fvec<Arch>>(b)));
}
// Each lane's low byte, sign-extended (trunc_i8 of a trunc_i32 lane).
template <class Arch>
inline ivec<Arch> low_byte_signed(const ivec<Arch>& t) {
    return (t << 24) >> 24;
}

template <class Arch>
inline fvec<Arch> round_half_away(const fvec<Arch>& y) {
    const fvec<Arch> t = xsimd::trunc(y);
    const auto up = xsimd::abs(y - t) >= fvec<Arch>(0.5f);
    return t + xsimd::select(up, xsimd::copysign(fvec<Arch>(1.0f), y), fvec<Arch>(0.0f));
}

template <class Arch>
inline fvec<Arch> unfused(const fvec<Arch>& v) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    typename fvec<Arch>::register_type r = v;
    __asm__("" : "+x"(r));
    return fvec<Arch>(r);
#elif defined(__GNUC__) && defined(__aarch64__)
    typename fvec<Arch>::register_type r = v;
    __asm__("" : "+w"(r));
    return fvec<Arch>(r);
#else
    alignas(64) volatile float lanes[fvec<Arch>::size];
    alignas(64) float out[fvec<Arch>::size];
    v.store_aligned(const_cast<float*>(lanes));
    for (std::size_t i = 0; i < fvec<Arch>::size; ++i) out[i] = lanes[i];
    return fvec<Arch>::load_aligned(out);
#endif
}

// W bytes at p: the low byte of each lane of t.
template <class Arch>
inline void store_low_bytes(std::uint8_t* p, const ivec<Arch>& t) {
#if XSIMD_WITH_AVX512F
    if constexpr (detail::arch_is<Arch, xsimd::avx512f>) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(t));
        return;
    }
#endif
#if XSIMD_WITH_AVX2
    if constexpr (detail::arch_is<Arch, xsimd::avx2> && !detail::arch_is<Arch, xsimd::avx512f>) {
        // bytes 0, 4, 8, 12 of each 128-bit half to its first 4 bytes, then the two halves' first words together
        const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
                                              0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
        const __m256i b = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(t, pick), _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(b));
        return;
    }
#endif
    alignas(64) std::int32_t lanes[ivec<Arch>::size];
    t.store_aligned(lanes);
    for (std::size_t i = 0; i < ivec<Arch>::size; ++i) p[i] = static_cast<std::uint8_t>(static_cast<std::uint32_t>(lanes[i]) & 0xffu);
}

// The largest lane of a vector without NaN lanes, by shuffles in registers (reduce_max folds
// through memory, keeping a NaN in lane 0 as the softmax needs; a block's scale has none).
template <class Arch>
inline float max_lanes(const fvec<Arch>& m) {
#if XSIMD_WITH_AVX512F
    if constexpr (detail::arch_is<Arch, xsimd::avx512f>) return _mm512_reduce_max_ps(m);
#endif
#if XSIMD_WITH_AVX2
    if constexpr (detail::arch_is<Arch, xsimd::avx2> && !detail::arch_is<Arch, xsimd::avx512f>) {
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        return _mm_cvtss_f32(_mm_max_ss(h, _mm_shuffle_ps(h, h, 1)));
    }
#endif
    return reduce_max(m);
}

// The minimum and maximum of x[0, n) (n a multiple of the width) by a scan from lo = hi = init
// with strict compares, as `v < lo ? v : lo` in order: NaN never replaces (an init of NaN stays),
// and the lanes are folded in lane order. Equal values of two signs (±0) may come from another
// element than the in-order scan's: callers that store the value rescan those.
template <class Arch>
inline void scan_range(const float* x, index_t n, float& lo, float& hi) {
    constexpr std::size_t W = fvec<Arch>::size;
    fvec<Arch> l(lo), h(hi);
    for (index_t j = 0; j < n; j += static_cast<index_t>(W)) {
        const fvec<Arch> v = fvec<Arch>::load_unaligned(x + j);
        l = xsimd::select(v < l, v, l);
        h = xsimd::select(v > h, v, h);
    }
    alignas(64) float ls[W], hs[W];
    l.store_aligned(ls);
    h.store_aligned(hs);
    for (std::size_t k = 0; k < W; ++k) lo = ls[k] < lo ? ls[k] : lo, hi = hs[k] > hi ? hs[k] : hi;
}

// max |x| over n values (n a multiple of the width), NaN ignored as std::fmax ignores it.
template <class Arch>
inline float abs_max(const float* x, index_t n) {
    constexpr index_t W = static_cast<index_t>(fvec<Arch>::size);
    fvec<Arch> m(0.0f);
    for (index_t j = 0; j < n; j += W) {
        const fvec<Arch> a = xsimd::abs(fvec<Arch>::load_unaligned(x + j));
        m = xsimd::select(a > m, a, m);
    }
    return max_lanes(m);
}

}  // namespace attune::simd

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
