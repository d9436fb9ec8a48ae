#pragma once
// Landmark attention, the form of a model trained with landmark tokens (Mohtashami & Jaggi,
// "Landmark Attention: Random-Access Infinite Context Length for Transformers", 2023, Sec. 3.1,
// the grouped softmax; the authors' landmark_grouped_softmax in epfml/landmark-attention).
//
// The sequence is cut into blocks of `block` tokens; the model gives each complete block a landmark
// key (its landmark token's key). A query in block c sees two levels:
//  - the top group: the landmarks of the blocks before c and the tokens of its own block c up to
//    itself, under one softmax;
//  - block b < c: its tokens under a softmax of their own, scaled by landmark b's top-group weight.
// A landmark carries no value (the authors multiply its probability by zero) and the landmark of
// the query's own block is not seen. So, with s = τ·q·k:
//   w(j in block b < c) = softmax_block b(s)_j · softmax_top(s)_landmark b
//   w(j in block c)     = softmax_top(s)_j
//
//   attune::landmark_attention(q, k, v, landmarks, out, /*block*/ 50);   // landmarks [B, Hkv, Lk / 50, Dk]
//
// The landmark tokens themselves are not rows of q, k, v here: k holds the ordinary tokens only, and
// `landmarks` one key per complete block. A landmark's own query sees exactly what the last token of
// its block sees, so its output is this function's for that query at its block's last position.
// Positions are the caller's: in the authors' layout a landmark occupies a position after its
// block (block b's tokens at b·(block + 1) + j, its landmark at b·(block + 1) + block), so keys
// and queries are rotated there before the call.
#include <cmath>
#include <cstdint>
#include <vector>

#include "attune/attention.hpp"
#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/overlap.hpp"
#include "attune/core/types.hpp"
#include "attune/core/view.hpp"
#include "attune/exec/region.hpp"
#include "attune/simd/vec.hpp"

