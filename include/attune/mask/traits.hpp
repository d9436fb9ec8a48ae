#pragma once
// The optional members a mask may define besides visible(), detected once here for the engine and
// the combinators:
//   tile_class classify(const tile_context& t) const   skip empty tiles, take full ones whole
//   key_range keys(const index_context& row) const   the row's visible keys are this one interval
//   key_range_pair key_pair(const index_context& row) const   …or the union of these two
//   key_range span(const tile_context& t) const      the keys of tile t that any of its rows sees
#include <type_traits>
#include <utility>

#include "attune/core/index_context.hpp"

namespace attune::detail {

template <class M, class = void>
struct mask_has_classify : std::false_type {};
template <class M>
struct mask_has_classify<M, std::void_t<decltype(std::declval<const M&>().classify(std::declval<const tile_context&>()))>>
    : std::is_same<decltype(std::declval<const M&>().classify(std::declval<const tile_context&>())), tile_class> {};

/// The class of tile t under mask m: its classify() when it has one, else tile_class::partial (every
/// element tested through visible(), always correct). Every caller of a mask's tile rule goes
/// through here, so a mask without classify() is valid.
template <class M>
constexpr tile_class classify_tile(const M& m, const tile_context& t) {
    if constexpr (mask_has_classify<M>::value) return m.classify(t);
    else return (void)m, (void)t, tile_class::partial;
}

template <class M, class = void>
struct mask_has_keys : std::false_type {};
template <class M>
struct mask_has_keys<M, std::void_t<decltype(std::declval<const M&>().keys(std::declval<const index_context&>()))>> : std::true_type {};

template <class M, class = void>
struct mask_has_key_pair : std::false_type {};
template <class M>
struct mask_has_key_pair<M, std::void_t<decltype(std::declval<const M&>().key_pair(std::declval<const index_context&>()))>>
    : std::true_type {};

// How many intervals per row the engine masks lane-wise: 1 (keys), 2 (key_pair) or 0 (visible()).
template <class M>
inline constexpr int mask_row_intervals = mask_has_keys<M>::value       ? 1
                                          : mask_has_key_pair<M>::value ? 2
                                                                        : 0;

template <class M, class = void>
struct mask_has_span : std::false_type {};
template <class M>
struct mask_has_span<M, std::void_t<decltype(std::declval<const M&>().span(std::declval<const tile_context&>()))>> : std::true_type {};

}  // namespace attune::detail
