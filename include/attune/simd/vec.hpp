#pragma once
// The one place the kernels meet xsimd: a float vector type per arch, loads that convert from any
// storage type, and the reductions xsimd 8.1 lacks (reduce_max). A move to a newer xsimd touches
// this file (and math.hpp) only.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "attune/core/types.hpp"
#include "attune/simd/arch.hpp"
#include "attune/simd/caps.hpp"

namespace attune::simd {

// One-lane vector for the scalar arch: the same operations the xsimd batches offer.
struct scalar_vec {
    float v;
    static constexpr std::size_t size = 1;
    scalar_vec() = default;
    scalar_vec(float x) : v(x) {}
    friend scalar_vec operator+(scalar_vec a, scalar_vec b) { return a.v + b.v; }
    friend scalar_vec operator-(scalar_vec a, scalar_vec b) { return a.v - b.v; }
    friend scalar_vec operator*(scalar_vec a, scalar_vec b) { return a.v * b.v; }
    friend scalar_vec operator/(scalar_vec a, scalar_vec b) { return a.v / b.v; }
    scalar_vec& operator+=(scalar_vec b) {
        v += b.v;
        return *this;
    }
    scalar_vec& operator*=(scalar_vec b) {
        v *= b.v;
        return *this;
    }
};

template <class Arch>
struct vec_traits {
    using type = xsimd::batch<float, Arch>;
};
template <>
struct vec_traits<scalar> {
    using type = scalar_vec;
};

template <class Arch>
using vec = typename vec_traits<Arch>::type;

template <class Arch>
inline constexpr std::size_t width = vec<Arch>::size;

// ---- loads and stores (always unaligned: user views carry no alignment promise) ----

inline scalar_vec fma(scalar_vec a, scalar_vec b, scalar_vec c) { return std::fma(a.v, b.v, c.v); }
inline scalar_vec fnma(scalar_vec a, scalar_vec b, scalar_vec c) { return std::fma(-a.v, b.v, c.v); }
inline scalar_vec max(scalar_vec a, scalar_vec b) { return a.v > b.v ? a : b; }
inline float reduce_add(scalar_vec a) { return a.v; }
inline float reduce_max(scalar_vec a) { return a.v; }

// a·b + c and c − a·b, each rounded once. xsimd 8.1 has no AVX-512 fma: its generic one is a·b + c
// in two operations, which GCC contracts where it chooses (not in every instance under GCC 13, so
// two instances of one block could differ in the last bit) and clang never does (a multiply and
// an add per step in every kernel).
template <class A>
inline xsimd::batch<float, A> fma(const xsimd::batch<float, A>& a, const xsimd::batch<float, A>& b, const xsimd::batch<float, A>& c) {
#if XSIMD_WITH_AVX512F
    if constexpr (detail::arch_is<A, xsimd::avx512f>) return _mm512_fmadd_ps(a, b, c);
#endif
    return xsimd::fma(a, b, c);
}
template <class A>
inline xsimd::batch<float, A> fnma(const xsimd::batch<float, A>& a, const xsimd::batch<float, A>& b, const xsimd::batch<float, A>& c) {
#if XSIMD_WITH_AVX512F
    if constexpr (detail::arch_is<A, xsimd::avx512f>) return _mm512_fnmadd_ps(a, b, c);
#endif
#if XSIMD_WITH_NEON64
    if constexpr (detail::arch_is<A, xsimd::neon64>) return vfmsq_f32(c, a, b);  // xsimd's fnma is generic there too
#endif
    return xsimd::fnma(a, b, c);
}
// a / b, correctly rounded: xsimd 8.1's neon64 float division is a reciprocal estimate refined by
// two Newton steps (off by an ulp at times); the instruction is exact.
inline scalar_vec divide(scalar_vec a, scalar_vec b) { return a.v / b.v; }
template <class A>
inline xsimd::batch<float, A> divide(const xsimd::batch<float, A>& a, const xsimd::batch<float, A>& b) {
#if XSIMD_WITH_NEON64
    if constexpr (detail::arch_is<A, xsimd::neon64>) return vdivq_f32(a, b);
#endif
    return a / b;
}
template <class A>
inline xsimd::batch<float, A> max(const xsimd::batch<float, A>& a, const xsimd::batch<float, A>& b) {
    return xsimd::max(a, b);
}
template <class A>
inline float reduce_add(const xsimd::batch<float, A>& a) {
    return xsimd::hadd(a);
}
// xsimd 8.1 has no reduce_max: fold through memory (the compiler turns this into shuffles).
template <class A>
inline float reduce_max(const xsimd::batch<float, A>& a) {
    alignas(64) float lanes[xsimd::batch<float, A>::size];
    a.store_aligned(lanes);
    float m = lanes[0];
    for (std::size_t i = 1; i < xsimd::batch<float, A>::size; ++i) m = lanes[i] > m ? lanes[i] : m;
    return m;
}

template <class Arch>
inline vec<Arch> broadcast(float x) {
    if constexpr (std::is_same_v<Arch, scalar>) return scalar_vec(x);
    else return xsimd::batch<float, Arch>(x);
}

// Widening loads xsimd 8.1 lacks (16-bit → 32-bit lanes): bf16 is the top half of a float, half
// converts with the F16C/AVX-512 instruction. One instruction or two per vector where the target
// has them; a scalar widening loop elsewhere.
namespace detail {
template <class Arch, class T>
inline xsimd::batch<float, Arch> load_widened(const T* p) {
    using fb = xsimd::batch<float, Arch>;
    [[maybe_unused]] constexpr bool is_bf16 = std::is_same_v<T, bf16>;
#if XSIMD_WITH_AVX512F
    if constexpr (arch_is<Arch, xsimd::avx512f>) {
        const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        if constexpr (is_bf16) return fb(_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16)));
        else return fb(_mm512_cvtph_ps(raw));
    }
#endif
#if XSIMD_WITH_AVX2
    if constexpr (arch_is<Arch, xsimd::avx2> && !arch_is<Arch, xsimd::avx512f>) {
        const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        if constexpr (is_bf16) return fb(_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16)));
