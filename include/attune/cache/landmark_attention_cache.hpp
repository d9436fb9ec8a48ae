#pragma once
// Landmark attention at inference (Mohtashami & Jaggi, "Landmark Attention", 2023, Sec. 3.2 and
// the authors' LLaMA code, epfml/landmark-attention llama/llama_mem.py, the mem_freq / cache_top_k
// path, which this follows where it is more specific than the paper): the cache keeps pre-RoPE
// keys, values and one landmark key per complete block of `block` tokens (given by the model: its
// landmark token's key); each query head and query retrieves the top-k blocks by landmark score and
// runs the grouped softmax (sparse/landmark.hpp) over the retrieved blocks and its own block.
//
//   attune::landmark_attention_cache<float> cache(/*heads*/ 8, /*dk*/ 128, /*dv*/ 128, /*block*/ 50, rope);
//   cache.append(k, v);              // pre-RoPE keys of ordinary tokens
//   cache.append_landmark(lk);       // once a block is complete: its landmark token's pre-RoPE key
//   cache.attend(q, out, /*top_k*/ 4);
//
// Positions follow the authors' layout, where a landmark token follows each block: token t sits at
// P(t) = (t / block)·(block + 1) + t mod block. Queries and their own block's tokens are rotated at
// their true positions. With c complete blocks before the query's and k = min(top_k, c) retrieved,
// the retrieved blocks are moved just before the query's block (prefix = c·(block+1) − (k+1)·(block+1)):
//  - scoring: landmark b is rotated to prefix + s·(block+1) + block, s = b − (c − k) + 1 for the k
//    most recent blocks and s = 0 for every older one; the k best scores τ·q·landmark are retrieved
//    (ties: the earlier block);
//  - attention: the e-th retrieved block (ascending order) takes slot s = e, or e + 1 when it is one
//    of the k most recent blocks; its tokens sit at prefix + s·(block+1) + j, its landmark at
//    prefix + s·(block+1) + block (the landmark joins the top group there; it carries no value).
//
// T may also be a quantized format (attune/quantized.hpp): the ordinary tokens' keys and values are
// kept in a quant_kv_cache and read dequantized (every retrieved block is re-rotated per query
// anyway); the landmark keys, one per block, stay float.
//   attune::landmark_attention_cache<attune::quant::q8_0> cache(8, 128, 128, /*block*/ 50, rope, {}, {});
#include <algorithm>
#include <cstdint>
#include <vector>

#include "attune/cache/growable.hpp"
#include "attune/cache/chunk.hpp"
#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/overlap.hpp"
#include "attune/exec/region.hpp"
#include "attune/exec/serial.hpp"
#include "attune/prepass/rope.hpp"
#include "attune/simd/vec.hpp"
#include "attune/sparse/landmark.hpp"

namespace attune {

/// A KV cache for a model trained with landmark tokens: pre-RoPE keys and values of the ordinary
/// tokens plus each complete block's landmark key; attend() retrieves, per query head and query, the
/// top-k blocks by landmark score and attends to them and the query's own block with the grouped
/// softmax, at the authors' re-mapped RoPE positions.
template <class T = float>
class landmark_attention_cache {
    static constexpr bool quantized = quant::is_format_v<T>;

public:
    using value_type = T;  ///< the storage type (an element type or a quantized format)

    /// A cache of `heads` kv heads (key dim `dk`, value dim `dv`) in blocks of `block` ordinary tokens
    /// (the authors' mem_freq: 50 in their lm_benchmark runs, 63 in their LLaMA fine-tune), rotated by `r` (head_dim dk),
    /// holding at most `max_tokens` ordinary tokens.
    landmark_attention_cache(index_t heads, index_t dk, index_t dv, index_t block, const rope& r, index_t max_tokens = unbounded)
        : landmark_attention_cache(heads, dk, dv, block, r, T{}, T{}, max_tokens, 0) {}

