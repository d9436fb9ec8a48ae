#pragma once
// Storage types accepted for Q, K, V and outputs. Computation is always in float; bf16 and half
// are storage formats only (Eigen's types, so users can Map their Eigen matrices directly).
#include <cstddef>
#include <type_traits>

#include "attune/core/third_party.hpp"

namespace attune {

using index_t = std::ptrdiff_t;
using bf16 = Eigen::bfloat16;
using half = Eigen::half;

template <class T>
struct is_storage_type
    : std::bool_constant<std::is_same_v<T, float> || std::is_same_v<T, bf16> || std::is_same_v<T, half>> {};

template <class T>
inline constexpr bool is_storage_type_v = is_storage_type<std::remove_const_t<T>>::value;

template <class T>
inline float to_float(T x) noexcept {
    return static_cast<float>(x);
}

template <class T>
inline T from_float(float x) noexcept {
    return static_cast<T>(x);
}

template <class T>
constexpr const char* storage_name() noexcept {
    using U = std::remove_const_t<T>;
    if constexpr (std::is_same_v<U, float>) return "float";
    else if constexpr (std::is_same_v<U, bf16>) return "bf16";
    else if constexpr (std::is_same_v<U, half>) return "half";
    else return "unknown";
}

}  // namespace attune
