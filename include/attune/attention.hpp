#pragma once
// attune::attention — attention over 4-D views, prefill and decode alike, for any variant
// (family × mask × score modifier × sink, variant.hpp).
//
//   attune::attention(q, k, v, out);                              softmax, no mask, scale 1/√d
//   attune::attention(q, k, v, out, attune::causal{});            bottom-right causal
//   attune::attention(q, k, v, out, attune::variant<attune::causal>{}, opts, attune::serial_executor{});
//   attune::attention(q, k, v, out, attune::variant(attune::sigmoid{b}, attune::causal{}, attune::alibi{slopes}));
//
// q: [B, Hq, Lq, Dk], k: [B, Hkv, Lk, Dk], v: [B, Hkv, Lk, Dv], out: [B, Hq, Lq, Dv]; Hq % Hkv == 0
// (query head h reads kv head h / (Hq / Hkv)). Storage float, bf16 or half; computation in float.
// Rows with no visible key give zeros (and LSE −inf); with a sink policy, v* (or zeros) and LSE z.
// Bad input throws attune::error (out or options::lse overlapping an input included), including policy parameters that do not fit the shapes (too few
// ALiBi slopes, a bias table of the wrong size, …) and an LSE output with a family that has none.
// A variant object is used in place; a lone policy is wrapped into a variant (a copy: for
// policies holding tables, pass a variant in a decode loop to keep steps allocation-free).
// NaN: a NaN in q, k or v reaches every output row that sees it (and its LSE, for q and k). A row
// that cannot see a NaN value stays finite when that key's whole tile is masked for the row's query
// tile; inside a partly visible tile it may get NaN through 0·NaN in P·V (as PyTorch does).
#include <array>
#include <cmath>
#include <type_traits>

#include "attune/core/error.hpp"
#include "attune/core/overlap.hpp"
#include "attune/core/view.hpp"
#include "attune/exec/executor.hpp"
#include "attune/kernel/driver.hpp"
#include "attune/simd/arch.hpp"
#include "attune/simd/int8_dot.hpp"
#include "attune/variant.hpp"

