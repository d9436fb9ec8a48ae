#pragma once
// The Q packer: the item's query rows in float, scaled, in the layout its score stage reads —
// transposed, Qt[d][r], for the broadcast GEMM (many rows), or as rows [r][d] for the dot-product
// kernel (few rows). Padding rows are zero. Where the arch has 16 × 16 register transposes
// (simd/transpose.hpp), float Q is packed by them.
#include <type_traits>

#include "attune/kernel/item.hpp"
#include "attune/simd/caps.hpp"
#include "attune/simd/transpose.hpp"
#include "attune/simd/vec.hpp"

namespace attune::kernel {

template <class Arch, class It>
inline void pack_q_columns(It& it) {
    using TQ = typename decltype(it.p.q)::value_type;
    const auto& p = it.p;
    if constexpr (simd::caps<Arch>::transpose16 && std::is_same_v<TQ, float>) {
        for (index_t r0 = 0; r0 < it.rp; r0 += 16) {
            const void* src[16];
            for (index_t i = 0; i < 16; ++i)
                src[i] = r0 + i < it.rows ? static_cast<const void*>(p.q.row(it.b, it.R.head[r0 + i], it.R.token[r0 + i])) : nullptr;
            simd::pack_columns_16<Arch>(src, p.dk, p.dk, it.qt + r0, it.rp, &p.scale);
        }
    } else {
        for (index_t r = 0; r < it.rows; ++r) {
            const auto* src = p.q.row(it.b, it.R.head[r], it.R.token[r]);
            for (index_t d = 0; d < p.dk; ++d) it.qt[d * it.rp + r] = to_float(src[d]) * p.scale;
        }
        for (index_t r = it.rows; r < it.rp; ++r)
            for (index_t d = 0; d < p.dk; ++d) it.qt[d * it.rp + r] = 0.0f;
    }
}

template <class Arch, class It>
inline void pack_q_rows(It& it) {
    const auto& p = it.p;
    for (index_t r = 0; r < it.rows; ++r)
        simd::convert_row<Arch>(p.q.row(it.b, it.R.head[r], it.R.token[r]), it.qt + r * p.dk, p.dk, p.scale);
    for (index_t i = it.rows * p.dk; i < it.rp * p.dk; ++i) it.qt[i] = 0.0f;
}

template <class Arch, class It>
inline void pack_q(It& it) {
    if (it.few_rows) pack_q_rows<Arch>(it);
    else pack_q_columns<Arch>(it);
}

}  // namespace attune::kernel
