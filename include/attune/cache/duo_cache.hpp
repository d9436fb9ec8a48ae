#pragma once
// duo_cache<T>: DuoAttention's mixed KV cache (Xiao et al., "DuoAttention: Efficient Long-Context
// LLM Inference with Retrieval and Streaming Heads", 2024). Retrieval kv heads keep the whole
// history (kv_cache); streaming kv heads keep their sinks + recent window only (streaming_cache:
// constant memory). With half the heads streaming, memory and decode time approach half of a full
// cache as the history grows.
//
//   attune::duo_cache<float> cache(attune::duo_heads::by_sparsity(alpha, 0.5), /*q_heads*/ 32, 128, 128);
//   cache.step(q, k_new, v_new, out);   // a prefill chunk or one decode token: append, then attend
//   cache.step(q, k_new, v_new, out, attune::variant(attune::alibi{slopes}, attune::sink_logit{z}));
//
// step() computes exactly attention with the duo_heads mask over the whole history: a retrieval
// head attends causally to every token, a streaming head to sinks_window(sinks, recent). Each kv
// head runs as its own call over its query heads (a contiguous group of q), so the two kinds of head
// read only the keys they keep. A variant (cache/interface.hpp; no mask) applies to both kinds of
// head: its head-indexed policies see the whole call's head indices (sparse/head_offset.hpp), its
// score modifier the history positions (the streaming heads' ids, streaming_cache.hpp).
//
// T may also be a quantized format (attune/quantized.hpp): the retrieval heads then keep a
// quant_kv_cache and the streaming heads a quantized streaming_cache, each head in its format's
// head_format(h) (fp8's scale of that head, int8's channel scales of that head).
#include <memory>
#include <type_traits>
#include <vector>

#include "attune/attention.hpp"
#include "attune/cache/chunk.hpp"
#include "attune/cache/interface.hpp"
#include "attune/cache/kv_cache.hpp"
#include "attune/cache/quant_kv_cache.hpp"
#include "attune/cache/streaming_cache.hpp"
#include "attune/core/error.hpp"
#include "attune/core/view.hpp"
#include "attune/mask/causal.hpp"
#include "attune/sparse/head_offset.hpp"

namespace attune {

/// duo_cache's options (cache/interface.hpp): the streaming heads' window, the retrieval heads' reserve.
struct duo_cache_options {
    index_t sinks = 64;    ///< sink tokens of a streaming head (DuoAttention's deployment default)
    index_t recent = 256;  ///< recent tokens of a streaming head
    index_t reserve = 0;   ///< tokens a retrieval head allocates up front (it doubles when full)
};

/// DuoAttention's mixed KV cache of one sequence: the retrieval kv heads keep every token, the
/// streaming kv heads only their sinks and recent window.
template <class T = float>
class duo_cache {
    static constexpr bool quantized = quant::is_format_v<T>;
    using full_cache = std::conditional_t<quantized, quant_kv_cache<T, T>, kv_cache<T>>;

public:
    using value_type = T;  ///< the storage type (an element type or a quantized format)

    /// A cache whose kv head h streams iff `streaming_kv_heads[h]` (as duo_heads::by_sparsity returns),
    /// for `q_heads` query heads (a multiple of the kv heads), key dim `dk`, value dim `dv`. Streaming
    /// heads keep `sinks` + `recent` tokens (DuoAttention's deployment defaults 64 and 256);
    /// `reserve` is the tokens the retrieval heads' caches allocate up front (they double when full).
    duo_cache(std::vector<bool> streaming_kv_heads, index_t q_heads, index_t dk, index_t dv, index_t sinks = 64, index_t recent = 256,
              index_t reserve = 0)
        : duo_cache(std::move(streaming_kv_heads), q_heads, dk, dv, duo_cache_options{sinks, recent, reserve}, T{}, T{}, 0) {}

    /// A quantized cache: K rows in `k_format`, V rows in `v_format` (with per-head scales, for all
    /// kv heads), with options `o`.
    template <class F = T, std::enable_if_t<quant::is_format_v<F>, int> = 0>
    duo_cache(std::vector<bool> streaming_kv_heads, index_t q_heads, index_t dk, index_t dv, const duo_cache_options& o, F k_format,
              F v_format)
        : duo_cache(std::move(streaming_kv_heads), q_heads, dk, dv, o, k_format, v_format, 0) {}

    /// A cache whose kv head h streams iff `streaming_kv_heads[h]`, for `q_heads` query heads, key
    /// dim `dk`, value dim `dv`, with options `o`.
    duo_cache(std::vector<bool> streaming_kv_heads, index_t q_heads, index_t dk, index_t dv, const duo_cache_options& o)
        : duo_cache(std::move(streaming_kv_heads), q_heads, dk, dv, o.sinks, o.recent, o.reserve) {}