#if defined(__F16C__)
        else return fb(_mm256_cvtph_ps(raw));
#endif
    }
#endif
    alignas(64) float f[fb::size];
    for (std::size_t i = 0; i < fb::size; ++i) f[i] = to_float(p[i]);
    return fb::load_aligned(f);
}

// Each lane's bf16 bits in its low half, as attune::bf16 (Eigen) rounds: to nearest even, NaN → the
// quiet NaN 0x7fc0 with its sign.
template <class Arch>
inline xsimd::batch<std::uint32_t, Arch> bf16_bits(const xsimd::batch<float, Arch>& x) {
    using ub = xsimd::batch<std::uint32_t, Arch>;
    const ub bits = xsimd::bitwise_cast<ub>(x), high = bits >> 16;
    const ub rounded = (bits + ub(0x7fffu) + (high & ub(1u))) >> 16;
    // The choice is made on float lanes: xsimd 8.1's integer select for AVX-512BW does not compile
    // at -O0 under GCC (its blend intrinsics are macros there, which cannot cast a batch).
    using fb = xsimd::batch<float, Arch>;
    const fb quiet_nan = xsimd::bitwise_cast<fb>((high & ub(0x8000u)) | ub(0x7fc0u));
    return xsimd::bitwise_cast<ub>(xsimd::select(xsimd::isnan(x), quiet_nan, xsimd::bitwise_cast<fb>(rounded)));
}

// Narrowing stores, the inverse of load_widened (32-bit → 16-bit lanes), with the bits of
// attune::bf16's and attune::half's own conversions: bf16 by bf16_bits, half by the conversion
// instruction (IEEE round to nearest even, as Eigen's). A scalar loop where the target lacks them
// (half on AVX2 without F16C).
template <class Arch, class T>
inline void store_narrowed(T* p, const xsimd::batch<float, Arch>& x) {
    [[maybe_unused]] constexpr bool is_bf16 = std::is_same_v<T, bf16>;
#if XSIMD_WITH_AVX512F
    if constexpr (arch_is<Arch, xsimd::avx512f>) {
        __m256i h;
        if constexpr (is_bf16) h = _mm512_cvtepi32_epi16(bf16_bits(x));
        else h = _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), h);
        return;
    }
