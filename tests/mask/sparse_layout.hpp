#pragma once
// A block-sparse layout for tests: every third query block empty, the kv blocks of the others
// full, partial (Inner applied inside) or absent in a fixed pseudo-random pattern.
#include <cstdint>
#include <random>
#include <vector>

#include "attune/mask/block_sparse.hpp"
#include "attune/mask/causal.hpp"

namespace attune_test {

template <class Inner = attune::causal>
attune::block_sparse<Inner> sparse_layout(attune::index_t lk, attune::index_t qb, attune::index_t kb, std::uint32_t seed) {
    using attune::index_t;
    std::mt19937 rng(seed);
    const index_t nq = (lk + qb - 1) / qb, nk = (lk + kb - 1) / kb;
    std::vector<index_t> offsets{0}, cols;
    std::vector<std::uint8_t> full;
    for (index_t r = 0; r < nq; ++r) {
        if (r % 3 != 1)
            for (index_t c = 0; c < nk; ++c) {
                const unsigned u = rng() % 4;
                if (u == 0) continue;
                cols.push_back(c);
                full.push_back(u == 3 ? 1 : 0);
            }
        offsets.push_back(static_cast<index_t>(cols.size()));
    }
    return attune::block_sparse<Inner>(qb, kb, offsets, cols, full);
}

}  // namespace attune_test
