#pragma once
/// @file
/// positioned_mask<Mask>: any mask, evaluated on position ids (core/positions.hpp) instead of the
/// tokens' indices. Query token p sees key token j iff the inner mask lets position ids[p] see
/// position ids[j]:
///
///     auto pos = attune::position_ids::dense(ids.data(), B, Lk);   // ids of every token, [B][Lk]
///     attune::attention(q, k, v, out, attune::variant(attune::with_positions(attune::sliding_window(256, 0), pos)));
///
/// StreamingLLM's cache (sinks, then the recent window) keeps causal masks and windows in in-cache
/// positions; a prefix-shared batch of candidates gives each candidate the positions right after
/// the shared context (combine with prefix_sharing, on token indices, to keep candidates apart).
///
/// Tiles: the ids of a tile need not be monotone, so the tile [q_first, q_last] × [k_first, k_last]
/// is classified as the inner mask's class of the box of its ids, [min, max] of the query tokens'
/// ids × [min, max] of the key tokens' ids (a scan of the tile's ≤ 64 keys and the item's rows).
/// The answer is exact for any ids: every pair of the tile lies in the box, so a box the inner mask
/// calls empty (full) holds no (only) visible pairs. Identity ids give the inner mask's own classes;
/// scattered ids give wider boxes, hence more partial tiles (correct, slower). There is no keys() /
/// key_pair() (a row's visible tokens need not be an interval), so partial tiles are masked element
/// by element through visible(). An inner span() is kept for tiles whose keys have consecutive ids
/// (identity ids, a cache's window): only the keys some row may see are computed, the 4 sinks of a
/// 64-key tile, say; other tiles are computed whole.
/// The inner mask's validate() sees the call in position space (position_ids::id_shape): Lk = 1 +
/// the largest id, so a document_mask over ids is built over the positions, not the tokens.
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/core/positions.hpp"
#include "attune/mask/traits.hpp"

namespace attune {

/// A mask on position ids: visible(c) is the inner mask's visible() with q_pos and k_pos replaced
/// by the ids of those tokens (see the top of this file).
template <class Mask>
class positioned_mask {
    static_assert(std::is_same_v<typename Mask::policy_kind, mask_kind>, "attune::positioned_mask: the inner policy must be a mask");

public:
    using policy_kind = mask_kind;
    static constexpr bool is_none = false;
    using hooks =
        detail::join_hooks_t<provides<hook::classify, hook::validate>, detail::hooks_if<detail::mask_has_span<Mask>::value, hook::span>>;
    using parts = std::tuple<Mask>;  ///< the inner mask, for the variant's checks

    positioned_mask() = default;  ///< the inner mask's default, no ids (valid only for calls with no keys)
    /// `inner` on the ids of `ids`.
    positioned_mask(Mask inner, position_ids ids) : inner_(std::move(inner)), ids_(ids) {}

    const Mask& inner() const noexcept { return inner_; }      ///< the wrapped mask
    const position_ids& ids() const noexcept { return ids_; }  ///< the position ids

    /// The inner mask on the two tokens' ids.
    bool visible(const index_context& c) const {
        const std::int32_t* row = ids_.row(c.batch);
        return inner_.visible(index_context{c.batch, c.q_head, c.kv_head, row[c.q_pos], row[c.k_pos]});
    }

    /// The inner mask's class of the box spanned by the tile's ids.
    tile_class classify(const tile_context& t) const {
        const std::int32_t* row = ids_.row(t.batch);
        index_t q_lo = row[t.q_first], q_hi = q_lo, k_lo = row[t.k_first], k_hi = k_lo;
        for (index_t p = t.q_first + 1; p <= t.q_last; ++p) q_lo = row[p] < q_lo ? row[p] : q_lo, q_hi = row[p] > q_hi ? row[p] : q_hi;
        for (index_t j = t.k_first + 1; j <= t.k_last; ++j) k_lo = row[j] < k_lo ? row[j] : k_lo, k_hi = row[j] > k_hi ? row[j] : k_hi;
        return detail::classify_tile(inner_, tile_context{t.batch, t.kv_head, q_lo, q_hi, k_lo, k_hi, t.q_head_first, t.q_head_last});
    }

    /// Only with an inner span(): when the tile's keys have consecutive ids (ids[j] = ids[k_first] +
    /// j − k_first: identity ids, a window of a cache), the inner mask's span of the box, mapped back
    /// to token indices; otherwise the whole tile.
    template <class M = Mask, std::enable_if_t<detail::mask_has_span<M>::value, int> = 0>
    key_range span(const tile_context& t) const {
        const std::int32_t* row = ids_.row(t.batch);
        const index_t shift = row[t.k_first] - t.k_first;  // id − index over consecutive keys
        for (index_t j = t.k_first + 1; j <= t.k_last; ++j)
            if (row[j] != j + shift) return {t.k_first, t.k_last};
        index_t q_lo = row[t.q_first], q_hi = q_lo;
        for (index_t p = t.q_first + 1; p <= t.q_last; ++p) q_lo = row[p] < q_lo ? row[p] : q_lo, q_hi = row[p] > q_hi ? row[p] : q_hi;
        const index_t k_lo = t.k_first + shift, k_hi = t.k_last + shift;
        const key_range s = inner_.span(tile_context{t.batch, t.kv_head, q_lo, q_hi, k_lo, k_hi, t.q_head_first, t.q_head_last});
        // Clipped to the tile's ids first, so that an unbounded answer cannot wrap when shifted.
        const index_t first = s.first > k_lo ? s.first : k_lo, last = s.last < k_hi ? s.last : k_hi;
        if (first > last) return {t.k_first, t.k_first - 1};
        return {first - shift, last - shift};
    }

    /// Throws attune::error unless the ids cover the call (a row per batch, Lk ids, all ≥ 0), then
    /// validates the inner mask against the call in position space.
    template <class Shape>
    void validate(const Shape& p) const {
        const position_extent e = ids_.check_shape(p, "positioned_mask");
        detail::validate_policy(inner_, position_ids::id_shape(p, e));
    }

private:
    Mask inner_{};
    position_ids ids_{};
};

/// `mask` evaluated on the position ids `ids`: positioned_mask<Mask>.
template <class Mask, std::enable_if_t<std::is_same_v<typename Mask::policy_kind, mask_kind>, int> = 0>
positioned_mask<Mask> with_positions(Mask mask, const position_ids& ids) {
    return positioned_mask<Mask>(std::move(mask), ids);
}

}  // namespace attune
