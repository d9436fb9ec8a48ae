#pragma once
// Attention as an RNN (Aaren: Feng et al., "Attention as an RNN", 2024): softmax attention of one
// fixed query per head over a
// stream of keys. The output after key t, o_t = Σ_{j≤t} e^{s_j} v_j / Σ_{j≤t} e^{s_j} with
// s_j = τ·q·k_j, is the prefix scan of the leaves (s_j, 1, v_j) under the ⊕ of core/row_state.hpp —
// the same operator split-KV decode and cascade merging use.
//
//   linear::aaren_state st(B, H, dv);
//   linear::aaren_update(q, k, v, out, st);   incremental: O(dk + dv) per token per head, O(dv) state
//   linear::aaren_scan(q, k, v, out);         every prefix output from an empty state, as a parallel
//                                             scan: block summaries, an exclusive ⊕-scan over blocks,
//                                             then each block from its prefix
// q [B, Hq, 1, dk] (one query per head), k [B, Hkv, L, dk], v [B, Hkv, L, dv], out [B, Hq, L, dv],
// Hq % Hkv == 0. τ = 1/√dk unless aaren_options::scale says otherwise.
#include <cmath>
#include <vector>

#include "attune/core/row_state.hpp"
#include "attune/exec/executor.hpp"
#include "attune/kernel/scratch.hpp"
#include "attune/linear/check.hpp"
#include "attune/linear/kernels.hpp"
#include "attune/simd/arch.hpp"
#include "attune/exec/region.hpp"

