#pragma once
// Document (segment id) mask for packed sequences: several documents share one row of tokens and
// attend only within their own document (FlexAttention's document_masking; FlashAttention's varlen).
//
//     key j is visible to query position p  iff  ids[b][j] == ids[b][p]  and  (j ≤ p  or  !causal)
//
// ids holds one segment id per absolute position 0..L−1 (L must be Lk; queries at p = Lk − Lq + i
// use the id of their position, so chunked prefill and decode need no extra ids). `batches` rows of
// ids: row b serves batch b (rows past the call's batch are unused); a single row serves every
// batch. attention() checks both against the call (L = Lk; one row or at least B rows) before any
// work: ids for another length, or missing rows, would silently mask the wrong keys. A
// default-constructed mask (no ids) sees nothing at any shape.
// Ids need not be sorted or contiguous (a document may be split); tile classification is O(1) per
// tile when every row of ids is non-decreasing (the usual packing) and O(tile size) otherwise.
// The mask copies the ids once at construction and shares them between copies (no allocation when
// a variant is copied).
#include <cstdint>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/mask/interval.hpp"

namespace attune {

/// Document (segment id) mask for packed sequences: key j is visible to query position p iff both
/// carry the same id (and j ≤ p when causal).
class document_mask {
public:
    using policy_kind = mask_kind;
    static constexpr bool is_none = false;
    using hooks = provides<hook::classify, hook::validate>;
    using id_type = std::int32_t;  ///< a segment id

    /// Default: no ids, nothing visible (variant<> keeps a default-constructed copy; no allocation).
    document_mask() noexcept : data_(empty_data()), causal_(true) {}
    /// `batches` contiguous rows of `length` ids, `ids[b * length + pos]`; causal within a
    /// document unless `causal` is false. The ids are copied.
    document_mask(const id_type* ids, index_t length, index_t batches = 1, bool causal = true)
        : document_mask(copy_ids(ids, length, batches), length, batches, causal) {}
    /// One row of ids for every batch (copied).
    explicit document_mask(const std::vector<id_type>& ids, bool causal = true)
        : document_mask(ids, static_cast<index_t>(ids.size()), 1, causal) {}
    /// One row per batch; the rows must have one length.
    explicit document_mask(const std::vector<std::vector<id_type>>& ids, bool causal = true)
        : document_mask(flatten(ids), ids.empty() ? 0 : static_cast<index_t>(ids.front().size()),
                        ids.empty() ? 1 : static_cast<index_t>(ids.size()), causal) {}

    /// Documents of the given lengths packed one after the other (ids 0, 1, 2…), for every batch.
    static document_mask from_lengths(const std::vector<index_t>& lengths, bool causal = true) {
        std::vector<id_type> ids;
        index_t total = 0;
        for (std::size_t d = 0; d < lengths.size(); ++d) {
            detail::require(lengths[d] >= 0, "document_mask::from_lengths: document ", d, " has length ", lengths[d], " < 0");
            total = detail::checked_add(total, lengths[d], "document_mask::from_lengths: lengths");
        }
        detail::require(lengths.size() <= static_cast<std::size_t>(std::numeric_limits<id_type>::max()),
                        "document_mask::from_lengths: lengths: more documents than ids");
        detail::checked_reserve(ids, total, "document_mask::from_lengths: lengths");
        for (std::size_t d = 0; d < lengths.size(); ++d)
            ids.insert(ids.end(), static_cast<std::size_t>(lengths[d]), static_cast<id_type>(d));
        return document_mask(ids, causal);
    }

    index_t length() const noexcept { return data_->length; }    ///< positions per row of ids (must be Lk)
    index_t batches() const noexcept { return data_->batches; }  ///< rows of ids
    bool is_causal() const noexcept { return causal_; }          ///< whether causal within a document
    /// The ids, row b at ids()[b * length() + pos] (null for a default-constructed mask).
    const id_type* ids() const noexcept { return data_->ids.empty() ? nullptr : data_->ids.data(); }

    /// Throws attune::error unless the ids cover Lk positions and one or at least B rows.
    template <class Shape>
    void validate(const Shape& p) const {
        if (data_ == empty_data()) return;  // no ids: nothing visible at any shape
        detail::require(data_->length == p.lk, "document_mask: ids cover ", data_->length, " positions, but the call has Lk = ", p.lk,
                        " (one id per key position)");
        detail::require(data_->batches == 1 || data_->batches >= p.batch, "document_mask: ", data_->batches, " rows of ids for batch ",
                        p.batch, " (one row for every batch, or one per batch)");
    }