    index_t kv_heads() const noexcept { return static_cast<index_t>(streaming_.size()); }  ///< kv heads
    index_t q_heads() const noexcept { return q_heads_; }                                  ///< query heads
    index_t seen() const noexcept { return seen_; }                                        ///< tokens appended so far
    index_t tokens() const noexcept { return seen_; }                                      ///< the history's length, seen()
    /// Whether kv head `kv_head` is a streaming head.
    bool streaming(index_t kv_head) const {
        detail::require(kv_head >= 0 && kv_head < kv_heads(), "duo_cache::streaming: kv_head ", kv_head, " outside [0, ", kv_heads(), ")");
        return streaming_[static_cast<std::size_t>(kv_head)];
    }
    /// The cache of retrieval kv head `kv_head` (an attune::error for a streaming head): a kv_cache, or
    /// a quant_kv_cache for a quantized T.
    const full_cache& retrieval_cache(index_t kv_head) const {
        detail::require(kv_head >= 0 && kv_head < kv_heads() && !streaming_[static_cast<std::size_t>(kv_head)],
                        "duo_cache::retrieval_cache: kv_head ", kv_head, " is not a retrieval head");
        return *full_[static_cast<std::size_t>(slot_[static_cast<std::size_t>(kv_head)])];
    }
    /// The cache of streaming kv head `kv_head` (an attune::error for a retrieval head).
    const streaming_cache<T>& streaming_cache_of(index_t kv_head) const {
        detail::require(kv_head >= 0 && kv_head < kv_heads() && streaming_[static_cast<std::size_t>(kv_head)],
                        "duo_cache::streaming_cache_of: kv_head ", kv_head, " is not a streaming head");
        return *stream_[static_cast<std::size_t>(slot_[static_cast<std::size_t>(kv_head)])];
    }
    /// Bytes of K/V held (the memory a full cache would hold is seen() × kv_heads × (dk + dv) × sizeof(T)).
    std::size_t bytes() const {
        std::size_t b = 0;
        for (const auto& c : full_) {
            if constexpr (quantized) b += static_cast<std::size_t>(c->bytes());
            else b += static_cast<std::size_t>(c->tokens()) * static_cast<std::size_t>(dk_ + dv_) * sizeof(T);
        }
        for (const auto& c : stream_) b += c->bytes();
        return b;
    }

    /// Appends n tokens without attending (a prompt whose outputs are not needed).
    template <class K, class V>
    void append(const tensor_view<K>& k, const tensor_view<V>& v) {
        static constexpr const char* who = "duo_cache::append";
        const index_t n = detail::check_chunk(who, k, v, kv_heads(), dk_, dv_);
        detail::require(n <= detail::index_max - seen_, who, ": seen tokens overflow (", seen_, " + ", n, ")");
        check_not_storage(who, k, "k");
        check_not_storage(who, v, "v");
        index_t done = 0;
        try {
            for (; done < kv_heads(); ++done) {
                if (streaming(done)) stream(done).append(head(k, done, 1), head(v, done, 1));
                else full(done).append(head(k, done, 1), head(v, done, 1));
            }
        } catch (...) {  // a head's allocation failed: the heads done so far go back
            undo(done);
            throw;
        }
        seen_ += n;
    }

    /// Appends the chunk (k, v: [1, Hkv, n, dim]) and attends its queries q [1, Hq, n, dk] into out,
    /// under the variant `var` (family, score modifier, sink, router; its mask must be none).
    template <class Arch = default_arch, class Q, class K, class V, class O, class Var = variant<>, class Exec = default_executor,
              std::enable_if_t<detail::is_step_variant_v<Var>, int> = 0>
    void step(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const tensor_view<O>& out, const Var& var_in = {},
              const options& opt = {}, const Exec& exec = {}) {
        static constexpr const char* who = "duo_cache::step";
        const index_t n = detail::check_chunk(who, k, v, kv_heads(), dk_, dv_);
        detail::check_queries(who, q, out, kv_heads(), dk_, dv_);
        detail::require(q.heads() == q_heads_, "duo_cache::step: q has ", q.heads(), " heads, the cache was made for ", q_heads_);
        detail::require(q.tokens() == n, "duo_cache::step: q has ", q.tokens(), " tokens but the chunk has ", n);
        detail::require(opt.lse.empty(), "duo_cache::step: options::lse is not supported (one call per kv head)");
        detail::require(n <= detail::index_max - seen_, who, ": seen tokens overflow (", seen_, " + ", n, ")");
        // The whole call is checked before any head's cache changes: a bad call leaves every head intact.
        detail::check_step(who, q, k, v, out, opt);
        check_not_storage(who, q, "q");
        check_not_storage(who, out, "out");
        check_not_storage(who, k, "k");
        check_not_storage(who, v, "v");
        detail::require_no_mask<Var>(who);
        const auto& var = to_variant(var_in);
        detail::check_variant(who, var, detail::step_problem(q, k, v, out, opt), seen_ + n, opt);
        const index_t group = q_heads_ / kv_heads();
        index_t done = 0;  // heads whose cache holds the chunk
        try {
            for (; done < kv_heads(); ++done) {
                const index_t h = done;
                const auto qh = head(q, h * group, group);
                const auto oh = head(out, h * group, group);
                const auto shifted = sparse::detail::with_head_offset(var, h * group, h);
                if (streaming(h)) {
                    stream(h).template step<Arch>(qh, head(k, h, 1), head(v, h, 1), oh, shifted, opt, exec);  // undoes itself if it throws
                } else {
                    auto& c = full(h);
                    const index_t before = c.tokens();
                    c.append(head(k, h, 1), head(v, h, 1));
                    try {
                        attention<Arch>(tensor_view<const Q>(qh), c.keys(), c.values(), oh, detail::with_cache_mask(shifted, causal{}), opt,
                                        exec);
                    } catch (...) {
                        c.truncate(before);
                        throw;
                    }
                }
            }
        } catch (...) {  // a user's executor (or the kernel) threw: every head done so far goes back
            undo(done);
            throw;
        }
        seen_ += n;
    }
    /// The older form, step(q, k, v, out, options, executor): the default variant.
    template <class Arch = default_arch, class Q, class K, class V, class O, class Exec = default_executor>
    void step(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const tensor_view<O>& out, const options& opt,
              const Exec& exec = {}) {
        step<Arch>(q, k, v, out, variant<>{}, opt, exec);
    }

