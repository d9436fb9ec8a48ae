#pragma once
// InLine attention (injective linear attention: Han et al., "Bridging the Divide: Reconsidering
// Softmax and Linear Attention", 2024), non-causal, per
// (batch, query head), N keys, kernel weight c = scale/N (the authors' code: scale = 1/√d, φ = identity):
//   w_ij = c·(φq_i·φk_j − φq_i·k̄) + 1/N,   k̄ = (1/N) Σ_s φk_s     (each row sums to 1; weights may be < 0)
//   o_i  = c·φq_iᵀ (Σ_j φk_j v_jᵀ) + (1 − c·φq_i·Σ_s φk_s)·v̄,      v̄ = (1/N) Σ_j v_j
// inline_options{scale, divide_by_tokens}: c = scale/N (default) or c = scale; the paper's plain form
// w_ij = φq_i·φk_j − (1/N)Σ_s φq_i·φk_s + 1/N is scale 1, divide_by_tokens false.
//
// inline_local_conv adds InLine's local term, a 3×3 depthwise convolution of V laid out as an
// H×W image (token t = y·W + x), zero padding 1, one kernel per (sample, head, channel) (the model
// generates them per sample), cross-correlation as PyTorch's conv2d:
//   out[y][x][c] += Σ_{dy,dx ∈ {−1,0,1}} w[c][(dy+1)·3 + (dx+1)] · v[y+dy][x+dx][c]
// kernels: [B, H, dv, 9]. It is separate and optional: call it after linear::inline_attention.
#include <cmath>

#include "attune/exec/executor.hpp"
#include "attune/linear/check.hpp"
#include "attune/linear/feature_map.hpp"
#include "attune/linear/kernels.hpp"
#include "attune/simd/arch.hpp"
#include "attune/exec/region.hpp"

