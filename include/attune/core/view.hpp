#pragma once
// Non-owning 4-D strided views [batch, heads, tokens, dim] over user memory. The last dimension is
// contiguous; the other three strides are free, so PyTorch's B,H,L,D and the inference engines'
// B,L,H,D layouts (and padded or sliced tensors) are all just strides. Strides count elements.
#include <array>
#include <functional>
#include <utility>
#include <type_traits>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/types.hpp"

namespace attune {

/// A non-owning 4-D strided view [batch, heads, tokens, dim] of T (float, bf16 or half, possibly
/// const). The last dimension is contiguous; the strides of the other three count elements and may
/// be anything, including 0 (broadcast) and negative.
template <class T>
class tensor_view {
public:
    using element_type = T;                     ///< T, with its const
    using value_type = std::remove_const_t<T>;  ///< T without const
    static_assert(is_storage_type_v<T>, "attune::tensor_view: element type must be float, Eigen::bfloat16 or Eigen::half");

    /// An empty view (null data, shape 0).
    tensor_view() = default;

    /// A view of `data` with shape {batch, heads, tokens, dim} and strides (in elements) of the
    /// first three dimensions; throws attune::error on a negative shape or a size that overflows.
    tensor_view(T* data, std::array<index_t, 4> shape, std::array<index_t, 3> strides) : data_(data), shape_(shape), strides_(strides) {
        for (int i = 0; i < 4; ++i) detail::require(shape_[i] >= 0, "view dimension ", i, " is negative (", shape_[i], ")");
        // The element count and the reach of every stride must fit index_t, so size() and
        // extent() never wrap (a wrapped size of 0 would let null data through).
        size_ = detail::checked_product("view shape", shape_[0], shape_[1], shape_[2], shape_[3]);
        if (size_ > 0) {
            index_t lo = 0, hi = shape_[3];
            for (int i = 0; i < 3; ++i) {
                const index_t reach = detail::checked_mul(shape_[i] - 1, strides_[i], "view strides");
                (reach < 0 ? lo : hi) = detail::checked_add(reach < 0 ? lo : hi, reach, "view strides");
            }
            detail::checked_add(hi, -lo, "view strides");
        }
    }

    /// A view of T converts to a view of const T, as a pointer does.
    template <class U, class = std::enable_if_t<std::is_same_v<const U, T> && !std::is_same_v<U, T>>>
    tensor_view(const tensor_view<U>& other) : data_(other.data()), shape_(other.shape()), strides_(other.strides()), size_(other.size()) {}

    T* data() const noexcept { return data_; }                                   ///< element (0, 0, 0, 0)
    const std::array<index_t, 4>& shape() const noexcept { return shape_; }      ///< {batch, heads, tokens, dim}
    const std::array<index_t, 3>& strides() const noexcept { return strides_; }  ///< of batch, heads, tokens
    index_t batch() const noexcept { return shape_[0]; }                         ///< shape()[0]
    index_t heads() const noexcept { return shape_[1]; }                         ///< shape()[1]
    index_t tokens() const noexcept { return shape_[2]; }                        ///< shape()[2]
    index_t dim() const noexcept { return shape_[3]; }                           ///< shape()[3]
    index_t size() const noexcept { return size_; }                              ///< number of elements
    bool empty() const noexcept { return data_ == nullptr; }                     ///< whether data is null

    /// Pointer to the contiguous row of `dim()` elements at (b, h, t).
    T* row(index_t b, index_t h, index_t t) const noexcept { return data_ + b * strides_[0] + h * strides_[1] + t * strides_[2]; }
    /// Element d of the row at (b, h, t).
    T& operator()(index_t b, index_t h, index_t t, index_t d) const noexcept { return row(b, h, t)[d]; }

