#pragma once
// Per-(batch, kv head) kernels of kernelised linear attention (options.hpp gives the formula):
//   noncausal_item  S = φ(K)ᵀV, z = Σφ(k) over all keys, then o_i = φ(q_i)ᵀS / (φ(q_i)ᵀz + ε);
//   causal_item     the chunked form of linear attention (Katharopoulos et al. 2020): per chunk n of C tokens
//                     O_n = φ(Q_n)·S_n + (φ(Q_n)φ(K_n)ᵀ ⊙ M)·V_n    M lower-triangular incl. diagonal
//                     S_{n+1} = S_n + φ(K_n)ᵀ·V_n,  z likewise
//                   three products per chunk on the register-blocked kernel of gemm.hpp: the scores
//                   A = φQφKᵀ, then [φQ | A⊙M]·[S ; V] (inter- and intra-chunk in one pass), then the
//                   state update φKᵀ·V; the masked ones skip the zero triangle in whole register
//                   blocks. Rows two chunks ahead are prefetched: at L 8192 the inputs come from DRAM;
//   step_item       the recurrent form: per token S += φ(k)vᵀ, z += φ(k), then o = φ(q)ᵀS / (φ(q)ᵀz + ε).
// All query heads of a kv head (GQA) run in one item, so φ(K), V and S are prepared once per group.
// Buffers are per thread and grow-only: after the first call of a size nothing allocates.
#include <cmath>
#include <type_traits>

#include "attune/core/view.hpp"
#include "attune/kernel/scratch.hpp"
#include "attune/linear/feature_map.hpp"
#include "attune/linear/gemm.hpp"
#include "attune/simd/transpose.hpp"
#include "attune/linear/options.hpp"
#include "attune/simd/transpose.hpp"
#include "attune/simd/vec.hpp"

