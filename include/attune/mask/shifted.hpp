#pragma once
/// @file
/// shifted_mask<Mask>: any mask, seen from a block of a longer sequence. The engine places query i
/// of a call at q_pos = Lk − Lq + i and key j at j (bottom-right alignment); a call on one block of
/// a sequence (the queries of tokens [q_first, q_first + Lq), the keys of tokens [k_first,
/// k_first + Lk)) needs the mask of the whole sequence at the tokens' own positions. shifted_mask
/// hands the inner mask q_pos + q_shift and k_pos + k_shift instead:
///
///     // queries are tokens 512…639, keys tokens 0…255 of a sequence of 1024:
///     auto m = attune::at_positions(attune::causal{}, 512, 128, 0, 256, 1024);
///     attune::attention(q_block, k_block, v_block, out, attune::variant(m), opts);
///
/// Context parallelism (Ring Attention: Liu, Zaharia, Abbeel, 2023) runs attention on such pairs
/// of blocks and merges the parts with ⊕; positioned_mask cannot express them, since its queries
/// take the ids of key tokens (Lq ≤ Lk), while a query block here need not be among the keys.
/// Every hook of the inner mask is kept (classify, keys, key_pair, span): a shift of both axes
/// keeps its intervals and tile rules exact. validate() checks that every position the call uses
/// lies in [0, length) and validates the inner mask against the whole sequence (Lq = Lk = length:
/// a document_mask's ids must cover `length` positions).
#include <tuple>
#include <type_traits>
#include <utility>

#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/mask/interval.hpp"
#include "attune/mask/traits.hpp"

namespace attune {

/// A mask evaluated at shifted positions: the inner mask sees query position q_pos + q_shift and
/// key position k_pos + k_shift, in a sequence of `length` positions (see the top of this file).
template <class Mask>
class shifted_mask {
    static_assert(std::is_same_v<typename Mask::policy_kind, mask_kind>, "attune::shifted_mask: the inner policy must be a mask");

public:
    using policy_kind = mask_kind;
    static constexpr bool is_none = false;
    using hooks =
        detail::join_hooks_t<provides<hook::classify, hook::validate>, detail::hooks_if<detail::mask_has_keys<Mask>::value, hook::keys>,
                             detail::hooks_if<detail::mask_has_key_pair<Mask>::value, hook::key_pair>,
                             detail::hooks_if<detail::mask_has_span<Mask>::value, hook::span>>;
    using parts = std::tuple<Mask>;  ///< the inner mask, for the variant's checks

    shifted_mask() = default;  ///< the inner mask's default, no shift, length 0 (valid only for calls with no keys)
    /// `inner` at query positions q_pos + q_shift and key positions k_pos + k_shift, all of them in
    /// [0, length) (checked against each call by validate()).
    shifted_mask(Mask inner, index_t q_shift, index_t k_shift, index_t length)
        : inner_(std::move(inner)), q_shift_(q_shift), k_shift_(k_shift), length_(length) {
        detail::require(length >= 0, "shifted_mask: length (", length, ") must be ≥ 0");
        detail::require(q_shift >= -length && q_shift <= length, "shifted_mask: q_shift (", q_shift, ") outside [−length, length] (length ",
                        length, ")");
        detail::require(k_shift >= 0 && k_shift <= length, "shifted_mask: k_shift (", k_shift, ") outside [0, length] (length ", length,
                        ")");
    }

    const Mask& inner() const noexcept { return inner_; }  ///< the wrapped mask
    index_t q_shift() const noexcept { return q_shift_; }  ///< added to every query position
    index_t k_shift() const noexcept { return k_shift_; }  ///< added to every key position
    index_t length() const noexcept { return length_; }    ///< positions of the whole sequence

    /// The inner mask at the shifted positions.
    bool visible(const index_context& c) const { return inner_.visible(shift(c)); }

    /// The inner mask's class of the shifted tile.
    tile_class classify(const tile_context& t) const { return detail::classify_tile(inner_, shift(t)); }