    /// A quantized cache: the tokens' K rows in `k_format`, V rows in `v_format` (their scales, for fp8).
    template <class F = T, std::enable_if_t<quant::is_format_v<F>, int> = 0>
    landmark_attention_cache(index_t heads, index_t dk, index_t dv, index_t block, const rope& r, F k_format, F v_format,
                             index_t max_tokens = unbounded)
        : landmark_attention_cache(heads, dk, dv, block, r, k_format, v_format, max_tokens, 0) {}

private:
    landmark_attention_cache(index_t heads, index_t dk, index_t dv, index_t block, const rope& r, const T& kf, const T& vf,
                             index_t max_tokens, int)
        : kv_(detail::make_growable_cache<T>(heads, dk, dv, max_tokens, kf, vf)), block_(block), rope_(r) {
        detail::require(block >= 1, "landmark_attention_cache: block (", block, ") must be ≥ 1");
        detail::check_rope(r, "landmark_attention_cache");
        detail::require(r.head_dim == dk, "landmark_attention_cache: rope::head_dim (", r.head_dim, ") differs from dk (", dk, ")");
        // Dynamic NTK's frequencies depend on the call's longest position, which the re-mapping changes per query.
        detail::require(r.scaling != rope_scaling::ntk, "landmark_attention_cache: rope_scaling::ntk has no fixed frequencies here");
        (void)detail::checked_product("landmark_attention_cache: heads × dk", heads, dk);
    }

public:
    /// The ordinary tokens' pre-RoPE keys and values (a quant_kv_cache for a quantized T).
    const detail::growable_cache<T>& kv() const noexcept { return kv_; }
    index_t heads() const noexcept { return kv_.heads(); }    ///< kv heads
    index_t tokens() const noexcept { return kv_.tokens(); }  ///< ordinary tokens held
    index_t block() const noexcept { return block_; }         ///< ordinary tokens per block
    /// The landmarks held (one per complete block, in order).
    index_t landmarks() const noexcept { return static_cast<index_t>(lm_.size()) / (heads() * kv_.dk()); }
    /// The pre-RoPE landmark key of block c in head h (dk floats).
    const float* landmark(index_t h, index_t c) const {
        detail::require(h >= 0 && h < heads() && c >= 0 && c < landmarks(), "landmark_attention_cache::landmark: (head ", h, ", block ", c,
                        ") outside [0, ", heads(), ") × [0, ", landmarks(), ")");
        return lm_.data() + (c * heads() + h) * kv_.dk();
    }
    /// The blocks the last attend() retrieved, [Hq][Lq][top_k] row-major, ascending, −1 where a row had fewer.
    const std::vector<index_t>& selected() const noexcept { return selected_; }
    /// The authors' position of ordinary token t: its block's landmarks before it take a position each.
    index_t position(index_t t) const noexcept { return t / block_ * (block_ + 1) + t % block_; }

    /// Appends n ordinary tokens, k [1, heads, n, dk] (pre-RoPE), v [1, heads, n, dv]. A block's
    /// landmark must be appended before the next block's tokens.
    template <class K, class V>
    void append(const tensor_view<K>& k, const tensor_view<V>& v) {
        const index_t room = detail::checked_mul(landmarks() + 1, block_, "landmark_attention_cache::append: (landmarks + 1) × block");
        detail::require(k.tokens() >= 0 && k.tokens() <= room - tokens(), "landmark_attention_cache::append: ", k.tokens(),
                        " tokens after ", tokens(), " pass the end of block ", landmarks(), " (", room,
                        " tokens) whose landmark is missing: append_landmark first");
        kv_.append(k, v);
    }

    /// Appends the landmark keys lk [1, heads, n, dk] (pre-RoPE) of the next n blocks, each complete.
    template <class K>
    void append_landmark(const tensor_view<K>& lk) {
        static constexpr const char* who = "landmark_attention_cache::append_landmark";
        detail::require_data(lk, who);
        detail::require(lk.batch() == 1 && lk.heads() == heads() && lk.dim() == kv_.dk(), who, ": landmark keys must be [1, ", heads(),
                        ", n, ", kv_.dk(), "]");
        detail::require(lk.tokens() <= tokens() / block_ - landmarks(), who, ": landmark count mismatch: ", landmarks(), " held + ",
                        lk.tokens(), " appended > ", tokens() / block_, " complete blocks");
        detail::require(!detail::shares_elements(lk, detail::storage_view(lm_)), who, ": lk overlaps the cache's own storage");
        const index_t dk = kv_.dk(), first = static_cast<index_t>(lm_.size());
        detail::checked_reserve(lm_, first + lk.tokens() * heads() * dk,
                                "landmark_attention_cache::append_landmark: landmarks × heads × dk");
        lm_.resize(static_cast<std::size_t>(first + lk.tokens() * heads() * dk));
        for (index_t c = 0; c < lk.tokens(); ++c)
            for (index_t h = 0; h < heads(); ++h)
                simd::convert_row<default_arch>(lk.row(0, h, c), lm_.data() + first + (c * heads() + h) * dk, dk);
    }