namespace attune::linear::detail {

struct linear_scratch {
    kernel::buffer kphi, kt, qphi, vc, o, a, den, state;
    static linear_scratch& local() {
        thread_local linear_scratch s;
        return s;
    }
};

// Σ_i a[i]·b[i] is simd::dot (this file and gated_delta.hpp call it so); the name stays for the
// callers in aaren.hpp and inline_attention.hpp.
using simd::dot;

// y[i] += x[i]
template <class Arch>
inline void add_to(float* y, const float* x, index_t n) {
    constexpr index_t W = lanes<Arch>;
    index_t i = 0;
    for (; i + W <= n; i += W) simd::store<Arch>(y + i, simd::load<Arch>(y + i) + simd::load<Arch>(x + i));
    for (; i < n; ++i) y[i] += x[i];
}

// dst[0..n) = src[0..n)·f converted to T.
template <class Arch, class T>
inline void store_scaled(T* dst, const float* src, index_t n, float f) {
    index_t i = 0;
    if constexpr (std::is_same_v<T, float>) {
        constexpr index_t W = lanes<Arch>;
        const simd::vec<Arch> fv = simd::broadcast<Arch>(f);
        for (; i + W <= n; i += W) simd::store<Arch>(dst + i, simd::load<Arch>(src + i) * fv);
    }
    for (; i < n; ++i) dst[i] = from_float<T>(src[i] * f);
}

// V rows converted to float, zero-padded to `stride` (the padding meets whole-vector products).
template <class Arch, class T>
inline void load_rows(const T* src, index_t src_stride, index_t n, index_t dv, float* dst, index_t stride) {
    for (index_t r = 0; r < n; ++r) {
        simd::convert_row<Arch>(src + r * src_stride, dst + r * stride, dv);
        for (index_t j = dv; j < stride; ++j) dst[r * stride + j] = 0.0f;
    }
}

// V_n, rows t0 … t0 + c of v, as float rows of whole vectors: float rows of whole vectors are read
// where they are; others are converted / padded into vc (stride dvp).
struct value_rows {
    const float* p;
    index_t stride;
};
template <class Arch, class TV>
value_rows chunk_values(const tensor_view<const TV>& v, index_t b, index_t hkv, index_t t0, index_t c, float* vc, index_t dvp) {
    constexpr index_t W = lanes<Arch>;
    const index_t dv = v.dim();
    const float* vb = vc;
    index_t vs = dvp;
    if constexpr (std::is_same_v<TV, float>) {
        if (dv % W == 0) vb = v.row(b, hkv, t0), vs = v.strides()[2];
    }
    if (vb == vc) load_rows<Arch>(v.row(b, hkv, t0), v.strides()[2], c, dv, vc, dvp);
    return {vb, vs};
}

// 1 / (den + ε), 0 where that is exactly 0 (nothing to attend to: zeros, never NaN); 1 unnormalised.
inline float normaliser(const options& opt, float den) {
    if (!opt.normalize) return 1.0f;
    const float d = den + opt.eps;
    return d == 0.0f ? 0.0f : 1.0f / d;
}

template <class Arch>
inline index_t colvecs(index_t n) {
    return (n + lanes<Arch> - 1) / lanes<Arch>;
}

template <class T>
inline void prefetch_for_read(const T* row, index_t n) {
    const char* p = reinterpret_cast<const char*>(row);
    for (index_t off = 0; off < n * index_t(sizeof(T)); off += 64) __builtin_prefetch(p + off, 0, 3);
}
template <class T>
inline void prefetch_for_write(T* row, index_t n) {
    char* p = reinterpret_cast<char*>(row);
    for (index_t off = 0; off < n * index_t(sizeof(T)); off += 64) __builtin_prefetch(p + off, 1, 3);
}

// ---- non-causal ----
template <class Arch, class Map, class TQ, class TK, class TV, class TO>
void noncausal_item(const Map& map, const options& opt, const tensor_view<const TQ>& q, const tensor_view<const TK>& k,
                    const tensor_view<const TV>& v, const tensor_view<TO>& out, index_t b, index_t hkv, index_t group) {
    const index_t lq = q.tokens(), lk = k.tokens(), dk = q.dim(), dv = v.dim();
    const index_t dvp = padded(dv), cv = colvecs<Arch>(dv);
    const index_t C = 64;  // tokens per pass: keeps φ(K) and V of a pass in L1/L2
    auto& ws = linear_scratch::local();
    float* S = ws.state.get(dk * dvp + padded(dk));
    float* z = S + dk * dvp;
    for (index_t i = 0; i < dk * dvp + padded(dk); ++i) S[i] = 0.0f;
    float* kphi = ws.kphi.get(C * dk);
    float* vc = ws.vc.get(C * dvp);
    for (index_t t0 = 0; t0 < lk; t0 += C) {
        const index_t c = lk - t0 < C ? lk - t0 : C;
        for (index_t n = 0; n < c; ++n) {
            if (t0 + 2 * C + n < lk) {  // two passes ahead, as in causal_item
                prefetch_for_read(k.row(b, hkv, t0 + 2 * C + n), dk);
                prefetch_for_read(v.row(b, hkv, t0 + 2 * C + n), dv);
            }
            apply_map<Arch>(map, k.row(b, hkv, t0 + n), kphi + n * dk, dk);
            add_to<Arch>(z, kphi + n * dk, dk);
        }
        const value_rows vr = chunk_values<Arch>(v, b, hkv, t0, c, vc, dvp);
        gemm<Arch, true>(kphi, 1, dk, vr.p, vr.stride, dk, c, cv, S, dvp);
    }
    float* qphi = ws.qphi.get(C * dk);
    float* o = ws.o.get(C * dvp);
    for (index_t g = 0; g < group; ++g) {
        const index_t h = hkv * group + g;
        for (index_t t0 = 0; t0 < lq; t0 += C) {
            const index_t c = lq - t0 < C ? lq - t0 : C;
            for (index_t n = 0; n < c; ++n) {
                if (t0 + 2 * C + n < lq) {
                    prefetch_for_read(q.row(b, h, t0 + 2 * C + n), dk);
                    prefetch_for_write(out.row(b, h, t0 + 2 * C + n), dv);
                }
                apply_map<Arch>(map, q.row(b, h, t0 + n), qphi + n * dk, dk);
            }
            gemm<Arch, false>(qphi, dk, 1, S, dvp, c, dk, cv, o, dvp);
            for (index_t n = 0; n < c; ++n)
                store_scaled<Arch>(out.row(b, h, t0 + n), o + n * dvp, dv, normaliser(opt, simd::dot<Arch>(qphi + n * dk, z, dk)));
        }
    }
}

// dst = src·f/‖src‖ (L2-normalised q and k of the delta rule and Titans' memory) (or src·f when !normalize); a zero vector stays zero.
template <class Arch, class T>
inline void load_normalised(const T* src, float* dst, index_t n, bool normalize, float f) {
    simd::convert_row<Arch>(src, dst, n);
    float g = f;
    if (normalize) {
        const float nn = simd::dot<Arch>(dst, dst, n);
        g = nn > 0.0f ? f / std::sqrt(nn) : 0.0f;
    }
    store_scaled<Arch>(dst, dst, n, g);
}

// dst[i][n] = src[n][i] for n < rows, i < cols; dst[i][rows..padded_rows) = 0 (whole-vector products
// read them). AVX-512: 16 rows at a time by register transposes (simd/transpose.hpp). Elsewhere,
// and for the last rows, contiguous stores with strided loads (loads have twice the ports). Not
// gathers: since the Gather Data Sampling mitigation they cost more than scalar loads (chunked
// causal ran at half the speed with them; bench/RESULTS.md).
template <class Arch>
inline void transpose_rows(const float* src, index_t cols, index_t rows, index_t padded_rows, float* dst, index_t dst_stride) {
    index_t rows_done = 0;
    if constexpr (simd::caps<Arch>::transpose16) {
        rows_done = rows / 16 * 16;
        for (index_t n0 = 0; n0 < rows_done; n0 += 16) {
            const void* block[16];
            for (index_t r = 0; r < 16; ++r) block[r] = src + (n0 + r) * cols;
            simd::pack_columns_16<Arch>(block, cols, cols, dst + n0, dst_stride);
        }
    }
    for (index_t i = 0; i < cols; ++i) {
        float* d = dst + i * dst_stride;
        for (index_t n = rows_done; n < rows; ++n) d[n] = src[n * cols + i];
        for (index_t n = rows; n < padded_rows; ++n) d[n] = 0.0f;
    }
}

// x with lanes ≥ n set to 0 (n ≥ 1).
template <class Arch>
inline simd::vec<Arch> keep_first(const simd::vec<Arch>& x, index_t n) {
    if constexpr (std::is_same_v<Arch, simd::scalar>) {
        return n >= 1 ? x : simd::vec<Arch>(0.0f);
    } else {
        using fb = xsimd::batch<float, Arch>;
        alignas(64) float lane[fb::size];
        for (std::size_t j = 0; j < fb::size; ++j) lane[j] = static_cast<float>(j);
        return xsimd::select(fb::load_aligned(lane) < fb(static_cast<float>(n)), x, fb(0.0f));
    }
}

// The chunked causal form's work space (per-thread scratch) and its shapes: chunk C, padded dims,
// the row stride e = dk + cp of E.
struct causal_chunk {
    index_t C, dk, dv, dvp, cp, cv, e;
    float* kphi;  // φ(K_n) rows [c][dk]
    float* kt;    // φ(K_n)ᵀ [dk][cp]
    float* ext;   // E = [φ(Q_n) | A] rows [c][dk + cp]
    float* sv;    // B = [S ; V_n] rows [dk + c][dvp] (V_n in place when it can)
    float* vc;
    float* o;  // O_n [c][dvp]
    float* den;
};

template <class Arch>
causal_chunk make_causal_chunk(index_t chunk, index_t L, index_t dk, index_t dv) {
    causal_chunk w;
    w.C = chunk < L ? chunk : L;
    w.dk = dk, w.dv = dv;
    w.dvp = padded(dv), w.cp = padded(w.C), w.cv = colvecs<Arch>(dv), w.e = dk + w.cp;
    auto& ws = linear_scratch::local();
    w.kphi = ws.kphi.get(w.C * dk);
    w.kt = ws.kt.get(dk * w.cp);
    w.ext = ws.qphi.get(w.C * w.e);
    w.sv = ws.vc.get((dk + w.C) * w.dvp);
    w.vc = w.sv + dk * w.dvp;
    w.o = ws.o.get(w.C * w.dvp);
    w.den = ws.den.get(w.C);
    return w;
}

// φ(K_n) rows of tokens t0 … t0 + c and their transpose; the K and V rows of the chunk after next
// (from pf0, `next` of them) are prefetched on the way.
template <class Arch, class Map, class TK, class TV>
void causal_chunk_keys(const causal_chunk& w, const Map& map, const tensor_view<const TK>& k, const tensor_view<const TV>& v, index_t b,
                       index_t hkv, index_t t0, index_t c, index_t pf0, index_t next) {
    constexpr index_t W = lanes<Arch>;
    const index_t dk = w.dk;
    for (index_t n = 0; n < c; ++n) {
        if (n < next) {
            prefetch_for_read(k.row(b, hkv, pf0 + n), dk);
            prefetch_for_read(v.row(b, hkv, pf0 + n), w.dv);
        }
        apply_map<Arch>(map, k.row(b, hkv, t0 + n), w.kphi + n * dk, dk);
    }
    transpose_rows<Arch>(w.kphi, dk, c, colvecs<Arch>(c) * W, w.kt, w.cp);
}

// Row r < c of the scores A: the future keys that the depth-limited product reads (up to the row
// block's end) zeroed, and with normalize the denominator φq_r·z + Σ_{n≤r} A[r][n] in den[r].
template <class Arch>
void causal_chunk_rows(const causal_chunk& w, const options& opt, index_t c, const float* z) {
    constexpr int RR = gemm_shape<Arch>::rows;
    constexpr index_t W = lanes<Arch>;
    const index_t dk = w.dk, e = w.e;
    float* a = w.ext + dk;
    for (index_t r = 0; r < c; ++r) {
        float* ar = a + r * e;
        const index_t block_end = r + RR < c ? r + RR : c;
        if (opt.normalize) {  // φq_r·z + Σ_{n≤r} A[r][n], one reduction
            // Whole vectors, the last one masked to n ≤ r: vector loads over the scalar
            // zeroing stores below would wait for them (no store forwarding).
            const index_t last = r / W * W;
            simd::vec<Arch> acc = simd::broadcast<Arch>(0.0f);
            for (index_t n = 0; n < last; n += W) acc += simd::load<Arch>(ar + n);
            acc += keep_first<Arch>(simd::load<Arch>(ar + last), r - last + 1);
            const float* qr = w.ext + r * e;
            index_t i = 0;
            for (; i + W <= dk; i += W) acc = simd::fma(simd::load<Arch>(qr + i), simd::load<Arch>(z + i), acc);
            float sum = simd::reduce_add(acc);
            for (; i < dk; ++i) sum += qr[i] * z[i];
            w.den[r] = sum;
        }
        for (index_t n = r + 1; n < block_end; ++n) ar[n] = 0.0f;
    }
}

// Query head h over the chunk: A = φQ·φKᵀ, then O = φQ·S + (A⊙M)·V in one pass, normalised into out.
template <class Arch, class Map, class TQ, class TO>
void causal_chunk_head(const causal_chunk& w, const Map& map, const options& opt, const tensor_view<const TQ>& q,
                       const tensor_view<TO>& out, index_t b, index_t h, index_t t0, index_t c, index_t pf0, index_t next,
                       const value_rows& vr, const float* z) {
    const index_t dk = w.dk, e = w.e;
    for (index_t n = 0; n < c; ++n) {
        if (n < next) {
            prefetch_for_read(q.row(b, h, pf0 + n), dk);
            prefetch_for_write(out.row(b, h, pf0 + n), w.dv);
        }
        apply_map<Arch>(map, q.row(b, h, t0 + n), w.ext + n * e, dk);
    }
    float* a = w.ext + dk;
    gemm<Arch, false, triangle::columns>(w.ext, e, 1, w.kt, w.cp, c, dk, colvecs<Arch>(c), a, e);  // A = φQ·φKᵀ
    causal_chunk_rows<Arch>(w, opt, c, z);
    // O = φQ·S + (A⊙M)·V in one pass
    gemm<Arch, false, triangle::depth>(w.ext, e, 1, w.sv, w.dvp, c, dk + c, w.cv, w.o, w.dvp, dk, dk, vr.p, vr.stride);
    for (index_t r = 0; r < c; ++r) store_scaled<Arch>(out.row(b, h, t0 + r), w.o + r * w.dvp, w.dv, normaliser(opt, w.den[r]));
}

template <class Arch, class Map, class TQ, class TK, class TV, class TO>
void causal_item(const Map& map, const options& opt, const tensor_view<const TQ>& q, const tensor_view<const TK>& k,
                 const tensor_view<const TV>& v, const tensor_view<TO>& out, index_t b, index_t hkv, index_t group, float* S, float* z) {
    const index_t L = k.tokens();
    const causal_chunk w = make_causal_chunk<Arch>(opt.chunk, L, q.dim(), v.dim());
    const index_t C = w.C, dk = w.dk, n_state = dk * w.dvp;
    for (index_t i = 0; i < n_state; ++i) w.sv[i] = S[i];
    for (index_t t0 = 0; t0 < L; t0 += C) {
        const index_t c = L - t0 < C ? L - t0 : C;
        // Rows two chunks ahead are fetched while this one computes, row by row (one chunk ahead
        // is too late: the data is not there in time at long L).
        const index_t pf0 = t0 + c + C;
        const index_t next = L - pf0 < C ? (L - pf0 > 0 ? L - pf0 : 0) : C;
        causal_chunk_keys<Arch>(w, map, k, v, b, hkv, t0, c, pf0, next);
        const value_rows vr = chunk_values<Arch>(v, b, hkv, t0, c, w.vc, w.dvp);
        for (index_t g = 0; g < group; ++g) causal_chunk_head<Arch>(w, map, opt, q, out, b, hkv * group + g, t0, c, pf0, next, vr, z);
        gemm<Arch, true>(w.kphi, 1, dk, vr.p, vr.stride, dk, c, w.cv, w.sv, w.dvp);  // S += φKᵀ·V
        for (index_t n = 0; n < c; ++n) add_to<Arch>(z, w.kphi + n * dk, dk);
    }
    for (index_t i = 0; i < n_state; ++i) S[i] = w.sv[i];
}

// ---- recurrent: token by token ----
template <class Arch, class Map, class TQ, class TK, class TV, class TO>
void step_item(const Map& map, const options& opt, const tensor_view<const TQ>& q, const tensor_view<const TK>& k,
               const tensor_view<const TV>& v, const tensor_view<TO>& out, index_t b, index_t hkv, index_t group, float* S, float* z) {
    const index_t L = k.tokens(), dk = q.dim(), dv = v.dim();
    const index_t dvp = padded(dv), cv = colvecs<Arch>(dv);
    auto& ws = linear_scratch::local();
    float* kphi = ws.kphi.get(dk);
    float* qphi = ws.qphi.get(dk);
    float* vc = ws.vc.get(dvp);
    float* o = ws.o.get(dvp);
    for (index_t t = 0; t < L; ++t) {
        apply_map<Arch>(map, k.row(b, hkv, t), kphi, dk);
        load_rows<Arch>(v.row(b, hkv, t), 0, 1, dv, vc, dvp);
        gemm<Arch, true>(kphi, 1, 0, vc, 0, dk, 1, cv, S, dvp);  // S += φ(k)·vᵀ (rank 1)
        add_to<Arch>(z, kphi, dk);
        for (index_t g = 0; g < group; ++g) {
            const index_t h = hkv * group + g;
            apply_map<Arch>(map, q.row(b, h, t), qphi, dk);
            gemm<Arch, false>(qphi, 0, 1, S, dvp, 1, dk, cv, o, dvp);  // o = φ(q)ᵀS
            const float den = opt.normalize ? simd::dot<Arch>(qphi, z, dk) : 0.0f;
            store_scaled<Arch>(out.row(b, h, t), o, dv, normaliser(opt, den));
        }
    }
}

}  // namespace attune::linear::detail
