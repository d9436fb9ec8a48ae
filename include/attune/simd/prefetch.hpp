#pragma once
// Software prefetches: hints that never fault, so an address past the end of the data is harmless.
// Two uses. A tile's next operand, one cache line at a time from inside a micro-kernel loop
// (prefetch_stream): each query tile streams its head's K/V, which at long contexts lives in L3,
// and the hardware prefetchers restart at each tile boundary; one line every other iteration,
// because bursts stall on the fill buffers. And decode, which reads each K/V row once from memory
// (prefetch_rows): rows a few keys ahead into L1 and further ahead into L2, so that more requests
// are in flight than the hardware prefetchers keep alone. Measurements: bench/RESULTS.md.
#include "attune/core/types.hpp"

namespace attune::simd {

// GCC takes a function that only prefetches for one without side effects and deletes calls to it
// that it did not inline early (the prefetches vanished from the kernels that way): every function
// that prefetches is forced inline.
#if defined(__GNUC__)
#define ATTUNE_PREFETCH(address, level) __builtin_prefetch((address), 0, (level))
#define ATTUNE_PREFETCH_INLINE inline __attribute__((always_inline))
#else
#define ATTUNE_PREFETCH(address, level) ((void)(address))
#define ATTUNE_PREFETCH_INLINE inline
#endif

// The n elements of a row into L1 or L2.
template <class T>
ATTUNE_PREFETCH_INLINE void prefetch_row(const T* row, index_t n) noexcept {
    const char* p = reinterpret_cast<const char*>(row);
    for (index_t off = 0; off < n * index_t(sizeof(T)); off += 64) ATTUNE_PREFETCH(p + off, 3);
}
template <class T>
ATTUNE_PREFETCH_INLINE void prefetch_row_l2(const T* row, index_t n) noexcept {
    const char* p = reinterpret_cast<const char*>(row);
    for (index_t off = 0; off < n * index_t(sizeof(T)); off += 64) ATTUNE_PREFETCH(p + off, 2);
}

// Decode's look-ahead in rows: 8 rows of 4-byte elements into L1, 32 into L2; 2-byte rows (bf16,
// half) look as many bytes ahead, twice the rows.
template <class T>
inline constexpr index_t stream_prefetch_rows = 8 * 4 / index_t(sizeof(T));
template <class T>
inline constexpr index_t stream_prefetch_l2_rows = 32 * 4 / index_t(sizeof(T));

// Rows of a strided operand brought into L2 a line per step().
struct prefetch_stream {
    const char* row = nullptr;
    index_t stride = 0, row_bytes = 0, rows = 0, offset = 0;  // bytes; rows left

    template <class T>
    static prefetch_stream of(const T* first_row, index_t row_stride, index_t rows, index_t row_elems) {
        return {reinterpret_cast<const char*>(first_row), row_stride * index_t(sizeof(T)), row_elems * index_t(sizeof(T)), rows, 0};
    }
    // One line into L2, then on to the next; nothing once the rows are done.
    ATTUNE_PREFETCH_INLINE void step() noexcept {
        if (rows == 0) return;
        ATTUNE_PREFETCH(row + offset, 2);
        offset += 64;
        if (offset >= row_bytes) offset = 0, row += stride, --rows;
    }
};

}  // namespace attune::simd