    /// Attention of q [1, Hq, Lq, dk] (pre-RoPE queries of the last Lq tokens, all in the last block)
    /// into out [1, Hq, Lq, dv]: each (query head, query) retrieves its `top_k` best earlier blocks by
    /// landmark score and attends to them and its own block up to itself (grouped softmax). The
    /// scores are scale · q·k (0: 1/√dk).
    template <class Arch = default_arch, class Q, class O, class Exec = default_executor>
    void attend(const tensor_view<Q>& q, const tensor_view<O>& out, index_t top_k, float scale = 0.0f, const Exec& exec = {}) {
        using detail::require;
        static constexpr const char* who = "landmark_attention_cache::attend";
        detail::require_data(q, "landmark_attention_cache::attend: q");
        detail::require_data(out, "landmark_attention_cache::attend: out");
        detail::check_queries(who, q, out, heads(), kv_.dk(), kv_.dv());
        require(top_k >= 0, who, ": top_k (", top_k, ") must be ≥ 0");
        require(std::isfinite(scale) && scale >= 0.0f, who, ": scale must be finite and ≥ 0 (0 selects 1/sqrt(dk)), got ", scale);
        const index_t Hq = q.heads(), Lq = q.tokens(), Lk = tokens(), group = Hq / heads(), dk = kv_.dk(), dv = kv_.dv(), B = block_;
        require(Lq <= Lk, who, ": ", Lq, " queries but the cache holds ", Lk, " tokens (append first)");
        detail::require_disjoint_output(out, "landmark_attention_cache::attend: out", detail::named(q, "q"));
        detail::require_clear_of_rows(out, "landmark_attention_cache::attend: out", kv_.keys(), "k");
        detail::require_clear_of_rows(out, "landmark_attention_cache::attend: out", kv_.values(), "v");
        require(!detail::shares_elements(out, detail::storage_view(lm_)), who, ": out overlaps the cache's landmarks");
        if (Lq == 0) {
            selected_.clear();
            return;
        }
        const index_t c = (Lk - 1) / B;  // the queries' block: the authors assert q_len + incomplete ≤ block + 1
        require((Lk - Lq) / B == c, who, ": the ", Lq, " queries span blocks ", (Lk - Lq) / B, " to ", c,
                ": they must all lie in the last");
        require(landmarks() >= c, who, ": block ", landmarks(), "'s landmark is missing (", landmarks(), " held, ", c, " needed)");
        require(position(Lk - 1) + 1 <= detail::rope_max_position, who, ": positions pass 2^31");
        const index_t k_ret = top_k < c ? top_k : c, S = B + 1, prefix = (c - k_ret - 1) * S;
        const index_t rows = std::max(1 + c, k_ret * S + B);
        (void)detail::checked_product("landmark_attention_cache::attend: query heads × tokens × rows × dk", Hq, Lq, rows, dk);
        detail::checked_assign(next_selected_, detail::checked_product("landmark_attention_cache::attend: top_k", Hq, Lq, top_k),
                               index_t{-1}, "landmark_attention_cache::attend: top_k");
        const float tau = scale > 0.0f ? scale : 1.0f / std::sqrt(static_cast<float>(dk));
        const auto keys = kv_.keys();
        const auto values = kv_.values();
        ::attune::detail::parallel_for(exec, Hq * Lq, [&](index_t r) {
            const index_t h = r / Lq, i = r % Lq, hk = h / group, p = Lk - Lq + i, local = p - c * B + 1;
            thread_local std::vector<float> buf, qf, score, acc, vals;
            thread_local std::vector<std::int32_t> pos;
            thread_local std::vector<index_t> order;
            buf.resize(static_cast<std::size_t>(rows * dk));
            pos.resize(static_cast<std::size_t>(rows));
            auto rotate = [&](index_t n) {
                apply_rope<Arch>(rope_, tensor_view<float>(buf.data(), {1, 1, n, dk}, {n * dk, n * dk, dk}),
                                 rope_positions::per_token(pos.data()), serial_executor{});
            };
            // Scoring: the query at its own position, landmark b at its scoring slot.
            simd::convert_row<Arch>(q.row(0, h, i), buf.data(), dk);
            pos[0] = static_cast<std::int32_t>(position(p));
            for (index_t b = 0; b < c; ++b) {
                std::copy_n(landmark(hk, b), dk, buf.data() + (1 + b) * dk);
                pos[static_cast<std::size_t>(1 + b)] =
                    static_cast<std::int32_t>(prefix + (b >= c - k_ret ? b - (c - k_ret) + 1 : 0) * S + B);
            }
            rotate(1 + c);
            qf.resize(static_cast<std::size_t>(dk));
            for (index_t d = 0; d < dk; ++d) qf[static_cast<std::size_t>(d)] = buf[static_cast<std::size_t>(d)] * tau;
            score.resize(static_cast<std::size_t>(c));
            order.resize(static_cast<std::size_t>(c));
            for (index_t b = 0; b < c; ++b) {
                score[static_cast<std::size_t>(b)] = simd::dot<Arch>(qf.data(), buf.data() + (1 + b) * dk, dk);
                order[static_cast<std::size_t>(b)] = b;
            }
            const float* sc = score.data();
            std::partial_sort(order.begin(), order.begin() + k_ret, order.end(),
                              [sc](index_t a, index_t b) { return sc[a] > sc[b] || (sc[a] == sc[b] && a < b); });
            std::sort(order.begin(), order.begin() + k_ret);
            // Attention: the retrieved blocks' tokens and landmarks at their slots, then the query's block.
            for (index_t e = 0; e < k_ret; ++e) {
                const index_t b = order[static_cast<std::size_t>(e)], base = prefix + (e + (b >= c - k_ret ? 1 : 0)) * S;
                next_selected_[static_cast<std::size_t>(r * top_k + e)] = b;
                for (index_t j = 0; j < B; ++j) {
                    detail::row_as_float<Arch>(keys, hk, b * B + j, buf.data() + (e * B + j) * dk);
                    pos[static_cast<std::size_t>(e * B + j)] = static_cast<std::int32_t>(base + j);
                }
                std::copy_n(landmark(hk, b), dk, buf.data() + (k_ret * B + e) * dk);
                pos[static_cast<std::size_t>(k_ret * B + e)] = static_cast<std::int32_t>(base + B);
            }
            const index_t at = k_ret * S;
            for (index_t j = 0; j < local; ++j) {
                detail::row_as_float<Arch>(keys, hk, c * B + j, buf.data() + (at + j) * dk);
                pos[static_cast<std::size_t>(at + j)] = static_cast<std::int32_t>(position(c * B + j));
            }
            rotate(at + local);
            acc.resize(static_cast<std::size_t>(dv));
            const float* rk = buf.data();
            // Value j of the e-th retrieved block (e = k_ret: the query's own block): in place, or
            // dequantized once into vals.
            const auto token = [&](index_t e, index_t j) { return (e < k_ret ? order[static_cast<std::size_t>(e)] : c) * B + j; };
            const auto value = [&](index_t e, index_t j) {
                if constexpr (quantized) return static_cast<const float*>(vals.data() + (e * B + j) * dv);
                else return values.row(0, hk, token(e, j));
            };
            if constexpr (quantized) {
                vals.resize(static_cast<std::size_t>((k_ret * B + local) * dv));
                for (index_t e = 0; e <= k_ret; ++e)
                    for (index_t j = 0; j < (e < k_ret ? B : local); ++j)
                        detail::row_as_float<Arch>(values, hk, token(e, j), vals.data() + (e * B + j) * dv);
            }
            detail::landmark_grouped_row<Arch>(
                qf.data(), dk, dv, k_ret, B, local, [&](index_t e, index_t j) { return rk + (e * B + j) * dk; }, value,
                [&](index_t e) { return rk + (k_ret * B + e) * dk; }, [&](index_t j) { return rk + (at + j) * dk; },
                [&](index_t j) { return value(k_ret, j); }, acc.data());
            O* o = out.row(0, h, i);
            for (index_t d = 0; d < dv; ++d) o[d] = from_float<O>(acc[static_cast<std::size_t>(d)]);
        });
        selected_.swap(next_selected_);
    }

private:
    detail::growable_cache<T> kv_;
    index_t block_;
    rope rope_;
    std::vector<float> lm_;  // [landmarks][heads][dk], pre-RoPE
    std::vector<index_t> selected_, next_selected_;
};

}  // namespace attune
