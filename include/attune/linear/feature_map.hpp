#pragma once
// Feature maps φ of kernelised linear attention (Katharopoulos et al., "Transformers are RNNs",
// 2020), applied element-wise to q and k.
//
// A feature map is a small struct with `float operator()(float x) const`. It may also offer
// `template <class A> xsimd::batch<float, A> operator()(const xsimd::batch<float, A>&) const`;
// the kernels then apply it a vector at a time, otherwise lane by lane through the float form
// (correct, slower: φ costs O(L·d) against the O(L·d·dv) of the products).
//
//   struct squared_relu {                                    // a user's map
//       float operator()(float x) const { return x > 0 ? x * x : 0.0f; }
//   };
#include <cmath>
#include <type_traits>
#include <utility>

#include "attune/core/types.hpp"
#include "attune/simd/activations.hpp"
#include "attune/simd/math.hpp"
#include "attune/simd/vec.hpp"

namespace attune::linear {

/// elu(x) + 1 = x + 1 for x > 0, e^x otherwise: positive, so the normaliser φ(q)·z never vanishes
/// (Katharopoulos et al.). Vector form: simd::exp_nonpositive (the exponent is ≤ 0 there), ≤ 2 ULP.
struct elu_plus_one {
    /// φ(x).
    float operator()(float x) const { return x > 0.0f ? x + 1.0f : std::exp(x); }
    /// φ applied to a vector of floats.
    template <class A>
    xsimd::batch<float, A> operator()(const xsimd::batch<float, A>& x) const {
        using fb = xsimd::batch<float, A>;
        return xsimd::select(x > fb(0.0f), x + fb(1.0f), simd::exp_nonpositive(xsimd::min(x, fb(0.0f))));
    }
};

/// max(x, 0). Rows whose features are all zero have nothing to attend to: their output is zero.
struct relu {
    /// φ(x).
    float operator()(float x) const { return x > 0.0f ? x : 0.0f; }
    /// φ applied to a vector of floats.
    template <class A>
    xsimd::batch<float, A> operator()(const xsimd::batch<float, A>& x) const {
        using fb = xsimd::batch<float, A>;
        return xsimd::select(x > fb(0.0f), x, fb(0.0f));
    }
};

/// φ(x) = x (the unnormalised linear attention / InLine's map).
struct identity {
    /// φ(x).
    float operator()(float x) const { return x; }
    /// φ applied to a vector of floats.
    template <class A>
    xsimd::batch<float, A> operator()(const xsimd::batch<float, A>& x) const {
        return x;
    }
};

/// σ(x) = 1/(1 + e^{−x}) (Flowformer's map). Vector form: simd::sigmoid, ≤ 4 ULP.
struct sigmoid_map {
    /// φ(x).
    float operator()(float x) const { return 1.0f / (1.0f + std::exp(-x)); }
    /// φ applied to a vector of floats.
    template <class A>
    xsimd::batch<float, A> operator()(const xsimd::batch<float, A>& x) const {
        return simd::sigmoid(x);
    }
};

namespace detail {

template <class Map, class V, class = void>
struct has_vector_form : std::false_type {};
template <class Map, class V>
struct has_vector_form<Map, V, std::void_t<decltype(std::declval<const Map&>()(std::declval<const V&>()))>>
    : std::is_same<decltype(std::declval<const Map&>()(std::declval<const V&>())), V> {};

// dst[i] = φ(scale · src[i]) for i < n, in float.
template <class Arch, class Map, class T>
inline void apply_map(const Map& map, const T* src, float* dst, index_t n, float scale = 1.0f) {
    index_t i = 0;
    if constexpr (!std::is_same_v<Arch, simd::scalar> && has_vector_form<Map, simd::vec<Arch>>::value) {
        constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
        const simd::vec<Arch> s = simd::broadcast<Arch>(scale);
        for (; i + W <= n; i += W) simd::store<Arch>(dst + i, map(simd::load<Arch>(src + i) * s));
    }
    for (; i < n; ++i) dst[i] = static_cast<float>(map(to_float(src[i]) * scale));
}

}  // namespace detail
}  // namespace attune::linear
