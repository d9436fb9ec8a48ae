#pragma once
// Prefix sharing (Uni-Encoder's candidates, shared-prompt batching in one sequence): a shared
// context of P tokens followed by segments that each see the context and themselves, never each
// other.
//
//     positions [0, P)                 the shared context: sees itself only
//     segment s: [start_s, end_s)      sees the context [0, P) and its own segment
//     inside the context and inside a segment: causal (j ≤ p) or full, by the `causal` flag
//
//   attune::prefix_sharing m(/*prefix*/ 128, /*segment lengths*/ {40, 40, 52}, /*causal*/ false);
//
// The layout covers P + Σ lengths positions, which must be Lk (absolute, bottom-right aligned
// positions p = Lk − Lq + i, as every mask): attention() rejects a call at another Lk, whose rows
// past the layout would silently see nothing or the wrong segment.
//
// It is a composition of two masks and nothing else, so its element and tile rules are theirs:
// document_mask over ids (context = 0, segment s = s + 1) or prefix_keys{P} (keys [0, P) to every
// query at p ≥ P).
#include <limits>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/mask/combine.hpp"
#include "attune/mask/document.hpp"
#include "attune/mask/interval.hpp"

namespace attune {

/// Keys [0, prefix) are visible to every query at position p ≥ prefix (and nothing else): global
/// context columns for the rows after it. One interval per row, monotone in p.
class prefix_keys : public interval_mask<prefix_keys> {
public:
    prefix_keys() noexcept : prefix_(0) {}  ///< no prefix: nothing visible
    /// Keys [0, prefix) for every query at p ≥ prefix (prefix ≥ 0).
    explicit prefix_keys(index_t prefix) : prefix_(prefix) {
        detail::require(prefix >= 0, "prefix_keys: prefix length (", prefix, ") must be ≥ 0");
    }
    index_t prefix() const noexcept { return prefix_; }  ///< the prefix length

    /// [0, prefix) for p ≥ prefix, nothing before.
    key_range keys_at(index_t p) const noexcept { return {0, p >= prefix_ ? prefix_ - 1 : -1}; }

private:
    index_t prefix_;
};

/// A shared context of `prefix` tokens followed by segments that each see the context and
/// themselves, never each other (see the top of this file).
class prefix_sharing : public or_mask<document_mask, prefix_keys> {
public:
    /// Default: empty layout, nothing visible (variant<> keeps a default-constructed copy).
    prefix_sharing() : or_mask<document_mask, prefix_keys>(document_mask(), prefix_keys()), prefix_(0), segments_(0) {}
    /// A context of `prefix` tokens, then segments of `segment_lengths`; causal inside the context
    /// and each segment unless `causal` is false. The layout must cover Lk positions.
    prefix_sharing(index_t prefix, const std::vector<index_t>& segment_lengths, bool causal = true)
        : or_mask<document_mask, prefix_keys>(document_mask(ids_for(prefix, segment_lengths), causal), prefix_keys(prefix)),
          prefix_(prefix),
          segments_(static_cast<index_t>(segment_lengths.size())) {}

    index_t prefix() const noexcept { return prefix_; }        ///< the shared context's length
    index_t segments() const noexcept { return segments_; }    ///< the number of segments
    index_t length() const noexcept { return a.length(); }     ///< positions the layout covers
    bool is_causal() const noexcept { return a.is_causal(); }  ///< causal inside context and segments

    /// Throws attune::error unless the layout covers Lk positions.
    template <class Shape>
    void validate(const Shape& p) const {
        if (prefix_ == 0 && segments_ == 0) return;  // the empty layout: nothing visible at any shape
        detail::require(a.length() == p.lk, "prefix_sharing: the layout (prefix ", prefix_, " + ", segments_, " segments) covers ",
                        a.length(), " positions, but the call has Lk = ", p.lk);
    }

private:
    static std::vector<document_mask::id_type> ids_for(index_t prefix, const std::vector<index_t>& lengths) {
        detail::require(prefix >= 0, "prefix_sharing: prefix length (", prefix, ") must be ≥ 0");
        detail::require(lengths.size() < static_cast<std::size_t>(std::numeric_limits<document_mask::id_type>::max()),
                        "prefix_sharing: segment_lengths: more segments than ids");
        index_t total = prefix;
        for (std::size_t s = 0; s < lengths.size(); ++s) {
            detail::require(lengths[s] >= 0, "prefix_sharing: segment ", s, " has length ", lengths[s], " < 0");
            total = detail::checked_add(total, lengths[s], "prefix_sharing: prefix + segment_lengths");
        }
        std::vector<document_mask::id_type> ids;
        detail::checked_reserve(ids, total, "prefix_sharing: prefix + segment_lengths");
        ids.assign(static_cast<std::size_t>(prefix), 0);
        for (std::size_t s = 0; s < lengths.size(); ++s)
            ids.insert(ids.end(), static_cast<std::size_t>(lengths[s]), static_cast<document_mask::id_type>(s + 1));
        return ids;
    }
    index_t prefix_;
    index_t segments_;
};

}  // namespace attune
