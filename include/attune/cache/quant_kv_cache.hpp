#pragma once
// quant_kv_cache<FK, FV>: kv_cache's growable cache of one sequence with its rows stored in a
// quantized format (quant/format.hpp): each appended row is quantized as it arrives, and steps
// read the rows in place (attune/quantized.hpp's attention).
//
//   attune::quant_kv_cache<attune::quant::q8_0, attune::quant::q4_0> cache(/*heads*/ 8, 128, 128);
//   cache.append(k_new, v_new);                        // float, bf16 or half [1, 8, n, 128]
//   cache.step(q, k_new, v_new, out, attune::causal{}); // append, then a causal step over the history
//   attune::attention(q, cache.keys(), cache.values(), out);
//
// The interface is kv_cache's (cache/interface.hpp); keys()/values() are quant_views valid until an
// append grows the storage. Every operation leaves the cache unchanged when it throws.
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "attune/cache/chunk.hpp"
#include "attune/cache/interface.hpp"
#include "attune/cache/kv_cache.hpp"
#include "attune/cache/rows.hpp"
#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/exec/executor.hpp"
#include "attune/exec/region.hpp"
#include "attune/quantized.hpp"

namespace attune {

template <class FK, class FV = FK>
class quant_kv_cache {
public:
    using key_format = FK;
    using value_format = FV;

    /// An empty cache of `heads` kv heads with key dim `dk` and value dim `dv`, K in format fk and V
    /// in fv (their scales, for fp8), with kv_cache's options.
    quant_kv_cache(index_t heads, index_t dk, index_t dv, FK fk = {}, FV fv = {}, const kv_cache_options& o = {})
        : heads_(heads), dk_(dk), dv_(dv), max_tokens_(o.max_tokens), fk_(fk), fv_(fv) {
        detail::require(heads > 0 && dk > 0 && dv > 0, "quant_kv_cache: heads (", heads, "), dk (", dk, ") and dv (", dv, ") must be ≥ 1");
        detail::require(o.max_tokens >= 0, "quant_kv_cache: max_tokens (", o.max_tokens, ") must be ≥ 0");
        detail::require(o.reserve >= 0, "quant_kv_cache: reserve (", o.reserve, ") must be ≥ 0");
        fk_.check(heads, dk, "quant_kv_cache: key format");
        fv_.check(heads, dv, "quant_kv_cache: value format");
        kb_ = FK::row_bytes(dk);
        vb_ = FV::row_bytes(dv);
        (void)detail::checked_product("quant_kv_cache: heads × key row", heads, kb_);
        (void)detail::checked_product("quant_kv_cache: heads × value row", heads, vb_);
        grow(o.reserve < o.max_tokens ? o.reserve : o.max_tokens, "quant_kv_cache: reserve");
    }

    index_t heads() const noexcept { return heads_; }
    index_t dk() const noexcept { return dk_; }
    index_t dv() const noexcept { return dv_; }
    index_t tokens() const noexcept { return tokens_; }
    index_t capacity() const noexcept { return capacity_; }
    index_t max_tokens() const noexcept { return max_tokens_; }
    /// Bytes the stored tokens take (keys and values).
    index_t bytes() const noexcept { return tokens_ * heads_ * (kb_ + vb_); }

    /// Appends n tokens, quantized: k [1, heads, n, dk], v [1, heads, n, dv], any storage type. The
    /// rows are quantized on Arch's vectors; a prompt's many rows are split over exec's workers
    /// (items of `append_rows` tokens of one head's K or V), a decode step's few run on the caller.
    template <class Arch = default_arch, class K, class V, class Exec = default_executor>
    void append(const tensor_view<K>& k, const tensor_view<V>& v, const Exec& exec = {}) {
        const index_t n = detail::check_chunk("quant_kv_cache::append", k, v, heads_, dk_, dv_);
        check_not_storage("quant_kv_cache::append", k, "k");
        check_not_storage("quant_kv_cache::append", v, "v");
        detail::require(n <= max_tokens_ - tokens_, "quant_kv_cache::append: capacity exceeded: ", tokens_, " tokens + ", n,
                        " appended > max_tokens ", max_tokens_);
        const index_t need = tokens_ + n;
        if (need > capacity_) {
            index_t c = capacity_ > 0 ? capacity_ : 16;
            while (c < need) c = c > detail::index_max / 2 ? need : c * 2;
            grow(c < max_tokens_ ? c : max_tokens_, "quant_kv_cache::append: heads × capacity × row");
        }
        const detail::append_items items(n, heads_);
        const index_t row = dk_ > dv_ ? dk_ : dv_;
        constexpr bool widen = !std::is_same_v<std::remove_const_t<K>, float> || !std::is_same_v<std::remove_const_t<V>, float>;
        if constexpr (widen) {
            const index_t floats = detail::checked_product("quant_kv_cache::append: scratch rows", items.buffers(), row);
            if (static_cast<index_t>(scratch_.size()) < floats)
                detail::checked_assign(scratch_, floats, 0.0f, "quant_kv_cache::append: scratch rows");
        }
        items.run(exec, widen ? scratch_.data() : nullptr, row, [&](const detail::append_items::item& it, float* tmp) {
            if (it.key)
                quant::detail::quantize_rows<Arch>(fk_, it.head, k.row(0, it.head, it.t0), k.strides()[2],
                                                   k_.data() + (it.head * capacity_ + tokens_ + it.t0) * kb_, kb_, it.t1 - it.t0, dk_, tmp);
            else
                quant::detail::quantize_rows<Arch>(fv_, it.head, v.row(0, it.head, it.t0), v.strides()[2],
                                                   v_.data() + (it.head * capacity_ + tokens_ + it.t0) * vb_, vb_, it.t1 - it.t0, dv_, tmp);
        });
        tokens_ = need;
    }