namespace attune {

/// Options of one attention() call.
struct options {
    /// The scale of the scores, s = τ·q·k.
    float scale = 0.0f;  // score scale τ; 0 means 1/√Dk
    /// Where to write each row's log-sum-exp (an empty view: not written).
    tensor_view<float> lse{};  // optional output [B, Hq, Lq, 1]: natural-log sum-exp per row
    /// Split-KV parallelism: how many key ranges a row's keys are cut into.
    index_t kv_splits = 0;  // key ranges merged with ⊕; 0 chooses from the executor's workers
    // Working memory the call's items lease their buffers from (kernel/workspace.hpp); null: each
    // thread's own grow-only buffers.
    attune::workspace* workspace = nullptr;
    /// Quantized K/V (attune/quantized.hpp), decode, on CPUs with AVX-512 VNNI: int8, q8_0, q4_0
    /// or q4_1 (int4_group<32>) K scored by integer dot products, Q quantized per row to int8 on the fly as llama.cpp
    /// quantizes it for its quantized caches. Off: exact float scores.
    bool int8_query = false;
    /// Quantized int8, q8_0 or q4_0 V (attune/quantized.hpp), decode, on CPUs with AVX-512 VNNI:
    /// P·V by integer dot products (vpdpbusd over 4 keys × 16 columns), each row's weights times
    /// V's scales rounded to int8 per V block and 64-key tile against their largest, as
    /// SageAttention2 rounds P to 8 bits: an error of at most half a step of 1/127 of the tile's
    /// largest weight per key (measured rel. L2 ≈ 5e-3 on near-uniform attention, where it is
    /// largest). Head dims in whole steps (int8, q8_0: 64 columns; q4_0: 128), at most 512; int8 V
    /// without channel scales; a tile whose weights are not finite takes the float kernel. Off: the
    /// exact float P·V.
    bool int8_pv = false;
    /// int8 Q·Kᵀ for prefill (SageAttention's recipe, Zhang et al., ICLR 2025): in items of many
    /// query rows, K smoothed by its mean over each 64-key tile, Q rounded to int8 per row (τ folded
    /// in) and K per key, the scores from integer products (AMX-INT8, AVX-512 VNNI, or plain loops
    /// elsewhere: the same recipe on every arch) plus τ·q·k̄ added back, so every family, mask,
    /// score modifier, sink and LSE sees the same scores up to the rounding. P·V is unchanged (fp32;
    /// bf16 on AMX for bf16 V and output). Decode-shaped items (few rows) keep the exact float
    /// scores, and so do probes (attention maps). Any Q/K storage; head dim at most 65536. A NaN in a
    /// key reaches the scores of its whole 64-key tile. Each thread keeps the int8 keys of the head
    /// its items read, reused within the call only (at most 4 MiB a thread, kept by the thread).
    /// kernel::int8_qk_backend<Arch>() names the back-end. Off: the exact float scores.
    bool int8_qk = false;
};

// An LSE output view over contiguous float [batch][heads][tokens].
inline tensor_view<float> lse_view(float* data, index_t batch, index_t heads, index_t tokens) {
    return tensor_view<float>(data, {batch, heads, tokens, 1}, {detail::checked_product("lse_view", heads, tokens), tokens, 1});
}

namespace detail {

template <class T>
struct view_element;
template <class T>
struct view_element<tensor_view<T>> {
    using type = std::remove_const_t<T>;
};

// The most tokens a q or k view may have (2^48: far past any sequence, far from wrapping).
inline constexpr index_t max_tokens = index_t(1) << 48;

template <class T>
void require_data(const tensor_view<T>& v, const char* name) {
    require(v.data() != nullptr || v.size() == 0, name, " has null data");
}

// Checks every shape relation of an attention call of q over keys of shape k and values of shape v
// ({batch, heads, tokens, dim}, whatever their storage) into out, and fills the problem's shapes.
template <class P, class TQ, class TO>
void check_and_fill(P& p, const tensor_view<const TQ>& q, const std::array<index_t, 4>& k, const std::array<index_t, 4>& v,
                    const tensor_view<TO>& out, const options& opt) {
    require_data(q, "q");
    require_data(out, "out");
    require(q.batch() > 0, "q has batch size 0");
    require(q.heads() > 0, "q has 0 heads");
    require(k[1] > 0, "k has 0 heads");
    require(q.dim() > 0, "q has head dim 0");
    require(v[3] > 0, "v has head dim 0");
    require(k[0] == q.batch(), "k batch (", k[0], ") differs from q batch (", q.batch(), ")");
    require(v[0] == q.batch(), "v batch (", v[0], ") differs from q batch (", q.batch(), ")");
    require(k[3] == q.dim(), "k head dim (", k[3], ") differs from q head dim (", q.dim(), ")");
    require(v[1] == k[1], "v heads (", v[1], ") differ from k heads (", k[1], ")");
    require(v[2] == k[2], "v tokens (", v[2], ") differ from k tokens (", k[2], ")");
    // Token counts beyond any real sequence (a stride-0 view can claim 2^63 − 1 tokens) would wrap
    // the positions and tile bounds the kernel computes (Lk − Lq + i, tile ends, split ranges).
    require(k[2] <= max_tokens, "k tokens (", k[2], ") exceed the limit of ", max_tokens);
    require(q.tokens() <= max_tokens, "q tokens (", q.tokens(), ") exceed the limit of ", max_tokens);
    require(q.heads() % k[1] == 0, "query heads (", q.heads(), ") are not divisible by kv heads (", k[1], ")");
    require(out.batch() == q.batch() && out.heads() == q.heads() && out.tokens() == q.tokens() && out.dim() == v[3], "out shape [",
            out.batch(), ", ", out.heads(), ", ", out.tokens(), ", ", out.dim(), "] must be [", q.batch(), ", ", q.heads(), ", ",
            q.tokens(), ", ", v[3], "] (q's batch, heads, tokens and v's dim)");
    if (!opt.lse.empty())
        require(opt.lse.batch() == q.batch() && opt.lse.heads() == q.heads() && opt.lse.tokens() == q.tokens() && opt.lse.dim() == 1,
                "lse shape must be [", q.batch(), ", ", q.heads(), ", ", q.tokens(), ", 1]");
    require(!opt.int8_qk || q.dim() <= simd::int8::max_dims, "options::int8_qk: head dim ", q.dim(), " exceeds ", simd::int8::max_dims,
            " (the int32 sums of int8 products would overflow)");
    require(std::isfinite(opt.scale) && opt.scale >= 0.0f, "scale must be finite and ≥ 0 (0 selects 1/sqrt(dk)), got ", opt.scale);
    p.q = q;
    p.out = out;
    p.lse = opt.lse;
    p.ws = opt.workspace;
    p.int8_qk = opt.int8_qk;
    p.call_id = opt.int8_qk ? kernel::next_call_id() : 0;
    p.scale = opt.scale > 0.0f ? opt.scale : 1.0f / std::sqrt(static_cast<float>(q.dim()));
    p.batch = q.batch();
    p.q_heads = q.heads();
    p.kv_heads = k[1];
    p.group = q.heads() / k[1];
    p.lq = q.tokens();
    p.lk = k[2];
    p.dk = q.dim();
    p.dv = v[3];
}

// Checks every shape relation of an attention call and builds the kernel's problem.
template <class TQ, class TK, class TV, class TO>
kernel::problem<TQ, TK, TV, TO> make_problem(tensor_view<const TQ> q, tensor_view<const TK> k, tensor_view<const TV> v, tensor_view<TO> out,
                                             const options& opt) {
    require_data(k, "k");
    require_data(v, "v");
    kernel::problem<TQ, TK, TV, TO> p{};
    check_and_fill(p, q, k.shape(), v.shape(), out, opt);
    p.k = k;
    p.v = v;
    require_disjoint_output(out, "out", named(q, "q"), named(k, "k"), named(v, "v"));
    if (!opt.lse.empty()) require_disjoint_output(opt.lse, "options::lse", named(q, "q"), named(k, "k"), named(v, "v"), named(out, "out"));
    return p;
}

template <class Arch, class Variant, class Exec, class P>
void run_variant(const P& p, const Variant& var, const options& opt, const Exec& exec) {
    using family = typename Variant::family_type;
    if constexpr (!family::has_lse)
        require(opt.lse.empty(),
                "options::lse was given, but this variant's family (e.g. sigmoid) has no log-sum-exp: "
                "its weights are not normalised per row");
    validate_policy(var.family(), p);
    validate_policy(var.mask(), p);
    validate_policy(var.score(), p);
    validate_policy(var.sink(), p);
    validate_policy(var.router(), p);
    kernel::run<Arch>(p, var, exec, opt.kv_splits);
}

}  // namespace detail

/// Attention of q [B, Hq, Lq, Dk] over k [B, Hkv, Lk, Dk] and v [B, Hkv, Lk, Dv] into out
/// [B, Hq, Lq, Dv], for the variant `var` (a variant or a lone policy: family, mask, score
/// modifier, sink, router), with options `opt`, run on executor `exec`; `Arch` picks the SIMD
/// instruction set (default: the best the compile flags allow). See the top of this file.
template <class Arch = default_arch, class Q, class K, class V, class O, class Var = variant<>, class Exec = default_executor>
void attention(const Q& q, const K& k, const V& v, const O& out, const Var& var = {}, const options& opt = {}, const Exec& exec = {}) {
    using TQ = typename detail::view_element<Q>::type;
    using TK = typename detail::view_element<K>::type;
    using TV = typename detail::view_element<V>::type;
    using TO = typename detail::view_element<O>::type;
    static_assert(!std::is_const_v<typename O::element_type>, "attune::attention: out must be a view of non-const elements");
    const auto p = detail::make_problem<TQ, TK, TV, TO>(q, k, v, out, opt);
    detail::require(opt.kv_splits >= 0, "kv_splits must be ≥ 0, got ", opt.kv_splits);
    if constexpr (std::is_same_v<typename as_variant<Var>::type, Var>) {
        detail::run_variant<Arch>(p, var, opt, exec);
    } else {
        detail::run_variant<Arch>(p, to_variant(var), opt, exec);
    }
}

}  // namespace attune