namespace attune::linear {

/// Options of aaren_update and aaren_scan.
struct aaren_options {
    float scale = 0.0f;   ///< τ; 0 means 1/√dk
    index_t block = 256;  ///< tokens per block of the parallel scan
};

/// Per (batch, query head): the row state (m, l) and the accumulator a (dv floats).
class aaren_state {
public:
    /// An empty, shapeless state (aaren_update refuses it).
    aaren_state() = default;
    /// The empty state (−inf, 0, 0) for `batch` × `heads` query rows with value dim `dv`.
    aaren_state(index_t batch, index_t heads, index_t dv) : batch_(batch), heads_(heads), dv_(dv) {
        attune::detail::require(batch > 0 && heads > 0 && dv > 0, "linear::aaren_state: batch (", batch, "), heads (", heads, ") and dv (",
                                dv, ") must all be > 0");
        const index_t rows = attune::detail::checked_product("linear::aaren_state: batch × heads", batch, heads);
        attune::detail::checked_assign(acc_, attune::detail::checked_mul(rows, dv, "linear::aaren_state: batch × heads × dv"), 0.0f,
                                       "linear::aaren_state: batch × heads × dv");
        attune::detail::checked_assign(rows_, rows, row_state{}, "linear::aaren_state: batch × heads");
    }
    index_t batch() const noexcept { return batch_; }      ///< batch size
    index_t heads() const noexcept { return heads_; }      ///< query heads
    index_t dv() const noexcept { return dv_; }            ///< value head dim
    bool empty() const noexcept { return rows_.empty(); }  ///< whether the state has no shape
    /// The (m, l) state of batch b, query head h.
    row_state& row(index_t b, index_t h) noexcept { return rows_[static_cast<std::size_t>(b * heads_ + h)]; }
    /// The (m, l) state of batch b, query head h, read-only.
    const row_state& row(index_t b, index_t h) const noexcept { return rows_[static_cast<std::size_t>(b * heads_ + h)]; }
    /// The accumulator a (dv floats) of batch b, query head h.
    float* acc(index_t b, index_t h) noexcept { return acc_.data() + (b * heads_ + h) * dv_; }
    /// The accumulator a of batch b, query head h, read-only.
    const float* acc(index_t b, index_t h) const noexcept { return acc_.data() + (b * heads_ + h) * dv_; }
    /// Back to the empty state, keeping the shape.
    void reset() {
        for (auto& r : rows_) r = row_state{};
        for (float& x : acc_) x = 0.0f;
    }

private:
    index_t batch_ = 0, heads_ = 0, dv_ = 0;
    std::vector<row_state> rows_;
    std::vector<float> acc_;
};

namespace detail {

// a ← a·wa + x·wb over n floats.
template <class Arch, class T>
inline void scale_add(float* a, float wa, const T* x, float wb, index_t n) {
    constexpr index_t W = lanes<Arch>;
    const simd::vec<Arch> va = simd::broadcast<Arch>(wa), vb = simd::broadcast<Arch>(wb);
    index_t i = 0;
    for (; i + W <= n; i += W) simd::store<Arch>(a + i, simd::fma(simd::load<Arch>(x + i), vb, simd::load<Arch>(a + i) * va));
    for (; i < n; ++i) a[i] = a[i] * wa + to_float(x[i]) * wb;
}

// Folds keys [t0, t1) of one head into (st, acc) with ⊕, writing o_t = a/l after each when out != null.
template <class Arch, class TK, class TV, class TO>
void aaren_run(const float* q, const tensor_view<const TK>& k, const tensor_view<const TV>& v, const tensor_view<TO>* out, index_t b,
               index_t hkv, index_t hq, index_t t0, index_t t1, row_state& st, float* acc, float* krow) {
    const index_t dk = k.dim(), dv = v.dim();
    for (index_t t = t0; t < t1; ++t) {
        simd::convert_row<Arch>(k.row(b, hkv, t), krow, dk);
        const float s = dot<Arch>(q, krow, dk);
        const merge_weights w = merge_coefficients(st, row_state{s, 1.0f});  // (m, l, a) ⊕ (s, 1, v_t)
        scale_add<Arch>(acc, w.wa, v.row(b, hkv, t), w.wb, dv);
        st = w.state;
        if (out != nullptr) store_scaled<Arch>(out->row(b, hq, t), acc, dv, st.l > 0.0f ? 1.0f / st.l : 0.0f);
    }
}

template <class Q, class K, class V, class O>
void check_aaren(const char* fn, const Q& q, const K& k, const V& v, const O& out, const aaren_options& opt) {
    require_data(q, fn, "q");
    require_data(k, fn, "k");
    require_data(v, fn, "v");
    require_data(out, fn, "out");
    require(q.batch() > 0 && q.heads() > 0 && k.heads() > 0 && q.dim() > 0 && v.dim() > 0, fn, ": batch, heads and head dims must be > 0");
    require(q.tokens() == 1, fn, ": q must hold one query per head (tokens 1), got ", q.tokens());
    require(k.batch() == q.batch() && v.batch() == q.batch(), fn, ": batch sizes differ (q ", q.batch(), ", k ", k.batch(), ", v ",
            v.batch(), ")");
    require(k.dim() == q.dim(), fn, ": k head dim (", k.dim(), ") differs from q head dim (", q.dim(), ")");
    require(v.heads() == k.heads() && v.tokens() == k.tokens(), fn, ": v [heads ", v.heads(), ", tokens ", v.tokens(),
            "] must match k [heads ", k.heads(), ", tokens ", k.tokens(), "]");
    require(q.heads() % k.heads() == 0, fn, ": query heads (", q.heads(), ") are not divisible by kv heads (", k.heads(), ")");
    require(out.batch() == q.batch() && out.heads() == q.heads() && out.tokens() == k.tokens() && out.dim() == v.dim(), fn, ": out shape [",
            out.batch(), ", ", out.heads(), ", ", out.tokens(), ", ", out.dim(), "] must be [", q.batch(), ", ", q.heads(), ", ",
            k.tokens(), ", ", v.dim(), "] (one output per key)");
    require_no_alias(fn, out, named(q, "q"), named(k, "k"), named(v, "v"));
    require(std::isfinite(opt.scale) && opt.scale >= 0.0f, fn, ": scale must be finite and ≥ 0 (0 selects 1/sqrt(dk)), got ", opt.scale);
    require(opt.block > 0, fn, ": aaren_options::block must be ≥ 1, got ", opt.block);
}

template <class TQ>
float aaren_scale(const aaren_options& opt, const tensor_view<const TQ>& q) {
    return opt.scale > 0.0f ? opt.scale : 1.0f / std::sqrt(static_cast<float>(q.dim()));
}

}  // namespace detail

/// Incremental form: the keys of k/v (any number, usually 1) continue the state `st`; out
/// [B, Hq, n, dv] gets o_t after each key t. q [B, Hq, 1, dk] is the fixed query of each head.
template <class Arch = default_arch, class Q, class K, class V, class O, class Exec = default_executor>
void aaren_update(const Q& q_in, const K& k_in, const V& v_in, const O& out_in, aaren_state& st, const aaren_options& opt = {},
                  const Exec& exec = {}) {
    const tensor_view<const detail::element_t<Q>> q = q_in;
    const tensor_view<const detail::element_t<K>> k = k_in;
    const tensor_view<const detail::element_t<V>> v = v_in;
    const tensor_view<detail::element_t<O>> out = out_in;
    detail::check_aaren("linear::aaren_update", q, k, v, out, opt);
    detail::require(!st.empty() && st.batch() == q.batch() && st.heads() == q.heads() && st.dv() == v.dim(),
                    "linear::aaren_update: state shape (batch ", st.batch(), ", heads ", st.heads(), ", dv ", st.dv(),
                    ") does not match q/v (batch ", q.batch(), ", heads ", q.heads(), ", dv ", v.dim(), ")");
    const float tau = detail::aaren_scale(opt, q);
    const index_t H = q.heads(), group = q.heads() / k.heads();
    ::attune::detail::parallel_for(exec, q.batch() * H, [&](index_t item) {
        const index_t b = item / H, h = item % H;
        auto& ws = detail::linear_scratch::local();
        float* qf = ws.qphi.get(2 * q.dim());
        simd::convert_row<Arch>(q.row(b, h, 0), qf, q.dim(), tau);
        detail::aaren_run<Arch>(qf, k, v, &out, b, h / group, h, 0, k.tokens(), st.row(b, h), st.acc(b, h), qf + q.dim());
    });
}

/// Scan form: out[t] = softmax attention of q over keys 0..t, for every t, computed as a parallel
/// prefix scan under ⊕ (q [B, Hq, 1, dk], k [B, Hkv, L, dk], v [B, Hkv, L, dv], out [B, Hq, L, dv]).
template <class Arch = default_arch, class Q, class K, class V, class O, class Exec = default_executor>
void aaren_scan(const Q& q_in, const K& k_in, const V& v_in, const O& out_in, const aaren_options& opt = {}, const Exec& exec = {}) {
    const tensor_view<const detail::element_t<Q>> q = q_in;
    const tensor_view<const detail::element_t<K>> k = k_in;
    const tensor_view<const detail::element_t<V>> v = v_in;
    const tensor_view<detail::element_t<O>> out = out_in;
    detail::check_aaren("linear::aaren_scan", q, k, v, out, opt);
    const float tau = detail::aaren_scale(opt, q);
    const index_t H = q.heads(), group = q.heads() / k.heads(), L = k.tokens(), dk = q.dim(), dv = v.dim();
    const index_t blocks = L == 0 ? 0 : (L - 1) / opt.block + 1;  // L + block − 1 could wrap
    const index_t heads_total = q.batch() * H;
    // One block, or one worker: a single pass is the whole scan.
    if (blocks <= 1 || exec.workers() <= 1) {
        ::attune::detail::parallel_for(exec, heads_total, [&](index_t item) {
            const index_t b = item / H, h = item % H;
            auto& ws = detail::linear_scratch::local();
            float* buf = ws.qphi.get(dk * 2 + dv);
            simd::convert_row<Arch>(q.row(b, h, 0), buf, dk, tau);
            row_state st;
            float* acc = buf + 2 * dk;
            for (index_t j = 0; j < dv; ++j) acc[j] = 0.0f;
            detail::aaren_run<Arch>(buf, k, v, &out, b, h / group, h, 0, L, st, acc, buf + dk);
        });
        return;
    }
    // Block summaries (m, l, a) per (head, block); then in place, the exclusive prefix of each.
    std::vector<row_state> rows;
    std::vector<float> accs;
    attune::detail::checked_assign(rows, heads_total * blocks, row_state{}, "linear::aaren_scan: block summaries");
    attune::detail::checked_assign(accs, attune::detail::checked_mul(heads_total * blocks, dv, "linear::aaren_scan: block summaries"), 0.0f,
                                   "linear::aaren_scan: block summaries");
    auto slot = [&](index_t item, index_t blk) { return item * blocks + blk; };
    ::attune::detail::parallel_for(exec, heads_total * blocks, [&](index_t i) {
        const index_t item = i / blocks, blk = i % blocks, b = item / H, h = item % H;
        auto& ws = detail::linear_scratch::local();
        float* buf = ws.qphi.get(dk * 2);
        simd::convert_row<Arch>(q.row(b, h, 0), buf, dk, tau);
        const index_t t0 = blk * opt.block, t1 = t0 + opt.block < L ? t0 + opt.block : L;
        detail::aaren_run<Arch, detail::element_t<K>, detail::element_t<V>, detail::element_t<O>>(
            buf, k, v, nullptr, b, h / group, h, t0, t1, rows[static_cast<std::size_t>(i)], accs.data() + i * dv, buf + dk);
    });
    ::attune::detail::parallel_for(exec, heads_total, [&](index_t item) {
        row_state prefix;  // the empty state: ⊕'s identity
        std::vector<float> pacc(static_cast<std::size_t>(dv), 0.0f), block_acc(static_cast<std::size_t>(dv));
        for (index_t blk = 0; blk < blocks; ++blk) {
            const auto s = static_cast<std::size_t>(slot(item, blk));
            float* a = accs.data() + static_cast<index_t>(s) * dv;
            const row_state block_state = rows[s];
            for (index_t j = 0; j < dv; ++j) block_acc[static_cast<std::size_t>(j)] = a[j];
            rows[s] = prefix;  // the slot now holds the exclusive prefix of its block
            for (index_t j = 0; j < dv; ++j) a[j] = pacc[static_cast<std::size_t>(j)];
            merge_into(prefix, pacc.data(), block_state, block_acc.data(), dv);
        }
    });
    ::attune::detail::parallel_for(exec, heads_total * blocks, [&](index_t i) {
        const index_t item = i / blocks, blk = i % blocks, b = item / H, h = item % H;
        auto& ws = detail::linear_scratch::local();
        float* buf = ws.qphi.get(dk * 2);
        simd::convert_row<Arch>(q.row(b, h, 0), buf, dk, tau);
        const index_t t0 = blk * opt.block, t1 = t0 + opt.block < L ? t0 + opt.block : L;
        detail::aaren_run<Arch>(buf, k, v, &out, b, h / group, h, t0, t1, rows[static_cast<std::size_t>(i)], accs.data() + i * dv,
                                buf + dk);
    });
}

}  // namespace attune::linear
