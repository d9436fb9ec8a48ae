#pragma once
// Where a decoder's keys and values live between steps, and the attune call that attends them.
// A forward pass hands each layer's new rows to its store's attend(), packed token-major as the
// projections produce them ([T, H, D]: rows cu[s] .. cu[s+1] belong to sequence s); the store
// appends them and runs one attune call:
//
//   sequence_store  one sequence: full layers in an attune::kv_cache (or, for a StreamingLLM run,
//                   a streaming_cache of sinks + recent tokens); sliding layers in a
//                   streaming_cache with no sinks and the window as its ring — constant memory,
//                   as Mistral's rolling buffer — each a cache.step(q, k, v, out, variant)
//   paged_store     many sequences in one page pool per layer (attune::paged_kv_cache): requests
//                   fork and share their prompt's pages, and every sequence's rows of a step go
//                   through one attune::paged_attention call
//
// The variant is the layer's mask (where the store needs one) and, for gpt-oss, its sink logits.
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include <attune/attune.hpp>

#include "config.hpp"

namespace llm {

/// Packed rows of one forward pass: sequence s's tokens are rows cu[s] .. cu[s + 1].
struct batch {
    std::vector<std::int32_t> tokens;     ///< [T]
    std::vector<std::int32_t> positions;  ///< [T] each token's position in its sequence (RoPE)
    std::vector<std::int32_t> cu;         ///< [S + 1] cumulative rows
    std::vector<int> requests;            ///< [S] the paged store's request of each sequence

    std::int32_t rows() const { return cu.empty() ? 0 : cu.back(); }
    int sequences() const { return cu.empty() ? 0 : static_cast<int>(cu.size()) - 1; }
    attune::seq_offsets offsets() const { return {cu.data(), sequences()}; }
};

/// What one layer's attention is.
struct layer_attention {
    layer_kind kind = layer_kind::full;
    std::int64_t window = 0;                    ///< sliding layers: W tokens, the query's own included
    const attune::sink_logit* sinks = nullptr;  ///< gpt-oss: z_h per query head
};

/// Calls f(variant) with `mask` and, when the layer has them, its sink logits.
template <class Mask, class F>
void with_sinks(const layer_attention& a, const Mask& mask, F&& f) {
    if (a.sinks) f(attune::variant(mask, *a.sinks));
    else f(attune::variant(mask));
}

/// The K/V of one sequence, a cache per layer; T is the storage (float or attune::bf16).
template <class T>
class sequence_store {
public:
    /// `stream`: full layers keep StreamingLLM's sinks + recent tokens instead of everything.
    explicit sequence_store(const config& c, std::optional<attune::streaming_cache_options> stream = std::nullopt) {
        for (layer_kind k : c.kinds) {
            if (k == layer_kind::sliding)
                caches_.emplace_back(std::in_place_type<attune::streaming_cache<T>>, c.kv_heads, c.head_dim, c.head_dim, 0, c.window);
            else if (stream)
                caches_.emplace_back(std::in_place_type<attune::streaming_cache<T>>, c.kv_heads, c.head_dim, c.head_dim, *stream);
            else caches_.emplace_back(std::in_place_type<attune::kv_cache<T>>, c.kv_heads, c.head_dim, c.head_dim);
        }
    }

    /// Appends the batch's K/V rows to layer `layer`'s cache and attends its queries.
    template <class Exec>
    void attend(std::size_t layer, const layer_attention& a, const batch& b, attune::tensor_view<const T> q, attune::tensor_view<const T> k,
                attune::tensor_view<const T> v, attune::tensor_view<T> out, const Exec& exec) {
        (void)b;  // one sequence: the views are its rows
        std::visit(
            [&](auto& cache) {
                // The cache is the mask: kv_cache::step is causal, streaming_cache::step sinks + window.
                with_sinks(a, attune::no_mask{}, [&](const auto& var) { cache.step(q, k, v, out, var, attune::options{}, exec); });
            },
            caches_[layer]);
    }

    /// The tokens layer `layer` holds (a sliding layer holds at most its window).
    attune::index_t held(std::size_t layer) const {
        return std::visit(
            [](const auto& cache) -> attune::index_t {
                if constexpr (std::is_same_v<std::decay_t<decltype(cache)>, attune::kv_cache<T>>) return cache.tokens();
                else return cache.size();
            },
            caches_[layer]);
    }

private:
    std::vector<std::variant<attune::kv_cache<T>, attune::streaming_cache<T>>> caches_;
};

/// Many requests' K/V in one page pool per layer; a request is an index into the store.
template <class T>
class paged_store {
public:
    paged_store(const config& c, attune::index_t page_size, attune::index_t pages) : c_(c) {
        for (std::int64_t l = 0; l < c.layers; ++l)
            pools_.emplace_back(c.kv_heads, c.head_dim, c.head_dim, page_size, pages, attune::page_layout::nhd);
    }

    /// A new empty request.
    int add_request() {
        std::vector<attune::seq_id> ids;
        for (auto& p : pools_) ids.push_back(p.add_sequence());
        ids_.push_back(std::move(ids));
        return static_cast<int>(ids_.size()) - 1;
    }
    /// A request continuing `parent`: it shares the parent's pages until either writes to them.
    int fork(int parent) {
        std::vector<attune::seq_id> ids;
        for (std::size_t l = 0; l < pools_.size(); ++l) ids.push_back(pools_[l].fork(ids_.at(static_cast<std::size_t>(parent))[l]));
        ids_.push_back(std::move(ids));
        return static_cast<int>(ids_.size()) - 1;
    }
    attune::index_t pages_used(std::size_t layer) const { return pools_[layer].pages_used(); }

    /// Appends each sequence's rows to its request's pages, then attends all queries in one call.
    template <class Exec>
    void attend(std::size_t layer, const layer_attention& a, const batch& b, attune::tensor_view<const T> q, attune::tensor_view<const T> k,
                attune::tensor_view<const T> v, attune::tensor_view<T> out, const Exec& exec) {
        auto& pool = pools_[layer];
        seqs_.clear();
        for (int s = 0; s < b.sequences(); ++s) {
            const attune::seq_id id = ids_.at(static_cast<std::size_t>(b.requests[static_cast<std::size_t>(s)]))[layer];
            const std::int32_t first = b.cu[static_cast<std::size_t>(s)], n = b.cu[static_cast<std::size_t>(s) + 1] - first;
            pool.append(id, rows(k, first, n), rows(v, first, n));
            seqs_.push_back(id);
        }
        const auto kv = pool.kv(seqs_.data(), static_cast<attune::index_t>(seqs_.size()), tables_);
        const auto run = [&](const auto& var) { attune::paged_attention(q, b.offsets(), kv, out, var, attune::options{}, exec); };
        // A page pool keeps every token: the mask says what each layer sees (bottom-right aligned per sequence).
        if (a.kind == layer_kind::sliding) with_sinks(a, attune::causal_window_of(a.window), run);
        else with_sinks(a, attune::causal{}, run);
    }

private:
    // Rows first .. first + n of a packed [1, H, T, D] view.
    static attune::tensor_view<const T> rows(const attune::tensor_view<const T>& x, std::int32_t first, std::int32_t n) {
        return attune::packed_view(x.data() + static_cast<std::size_t>(first) * static_cast<std::size_t>(x.heads() * x.dim()), n, x.heads(),
                                   x.dim());
    }

    config c_;
    std::vector<attune::paged_kv_cache<T>> pools_;
    std::vector<std::vector<attune::seq_id>> ids_;  ///< [request][layer]
    std::vector<attune::seq_id> seqs_;
    attune::page_table_storage tables_;
};

}  // namespace llm