namespace attune::linear {

/// Options of inline_attention: the kernel weight c = scale/N (default) or c = scale.
struct inline_options {
    float scale = 0.0f;            ///< 0 means 1/√dk
    bool divide_by_tokens = true;  ///< c = scale/N (InLine's code); false: c = scale
};

namespace detail {

template <class Arch, class Map, class TQ, class TK, class TV, class TO>
void inline_item(const Map& map, float scale, const inline_options& io, const tensor_view<const TQ>& q, const tensor_view<const TK>& k,
                 const tensor_view<const TV>& v, const tensor_view<TO>& out, index_t b, index_t hkv, index_t group) {
    const index_t lq = q.tokens(), N = k.tokens(), dk = q.dim(), dv = v.dim();
    const index_t dvp = padded(dv), cv = colvecs<Arch>(dv), C = 64;
    const float c = io.divide_by_tokens ? scale / static_cast<float>(N) : scale;
    auto& ws = linear_scratch::local();
    float* S = ws.state.get(dk * dvp + padded(dk) + dvp);
    float* ksum = S + dk * dvp;
    float* vmean = ksum + padded(dk);
    for (index_t i = 0; i < dk * dvp + padded(dk) + dvp; ++i) S[i] = 0.0f;
    float* kphi = ws.kphi.get(C * dk);
    float* vc = ws.vc.get(C * dvp);
    for (index_t t0 = 0; t0 < N; t0 += C) {
        const index_t n = N - t0 < C ? N - t0 : C;
        for (index_t r = 0; r < n; ++r) {
            apply_map<Arch>(map, k.row(b, hkv, t0 + r), kphi + r * dk, dk);
            add_to<Arch>(ksum, kphi + r * dk, dk);
        }
        load_rows<Arch>(v.row(b, hkv, t0), v.strides()[2], n, dv, vc, dvp);
        for (index_t r = 0; r < n; ++r) add_to<Arch>(vmean, vc + r * dvp, dvp);
        gemm<Arch, true>(kphi, 1, dk, vc, dvp, dk, n, cv, S, dvp);
    }
    store_scaled<Arch>(vmean, vmean, dvp, 1.0f / static_cast<float>(N));
    float* qphi = ws.qphi.get(C * dk);
    float* o = ws.o.get(C * dvp);
    constexpr index_t W = lanes<Arch>;
    for (index_t g = 0; g < group; ++g) {
        const index_t h = hkv * group + g;
        for (index_t t0 = 0; t0 < lq; t0 += C) {
            const index_t n = lq - t0 < C ? lq - t0 : C;
            for (index_t r = 0; r < n; ++r) apply_map<Arch>(map, q.row(b, h, t0 + r), qphi + r * dk, dk);
            gemm<Arch, false>(qphi, dk, 1, S, dvp, n, dk, cv, o, dvp);
            for (index_t r = 0; r < n; ++r) {
                float* orow = o + r * dvp;
                const simd::vec<Arch> cvec = simd::broadcast<Arch>(c);
                const simd::vec<Arch> mix = simd::broadcast<Arch>(1.0f - c * dot<Arch>(qphi + r * dk, ksum, dk));
                for (index_t j = 0; j < cv * W; j += W)
                    simd::store<Arch>(orow + j, simd::fma(mix, simd::load<Arch>(vmean + j), simd::load<Arch>(orow + j) * cvec));
                store_scaled<Arch>(out.row(b, h, t0 + r), orow, dv, 1.0f);
            }
        }
    }
}

}  // namespace detail

/// InLine attention, non-causal: o_i = c·φq_iᵀ(Σ_j φk_j v_jᵀ) + (1 − c·φq_i·Σ_s φk_s)·v̄ (see the
/// top of this file), q [B, Hq, Lq, dk], k [B, Hkv, N, dk], v [B, Hkv, N, dv], out [B, Hq, Lq, dv];
/// `map` is φ (identity, as the authors' code).
template <class Arch = default_arch, class Q, class K, class V, class O, class Map = identity, class Exec = default_executor>
void inline_attention(const Q& q_in, const K& k_in, const V& v_in, const O& out_in, const Map& map = {}, const inline_options& io = {},
                      const Exec& exec = {}) {
    const tensor_view<const detail::element_t<Q>> q = q_in;
    const tensor_view<const detail::element_t<K>> k = k_in;
    const tensor_view<const detail::element_t<V>> v = v_in;
    const tensor_view<detail::element_t<O>> out = out_in;
    const char* fn = "linear::inline_attention";
    detail::check_qkvo(fn, q, k, v, out, false);
    detail::require(k.tokens() > 0 || q.tokens() == 0, fn, ": no keys (N = 0) for ", q.tokens(), " queries");
    detail::require(std::isfinite(io.scale) && io.scale >= 0.0f, fn,
                    ": inline_options::scale must be finite and ≥ 0 (0 selects 1/sqrt(dk)), got ", io.scale);
    if (q.tokens() == 0) return;
    const float scale = io.scale > 0.0f ? io.scale : 1.0f / std::sqrt(static_cast<float>(q.dim()));
    const index_t group = q.heads() / k.heads(), kv_heads = k.heads();
    ::attune::detail::parallel_for(exec, q.batch() * kv_heads, [&](index_t item) {
        detail::inline_item<Arch>(map, scale, io, q, k, v, out, item / kv_heads, item % kv_heads, group);
    });
}

/// out += 3×3 depthwise conv of v on the grid_h × grid_w token grid (see the top of this file);
/// `kernels_in` is [B, H, dv, 9], one 3×3 kernel per (sample, head, channel).
template <class Arch = default_arch, class V, class Kern, class O, class Exec = default_executor>
void inline_local_conv(const V& v_in, const Kern& kernels_in, const O& out_in, index_t grid_h, index_t grid_w, const Exec& exec = {}) {
    const tensor_view<const detail::element_t<V>> v = v_in;
    const tensor_view<const detail::element_t<Kern>> w = kernels_in;
    const tensor_view<detail::element_t<O>> out = out_in;
    const char* fn = "linear::inline_local_conv";
    detail::require_data(v, fn, "v");
    detail::require_data(w, fn, "kernels");
    detail::require_data(out, fn, "out");
    detail::require(grid_h > 0 && grid_w > 0, fn, ": grid ", grid_h, "×", grid_w, " must have positive sides");
    const index_t cells = attune::detail::checked_mul(grid_h, grid_w, "linear::inline_local_conv: grid_h × grid_w");
    detail::require(v.tokens() == cells, fn, ": v has ", v.tokens(), " tokens, the ", grid_h, "×", grid_w, " grid needs ", cells);
    detail::require(out.shape() == v.shape(), fn, ": out shape must equal v's [", v.batch(), ", ", v.heads(), ", ", v.tokens(), ", ",
                    v.dim(), "]");
    detail::require(w.batch() == v.batch() && w.heads() == v.heads() && w.tokens() == v.dim() && w.dim() == 9, fn, ": kernels shape [",
                    w.batch(), ", ", w.heads(), ", ", w.tokens(), ", ", w.dim(), "] must be [", v.batch(), ", ", v.heads(), ", ", v.dim(),
                    ", 9] (one 3×3 kernel per channel)");
    detail::require_no_alias(fn, out, detail::named(v, "v"), detail::named(w, "kernels"));
    using TO = detail::element_t<O>;
    const index_t H = v.heads(), dv = v.dim(), dvp = detail::padded(dv);
    ::attune::detail::parallel_for(exec, v.batch() * H, [&](index_t item) {
        const index_t b = item / H, h = item % H;
        auto& ws = detail::linear_scratch::local();
        float* taps = ws.a.get(9 * dvp + dvp);  // [tap][channel]: a vector of weights per tap
        float* acc = taps + 9 * dvp;
        for (index_t c = 0; c < dv; ++c)
            for (index_t t = 0; t < 9; ++t) taps[t * dvp + c] = to_float(w.row(b, h, c)[t]);
        for (index_t y = 0; y < grid_h; ++y)
            for (index_t x = 0; x < grid_w; ++x) {
                const index_t tok = y * grid_w + x;
                const TO* orow = out.row(b, h, tok);
                for (index_t c = 0; c < dv; ++c) acc[c] = to_float(orow[c]);
                for (index_t dy = -1; dy <= 1; ++dy)
                    for (index_t dx = -1; dx <= 1; ++dx) {
                        const index_t yy = y + dy, xx = x + dx;
                        if (yy < 0 || yy >= grid_h || xx < 0 || xx >= grid_w) continue;
                        const auto* vr = v.row(b, h, yy * grid_w + xx);
                        const float* tw = taps + ((dy + 1) * 3 + (dx + 1)) * dvp;
                        index_t c = 0;
                        constexpr index_t W = detail::lanes<Arch>;
                        for (; c + W <= dv; c += W)
                            simd::store<Arch>(acc + c,
                                              simd::fma(simd::load<Arch>(tw + c), simd::load<Arch>(vr + c), simd::load<Arch>(acc + c)));
                        for (; c < dv; ++c) acc[c] += tw[c] * to_float(vr[c]);
                    }
                detail::store_scaled<Arch>(out.row(b, h, tok), acc, dv, 1.0f);
            }
    });
}

}  // namespace attune::linear
