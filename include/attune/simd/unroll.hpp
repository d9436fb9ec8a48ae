#pragma once
// ATTUNE_UNROLL_FULL, before each loop over a register block's accumulators (and its operand
// vectors): unroll it completely in the source. GCC keeps an array of accumulators in memory
// unless the loops over it are unrolled before its scalar replacement runs; every call of the
// block then fills the array on the stack, loads it before the main loop and stores it back
// after (72 stack accesses of 64 bytes per 6 × 4 block of AVX-512 vectors; none with this).
// (Prefill gained a few percent from it: bench/RESULTS.md, "What limits what".)
#define ATTUNE_UNROLL_FULL _Pragma("GCC unroll 32")

// ATTUNE_REGISTER_INLINE, on a small helper that takes or returns a register block by reference
// (a transpose of 16 vectors): inlined whatever the optimisation level, so that the block stays in
// registers. At -O2 GCC called simd::transpose_16x16 out of line from the integer decode scores,
// its 16 vectors through memory: 1.3× slower per key than inlined.
#if defined(__GNUC__)
#define ATTUNE_REGISTER_INLINE inline __attribute__((always_inline))
#else
#define ATTUNE_REGISTER_INLINE inline
#endif
