#pragma once
// Helpers of the sparse/cache tests: views of a token range of a history tensor, key sets gathered
// into their own tensors (the "plain cache" of the selected keys), and a reference result assembled
// from per-head pieces.
#include <vector>

#include "support.hpp"

namespace sparse_test {

using attune::index_t;
using attune_test::tensor;

// Tokens [first, first + n) of a [B, H, L, D] view (same strides).
template <class T>
attune::tensor_view<const T> tokens_of(const attune::tensor_view<T>& x, index_t first, index_t n) {
    return attune::tensor_view<const T>(x.row(0, 0, first), {x.batch(), x.heads(), n, x.dim()}, x.strides());
}
// Query heads [h0, h0 + n) of batch b.
template <class T>
attune::tensor_view<const T> heads_of(const attune::tensor_view<T>& x, index_t b, index_t h0, index_t n) {
    return attune::tensor_view<const T>(x.row(b, h0, 0), {1, n, x.tokens(), x.dim()}, {0, x.strides()[1], x.strides()[2]});
}
// Query heads [h0, h0 + n), token t only.
template <class T>
attune::tensor_view<const T> row_of(const attune::tensor_view<T>& x, index_t b, index_t h0, index_t n, index_t t) {
    return attune::tensor_view<const T>(x.row(b, h0, t), {1, n, 1, x.dim()}, {0, x.strides()[1], x.strides()[2]});
}

// The rows `pos` (positions, in the given order) of (b, h) of x as a contiguous float [1, 1, n, D] tensor.
template <class T>
tensor<float> gather_rows(const attune::tensor_view<T>& x, index_t b, index_t h, const std::vector<index_t>& pos) {
    tensor<float> g(1, 1, static_cast<index_t>(pos.size()), x.dim());
    for (std::size_t i = 0; i < pos.size(); ++i)
        for (index_t d = 0; d < x.dim(); ++d) g.view(0, 0, static_cast<index_t>(i), d) = attune::to_float(x(b, h, pos[i], d));
    return g;
}

// Copies piece (heads [0, n), tokens [0, m)) into whole at (b, h0, t0).
inline void put(attune::reference::result& whole, const attune::reference::result& piece, index_t b, index_t h0, index_t t0) {
    for (index_t h = 0; h < piece.heads; ++h)
        for (index_t t = 0; t < piece.tokens; ++t) {
            for (index_t d = 0; d < piece.dim; ++d) whole.at(b, h0 + h, t0 + t, d) = piece.at(0, h, t, d);
            whole.lse[static_cast<std::size_t>((b * whole.heads + h0 + h) * whole.tokens + t0 + t)] = piece.lse_at(0, h, t);
        }
}

}  // namespace sparse_test
