#pragma once
// Where a work item's keys and values come from: a K/V source gives, for a kv head and a key
// range, the K and V rows the stages read — where they are, or as a float copy of the tile for
// kernels that read floats. The dense source reads the call's [B, Hkv, L, D] views in place; a
// paged or quantized cache is another source with the same members.
#include "attune/core/buffer.hpp"
#include "attune/core/types.hpp"
#include "attune/kernel/problem.hpp"
#include "attune/simd/prefetch.hpp"
#include "attune/simd/vec.hpp"

namespace attune::kernel {

// Rows of T, `stride` elements apart.
template <class T>
struct strided_rows {
    const T* first;
    index_t stride;
    const T* row(index_t n) const noexcept { return first + n * stride; }
};

template <class P>
struct dense_kv {
    using key_type = typename decltype(P::k)::value_type;
    using value_type = typename decltype(P::v)::value_type;
    const P& p;

    strided_rows<key_type> keys(index_t b, index_t hkv, index_t n0) const noexcept { return {p.k.row(b, hkv, n0), p.k.strides()[2]}; }
    strided_rows<value_type> values(index_t b, index_t hkv, index_t n0) const noexcept { return {p.v.row(b, hkv, n0), p.v.strides()[2]}; }

    // Keys [n0, n0 + nk) as float rows: the user's rows when they are float, else converted into
    // `tile` (grown to a kv tile only when a conversion needs it).
    template <class Arch>
    strided_rows<float> float_keys(index_t b, index_t hkv, index_t n0, index_t nk, detail::grow_buffer<float>& tile) const {
        if constexpr (std::is_same_v<key_type, float>) {
            (void)nk, (void)tile;
            return keys(b, hkv, n0);
        } else {
            float* buf = tile.get(work_plan::kv_tile * p.dk);
            for (index_t n = 0; n < nk; ++n) simd::convert_row<Arch>(p.k.row(b, hkv, n0 + n), buf + n * p.dk, p.dk);
            return {buf, p.dk};
        }
    }
    // Values [n0, n0 + nk) as float rows of dvp elements, the padding zero: the user's rows when
    // they are float and hold dvp elements, else converted into `tile`.
    template <class Arch>
    strided_rows<float> float_values(index_t b, index_t hkv, index_t n0, index_t nk, index_t dvp, detail::grow_buffer<float>& tile) const {
        if constexpr (std::is_same_v<value_type, float>) {
            if (p.dv == dvp) return values(b, hkv, n0);
        }
        float* buf = tile.get(work_plan::kv_tile * dvp);
        for (index_t n = 0; n < nk; ++n) {
            simd::convert_row<Arch>(p.v.row(b, hkv, n0 + n), buf + n * dvp, p.dv);
            for (index_t d = p.dv; d < dvp; ++d) buf[n * dvp + d] = 0.0f;
        }
        return {buf, dvp};
    }

    // The rows of a key range, to bring into L2 a line at a time while another product runs.
    simd::prefetch_stream key_stream(index_t b, index_t hkv, index_t n0, index_t nk) const {
        return simd::prefetch_stream::of(p.k.row(b, hkv, n0), p.k.strides()[2], nk, p.dk);
    }
    simd::prefetch_stream value_stream(index_t b, index_t hkv, index_t n0, index_t nk) const {
        return simd::prefetch_stream::of(p.v.row(b, hkv, n0), p.v.strides()[2], nk, p.dv);
    }
};

}  // namespace attune::kernel
