#pragma once
// Activations σ of a deep neural memory M(x) = W2 σ(W1 x) (Titans, Behrouz et al., 2024, §3.1):
// the memory learns by gradient descent at test time, so each policy gives σ and its derivative σ'.
// A struct of your own with the same two static functions works too.
#include <cmath>

namespace attune::linear {

/// GELU, σ(x) = x·Φ(x) with the exact normal CDF Φ (Hendrycks & Gimpel, 2016): the activation of
/// the memory MLP in the public Titans implementation (lucidrains/titans-pytorch, MemoryMLP).
struct gelu {
    /// σ(x)
    static float value(float x) noexcept { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
    /// σ'(x) = Φ(x) + x·φ(x)
    static float derivative(float x) noexcept {
        return 0.5f * (1.0f + std::erf(x * 0.70710678118654752f)) + x * 0.39894228040143268f * std::exp(-0.5f * x * x);
    }
};

/// SiLU, σ(x) = x·sigmoid(x) (the activation Titans applies to its q, k, v projections, §4.4).
struct silu {
    /// σ(x)
    static float value(float x) noexcept { return x / (1.0f + std::exp(-x)); }
    /// σ'(x) = s·(1 + x·(1 − s)), s = sigmoid(x)
    static float derivative(float x) noexcept {
        const float s = 1.0f / (1.0f + std::exp(-x));
        return s * (1.0f + x * (1.0f - s));
    }
};

}  // namespace attune::linear
