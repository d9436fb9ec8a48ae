#pragma once
// Storage types accepted for Q, K, V and outputs. Computation is always in float; bf16 and half
// are storage formats only (Eigen's types, so users can Map their Eigen matrices directly).
#include <cstddef>
#include <cstring>
#include <limits>
#include <type_traits>

#include "attune/core/third_party.hpp"

namespace attune {

/// Signed size and index type of every shape, stride and position.
using index_t = std::ptrdiff_t;

/// "No limit" for window sides, cache capacities and similar lengths: no sequence reaches it.
inline constexpr index_t unbounded = std::numeric_limits<index_t>::max();

/// bfloat16 storage (Eigen's type).
using bf16 = Eigen::bfloat16;
/// IEEE half storage (Eigen's type).
using half = Eigen::half;

/// Whether T is a storage type attune reads and writes: float, bf16 or half.
template <class T>
struct is_storage_type : std::bool_constant<std::is_same_v<T, float> || std::is_same_v<T, bf16> || std::is_same_v<T, half>> {};

/// is_storage_type of T without its const.
template <class T>
inline constexpr bool is_storage_type_v = is_storage_type<std::remove_const_t<T>>::value;

/// A storage value as float.
template <class T>
inline float to_float(T x) noexcept {
    return static_cast<float>(x);
}

/// A float rounded to storage type T.
template <class T>
inline T from_float(float x) noexcept {
    return static_cast<T>(x);
}

namespace detail {
// dst[0, n) = src[0, n) converted to T (a plain copy when the types agree).
template <class T, class U>
inline void copy_row(const U* src, T* dst, index_t n) {
    if constexpr (std::is_same_v<std::remove_const_t<U>, T>) {
        if (n > 0) std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(T));
    } else {
        for (index_t i = 0; i < n; ++i) dst[i] = from_float<T>(to_float(src[i]));
    }
}
}  // namespace detail

/// The name of storage type T ("float", "bf16", "half"), for messages.
template <class T>
constexpr const char* storage_name() noexcept {
    using U = std::remove_const_t<T>;
    if constexpr (std::is_same_v<U, float>) return "float";
    else if constexpr (std::is_same_v<U, bf16>) return "bf16";
    else if constexpr (std::is_same_v<U, half>) return "half";
    else return "unknown";
}

}  // namespace attune