    /// The inner mask's row interval, shifted back to the call's key positions.
    template <class M = Mask, std::enable_if_t<detail::mask_has_keys<M>::value, int> = 0>
    key_range keys(const index_context& c) const {
        return back(inner_.keys(shift(c)));
    }
    /// The inner mask's two row intervals, shifted back.
    template <class M = Mask, std::enable_if_t<detail::mask_has_key_pair<M>::value, int> = 0>
    key_range_pair key_pair(const index_context& c) const {
        const key_range_pair r = inner_.key_pair(shift(c));
        return {back(r.first), back(r.second)};
    }
    /// The inner mask's span of the shifted tile, shifted back.
    template <class M = Mask, std::enable_if_t<detail::mask_has_span<M>::value, int> = 0>
    key_range span(const tile_context& t) const {
        return back(inner_.span(shift(t)));
    }

    /// Throws attune::error unless every position of the call, shifted, lies in [0, length); then
    /// validates the inner mask against the whole sequence (Lq = Lk = length).
    template <class Shape>
    void validate(const Shape& p) const {
        if (p.lk <= 0 || p.lq <= 0) return;
        const index_t q_lo = p.lk - p.lq + q_shift_, q_hi = p.lk - 1 + q_shift_;
        detail::require(q_lo >= 0 && q_hi < length_, "shifted_mask: query positions [", q_lo, ", ", q_hi, "] outside the sequence [0, ",
                        length_, ")");
        detail::require(p.lk <= length_ - k_shift_, "shifted_mask: key positions [", k_shift_, ", ", k_shift_ + p.lk - 1,
                        "] outside the sequence [0, ", length_, ")");
        Shape whole = p;
        whole.lq = length_;
        whole.lk = length_;
        detail::validate_policy(inner_, whole);
    }

private:
    index_context shift(const index_context& c) const noexcept {
        return {c.batch, c.q_head, c.kv_head, c.q_pos + q_shift_, c.k_pos + k_shift_};
    }
    tile_context shift(const tile_context& t) const noexcept {
        return {t.batch,        t.kv_head,    t.q_first + q_shift_, t.q_last + q_shift_, t.k_first + k_shift_, t.k_last + k_shift_,
                t.q_head_first, t.q_head_last};
    }
    // Saturating: an unbounded side (a causal row's first key, a window's last) stays unbounded.
    key_range back(const key_range& r) const noexcept { return {detail::sat_sub(r.first, k_shift_), detail::sat_sub(r.last, k_shift_)}; }

    Mask inner_{};
    index_t q_shift_ = 0;
    index_t k_shift_ = 0;
    index_t length_ = 0;
};

/// `mask` for a call whose `lq` queries are the tokens [q_first, q_first + lq) and whose `lk` keys
/// are the tokens [k_first, k_first + lk) of a sequence of `length` tokens: shifted_mask<Mask> with
/// q_shift = q_first − (lk − lq) and k_shift = k_first. Throws attune::error when a block leaves the
/// sequence or a size is negative.
template <class Mask, std::enable_if_t<std::is_same_v<typename Mask::policy_kind, mask_kind>, int> = 0>
shifted_mask<Mask> at_positions(Mask mask, index_t q_first, index_t lq, index_t k_first, index_t lk, index_t length) {
    detail::require(length >= 0, "at_positions: length (", length, ") must be ≥ 0");
    detail::require(lq >= 0 && lk >= 0, "at_positions: lq (", lq, ") and lk (", lk, ") must be ≥ 0");
    detail::require(q_first >= 0 && q_first <= length && lq <= length - q_first, "at_positions: queries [", q_first, ", +", lq,
                    ") outside the sequence [0, ", length, ")");
    detail::require(k_first >= 0 && k_first <= length && lk <= length - k_first, "at_positions: keys [", k_first, ", +", lk,
                    ") outside the sequence [0, ", length, ")");
    return shifted_mask<Mask>(std::move(mask), q_first - (lk - lq), k_first, length);
}

}  // namespace attune
