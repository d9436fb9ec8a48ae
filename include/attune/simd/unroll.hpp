#pragma once
// ATTUNE_UNROLL_FULL, before each loop over a register block's accumulators (and its operand
// vectors): unroll it completely in the source. GCC keeps an array of accumulators in memory
// unless the loops over it are unrolled before its scalar replacement runs; every call of the
// block then fills the array on the stack, loads it before the main loop and stores it back
// after (72 stack accesses of 64 bytes per 6 × 4 block of AVX-512 vectors; none with this).
// (Prefill gained a few percent from it: bench/RESULTS.md, "What limits what".)
#define ATTUNE_UNROLL_FULL _Pragma("GCC unroll 32")
