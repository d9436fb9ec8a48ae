#pragma once
// Paged attention over a quantized page pool (pages in reverse order) against dense attention over
// the same rows copied out: the integer decode kernels must read paged rows as they read dense
// ones. For int8_query_test.cpp and int8_pv_test.cpp.
#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "attune/quantized.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

namespace attune_test {

// max |paged − dense| over the outputs of one decode step (Hq 8, Hkv 2, D 128, 333 keys in pages
// of 16), K and V both in format F, with `opt`.
template <class F>
double paged_minus_dense(const attune::options& opt, std::mt19937& rng) {
    using attune::index_t;
    namespace quant = attune::quant;
    const index_t Hq = 8, Hkv = 2, D = 128, page = 16, lk = 333, pages = (lk + page - 1) / page;
    tensor<float> pool(pages, Hkv, page, D), q(1, Hq, 1, D), paged_out(1, Hq, 1, D), dense_out(1, Hq, 1, D);
    pool.fill_random(rng), q.fill_random(rng);
    const auto kq = quant::quantize(pool.cview(), F{});
    std::vector<std::int32_t> ids(static_cast<std::size_t>(pages)), first{0, static_cast<std::int32_t>(pages)},
        lengths{static_cast<std::int32_t>(lk)}, qo{0, 1};
    for (index_t i = 0; i < pages; ++i) ids[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(pages - 1 - i);  // reversed
    quant::quantized<F> dense(1, Hkv, lk, D);
    for (index_t h = 0; h < Hkv; ++h)
        for (index_t t = 0; t < lk; ++t)
            std::copy_n(kq.view().row(ids[static_cast<std::size_t>(t / page)], h, t % page), kq.view().row_bytes(), dense.row(0, h, t));
    attune::paged_attention<ATTUNE_TEST_ARCH>(
        q.cview(), attune::seq_offsets{qo.data(), 1},
        attune::paged_quant_kv<F>{kq.view(), kq.view(), {ids.data(), first.data(), lengths.data(), 1}}, paged_out.view, attune::variant<>{},
        opt);
    attune::attention<ATTUNE_TEST_ARCH>(q.cview(), dense.view(), dense.view(), dense_out.view, attune::variant<>{}, opt);
    return max_difference(paged_out, dense_out);
}

}  // namespace attune_test