namespace attune {
namespace detail {

// One query row of the grouped softmax over G retrieved or earlier blocks of B tokens each, their G
// landmarks and C tokens of the query's own block. q is already scaled by τ. The rows come from
// callables (block_key(g, j), block_value(g, j), landmark(g), local_key(j), local_value(j)) returning
// row pointers of any storage type; out[dv] receives Σ w·v. Each group subtracts its own maximum
// (the authors' scatter_reduce amax), so no group underflows because another one is large.
template <class Arch, class BK, class BV, class LK, class CK, class CV>
void landmark_grouped_row(const float* q, index_t dk, index_t dv, index_t G, index_t B, index_t C, BK&& block_key, BV&& block_value,
                          LK&& landmark, CK&& local_key, CV&& local_value, float* out) {
    thread_local std::vector<float> row, top, inner;
    row.resize(static_cast<std::size_t>(dk > dv ? dk : dv));
    top.resize(static_cast<std::size_t>(G + C));
    inner.resize(static_cast<std::size_t>(B));
    auto score = [&](const auto* k) {
        simd::convert_row<Arch>(k, row.data(), dk);
        return simd::dot<Arch>(q, row.data(), dk);
    };
    auto add = [&](const auto* v, float w) {
        simd::convert_row<Arch>(v, row.data(), dv);
        for (index_t d = 0; d < dv; ++d) out[d] += w * row[static_cast<std::size_t>(d)];
    };
    for (index_t d = 0; d < dv; ++d) out[d] = 0.0f;
    if (G + C == 0) return;  // an empty row gives zeros
    float m = -INFINITY;
    for (index_t g = 0; g < G; ++g) m = std::fmax(m, top[static_cast<std::size_t>(g)] = score(landmark(g)));
    for (index_t j = 0; j < C; ++j) m = std::fmax(m, top[static_cast<std::size_t>(G + j)] = score(local_key(j)));
    double z = 0.0;
    for (index_t e = 0; e < G + C; ++e) z += std::exp(static_cast<double>(top[static_cast<std::size_t>(e)] - m));
    const double inv_z = 1.0 / z;
    for (index_t j = 0; j < C; ++j)
        add(local_value(j), static_cast<float>(std::exp(static_cast<double>(top[static_cast<std::size_t>(G + j)] - m)) * inv_z));
    for (index_t g = 0; g < G; ++g) {
        const double gate = std::exp(static_cast<double>(top[static_cast<std::size_t>(g)] - m)) * inv_z;
        float mb = -INFINITY;
        for (index_t j = 0; j < B; ++j) mb = std::fmax(mb, inner[static_cast<std::size_t>(j)] = score(block_key(g, j)));
        double zb = 0.0;
        for (index_t j = 0; j < B; ++j) zb += std::exp(static_cast<double>(inner[static_cast<std::size_t>(j)] - mb));
        for (index_t j = 0; j < B; ++j)
            add(block_value(g, j), static_cast<float>(gate * std::exp(static_cast<double>(inner[static_cast<std::size_t>(j)] - mb)) / zb));
    }
}

}  // namespace detail

/// Landmark attention's grouped softmax (Mohtashami & Jaggi 2023), causal, bottom-right aligned.
///
/// q [B, Hq, Lq, Dk], k [B, Hkv, Lk, Dk], v [B, Hkv, Lk, Dv] (the ordinary tokens, landmark tokens
/// left out), `landmarks` [B, Hkv, Lk / block, Dk] (block b's landmark key, one per complete block),
/// out [B, Hq, Lq, Dv]; Hq a multiple of Hkv (query head h reads kv head h / (Hq / Hkv)). Query i sits
/// at position Lk − Lq + i and sees its own block's tokens up to itself plus every earlier block
/// through its landmark. The scores are scale · q·k (scale 0: 1/√Dk). out may share no element with
/// an input.
template <class Arch = default_arch, class Q, class K, class V, class L, class O, class Exec = default_executor>
void landmark_attention(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const tensor_view<L>& landmarks,
                        const tensor_view<O>& out, index_t block, float scale = 0.0f, const Exec& exec = {}) {
    using detail::require;
    static constexpr const char* who = "landmark_attention";
    detail::require_data(q, "landmark_attention: q");
    detail::require_data(k, "landmark_attention: k");
    detail::require_data(v, "landmark_attention: v");
    detail::require_data(landmarks, "landmark_attention: landmarks");
    detail::require_data(out, "landmark_attention: out");
    const index_t Bt = q.batch(), Hq = q.heads(), Lq = q.tokens(), dk = q.dim(), Hkv = k.heads(), Lk = k.tokens(), dv = v.dim();
    require(block >= 1, who, ": block (", block, ") must be ≥ 1");
    require(k.batch() == Bt && v.batch() == Bt && landmarks.batch() == Bt && out.batch() == Bt, who,
            ": q, k, v, landmarks and out must have the same batch");
    require(Hkv > 0 && Hq > 0 && Hq % Hkv == 0, who, ": query heads (", Hq, ") are not a positive multiple of kv heads (", Hkv, ")");
    require(dk > 0 && dv > 0, who, ": head dims must be > 0 (q ", dk, ", v ", dv, ")");
    require(k.dim() == dk, who, ": k head dim (", k.dim(), ") differs from q's (", dk, ")");
    require(v.heads() == Hkv && v.tokens() == Lk, who, ": v must have k's heads and tokens");
    require(landmarks.heads() == Hkv && landmarks.dim() == dk, who, ": landmarks must be [", Bt, ", ", Hkv, ", blocks, ", dk, "]");
    require(landmarks.tokens() == Lk / block, who, ": landmarks count (", landmarks.tokens(), ") must be the complete blocks of ", block,
            " in ", Lk, " tokens (", Lk / block, ")");
    require(Lq <= Lk, who, ": ", Lq, " queries but only ", Lk, " keys (queries are the last Lq tokens)");
    require(out.heads() == Hq && out.tokens() == Lq && out.dim() == dv, who, ": out must be [", Bt, ", ", Hq, ", ", Lq, ", ", dv, "]");
    require(std::isfinite(scale) && scale >= 0.0f, who, ": scale must be finite and ≥ 0 (0 selects 1/sqrt(dk)), got ", scale);
    detail::require_disjoint_output(out, "landmark_attention: out", detail::named(q, "q"), detail::named(k, "k"), detail::named(v, "v"),
                                    detail::named(landmarks, "landmarks"));
    (void)detail::checked_product("landmark_attention: batch × query heads × tokens", Bt, Hq, Lq);
    const float tau = scale > 0.0f ? scale : 1.0f / std::sqrt(static_cast<float>(dk));
    const index_t group = Hq / Hkv;
    ::attune::detail::parallel_for(exec, Bt * Hq * Lq, [&](index_t r) {
        const index_t b = r / (Hq * Lq), h = r / Lq % Hq, i = r % Lq, hk = h / group, p = Lk - Lq + i, c = p / block;
        thread_local std::vector<float> qf, acc;
        qf.resize(static_cast<std::size_t>(dk));
        acc.resize(static_cast<std::size_t>(dv));
        simd::convert_row<Arch>(q.row(b, h, i), qf.data(), dk, tau);
        detail::landmark_grouped_row<Arch>(
            qf.data(), dk, dv, c, block, p - c * block + 1, [&](index_t g, index_t j) { return k.row(b, hk, g * block + j); },
            [&](index_t g, index_t j) { return v.row(b, hk, g * block + j); }, [&](index_t g) { return landmarks.row(b, hk, g); },
            [&](index_t j) { return k.row(b, hk, c * block + j); }, [&](index_t j) { return v.row(b, hk, c * block + j); }, acc.data());
        O* o = out.row(b, h, i);
        for (index_t d = 0; d < dv; ++d) o[d] = from_float<O>(acc[static_cast<std::size_t>(d)]);
    });
}

}  // namespace attune
