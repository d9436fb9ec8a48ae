#pragma once
// Paged K/V storage as serving engines keep it (vLLM's PagedAttention block tables, FlashInfer's
// paged cache): the keys and values of every sequence live in fixed-size pages of one pool, and a
// sequence is the list of its page ids.
//
//   page pool   a tensor_view [pages, kv_heads, page_size, dim]: batch = page, tokens = slot in
//               the page. Both layouts in use are just strides (page_pool_nhd / page_pool_hnd):
//                 NHD  [pages, page_size, Hkv, D]  (vLLM, FlashInfer "NHD")
//                 HND  [pages, Hkv, page_size, D]  (FlashInfer "HND")
//   page table  CSR, as FlashInfer's kv_indptr / kv_indices: sequence s holds the pages
//               ids[first[s] .. first[s + 1]) and its first lengths[s] slots of them, in order
//               (so lengths[s] ≤ (first[s + 1] − first[s]) · page_size). A vLLM block table
//               [sequences][max_blocks] is the CSR with first[s] = s · max_blocks.
// The index arrays are int32, as the engines hand them over (torch.int32 tensors).
#include <cstdint>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/types.hpp"
#include "attune/core/view.hpp"

namespace attune {

/// A page pool in the NHD layout, [pages, page_size, heads, dim] contiguous, as the view
/// [pages, heads, page_size, dim] the paged functions read.
template <class T>
tensor_view<T> page_pool_nhd(T* data, index_t pages, index_t page_size, index_t heads, index_t dim) {
    const index_t token = detail::checked_product("page_pool_nhd", heads, dim);
    return tensor_view<T>(data, {pages, heads, page_size, dim}, {detail::checked_product("page_pool_nhd", page_size, token), dim, token});
}

/// A page pool in the HND layout, [pages, heads, page_size, dim] contiguous.
template <class T>
tensor_view<T> page_pool_hnd(T* data, index_t pages, index_t page_size, index_t heads, index_t dim) {
    const index_t head = detail::checked_product("page_pool_hnd", page_size, dim);
    return tensor_view<T>(data, {pages, heads, page_size, dim}, {detail::checked_product("page_pool_hnd", heads, head), head, dim});
}

/// Which pages hold which sequence's keys (CSR; see the top of this file). Non-owning.
struct page_table {
    const std::int32_t* ids = nullptr;      ///< page ids, sequence by sequence
    const std::int32_t* first = nullptr;    ///< [sequences + 1]: sequence s's ids are ids[first[s] .. first[s + 1])
    const std::int32_t* lengths = nullptr;  ///< [sequences]: tokens of each sequence
    index_t sequences = 0;                  ///< number of sequences

    /// Sequence s's tokens.
    index_t length(index_t s) const noexcept { return lengths[s]; }
    /// Sequence s's page ids, in order.
    const std::int32_t* pages(index_t s) const noexcept { return ids + first[s]; }
};

/// K and V pools with the table of pages each sequence reads: the keys of a paged batch.
template <class TK, class TV = TK>
struct paged_kv {
    tensor_view<const TK> k_pages;  ///< [pages, kv_heads, page_size, dk]
    tensor_view<const TV> v_pages;  ///< [pages, kv_heads, page_size, dv]
    page_table table;               ///< each sequence's pages and length
};

namespace detail {

// Checks a page table in full against a pool of `pages` pages of `page_size` slots: the CSR offsets
// start at 0 and never decrease, every id is a page of the pool, every length fits its pages.
// O(sequences + ids); `who` names the call.
inline void check_page_table(const char* who, const page_table& t, index_t pages, index_t page_size) {
    require(t.sequences >= 0, who, ": page_table::sequences is negative (", t.sequences, ")");
    if (t.sequences == 0) return;
    require(t.first != nullptr, who, ": page_table::first is null");
    require(t.lengths != nullptr, who, ": page_table::lengths is null");
    require(t.first[0] == 0, who, ": page_table::first[0] must be 0, got ", t.first[0]);
    for (index_t s = 0; s < t.sequences; ++s) {
        const index_t a = t.first[s], b = t.first[s + 1];
        require(b >= a, who, ": page_table::first decreases at sequence ", s, " (", a, " then ", b, ")");
        const index_t len = t.lengths[s];
        require(len >= 0, who, ": page_table::lengths[", s, "] is negative (", len, ")");
        require(len <= checked_mul(b - a, page_size, "page_table capacity"), who, ": page_table::lengths[", s, "] = ", len, " exceeds its ",
                b - a, " pages of ", page_size, " tokens");
    }
    const index_t n = t.first[t.sequences];
    require(n == 0 || t.ids != nullptr, who, ": page_table::ids is null");
    for (index_t i = 0; i < n; ++i)
        require(t.ids[i] >= 0 && t.ids[i] < pages, who, ": page_table::ids[", i, "] = ", t.ids[i], " is not a page of the pool (", pages,
                " pages)");
}

}  // namespace detail
}  // namespace attune