#endif
#if XSIMD_WITH_AVX2
    if constexpr (arch_is<Arch, xsimd::avx2> && !arch_is<Arch, xsimd::avx512f>) {
        if constexpr (is_bf16) {
            const __m256i bits = bf16_bits(x);  // ≤ 0xffff a lane: the unsigned saturating pack keeps it
            _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                             _mm_packus_epi32(_mm256_castsi256_si128(bits), _mm256_extracti128_si256(bits, 1)));
            return;
        }
#if defined(__F16C__)
        else {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            return;
        }
#endif
    }
#endif
    alignas(64) float f[xsimd::batch<float, Arch>::size];
    x.store_aligned(f);
    for (std::size_t i = 0; i < xsimd::batch<float, Arch>::size; ++i) p[i] = from_float<T>(f[i]);
}
}  // namespace detail

// Loads width<Arch> elements of storage type T as floats.
template <class Arch, class T>
inline vec<Arch> load(const T* p) {
    if constexpr (std::is_same_v<Arch, scalar>) return scalar_vec(to_float(*p));
    else if constexpr (std::is_same_v<T, float>) return xsimd::batch<float, Arch>::load_unaligned(p);
    else return detail::load_widened<Arch>(p);
}

template <class Arch>
inline void store(float* p, const vec<Arch>& x) {
    if constexpr (std::is_same_v<Arch, scalar>) *p = x.v;
    else x.store_unaligned(p);
}

// Stores width<Arch> floats as storage type T (bf16 or half), rounded as from_float<T> rounds.
template <class Arch, class T, std::enable_if_t<!std::is_same_v<T, float>, int> = 0>
inline void store(T* p, const vec<Arch>& x) {
    if constexpr (std::is_same_v<Arch, scalar>) *p = from_float<T>(x.v);
    else detail::store_narrowed<Arch>(p, x);
}

// Aligned variants for attune's own padded buffers.
template <class Arch>
inline vec<Arch> load_aligned(const float* p) {
    if constexpr (std::is_same_v<Arch, scalar>) return scalar_vec(*p);
    else return xsimd::batch<float, Arch>::load_aligned(p);
}
template <class Arch>
inline void store_aligned(float* p, const vec<Arch>& x) {
    if constexpr (std::is_same_v<Arch, scalar>) *p = x.v;
    else x.store_aligned(p);
}

// Converts n elements of storage type T to float (vector body, scalar tail).
template <class Arch, class T>
inline void convert_row(const T* src, float* dst, index_t n, float scale = 1.0f) {
    constexpr index_t W = static_cast<index_t>(width<Arch>);
    const vec<Arch> s = simd::broadcast<Arch>(scale);
    index_t i = 0;
    for (; i + W <= n; i += W) simd::store<Arch>(dst + i, simd::load<Arch>(src + i) * s);
    for (; i < n; ++i) dst[i] = to_float(src[i]) * scale;
}

// Σ a[i]·b[i] over n floats (vector body, scalar tail).
template <class Arch>
inline float dot(const float* a, const float* b, index_t n) {
    constexpr index_t W = static_cast<index_t>(width<Arch>);
    vec<Arch> acc = simd::broadcast<Arch>(0.0f);
    index_t i = 0;
    for (; i + W <= n; i += W) acc = simd::fma(simd::load<Arch>(a + i), simd::load<Arch>(b + i), acc);
    float s = simd::reduce_add(acc);
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

}  // namespace attune::simd

namespace attune::simd {

// Lanes equal to −inf become `repl` (the online-softmax guard for rows with nothing visible yet).
inline scalar_vec replace_neg_inf(scalar_vec v, float repl) {
    return v.v == -std::numeric_limits<float>::infinity() ? scalar_vec(repl) : v;
}
template <class A>
inline xsimd::batch<float, A> replace_neg_inf(const xsimd::batch<float, A>& v, float repl) {
    using fb = xsimd::batch<float, A>;
    return xsimd::select(v == fb(-std::numeric_limits<float>::infinity()), fb(repl), v);
}

// Lane-wise a > b ? x : y (false for NaN lanes: y).
inline scalar_vec select_greater(scalar_vec a, scalar_vec b, scalar_vec x, scalar_vec y) { return a.v > b.v ? x : y; }
template <class A>
inline xsimd::batch<float, A> select_greater(const xsimd::batch<float, A>& a, const xsimd::batch<float, A>& b,
                                             const xsimd::batch<float, A>& x, const xsimd::batch<float, A>& y) {
    return xsimd::select(a > b, x, y);
}

// True when every lane equals x.
inline bool all_equal(scalar_vec v, float x) { return v.v == x; }
template <class A>
inline bool all_equal(const xsimd::batch<float, A>& v, float x) {
    return xsimd::all(v == xsimd::batch<float, A>(x));
}

}  // namespace attune::simd

