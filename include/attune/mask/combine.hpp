#pragma once
// and_mask<A, B> / or_mask<A, B>: a key is visible when both / either of two masks see it.
//
//   attune::and_mask(attune::causal{}, attune::document_mask(ids))    (CTAD; also and_mask<A, B>{a, b})
//   attune::or_mask(attune::sliding_window(128, 0), my_global_tokens{})
//
// Tile classes combine as sets do: and → empty if either is empty, full if both are full;
// or → full if either is full, empty if both are empty; partial otherwise (always correct, and
// exact whenever the parts are). and_mask exposes keys() (the intersection of two intervals is an
// interval) when both parts do, key_pair() when one has keys() and the other key_pair(), and
// span() when either part has one; or_mask exposes key_pair() when both have keys() (a union of
// two intervals). The engine masks intervals and pairs lane-wise. Both validate their parts.
#include <tuple>
#include <type_traits>
#include <utility>

#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/mask/interval.hpp"
#include "attune/mask/traits.hpp"

namespace attune {

/// A key is visible when both masks `A` and `B` see it.
template <class A, class B>
struct and_mask {
    static_assert(std::is_same_v<typename A::policy_kind, mask_kind> && std::is_same_v<typename B::policy_kind, mask_kind>,
                  "attune::and_mask: both parts must be masks");
    using policy_kind = mask_kind;
    static constexpr bool is_none = false;
    using hooks = detail::join_hooks_t<provides<hook::classify, hook::validate>,
                                       detail::hooks_if<detail::mask_has_keys<A>::value && detail::mask_has_keys<B>::value, hook::keys>,
                                       detail::hooks_if<(detail::mask_has_keys<A>::value && detail::mask_has_key_pair<B>::value) ||
                                                            (detail::mask_has_key_pair<A>::value && detail::mask_has_keys<B>::value),
                                                        hook::key_pair>,
                                       detail::hooks_if<detail::mask_has_span<A>::value || detail::mask_has_span<B>::value, hook::span>>;
    using parts = std::tuple<A, B>;  ///< the two masks, for the variant's checks

    A a;  ///< the first mask
    B b;  ///< the second mask

    and_mask() = default;  ///< when both parts have defaults (variant<> keeps a default copy)
    /// The intersection of masks `first` and `second`.
    and_mask(A first, B second) : a(std::move(first)), b(std::move(second)) {}

    /// Whether both parts see the key.
    bool visible(const index_context& c) const { return a.visible(c) && b.visible(c); }
    /// Empty if either part is empty, full if both are full, partial otherwise.
    tile_class classify(const tile_context& t) const {
        const tile_class ca = detail::classify_tile(a, t);
        if (ca == tile_class::empty) return ca;
        return detail::and_classes(ca, detail::classify_tile(b, t));
    }
    template <class AA = A, class BB = B, std::enable_if_t<detail::mask_has_keys<AA>::value && detail::mask_has_keys<BB>::value, int> = 0>
    /// The intersection of the parts' intervals.
    key_range keys(const index_context& row) const {
        const key_range x = a.keys(row), y = b.keys(row);
        return {detail::max_of(x.first, y.first), detail::min_of(x.last, y.last)};
    }
    /// An interval and a pair of intervals meet in a pair of intervals.
    template <class AA = A, class BB = B,
              std::enable_if_t<(detail::mask_has_keys<AA>::value && detail::mask_has_key_pair<BB>::value) ||
                                   (detail::mask_has_key_pair<AA>::value && detail::mask_has_keys<BB>::value),
                               int> = 0>
    key_range_pair key_pair(const index_context& row) const {
        const auto meet = [](const key_range& x, const key_range& y) {
            return key_range{detail::max_of(x.first, y.first), detail::min_of(x.last, y.last)};
        };
        if constexpr (detail::mask_has_keys<AA>::value) {
            const key_range x = a.keys(row);
            const key_range_pair y = b.key_pair(row);
            return {meet(x, y.first), meet(x, y.second)};
        } else {
            const key_range x = b.keys(row);
            const key_range_pair y = a.key_pair(row);
            return {meet(x, y.first), meet(x, y.second)};
        }
    }
    /// Every visible key lies in both parts' spans (a part without one spans the whole tile).
    template <class AA = A, class BB = B, std::enable_if_t<detail::mask_has_span<AA>::value || detail::mask_has_span<BB>::value, int> = 0>
    key_range span(const tile_context& t) const {
        key_range r{t.k_first, t.k_last};
        if constexpr (detail::mask_has_span<AA>::value) {
            const key_range x = a.span(t);
            r = {detail::max_of(r.first, x.first), detail::min_of(r.last, x.last)};
        }
        if constexpr (detail::mask_has_span<BB>::value) {
            const key_range x = b.span(t);
            r = {detail::max_of(r.first, x.first), detail::min_of(r.last, x.last)};
        }
        return r;
    }
    /// Validates both parts.
    template <class Shape>
    void validate(const Shape& p) const {
        detail::validate_policy(a, p);
        detail::validate_policy(b, p);
    }
};

/// A key is visible when either mask `A` or `B` sees it.
template <class A, class B>
struct or_mask {
    static_assert(std::is_same_v<typename A::policy_kind, mask_kind> && std::is_same_v<typename B::policy_kind, mask_kind>,
                  "attune::or_mask: both parts must be masks");
    using policy_kind = mask_kind;
    static constexpr bool is_none = false;
    using hooks =
        detail::join_hooks_t<provides<hook::classify, hook::validate>,
                             detail::hooks_if<detail::mask_has_keys<A>::value && detail::mask_has_keys<B>::value, hook::key_pair>>;
    using parts = std::tuple<A, B>;  ///< the two masks, for the variant's checks

    A a;  ///< the first mask
    B b;  ///< the second mask

    or_mask() = default;  ///< when both parts have defaults
    /// The union of masks `first` and `second`.
    or_mask(A first, B second) : a(std::move(first)), b(std::move(second)) {}

    /// Whether either part sees the key.
    bool visible(const index_context& c) const { return a.visible(c) || b.visible(c); }
    /// Full if either part is full, empty if both are empty, partial otherwise.
    tile_class classify(const tile_context& t) const {
        const tile_class ca = detail::classify_tile(a, t);
        if (ca == tile_class::full) return ca;
        return detail::or_classes(ca, detail::classify_tile(b, t));
    }
    template <class AA = A, class BB = B, std::enable_if_t<detail::mask_has_keys<AA>::value && detail::mask_has_keys<BB>::value, int> = 0>
    /// The two parts' intervals, whose union the row sees.
    key_range_pair key_pair(const index_context& row) const {
        return {a.keys(row), b.keys(row)};
    }
    /// Validates both parts.
    template <class Shape>
    void validate(const Shape& p) const {
        detail::validate_policy(a, p);
        detail::validate_policy(b, p);
    }
};

template <class A, class B>
and_mask(A, B) -> and_mask<A, B>;
template <class A, class B>
or_mask(A, B) -> or_mask<A, B>;

}  // namespace attune
