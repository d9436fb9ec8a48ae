#pragma once
// The optional members a mask may define besides visible() and classify(), detected once here for
// the engine and the combinators:
//   key_range keys(const index_context& row) const   the row's visible keys are this one interval
//   key_range_pair key_pair(const index_context& row) const   …or the union of these two
//   key_range span(const tile_context& t) const      the keys of tile t that any of its rows sees
#include <type_traits>
#include <utility>

#include "attune/core/index_context.hpp"

namespace attune::detail {

template <class M, class = void>
struct mask_has_keys : std::false_type {};
template <class M>
struct mask_has_keys<M, std::void_t<decltype(std::declval<const M&>().keys(std::declval<const index_context&>()))>>
    : std::true_type {};

template <class M, class = void>
struct mask_has_key_pair : std::false_type {};
template <class M>
struct mask_has_key_pair<M, std::void_t<decltype(std::declval<const M&>().key_pair(std::declval<const index_context&>()))>>
    : std::true_type {};

// How many intervals per row the engine masks lane-wise: 1 (keys), 2 (key_pair) or 0 (visible()).
template <class M>
inline constexpr int mask_row_intervals = mask_has_keys<M>::value ? 1 : mask_has_key_pair<M>::value ? 2 : 0;

template <class M, class = void>
struct mask_has_span : std::false_type {};
template <class M>
struct mask_has_span<M, std::void_t<decltype(std::declval<const M&>().span(std::declval<const tile_context&>()))>>
    : std::true_type {};

}  // namespace attune::detail