namespace attune::simd {

// Lanes whose key position k lies outside [lo, hi] become −inf (positions as floats: exact below 2^24).
inline scalar_vec mask_outside(scalar_vec s, float k, scalar_vec lo, scalar_vec hi) {
    return (k < lo.v || k > hi.v) ? scalar_vec(-std::numeric_limits<float>::infinity()) : s;
}
template <class A>
inline xsimd::batch<float, A> mask_outside(const xsimd::batch<float, A>& s, float k, const xsimd::batch<float, A>& lo,
                                           const xsimd::batch<float, A>& hi) {
    using fb = xsimd::batch<float, A>;
    const fb kb(k);
    return xsimd::select((kb < lo) || (kb > hi), fb(-std::numeric_limits<float>::infinity()), s);
}

// The same for the union of two intervals: −inf where k lies outside both.
inline scalar_vec mask_outside2(scalar_vec s, float k, scalar_vec lo1, scalar_vec hi1, scalar_vec lo2, scalar_vec hi2) {
    return ((k < lo1.v || k > hi1.v) && (k < lo2.v || k > hi2.v)) ? scalar_vec(-std::numeric_limits<float>::infinity()) : s;
}
template <class A>
inline xsimd::batch<float, A> mask_outside2(const xsimd::batch<float, A>& s, float k, const xsimd::batch<float, A>& lo1,
                                            const xsimd::batch<float, A>& hi1, const xsimd::batch<float, A>& lo2,
                                            const xsimd::batch<float, A>& hi2) {
    using fb = xsimd::batch<float, A>;
    const fb kb(k);
    return xsimd::select(((kb < lo1) || (kb > hi1)) && ((kb < lo2) || (kb > hi2)), fb(-std::numeric_limits<float>::infinity()), s);
}

}  // namespace attune::simd

namespace attune::simd {

// True when every lane of a is ≤ the same lane of b (false if any lane is NaN).
inline bool all_le(scalar_vec a, scalar_vec b) { return a.v <= b.v; }
template <class A>
inline bool all_le(const xsimd::batch<float, A>& a, const xsimd::batch<float, A>& b) {
    return xsimd::all(a <= b);
}

}  // namespace attune::simd

