#pragma once
/// @file
/// Per-token position ids: the position each token of a sequence holds for masks and score
/// modifiers, when it is not the token's index. The engine's indices are implicit (key j is at j,
/// query i of Lq at Lk − Lq + i); these ids replace them where the positions a model was trained
/// with differ from where a token sits:
///  - prefix sharing (Uni-Encoder, shared-prompt batching): candidates packed one after another all
///    continue the shared context's positions, so two candidates carry the same ids;
///  - StreamingLLM (Xiao et al., "Efficient Streaming Language Models with Attention Sinks", 2024):
///    positions are the tokens' places in the cache (sinks 0…s−1, then the window right after them),
///    not in the original text;
///  - any reordering: ids need not be sorted, distinct or contiguous.
///
///     std::vector<std::int32_t> ids(B * L);                          // [B][L], token t of batch b at ids[b·L + t]
///     auto pos = attune::position_ids::dense(ids.data(), B, L);
///     attune::attention(q, k, v, out, attune::variant(attune::with_positions(attune::causal{}, pos)));
///
/// The table is indexed by a token's index in its sequence (key j's id is row[j]; a query's id is
/// that of its own token, index Lk − Lq + i), so it needs at least Lk ids per sequence and Lq ≤ Lk.
/// Rows are dense ([B][L] with a batch stride, or one row shared by every batch) or ragged (CSR:
/// sequence b's ids start at ids[offsets[b]], as core/ragged.hpp's seq_offsets). It does not own
/// the ids: they must outlive the calls that use them. The adapters (mask/positioned.hpp,
/// score/positioned.hpp) check the table against every call before any work: a row per batch, ids
/// for every index the call uses, every id ≥ 0; attune::error otherwise.
#include <cstdint>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/ragged.hpp"
#include "attune/core/types.hpp"

namespace attune {

/// The smallest and largest ids a call uses: min over its queries' tokens, max over all its tokens.
struct position_extent {
    index_t q_min = 0;  ///< smallest query id (0 without queries)
    index_t max = -1;   ///< largest id of any token the call reads (−1: none)
};

/// A non-owning int32 table of each token's position id, one row per sequence, indexed by the
/// token's index in its sequence (see the top of this file).
class position_ids {
public:
    /// No ids: valid only for calls that use none (no keys).
    position_ids() noexcept = default;

    /// `batches` rows of `length` ids, row b at `ids + b·stride` (stride ≥ length; stride 0: the one
    /// row serves every batch, batches must be 1).
    position_ids(const std::int32_t* ids, index_t batches, index_t length, index_t stride)
        : data_(ids), batches_(batches), length_(length), stride_(stride) {
        detail::require(length >= 0, "position_ids: length must be ≥ 0, got ", length);
        detail::require(batches >= 0, "position_ids: batches must be ≥ 0, got ", batches);
        detail::require(stride >= 0, "position_ids: stride must be ≥ 0, got ", stride);
        detail::require(stride == 0 || stride >= length, "position_ids: stride (", stride, ") is shorter than a row (", length,
                        " ids): rows would overlap");
        detail::require(stride != 0 || batches <= 1, "position_ids: stride 0 (one row for every batch) with ", batches, " rows");
        // The last id's offset must fit: (batches − 1)·stride + length.
        if (batches > 0)
            detail::checked_add(detail::checked_mul(batches - 1, stride, "position_ids: batches × stride"), length,
                                "position_ids: batches × stride + length");
        detail::require(ids != nullptr || batches == 0 || length == 0, "position_ids: ids are null");
    }

    /// Dense [batches][length], rows contiguous.
    static position_ids dense(const std::int32_t* ids, index_t batches, index_t length) {
        return position_ids(ids, batches, length, length);
    }
    /// One row of `length` ids for every batch.
    static position_ids shared(const std::int32_t* ids, index_t length) { return position_ids(ids, 1, length, 0); }
    /// A ragged batch: sequence b's ids are ids[offsets.at[b] … offsets.at[b + 1]) (offsets checked in
    /// full: start at 0, never decrease).
    static position_ids ragged(const std::int32_t* ids, const seq_offsets& offsets) {
        detail::require(offsets.sequences >= 0, "position_ids: offsets: sequences is negative (", offsets.sequences, ")");
        if (offsets.sequences == 0) return position_ids();
        detail::require(offsets.at != nullptr, "position_ids: offsets are null");
        detail::check_offsets("position_ids: offsets", offsets, offsets.at[offsets.sequences]);
        detail::require(ids != nullptr || offsets.total() == 0, "position_ids: ids are null");
        position_ids p;
        p.data_ = ids;
        p.starts_ = offsets.at;
        p.batches_ = offsets.sequences;
        return p;
    }