    /// Whether query and key positions carry one id (and k_pos ≤ q_pos when causal).
    bool visible(const index_context& c) const noexcept {
        const index_t L = data_->length;
        if (c.q_pos < 0 || c.q_pos >= L || c.k_pos < 0 || c.k_pos >= L) return false;
        if (causal_ && c.k_pos > c.q_pos) return false;
        const id_type* row = row_of(c.batch);
        return row != nullptr && row[c.k_pos] == row[c.q_pos];
    }

    /// From the same rule: empty when no id is shared by the tile's queries and keys (their id ranges
    /// are disjoint) or every key is after every query (causal); full when all queries and keys carry
    /// one id (and, causal, every key is at or before every query); partial otherwise.
    tile_class classify(const tile_context& t) const noexcept {
        const index_t L = data_->length;
        const id_type* row = row_of(t.batch);
        const index_t q0 = detail::max_of(t.q_first, 0), q1 = detail::min_of(t.q_last, L - 1);
        const index_t k0 = detail::max_of(t.k_first, 0), k1 = detail::min_of(t.k_last, L - 1);
        if (row == nullptr || q0 > q1 || k0 > k1) return tile_class::empty;
        if (causal_ && k0 > q1) return tile_class::empty;
        const span_ids qs = ids_in(row, q0, q1), ks = ids_in(row, k0, k1);
        if (qs.max < ks.min || ks.max < qs.min) return tile_class::empty;
        const bool inside = q0 == t.q_first && q1 == t.q_last && k0 == t.k_first && k1 == t.k_last;
        if (inside && qs.min == qs.max && ks.min == ks.max && qs.min == ks.min && (!causal_ || t.k_last <= t.q_first))
            return tile_class::full;
        return tile_class::partial;
    }

private:
    struct data {
        std::vector<id_type> ids;
        index_t length = 0;
        index_t batches = 1;
        bool sorted = true;
    };
    struct span_ids {
        id_type min, max;
    };

    static const std::shared_ptr<data>& empty_data() noexcept {
        static const std::shared_ptr<data> empty = std::make_shared<data>();
        return empty;
    }
    document_mask(std::vector<id_type> flat, index_t length, index_t batches, bool causal)
        : data_(std::make_shared<data>()), causal_(causal) {
        detail::require(length >= 0, "document_mask: length (", length, ") must be ≥ 0");
        detail::require(batches >= 1, "document_mask: batches (", batches, ") must be ≥ 1");
        const index_t n = detail::checked_mul(length, batches, "document_mask: length × batches");
        detail::require(static_cast<index_t>(flat.size()) == n, "document_mask: ", flat.size(), " ids given for ", batches, " batches of ",
                        length, " positions");
        data_->length = length;
        data_->batches = batches;
        data_->ids = std::move(flat);
        for (index_t b = 0; b < batches; ++b)
            for (index_t i = 1; i < length; ++i)
                if (data_->ids[static_cast<std::size_t>(b * length + i)] < data_->ids[static_cast<std::size_t>(b * length + i - 1)])
                    data_->sorted = false;
    }
    static std::vector<id_type> copy_ids(const id_type* ids, index_t length, index_t batches) {
        detail::require(length >= 0, "document_mask: length (", length, ") must be ≥ 0");
        detail::require(batches >= 1, "document_mask: batches (", batches, ") must be ≥ 1");
        const index_t n = detail::checked_mul(length, batches, "document_mask: length × batches");
        detail::require(ids != nullptr || n == 0, "document_mask: null ids");
        std::vector<id_type> v;
        detail::checked_reserve(v, n, "document_mask: length × batches");
        v.assign(ids, ids + n);
        return v;
    }
    static std::vector<id_type> flatten(const std::vector<std::vector<id_type>>& rows) {
        std::vector<id_type> flat;
        for (const auto& r : rows)
            detail::require(r.size() == rows.front().size(), "document_mask: every batch's ids must have one length (", rows.front().size(),
                            " vs ", r.size(), ")");
        if (rows.empty()) return flat;
        detail::checked_reserve(flat,
                                detail::checked_mul(static_cast<index_t>(rows.size()), static_cast<index_t>(rows.front().size()),
                                                    "document_mask: length × batches"),
                                "document_mask: length × batches");
        for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
        return flat;
    }

    const id_type* row_of(index_t batch) const noexcept {
        if (data_->batches == 1) return data_->ids.data();
        if (batch < 0 || batch >= data_->batches) return nullptr;
        return data_->ids.data() + batch * data_->length;
    }
    span_ids ids_in(const id_type* row, index_t a, index_t b) const noexcept {
        if (data_->sorted) return {row[a], row[b]};
        span_ids s{row[a], row[a]};
        for (index_t i = a + 1; i <= b; ++i) {
            s.min = row[i] < s.min ? row[i] : s.min;
            s.max = row[i] > s.max ? row[i] : s.max;
        }
        return s;
    }

    std::shared_ptr<data> data_;
    bool causal_;
};

}  // namespace attune
