#pragma once
/// @file
/// Which tokens of a sequence each process holds, for context-parallel attention: a sequence of L
/// tokens cut into chunks, each rank holding one or two of them. Needs no MPI.
///
///  - shard_layout::contiguous: P chunks, rank r holds chunk r (non-causal masks, decode caches).
///  - shard_layout::zigzag: 2P chunks, rank r holds chunks r and 2P − 1 − r (the zig-zag of
///    Megatron-LM's context parallelism and PyTorch's context_parallel; Brandon et al., "Striped
///    Attention", 2023, balance the same causal work by striping tokens). Under a causal mask an
///    early chunk's queries see few keys and a late chunk's many; pairing chunk r with its mirror
///    gives every rank the same number of visible (query, key) pairs, up to one chunk's rounding.
///
/// Uneven lengths: chunk c of n chunks holds ⌊L/n⌋ tokens, plus one for c < L mod n. A rank's local
/// rows are its chunks' tokens in increasing order of position: scatter its Q, K and V rows with
/// scatter_tokens() (or take rows segments(rank) describes), and gather outputs with gather_tokens().
#include <algorithm>
#include <cstring>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/types.hpp"
#include "attune/core/view.hpp"

namespace attune::distributed {

/// How a sequence is cut over ranks (see the top of this file).
enum class shard_layout {
    contiguous,  ///< rank r holds the r-th of P consecutive chunks
    zigzag       ///< rank r holds chunks r and 2P − 1 − r of 2P
};

/// Tokens [first, first + count) of the sequence.
struct token_segment {
    index_t first = 0;  ///< global position of the first token
    index_t count = 0;  ///< tokens in the segment
};

/// The tokens each of `ranks` processes holds of a sequence of `length` tokens.
class shard_plan {
public:
    shard_plan() = default;  ///< no tokens, one rank
    /// A plan for `length` ≥ 0 tokens over `ranks` ≥ 1 processes in `layout`.
    shard_plan(index_t length, index_t ranks, shard_layout layout) : length_(length), ranks_(ranks), layout_(layout) {
        attune::detail::require(length >= 0, "shard_plan: length (", length, ") must be ≥ 0");
        attune::detail::require(ranks >= 1, "shard_plan: ranks (", ranks, ") must be ≥ 1");
        attune::detail::require(layout == shard_layout::contiguous || layout == shard_layout::zigzag, "shard_plan: unknown layout");
        attune::detail::checked_mul(ranks, index_t(2), "shard_plan: ranks");
    }

    index_t length() const noexcept { return length_; }       ///< tokens of the whole sequence
    index_t ranks() const noexcept { return ranks_; }         ///< processes
    shard_layout layout() const noexcept { return layout_; }  ///< how the sequence is cut

    /// The segments rank `rank` holds, in increasing order of position (one for contiguous, two for
    /// zig-zag; an empty chunk gives an empty segment). Its local row t is the t-th token of them.
    std::vector<token_segment> segments(index_t rank) const {
        attune::detail::require(rank >= 0 && rank < ranks_, "shard_plan: rank ", rank, " outside [0, ", ranks_, ")");
        if (layout_ == shard_layout::contiguous) return {chunk(rank, ranks_)};
        return {chunk(rank, 2 * ranks_), chunk(2 * ranks_ - 1 - rank, 2 * ranks_)};
    }
    /// Tokens rank `rank` holds.
    index_t tokens(index_t rank) const {
        index_t n = 0;
        for (const token_segment& s : segments(rank)) n += s.count;
        return n;
    }
    /// The global position of rank `rank`'s local row `row` (0 ≤ row < tokens(rank)).
    index_t position(index_t rank, index_t row) const {
        attune::detail::require(row >= 0, "shard_plan: row ", row, " < 0");
        for (const token_segment& s : segments(rank)) {
            if (row < s.count) return s.first + row;
            row -= s.count;
        }
        attune::detail::fail("shard_plan: row past rank ", rank, "'s ", tokens(rank), " tokens");
    }

private:
    // Chunk c of n: ⌊L/n⌋ tokens, one more for the first L mod n chunks.
    token_segment chunk(index_t c, index_t n) const noexcept {
        const index_t base = length_ / n, extra = length_ % n;
        return {c * base + std::min(c, extra), base + (c < extra ? 1 : 0)};
    }

    index_t length_ = 0;
    index_t ranks_ = 1;
    shard_layout layout_ = shard_layout::contiguous;
};

namespace detail {
template <class T, class U>
void copy_token_rows(const tensor_view<T>& from, index_t from_token, const tensor_view<U>& to, index_t to_token, index_t count) {
    for (index_t b = 0; b < from.batch(); ++b)
        for (index_t h = 0; h < from.heads(); ++h)
            for (index_t t = 0; t < count; ++t)
                std::memcpy(to.row(b, h, to_token + t), from.row(b, h, from_token + t), static_cast<std::size_t>(from.dim()) * sizeof(U));
}
template <class T, class U>
void check_scatter(const char* who, const shard_plan& plan, index_t rank, const tensor_view<T>& whole, const tensor_view<U>& local) {
    attune::detail::require(whole.tokens() == plan.length(), who, ": the whole view has ", whole.tokens(), " tokens, the plan ",
                            plan.length());
    attune::detail::require(local.tokens() == plan.tokens(rank), who, ": the local view has ", local.tokens(), " tokens, rank ", rank,
                            " holds ", plan.tokens(rank));
    attune::detail::require(whole.batch() == local.batch() && whole.heads() == local.heads() && whole.dim() == local.dim(), who,
                            ": the local view's batch, heads and dim differ from the whole view's");
    attune::detail::require(whole.data() != nullptr || whole.size() == 0, who, ": the whole view has null data");
    attune::detail::require(local.data() != nullptr || local.size() == 0, who, ": the local view has null data");
}
}  // namespace detail

/// Copies rank `rank`'s rows of `whole` [B, H, L, D] into `local` [B, H, tokens(rank), D] (same
/// element type, rows contiguous in dim). Throws attune::error on shapes that do not fit the plan.
template <class T>
void scatter_tokens(const shard_plan& plan, index_t rank, const tensor_view<const T>& whole, const tensor_view<T>& local) {
    detail::check_scatter("scatter_tokens", plan, rank, whole, local);
    index_t row = 0;
    for (const token_segment& s : plan.segments(rank)) {
        detail::copy_token_rows(whole, s.first, local, row, s.count);
        row += s.count;
    }
}

/// Copies `local` [B, H, tokens(rank), D], rank `rank`'s rows, into their places in `whole` [B, H,
/// L, D]. Throws attune::error on shapes that do not fit the plan.
template <class T>
void gather_tokens(const shard_plan& plan, index_t rank, const tensor_view<const T>& local, const tensor_view<T>& whole) {
    detail::check_scatter("gather_tokens", plan, rank, whole, local);
    index_t row = 0;
    for (const token_segment& s : plan.segments(rank)) {
        detail::copy_token_rows(local, row, whole, s.first, s.count);
        row += s.count;
    }
}

}  // namespace attune::distributed