    /// Tokens of one head's K or V in one item of a parallel append.
    static constexpr index_t append_rows = detail::append_items::tokens;

    /// Appends the chunk and writes the attention of its n queries q [1, Hq, n, dk] into out
    /// [1, Hq, n, dv]: a causal step over the whole (quantized) history, as kv_cache::step.
    template <class Arch = default_arch, class Q, class K, class V, class O, class Var = variant<>, class Exec = default_executor,
              std::enable_if_t<detail::is_step_variant_v<Var>, int> = 0>
    void step(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const tensor_view<O>& out, const Var& var = {},
              const options& opt = {}, const Exec& exec = {}) {
        static constexpr const char* who = "quant_kv_cache::step";
        const index_t n = detail::check_chunk(who, k, v, heads_, dk_, dv_);
        detail::check_queries(who, q, out, heads_, dk_, dv_);
        detail::require(q.tokens() == n, who, ": q has ", q.tokens(), " tokens but the chunk has ", n);
        detail::require(n <= max_tokens_ - tokens_, who, ": capacity exceeded: ", tokens_, " tokens + ", n, " appended > max_tokens ",
                        max_tokens_);
        detail::check_step(who, q, k, v, out, opt);
        check_not_storage(who, q, "q");
        check_not_storage(who, out, "out");
        if (!opt.lse.empty()) check_not_storage(who, opt.lse, "options::lse");
        detail::check_variant(who, var, detail::step_problem(q, k, v, out, opt), tokens_ + n, opt);
        const auto full = detail::with_cache_mask(var, causal{});
        const index_t before = tokens_;
        append<Arch>(k, v, exec);
        try {
            attention<Arch>(tensor_view<const Q>(q), keys(), values(), out, full, opt, exec);
        } catch (...) {
            tokens_ = before;
            throw;
        }
    }

    void clear() noexcept { tokens_ = 0; }

    /// The keys as a [1, heads, tokens, dk] quantized view, valid until an append grows the storage.
    quant::quant_view<FK> keys() const {
        return quant::quant_view<FK>(k_.data(), {1, heads_, tokens_, dk_}, {heads_ * capacity_ * kb_, capacity_ * kb_, kb_}, fk_);
    }
    /// The values as a [1, heads, tokens, dv] quantized view.
    quant::quant_view<FV> values() const {
        return quant::quant_view<FV>(v_.data(), {1, heads_, tokens_, dv_}, {heads_ * capacity_ * vb_, capacity_ * vb_, vb_}, fv_);
    }

private:
    template <class>
    friend class duo_cache;

    // duo_cache's undo of a retrieval head's append: back to `tokens` held (storage kept).
    void truncate(index_t tokens) noexcept { tokens_ = tokens; }

    // A view over the cache's own bytes would be freed by a growth before it is read.
    template <class X>
    void check_not_storage(const char* who, const tensor_view<X>& x, const char* name) const {
        const std::pair<const void*, const void*> kr{k_.data(), k_.data() + k_.size()}, vr{v_.data(), v_.data() + v_.size()};
        detail::require(!detail::overlaps(x.extent(), kr) && !detail::overlaps(x.extent(), vr), who, ": ", name,
                        " overlaps the cache's own storage");
    }

    // Re-lays the heads out for a new capacity; nothing changes if the allocation fails.
    void grow(index_t capacity, const char* what) {
        if (capacity <= capacity_) return;
        std::vector<std::uint8_t> nk, nv;
        detail::checked_assign(nk, detail::checked_product(what, heads_, capacity, kb_), std::uint8_t{}, what);
        detail::checked_assign(nv, detail::checked_product(what, heads_, capacity, vb_), std::uint8_t{}, what);
        for (index_t h = 0; h < heads_; ++h) {
            std::copy(k_.begin() + h * capacity_ * kb_, k_.begin() + (h * capacity_ + tokens_) * kb_, nk.begin() + h * capacity * kb_);
            std::copy(v_.begin() + h * capacity_ * vb_, v_.begin() + (h * capacity_ + tokens_) * vb_, nv.begin() + h * capacity * vb_);
        }
        k_.swap(nk);
        v_.swap(nv);
        capacity_ = capacity;
    }

    index_t heads_, dk_, dv_, max_tokens_;
    FK fk_;
    FV fv_;
    index_t kb_ = 0, vb_ = 0, tokens_ = 0, capacity_ = 0;
    std::vector<std::uint8_t> k_, v_;
    std::vector<float> scratch_;
};

}  // namespace attune
