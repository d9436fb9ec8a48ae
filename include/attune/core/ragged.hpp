#pragma once
// Ragged batches: the rows of many sequences of different lengths packed one after another along
// the token dimension of one view (FlashAttention's varlen "cu_seqlens"): sequence s holds the
// packed rows [at[s], at[s + 1]).
#include <cstdint>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/types.hpp"
#include "attune/core/view.hpp"

namespace attune {

/// Where each sequence's rows start in a packed view: sequence s holds rows [at[s], at[s + 1]);
/// `at` has sequences + 1 entries, starts at 0 and never decreases (int32, as engines hand it over).
struct seq_offsets {
    const std::int32_t* at = nullptr;  ///< [sequences + 1] cumulative row counts
    index_t sequences = 0;             ///< number of sequences

    index_t begin(index_t s) const noexcept { return at[s]; }                     ///< sequence s's first row
    index_t length(index_t s) const noexcept { return at[s + 1] - at[s]; }        ///< sequence s's rows
    index_t total() const noexcept { return sequences > 0 ? at[sequences] : 0; }  ///< rows of all sequences
};

/// Packed rows [total, heads, dim] (token-major, as engines keep them) as the [1, heads, total, dim]
/// view the ragged functions read.
template <class T>
tensor_view<T> packed_view(T* data, index_t total, index_t heads, index_t dim) {
    const index_t token = detail::checked_product("packed_view", heads, dim);
    return tensor_view<T>(data, {1, heads, total, dim}, {detail::checked_product("packed_view", total, token), dim, token});
}

namespace detail {

// Checks offsets in full: `at` present, at[0] = 0, never decreasing, and the total equals `rows`
// (the packed view's token count). `what` names the argument.
inline void check_offsets(const char* what, const seq_offsets& o, index_t rows) {
    require(o.sequences >= 0, what, ": sequences is negative (", o.sequences, ")");
    if (o.sequences == 0) return require(rows == 0, what, ": no sequences, but the packed view has ", rows, " rows");
    require(o.at != nullptr, what, ": offsets are null");
    require(o.at[0] == 0, what, ": offsets must start at 0, got ", o.at[0]);
    for (index_t s = 0; s < o.sequences; ++s)
        require(o.at[s + 1] >= o.at[s], what, ": offsets decrease at sequence ", s, " (", o.at[s], " then ", o.at[s + 1], ")");
    require(o.at[o.sequences] == rows, what, ": offsets end at ", o.at[o.sequences], " but the packed view has ", rows, " rows");
}

}  // namespace detail
}  // namespace attune