    /// Forgets every token (each head's cache keeps its storage).
    void clear() noexcept {
        for (auto& c : full_) c->clear();
        for (auto& c : stream_) c->clear();
        seen_ = 0;
    }

private:
    duo_cache(std::vector<bool> streaming_kv_heads, index_t q_heads, index_t dk, index_t dv, const duo_cache_options& o, T k_format,
              T v_format, int)
        : streaming_(std::move(streaming_kv_heads)), q_heads_(q_heads), dk_(dk), dv_(dv) {
        const auto kv = static_cast<index_t>(streaming_.size());
        detail::require(kv > 0, "duo_cache: needs at least one kv head");
        detail::require(q_heads > 0 && q_heads % kv == 0, "duo_cache: query heads (", q_heads, ") must be a multiple of the kv heads (", kv,
                        ")");
        if constexpr (quantized) {
            k_format.check(kv, dk, "duo_cache: key format");
            v_format.check(kv, dv, "duo_cache: value format");
        }
        for (index_t h = 0; h < kv; ++h) {
            if (streaming_[static_cast<std::size_t>(h)]) {
                if constexpr (quantized)
                    stream_.push_back(std::make_unique<streaming_cache<T>>(1, dk, dv, streaming_cache_options{o.sinks, o.recent},
                                                                           k_format.head_format(h), v_format.head_format(h)));
                else stream_.push_back(std::make_unique<streaming_cache<T>>(1, dk, dv, o.sinks, o.recent));
            } else {
                kv_cache_options fo;
                fo.reserve = o.reserve;
                if constexpr (quantized)
                    full_.push_back(std::make_unique<full_cache>(1, dk, dv, k_format.head_format(h), v_format.head_format(h), fo));
                else full_.push_back(std::make_unique<full_cache>(1, dk, dv, fo));
            }
            slot_.push_back(static_cast<index_t>(streaming_[static_cast<std::size_t>(h)] ? stream_.size() : full_.size()) - 1);
        }
    }

    // Heads [h0, h0 + n) of a batch-1 view.
    template <class X>
    static tensor_view<X> head(const tensor_view<X>& x, index_t h0, index_t n) {
        return tensor_view<X>(x.tokens() > 0 ? x.row(0, h0, 0) : x.data(), {1, n, x.tokens(), x.dim()}, x.strides());
    }

    streaming_cache<T>& stream(index_t h) { return *stream_[static_cast<std::size_t>(slot_[static_cast<std::size_t>(h)])]; }
    full_cache& full(index_t h) { return *full_[static_cast<std::size_t>(slot_[static_cast<std::size_t>(h)])]; }

    // Undoes the last append of heads [0, heads) (this call's: n tokens each, seen_ not yet counted).
    void undo(index_t heads) noexcept {
        for (index_t h = 0; h < heads; ++h) {
            if (streaming_[static_cast<std::size_t>(h)]) stream(h).undo();
            else full(h).truncate(seen_);
        }
    }

    // An input or output sharing memory with some head's cache (see detail::check_not_storage).
    template <class X>
    void check_not_storage(const char* who, const tensor_view<X>& x, const char* name) const {
        for (const auto& c : full_) detail::check_not_storage(who, x, name, c->k_, c->v_);
        for (const auto& c : stream_) detail::check_not_storage(who, x, name, c->k_, c->v_);
    }

    std::vector<bool> streaming_;
    index_t q_heads_, dk_, dv_;
    index_t seen_ = 0;
    std::vector<std::unique_ptr<full_cache>> full_;
    std::vector<std::unique_ptr<streaming_cache<T>>> stream_;
    std::vector<index_t> slot_;  // kv head → its index in full_ or stream_
};

}  // namespace attune