namespace attune::simd {

// Quads (AVX-512): the first four lanes of four vectors `stride` floats apart, as one vector, and
// back. Decode's score tiles hold a row per lane and only a few rows (a GQA group of ≤ 4 heads), so
// the softmax exponentials of four keys fit one vector instead of four mostly idle ones.
template <class Arch>
inline constexpr bool has_quads = caps<Arch>::quads;

// Lanes 4j..4j+3 ← p[j·stride .. j·stride + 3] (16-byte aligned).
template <class Arch>
inline vec<Arch> load_quads(const float* p, index_t stride) {
    static_assert(caps<Arch>::quads, "load_quads: needs caps<Arch>::quads");
#if XSIMD_WITH_AVX512F
    __m512 v = _mm512_castps128_ps512(_mm_load_ps(p));
    v = _mm512_insertf32x4(v, _mm_load_ps(p + stride), 1);
    v = _mm512_insertf32x4(v, _mm_load_ps(p + 2 * stride), 2);
    return vec<Arch>(_mm512_insertf32x4(v, _mm_load_ps(p + 3 * stride), 3));
#else
    (void)p, (void)stride;
    return broadcast<Arch>(0.0f);  // not reached: the assertion above
#endif
}
template <class Arch>
inline void store_quads(float* p, [[maybe_unused]] index_t stride, [[maybe_unused]] const vec<Arch>& v) {
    static_assert(caps<Arch>::quads, "store_quads: needs caps<Arch>::quads");
#if XSIMD_WITH_AVX512F
    _mm_store_ps(p, _mm512_castps512_ps128(v));
    _mm_store_ps(p + stride, _mm512_extractf32x4_ps(v, 1));
    _mm_store_ps(p + 2 * stride, _mm512_extractf32x4_ps(v, 2));
    _mm_store_ps(p + 3 * stride, _mm512_extractf32x4_ps(v, 3));
#else
    (void)p;
#endif
}
// Lanes 0..3 of v in every quad.
template <class Arch>
inline vec<Arch> repeat_quad(const vec<Arch>& v) {
    static_assert(caps<Arch>::quads, "repeat_quad: needs caps<Arch>::quads");
#if XSIMD_WITH_AVX512F
    return vec<Arch>(_mm512_shuffle_f32x4(v, v, 0));
#else
    return v;
#endif
}
// Every quad ← the lane-wise sum of the four quads.
template <class Arch>
inline vec<Arch> sum_quads(const vec<Arch>& v) {
    static_assert(caps<Arch>::quads, "sum_quads: needs caps<Arch>::quads");
#if XSIMD_WITH_AVX512F
    const __m512 t = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
    return vec<Arch>(_mm512_add_ps(t, _mm512_shuffle_f32x4(t, t, _MM_SHUFFLE(2, 3, 0, 1))));
#else
    return v;
#endif
}

// Horizontal sums of width<Arch> vectors at once: lane j of the result is the sum of the lanes
// of rows[j]. Built on xsimd's haddp (a transpose-and-add tree, far cheaper than width separate
// reductions), whose AVX-512 version in xsimd 8.1 returns the sums in a permuted lane order: the
// order is probed once at first use and undone with one lane permute where the target has one,
// so the result stays right whether or not a later xsimd changes its order.
namespace detail {
template <std::size_t W>
struct lane_order {
    alignas(64) std::int32_t source[W];  // result lane j comes from haddp's lane source[j]
    bool identity;
};
template <class A>
const lane_order<xsimd::batch<float, A>::size>& haddp_order() {
    static constexpr std::size_t W = xsimd::batch<float, A>::size;  // static: clang 14 does not capture it implicitly
    static const lane_order<W> order = [] {
        lane_order<W> o{};
        xsimd::batch<float, A> rows[W];
        for (std::size_t j = 0; j < W; ++j) rows[j] = xsimd::batch<float, A>(static_cast<float>(j));
        alignas(64) float sums[W];
        xsimd::haddp(rows).store_aligned(sums);
        o.identity = true;
        for (std::size_t lane = 0; lane < W; ++lane) {
            const std::size_t j = static_cast<std::size_t>(sums[lane]) / W;  // lane holds W·j
            o.source[j] = static_cast<std::int32_t>(lane);
            o.identity = o.identity && j == lane;
        }
        return o;
    }();
    return order;
}
}  // namespace detail

inline scalar_vec reduce_add_many(const scalar_vec* rows) { return rows[0]; }
template <class A>
inline xsimd::batch<float, A> reduce_add_many(const xsimd::batch<float, A>* rows) {
    using fb = xsimd::batch<float, A>;
    const fb sums = xsimd::haddp(rows);
    const auto& order = detail::haddp_order<A>();
    if (order.identity) return sums;
#if XSIMD_WITH_AVX512F
    if constexpr (detail::arch_is<A, xsimd::avx512f>) return fb(_mm512_permutexvar_ps(_mm512_load_si512(order.source), sums));
#endif
#if XSIMD_WITH_AVX2
    if constexpr (detail::arch_is<A, xsimd::avx2> && !detail::arch_is<A, xsimd::avx512f>)
        return fb(_mm256_permutevar8x32_ps(sums, _mm256_load_si256(reinterpret_cast<const __m256i*>(order.source))));
#endif
    alignas(64) float in[fb::size], out[fb::size];
    sums.store_aligned(in);
    for (std::size_t j = 0; j < fb::size; ++j) out[j] = in[order.source[j]];
    return fb::load_aligned(out);
}

}  // namespace attune::simd