    bool is_ragged() const noexcept { return starts_ != nullptr; }  ///< CSR rows
    index_t rows() const noexcept { return batches_; }              ///< rows (sequences) held
    /// Ids in sequence b (b < rows(), or any b for a shared row).
    index_t length(index_t b) const noexcept { return starts_ != nullptr ? starts_[b + 1] - starts_[b] : length_; }
    /// Sequence b's first id (b < rows(), or any b for a shared row).
    const std::int32_t* row(index_t b) const noexcept { return data_ + (starts_ != nullptr ? starts_[b] : b * stride_); }
    /// The id of token `index` of sequence b (the adapters' hot path: no checks; check() first).
    index_t at(index_t b, index_t index) const noexcept { return row(b)[index]; }

    /// Throws attune::error unless the table covers a call of `batch` sequences, `lq` queries and
    /// `lk` keys each (a row per batch, lk ids per row, lq ≤ lk) with every id used in [0, limit];
    /// `who` names the adapter. `sequence` ≥ 0: the call is that one sequence of a ragged batch (the
    /// others have lengths of their own). Reads every id used, and returns their extent.
    position_extent check(index_t batch, index_t lq, index_t lk, const char* who, index_t limit = 0x7fffffff, index_t sequence = -1) const {
        position_extent e;
        if (batch <= 0 || lk <= 0) return e;  // no keys: no hook runs, nothing is read
        detail::require(lq <= lk, who, ": position ids: Lq (", lq, ") > Lk (", lk,
                        "): query i sits at token Lk − Lq + i, and the first queries have no token (and no id)");
        const bool shared_row = starts_ == nullptr && stride_ == 0 && batches_ == 1;
        detail::require(shared_row || batches_ >= batch, who, ": position ids have ", batches_, " rows for batch ", batch,
                        " (one per batch, or one shared row)");
        detail::require(sequence < batch, who, ": sequence ", sequence, " of a batch of ", batch);
        const index_t b0 = sequence >= 0 ? sequence : 0, b1 = sequence >= 0 ? sequence + 1 : shared_row ? 1 : batch;
        bool first = true;
        for (index_t b = b0; b < b1; ++b) {
            const index_t have = length(shared_row ? 0 : b);
            detail::require(have >= lk, who, ": position ids of batch ", b, " cover ", have, " tokens, but the call has Lk = ", lk);
            const std::int32_t* r = row(shared_row ? 0 : b);
            for (index_t i = 0; i < lk; ++i) {
                const index_t id = r[i];
                detail::require(id >= 0 && id <= limit, who, ": position id of batch ", b, ", token ", i, " is ", id, ", outside [0, ",
                                limit, "]");
                if (id > e.max) e.max = id;
                if (i >= lk - lq && (first || id < e.q_min)) e.q_min = id, first = false;
            }
        }
        return e;
    }

    /// check() for a call's shape (kernel::problem: batch, lq, lk; a shape with a member `sequence`
    /// ≥ 0 is that one sequence of a ragged batch).
    template <class Shape>
    position_extent check_shape(const Shape& p, const char* who, index_t limit = 0x7fffffff) const {
        return check(p.batch, p.lq, p.lk, who, limit, sequence_of(p, 0));
    }

    /// The call's shape as the wrapped policy sees it, for its validate(): positions are the ids, so
    /// Lk becomes 1 + the largest id and Lq reaches down to the smallest query id (Lk − Lq ≤ q_min);
    /// identity ids give the call's own shape. `e` is check()'s answer.
    template <class Shape>
    static Shape id_shape(const Shape& p, const position_extent& e) {
        Shape s = p;
        s.lk = e.max + 1;
        s.lq = p.lq > 0 && p.lk > 0 ? s.lk - e.q_min : 0;
        return s;
    }

private:
    template <class Shape>
    static auto sequence_of(const Shape& p, int) -> decltype(static_cast<index_t>(p.sequence)) {
        return static_cast<index_t>(p.sequence);
    }
    template <class Shape>
    static index_t sequence_of(const Shape&, long) {
        return -1;
    }

    const std::int32_t* data_ = nullptr;
    const std::int32_t* starts_ = nullptr;  // CSR offsets (null: dense rows)
    index_t batches_ = 0;
    index_t length_ = 0;
    index_t stride_ = 0;
};

}  // namespace attune
