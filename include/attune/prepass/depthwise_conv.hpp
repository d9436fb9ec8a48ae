#pragma once
/// @file
/// depthwise_conv_tokens: a depth-wise 1-D convolution over the sequence, one kernel per channel
/// (head, d), the pre-pass RCMHA applies to the projected queries, keys and values (Sugiharto,
/// Aradea and Mubarok, "RCMHA: Relative Convolutional Multi-Head Attention for Natural Language
/// Modelling", 2023, after Primer's Multi-DConv-Head Attention, So et al. 2021):
///   y[t][c] = b[c] + Σ_{k<K} w[c][k] · x[t − left + k][c],    x = 0 outside the sequence,
/// left = K − 1 (conv_padding::causal: a decoder sees no later token) or ⌊(K − 1)/2⌋
/// (conv_padding::same: PyTorch's padding="same"). This is PyTorch's Conv1d(C, C, K, groups=C)
/// (a cross-correlation), weights [C][K] as its [C][1][K].
///
/// Decoding: `out` may be a suffix of the sequence: out row t is token in.tokens() − out.tokens() + t,
/// so a cache step passes the last K − 1 raw rows before the new ones (or the whole raw sequence)
/// as `in` and gets the new rows' convolution only. Arithmetic in float, taps in order k = 0…K − 1;
/// storage float, bf16 or half.
#include <cmath>
#include <type_traits>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/overlap.hpp"
#include "attune/core/view.hpp"
#include "attune/exec/executor.hpp"
#include "attune/exec/region.hpp"
#include "attune/kernel/scratch.hpp"
#include "attune/simd/vec.hpp"

namespace attune {

/// Where the convolution window sits relative to its output token.
enum class conv_padding {
    causal,  ///< tokens t − K + 1 … t (decoders)
    same,    ///< tokens t − ⌊(K − 1)/2⌋ … t + ⌈(K − 1)/2⌉ (encoders; PyTorch's padding="same")
};

/// A depth-wise convolution over tokens: one kernel of `kernel` taps per (head, channel).
struct depthwise_conv {
    std::vector<float> weight;                    ///< w: [heads][dim][kernel], tap k reads token t − left + k
    std::vector<float> bias;                      ///< b: [heads][dim], or empty for none
    index_t heads = 0;                            ///< heads of the convolved tensor
    index_t dim = 0;                              ///< its head dim
    index_t kernel = 0;                           ///< K ≥ 1
    conv_padding padding = conv_padding::causal;  ///< causal or centred window

    /// Tokens before the output token the window reads: K − 1 or ⌊(K − 1)/2⌋.
    index_t left() const noexcept { return padding == conv_padding::causal ? kernel - 1 : (kernel - 1) / 2; }

