#pragma once
// The quantized caches' oracle (tests/quant/quant_caches_test.cpp, quant_landmark_test.cpp): the
// same cache over float, fed the rows quantized and dequantized.
#include "attune/quantized.hpp"
#include "support.hpp"

namespace quant_oracle {

using attune::index_t;
using attune_test::tensor;

// Tokens [at, at + n) of x as a [1, H, n, D] view.
template <class T>
attune::tensor_view<const T> tokens(const tensor<T>& x, index_t at, index_t n) {
    const auto v = x.cview();
    return attune::tensor_view<const T>(&v(0, 0, at, 0), {1, v.heads(), n, v.dim()}, v.strides());
}

// x's rows quantized in format f and back, as float.
template <class F, class T>
tensor<float> round_trip(const tensor<T>& x, const F& f) {
    const auto v = x.cview();
    const auto q = attune::quant::quantize(v, f);
    tensor<float> out(1, v.heads(), v.tokens(), v.dim());
    attune::quant::dequantize(q.view(), out.view);
    return out;
}

}  // namespace quant_oracle
