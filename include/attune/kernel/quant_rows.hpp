#pragma once
// How the decode kernels reach the rows of a quantized K or V tile (kernel/quant_source.hpp).
#include <cstdint>
#include <type_traits>

#include "attune/core/types.hpp"
#include "attune/kernel/kv_rows.hpp"
#include "attune/simd/prefetch.hpp"

namespace attune::kernel {

// Rows of a quantized K or V tile: row(n) the bytes of key n (through a strided_rows or a
// pointer_rows of bytes), the kv head's shared parameters, and how far ahead decode prefetches.
// Query rows quantized to int8 for the integer score kernel (kernel/quant_int8_dot.hpp), kept for
// the whole work item: the item's float Q (`source`) does not change between its tiles.
struct int8_query_rows {
    static constexpr index_t max_rows = 8, max_dim = 1024;
    const float* source = nullptr;  // the float rows these were made from; null: none yet
    alignas(64) std::int8_t q[max_rows][max_dim];
    float scale[max_rows];
    float correction[max_rows];  // 128 · Σ_d q̂_rd
    // −offset · (the sum of q̂ over each 4 bytes): a block's 8 of them start its vpdpbusd sum over K
    // bytes stored `offset` above their values (flipped q8_0, q4_0's nibbles), so that it ends as
    // the exact Σ k̂·q̂ of the block (block formats, whose sums are scaled per block).
    alignas(64) std::int32_t lane_correction[max_rows][max_dim / 4];
};

template <class F, class Bytes>
struct quant_rows {
    Bytes bytes;
    typename F::head_params hp;
    index_t row_bytes;
    int8_query_rows* int8_query = nullptr;  // options::int8_query (K rows only): the item's quantized Q
    bool int8_pv = false;                   // options::int8_pv (V rows only): integer P·V
    const std::uint8_t* row(index_t n) const noexcept { return bytes.row(n); }
};

// Decode's look-ahead in rows for rows of `row_bytes`: as many bytes ahead as 8 (L1) and 32 (L2)
// rows of float would be, so a compact format keeps as many bytes in flight.
inline index_t quant_prefetch_rows(index_t dim, index_t row_bytes) noexcept { return (8 * 4 * dim + row_bytes - 1) / row_bytes; }
inline index_t quant_prefetch_l2_rows(index_t dim, index_t row_bytes) noexcept { return (32 * 4 * dim + row_bytes - 1) / row_bytes; }

// Rows n0 … n0 + KB − 1 plus `ahead` into L1 and plus `ahead_l2` into L2 (a decode kernel's
// look-ahead: its L1 prefetches first, then its L2 ones).
template <int KB, class Rows>
ATTUNE_PREFETCH_INLINE void prefetch_ahead(const Rows& k, index_t n0, index_t ahead, index_t ahead_l2) noexcept {
    for (int i = 0; i < KB; ++i) simd::prefetch_row(k.row(n0 + i + ahead), k.row_bytes);
    for (int i = 0; i < KB; ++i) simd::prefetch_row_l2(k.row(n0 + i + ahead_l2), k.row_bytes);
}

// Rows n0 … n0 + KB − 1 of a tile (past nk: the last key again) into rows[], and, when `prefetch`,
// the look-ahead of prefetch_ahead.
template <int KB, class Rows>
ATTUNE_PREFETCH_INLINE void block_rows(const Rows& k, index_t n0, index_t nk, index_t ahead, index_t ahead_l2, bool prefetch,
                                       const std::uint8_t* (&rows)[KB]) noexcept {
    for (int i = 0; i < KB; ++i) rows[i] = k.row(n0 + i < nk ? n0 + i : nk - 1);
    if (prefetch) prefetch_ahead<KB>(k, n0, ahead, ahead_l2);
}

// The addresses of a tile's rows [0, nk) into rows[0 … round_up(nk, group)), padded with the last
// row (the integer kernels read keys in fours or sixteens; a padding key's weight is 0).
// (Strided rows by increments: GCC vectorises n · stride over a few rows into vpmullq.)
template <class F, class Bytes>
inline void tile_row_table(const quant_rows<F, Bytes>& k, index_t nk, const std::uint8_t** rows, index_t group = 4) noexcept {
    if constexpr (std::is_same_v<Bytes, strided_rows<std::uint8_t>>) {
        const std::uint8_t* r = k.bytes.first;
        for (index_t n = 0; n < nk; ++n, r += k.bytes.stride) rows[n] = r;
    } else {
        for (index_t n = 0; n < nk; ++n) rows[n] = k.row(n);
    }
    for (index_t n = nk; n % group != 0; ++n) rows[n] = rows[nk - 1];
}

}  // namespace attune::kernel