    /// Throws attune::error unless the sizes are ≥ 1, weight (and bias) have their sizes and every value is finite.
    void check() const {
        detail::require(heads >= 1, "depthwise_conv: heads must be ≥ 1, got ", heads);
        detail::require(dim >= 1, "depthwise_conv: dim must be ≥ 1, got ", dim);
        detail::require(kernel >= 1, "depthwise_conv: kernel size must be ≥ 1, got ", kernel);
        const index_t n = detail::checked_product("depthwise_conv: heads × dim × kernel", heads, dim, kernel);
        detail::require(static_cast<index_t>(weight.size()) == n, "depthwise_conv: ", weight.size(),
                        " weight values, expected heads × dim × kernel = ", n);
        detail::require(bias.empty() || static_cast<index_t>(bias.size()) == heads * dim, "depthwise_conv: ", bias.size(),
                        " bias values, expected none or heads × dim = ", heads * dim);
        for (std::size_t i = 0; i < weight.size(); ++i)
            detail::require(std::isfinite(weight[i]), "depthwise_conv: weight[", i, "] must be finite, got ", weight[i]);
        for (std::size_t i = 0; i < bias.size(); ++i)
            detail::require(std::isfinite(bias[i]), "depthwise_conv: bias[", i, "] must be finite, got ", bias[i]);
    }
};

namespace detail {

inline kernel::buffer& depthwise_conv_scratch() {
    thread_local kernel::buffer b;
    return b;
}

}  // namespace detail

/// `out` = the depth-wise convolution `conv` of `in` over tokens (see the top of this file): same
/// batch, heads and dim; out.tokens() ≤ in.tokens(), out being the last out.tokens() tokens. `out`
/// may not share memory with `in` (earlier rows are read after later ones are written) nor with
/// the weights.
template <class Arch = default_arch, class TI, class TO, class Exec = default_executor>
void depthwise_conv_tokens(const depthwise_conv& conv, tensor_view<TI> in, tensor_view<TO> out, const Exec& exec = {}) {
    static_assert(!std::is_const_v<TO>, "attune::depthwise_conv_tokens: out must be a view of non-const elements");
    conv.check();
    detail::require(in.data() != nullptr || in.size() == 0, "depthwise_conv_tokens: in has null data");
    detail::require(out.data() != nullptr || out.size() == 0, "depthwise_conv_tokens: out has null data");
    detail::require(in.batch() == out.batch() && in.heads() == out.heads() && in.dim() == out.dim(), "depthwise_conv_tokens: out shape [",
                    out.batch(), ", ", out.heads(), ", ", out.tokens(), ", ", out.dim(), "] differs from in shape [", in.batch(), ", ",
                    in.heads(), ", ", in.tokens(), ", ", in.dim(), "] in batch, heads or dim");
    detail::require(out.tokens() <= in.tokens(), "depthwise_conv_tokens: out has ", out.tokens(), " tokens, more than in (", in.tokens(),
                    ")");
    detail::require(conv.heads == in.heads(), "depthwise_conv_tokens: weights for ", conv.heads, " heads, in has ", in.heads());
    detail::require(conv.dim == in.dim(), "depthwise_conv_tokens: weights of dim ", conv.dim, ", in has head dim ", in.dim());
    detail::require(!detail::overlaps_itself(out),
                    "depthwise_conv_tokens: out overlaps itself: two of its rows share memory (check its strides)");
    detail::require(!detail::shares_elements(out, in),
                    "depthwise_conv_tokens: out overlaps in (the convolution reads tokens around each row)");
    const auto flat = [](const std::vector<float>& x) {
        return tensor_view<const float>(x.data(), {1, 1, 1, static_cast<index_t>(x.size())}, {0, 0, static_cast<index_t>(x.size())});
    };
    detail::require(!detail::shares_elements(out, flat(conv.weight)), "depthwise_conv_tokens: out overlaps depthwise_conv::weight");
    detail::require(conv.bias.empty() || !detail::shares_elements(out, flat(conv.bias)),
                    "depthwise_conv_tokens: out overlaps depthwise_conv::bias");

    const index_t L = in.tokens(), n = in.dim(), K = conv.kernel, left = conv.left(), skip = in.tokens() - out.tokens();
    ::attune::detail::parallel_for(exec, in.batch() * in.heads(), [&](index_t bh) {
        const index_t b = bh / in.heads(), h = bh % in.heads();
        // Per head: the taps transposed to [K][dim] (contiguous over channels), a row, the sum.
        float* w = detail::depthwise_conv_scratch().get(K * n + 2 * n);
        float *x = w + K * n, *acc = x + n;
        for (index_t d = 0; d < n; ++d)
            for (index_t k = 0; k < K; ++k) w[k * n + d] = conv.weight[static_cast<std::size_t>((h * n + d) * K + k)];
        const float* bias = conv.bias.empty() ? nullptr : conv.bias.data() + h * n;
        for (index_t t = 0; t < out.tokens(); ++t) {
            const index_t p = skip + t;  // the output row's token in `in`
            for (index_t d = 0; d < n; ++d) acc[d] = bias != nullptr ? bias[d] : 0.0f;
            for (index_t k = 0; k < K; ++k) {
                const index_t s = p - left + k;
                if (s < 0 || s >= L) continue;  // zero padding
                simd::convert_row<Arch>(in.row(b, h, s), x, n);
                const float* wk = w + k * n;
                for (index_t d = 0; d < n; ++d) acc[d] += wk[d] * x[d];
            }
            TO* y = out.row(b, h, t);
            for (index_t d = 0; d < n; ++d) y[d] = from_float<TO>(acc[d]);
        }
    });
}

}  // namespace attune
