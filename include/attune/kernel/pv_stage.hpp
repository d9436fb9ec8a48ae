#pragma once
// P·V stages: acc[r] += Σ_n P[n][r]·V[n] over a tile's keys, one per shape of the item.
//   fp32_pv    many rows: the GEMM block over the user's float V rows (when they hold dv_padded
//              elements) or a float copy of the tile; on a partial tile each row block runs over
//              its rows' keys only; the next tile's K rows come into L2 meanwhile
//   stream_pv  few rows (decode): V rows of any storage type widened in registers, read once from
//              memory with rows ahead prefetched; with Pairs, bf16 V read as pairs, the
//              accumulators holding their columns split until end()
//   amx_pv     bf16 V and output on AMX: weights rounded to bf16, V packed as key pairs
//              (simd/amx.hpp)
// Each has begin(item), accumulate(item, span, bounds, next) — next: the keys of the item's next
// tile, for prefetching — and end(item).
#include <cstdint>
#include <type_traits>

#include "attune/core/policy.hpp"
#include "attune/kernel/item.hpp"
#include "attune/kernel/mask_stage.hpp"
#include "attune/kernel/microkernel.hpp"
#include "attune/simd/amx.hpp"
#include "attune/simd/pairs.hpp"

namespace attune::kernel {

// The keys of the tile after the current one, [n0, n0 + nk); nk = 0 when there is none.
struct next_tile {
    index_t n0, nk;
};

template <class Arch>
struct fp32_pv {
    template <class It>
    void begin(It&) {}
    template <class It>
    void accumulate(It& it, const key_span& t, const tile_bounds& bd, const next_tile& next) {
        const strided_rows<float> v = it.kv.template float_values<Arch>(it.b, it.hkv, t.n0, t.nk, it.dvp, it.s.v_tile);
        const simd::prefetch_stream next_k = next.nk > 0 ? it.kv.key_stream(it.b, it.hkv, next.n0, next.nk) : simd::prefetch_stream{};
        pv_tile<Arch, false>(it.S, it.rp, it.rows, v.first, v.stride, t.nk, it.acc, it.dvp, bd.row_first, bd.row_last, next_k);
    }
    template <class It>
    void end(It&) {}
};

template <class Arch, bool Pairs>
struct stream_pv {
    template <class It>
    void begin(It& it) {
        // A sink may already have put values in the accumulators: into the split order.
        if constexpr (Pairs && !detail::is_none_v<std::decay_t<decltype(it.var.sink())>>)
            for (index_t r = 0; r < it.rows; ++r) simd::split_pairs_in_place<Arch>(it.acc + r * it.dvp, it.dvp);
        else (void)it;
    }
    template <class It>
    void accumulate(It& it, const key_span& t, const tile_bounds&, const next_tile&) {
        using TV = typename It::kv_type::value_type;
        const auto v = it.kv.value_rows(it.b, it.hkv, t.n0, t.nk, it.s.v_rows);
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, strided_rows<TV>>)
            pv_tile<Arch, true, TV, Pairs>(it.S, it.rp, it.rows, v.first, v.stride, t.nk, it.acc, it.dvp);
        else pv_tile<Arch, TV, Pairs>(it.S, it.rp, it.rows, v, t.nk, it.acc, it.dvp);
    }
    template <class It>
    void end(It& it) {
        if constexpr (Pairs)
            for (index_t r = 0; r < it.rows; ++r) simd::join_pairs<Arch>(it.acc + r * it.dvp, it.dvp);
        else (void)it;
    }
};

template <class Arch>
struct amx_pv {
    bf16* weights = nullptr;          // [rp][pv_max_keys]
    std::uint32_t* values = nullptr;  // [pv_max_keys / 2][dvp]
    static_assert(work_plan::kv_tile <= simd::amx::pv_max_keys, "AMX P·V packs one kv tile of weights per row");
    template <class It>
    void begin(It& it) {
        weights = reinterpret_cast<bf16*>(it.s.amx_p.get(it.rp * simd::amx::pv_max_keys / 2));
        values = reinterpret_cast<std::uint32_t*>(it.s.amx_v.get(simd::amx::pv_max_keys / 2 * it.dvp));
    }
    template <class It>
    void accumulate(It& it, const key_span& t, const tile_bounds&, const next_tile&) {
        const auto v = it.kv.value_block(it.b, it.hkv, t.n0, t.nk, it.s.v_tile);
        simd::amx::pack_weights(it.S, it.rp, t.nk, weights);
        simd::amx::pack_values(v.first, v.stride, t.nk, it.p.dv, it.dvp, values);
        simd::amx::pv_tile(weights, it.rp, t.nk, values, it.dvp, it.acc);
    }
    template <class It>
    void end(It&) {}
};

}  // namespace attune::kernel