    /// The first and one-past-last element addresses this view can touch (for overlap checks).
    std::pair<const void*, const void*> extent() const noexcept {
        if (data_ == nullptr || size() == 0) return {nullptr, nullptr};
        const T* lo = data_;
        const T* hi = data_;
        for (int i = 0; i < 3; ++i) {
            index_t reach = (shape_[i] - 1) * strides_[i];
            if (reach < 0) lo += reach;
            else hi += reach;
        }
        return {lo, hi + shape_[3]};
    }

private:
    T* data_ = nullptr;
    std::array<index_t, 4> shape_{0, 0, 0, 0};
    std::array<index_t, 3> strides_{0, 0, 0};
    index_t size_ = 0;
};

namespace detail {
// Whether two extents (view::extent()) share memory; empty extents share none.
inline bool overlaps(std::pair<const void*, const void*> a, std::pair<const void*, const void*> b) {
    if (a.first == nullptr || b.first == nullptr) return false;
    return std::less<const void*>()(a.first, b.second) && std::less<const void*>()(b.first, a.second);
}
}  // namespace detail

/// A view of PyTorch's contiguous layout, data[b][h][t][d].
template <class T>
tensor_view<T> view_bhld(T* data, index_t batch, index_t heads, index_t tokens, index_t dim) {
    return tensor_view<T>(
        data, {batch, heads, tokens, dim},
        {detail::checked_product("view_bhld", heads, tokens, dim), detail::checked_product("view_bhld", tokens, dim), dim});
}

/// A view of the inference engines' layout, data[b][t][h][d]; the view still reads [batch, heads,
/// tokens, dim].
template <class T>
tensor_view<T> view_blhd(T* data, index_t batch, index_t tokens, index_t heads, index_t dim) {
    return tensor_view<T>(
        data, {batch, heads, tokens, dim},
        {detail::checked_product("view_blhd", tokens, heads, dim), dim, detail::checked_product("view_blhd", heads, dim)});
}

/// A [1, 1, tokens, dim] view of one head held in a row-major Eigen matrix (tokens × dim), e.g.
/// `Eigen::Matrix<float, -1, -1, Eigen::RowMajor>`, a Map or a Ref of one: no copy, the view
/// aliases the matrix's storage.
template <class Derived>
auto view_of(Eigen::PlainObjectBase<Derived>& m) {
    using Scalar = typename Derived::Scalar;
    static_assert(Derived::IsRowMajor || Derived::ColsAtCompileTime == 1,
                  "attune::view_of: the matrix must be row-major (tokens × dim, dim contiguous)");
    return tensor_view<Scalar>(m.data(), {1, 1, m.rows(), m.cols()}, {0, 0, m.rowStride()});
}
/// A read-only view of one head held in a const row-major Eigen matrix.
template <class Derived>
auto view_of(const Eigen::PlainObjectBase<Derived>& m) {
    using Scalar = typename Derived::Scalar;
    static_assert(Derived::IsRowMajor || Derived::ColsAtCompileTime == 1,
                  "attune::view_of: the matrix must be row-major (tokens × dim, dim contiguous)");
    return tensor_view<const Scalar>(m.data(), {1, 1, m.rows(), m.cols()}, {0, 0, m.rowStride()});
}
/// A view of one head held in a row-major Eigen::Map (its inner stride must be 1).
template <class PlainType, int Options, class StrideType>
auto view_of(const Eigen::Map<PlainType, Options, StrideType>& m) {
    using Scalar = std::remove_pointer_t<decltype(m.data())>;
    static_assert(PlainType::IsRowMajor, "attune::view_of: the matrix must be row-major (tokens × dim, dim contiguous)");
    detail::require(m.colStride() == 1 || m.cols() == 1, "view_of: the matrix's dim axis must be contiguous (inner stride 1)");
    return tensor_view<Scalar>(m.data(), {1, 1, m.rows(), m.cols()}, {0, 0, m.rowStride()});
}
/// A view of one head held in a row-major Eigen::Ref (its inner stride must be 1).
template <class PlainType, int Options, class StrideType>
auto view_of(const Eigen::Ref<PlainType, Options, StrideType>& m) {
    using Scalar = std::remove_pointer_t<decltype(m.data())>;
    static_assert(PlainType::IsRowMajor, "attune::view_of: the matrix must be row-major (tokens × dim, dim contiguous)");
    detail::require(m.colStride() == 1 || m.cols() == 1, "view_of: the matrix's dim axis must be contiguous (inner stride 1)");
    return tensor_view<Scalar>(m.data(), {1, 1, m.rows(), m.cols()}, {0, 0, m.rowStride()});
}

/// Row-major Eigen matrix of T (tokens × dim), for users who keep one head per matrix.
template <class T>
using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace attune
