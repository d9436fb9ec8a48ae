#pragma once
// The position-wise parts of a decoder layer, as transformers' model code computes them: RMSNorm,
// the SwiGLU MLP, gpt-oss's mixture of experts; and the rounding of activations to the storage
// type of a run (a bf16 run rounds each operation's output to bf16, as torch's bf16 modules do).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <type_traits>
#include <vector>

#include "config.hpp"
#include "weights.hpp"

namespace llm {

/// Rounds every element to T's precision (nothing for float).
template <class T>
void settle(matrix& x) {
    if constexpr (!std::is_same_v<T, float>) x = x.unaryExpr([](float v) { return static_cast<float>(static_cast<T>(v)); });
}

/// RMSNorm (Zhang & Sennrich 2019): x / √(mean(x²) + ε) · w, per row.
inline matrix rms_norm(const matrix& x, const row_vector& w, double eps) {
    matrix y(x.rows(), x.cols());
    for (Eigen::Index r = 0; r < x.rows(); ++r) {
        const float ms = x.row(r).squaredNorm() / static_cast<float>(x.cols());
        const float inv = 1.0f / std::sqrt(ms + static_cast<float>(eps));
        y.row(r) = (x.row(r) * inv).cwiseProduct(w);
    }
    return y;
}

inline float silu(float g) { return g / (1.0f + std::exp(-g)); }

/// down(silu(gate(x)) · up(x)) (Shazeer 2020).
template <class T>
matrix swiglu(const swiglu_weights& w, const matrix& x) {
    matrix g = w.gate(x), u = w.up(x);
    settle<T>(g), settle<T>(u);
    matrix h = g.unaryExpr([](float v) { return silu(v); });
    settle<T>(h);
    h = h.cwiseProduct(u);
    settle<T>(h);
    return w.down(h);
}

/// gpt-oss's MoE: the router's top-k experts per token, weighted by the softmax of their logits;
/// each expert (clamp(up, ±limit) + 1) · g·σ(α·g), g = min(gate, limit), gate and up interleaved.
template <class T>
matrix mixture_of_experts(const config& c, const moe_weights& w, const matrix& x) {
    matrix logits = w.router(x);
    settle<T>(logits);
    matrix y = matrix::Zero(x.rows(), x.cols());
    const auto k = static_cast<std::size_t>(c.experts_per_token);
    const float alpha = static_cast<float>(c.swiglu_alpha), limit = static_cast<float>(c.swiglu_limit);
    std::vector<int> order(static_cast<std::size_t>(c.experts));
    std::vector<float> weight(k);
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
        std::iota(order.begin(), order.end(), 0);
        // torch.topk: largest first (ties to the lower index, which stable_sort keeps)
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits(t, a) > logits(t, b); });
        const float top = logits(t, order[0]);
        float sum = 0;
        for (std::size_t i = 0; i < k; ++i) sum += weight[i] = std::exp(logits(t, order[i]) - top);
        for (std::size_t i = 0; i < k; ++i) {
            const auto e = static_cast<std::size_t>(order[i]);
            row_vector gu = x.row(t) * w.gate_up[e] + w.gate_up_bias[e];
            row_vector h(gu.size() / 2);
            for (Eigen::Index j = 0; j < h.size(); ++j) {
                const float g = std::min(gu(2 * j), limit), u = std::clamp(gu(2 * j + 1), -limit, limit);
                h(j) = (u + 1.0f) * (g / (1.0f + std::exp(-alpha * g)));
            }
            y.row(t) += (weight[i] / sum) * (h * w.down[e] + w.down_bias[e]);
        }
    }
    return y;
}

}  // namespace llm
