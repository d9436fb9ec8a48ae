#pragma once
// Options of kernelised linear attention (Katharopoulos et al., "Transformers are RNNs", 2020):
//   o_i = φ(q_i)ᵀ S / (φ(q_i)ᵀ z + ε)   normalised (default), S = Σ_j φ(k_j) v_jᵀ, z = Σ_j φ(k_j)
//   o_i = φ(q_i)ᵀ S                      with normalize = false
// over all keys (non-causal) or keys j ≤ i (causal). No √d scale: scale q before the call if wanted.
// A row whose normaliser φ(q_i)ᵀz + ε is exactly 0 (relu features all zero, ε = 0) gives zeros.
#include <cmath>

#include "attune/core/error.hpp"
#include "attune/core/types.hpp"

namespace attune::linear {

/// Options of kernelised linear attention (attention, causal, prefill, step).
struct options {
    index_t chunk = 64;     ///< tokens per chunk of the causal chunked form (any L; the last chunk may be short)
    bool normalize = true;  ///< divide by φ(q)ᵀz + eps
    float eps = 1e-6f;      ///< added to the normaliser
};

namespace detail {
inline void check_options(const char* fn, const options& opt) {
    attune::detail::require(opt.chunk > 0, fn, ": options::chunk must be ≥ 1, got ", opt.chunk);
    attune::detail::require(std::isfinite(opt.eps) && opt.eps >= 0.0f, fn, ": options::eps must be finite and ≥ 0, got ", opt.eps);
}
}  // namespace detail

}  // namespace attune::linear
