#pragma once
// Quantized K/V as a source of the tile engine (kernel/kv_source.hpp): rows in a storage format
// (quant/format.hpp), dense ([B, Hkv, Lk, D] views) or in pages of a pool. The stages read them in
// the source's forms:
//   key_rows / value_rows      quant_rows: the bytes of each row, dequantized in registers by the
//                              decode kernels (kernel/quant_microkernel.hpp)
//   float_keys / float_values  the tile dequantized into a float block (prefill's GEMM)
// The AMX stages take bf16 K only, so a quantized source never reaches them.
#include <cstdint>
#include <type_traits>

#include "attune/core/buffer.hpp"
#include "attune/kernel/kv_rows.hpp"
#include "attune/kernel/problem.hpp"
#include "attune/kernel/quant_microkernel.hpp"
#include "attune/quant/view.hpp"
#include "attune/simd/prefetch.hpp"

namespace attune::kernel {

// A problem whose K and V are quantized rows: kq, vq [B, Hkv, Lk, D], or with Paged a page pool
// [pages, Hkv, page_size, D] and the sequence's page ids; k and v of the base are empty.
template <class TQ, class FK, class FV, class TO, bool Paged = false>
struct quant_problem : problem<TQ, float, float, TO> {
    static constexpr bool paged = Paged;
    quant::quant_view<FK> kq;
    quant::quant_view<FV> vq;
    const std::int32_t* pages = nullptr;  // Paged: the sequence's page ids, validated
    bool int8_query = false;              // options::int8_query
    bool int8_pv = false;                 // options::int8_pv
};

template <class P>
struct quant_kv_source {
    using key_type = typename decltype(P::kq)::format_type;
    using value_type = typename decltype(P::vq)::format_type;
    using byte_rows = std::conditional_t<P::paged, pointer_rows<std::uint8_t>, strided_rows<std::uint8_t>>;
    const P& p;
    index_t page_size;
    // The item's queries in int8 (options::int8_query with int8 or q8_0 K), in this thread's buffer: a source
    // lives for one item, which runs on one thread, so the buffer starts empty with each source.
    static int8_query_rows& thread_query() noexcept {
        static thread_local int8_query_rows rows;
        return rows;
    }
    explicit quant_kv_source(const P& problem) noexcept : p(problem), page_size(P::paged ? problem.kq.tokens() : 0) {
        if constexpr (int8_dot_format<key_type>) {
            if (problem.int8_query) thread_query().source = nullptr;
        }
    }

    // The bytes of rows [n0, n0 + nk) of x: in place, or through a table of addresses that also
    // holds the rows a decode kernel prefetches ahead of the tile.
    template <class F>
    byte_rows rows_of(const quant::quant_view<F>& x, index_t b, index_t hkv, index_t n0, index_t nk,
                      detail::grow_buffer<const void*>& buf) const {
        if constexpr (P::paged) {
            const index_t ahead = quant_prefetch_l2_rows(x.dim(), x.row_bytes()) + 32;  // + a block of keys
            return page_row_table<std::uint8_t>([&](index_t page, index_t slot) { return x.row(page, hkv, slot); }, p.pages, page_size,
                                                x.strides()[2], p.lk, n0, nk + ahead, buf);
        } else {
            (void)nk, (void)buf;
            return {x.row(b, hkv, n0), x.strides()[2]};
        }
    }
    quant_rows<key_type, byte_rows> key_rows(index_t b, index_t hkv, index_t n0, index_t nk, detail::grow_buffer<const void*>& buf) const {
        int8_query_rows* q8 = nullptr;
        if constexpr (int8_dot_format<key_type>) {
            if (p.int8_query) q8 = &thread_query();
        }
        return {rows_of(p.kq, b, hkv, n0, nk, buf), p.kq.format().head(hkv), p.kq.row_bytes(), q8};
    }
    quant_rows<value_type, byte_rows> value_rows(index_t b, index_t hkv, index_t n0, index_t nk,
                                                 detail::grow_buffer<const void*>& buf) const {
        return {rows_of(p.vq, b, hkv, n0, nk, buf), p.vq.format().head(hkv), p.vq.row_bytes(), nullptr, p.int8_pv};
    }

    // Row n of keys n0, n0 + 1, … of x.
    template <class F>
    const std::uint8_t* row_at(const quant::quant_view<F>& x, index_t b, index_t hkv, index_t n) const noexcept {
        if constexpr (P::paged) return x.row(p.pages[n / page_size], hkv, n % page_size);
        else return x.row(b, hkv, n);
    }
    // Rows [n0, n0 + nk) of x dequantized into `tile` as float rows of `width` (the padding zero).
    template <class Arch, class F>
    strided_rows<float> dequantized(const quant::quant_view<F>& x, index_t b, index_t hkv, index_t n0, index_t nk, index_t width,
                                    detail::grow_buffer<float>& tile) const {
        return rows_to_float(nk, x.dim(), width, tile, [&](index_t n, float* out) {
            quant::dequantize_row<Arch>(x.format(), hkv, row_at(x, b, hkv, n0 + n), out, x.dim());
        });
    }
    template <class Arch>
    strided_rows<float> float_keys(index_t b, index_t hkv, index_t n0, index_t nk, detail::grow_buffer<float>& tile) const {
        return dequantized<Arch>(p.kq, b, hkv, n0, nk, p.dk, tile);
    }
    template <class Arch>
    strided_rows<float> float_values(index_t b, index_t hkv, index_t n0, index_t nk, index_t dvp, detail::grow_buffer<float>& tile) const {
        return dequantized<Arch>(p.vq, b, hkv, n0, nk, dvp, tile);
    }
    // The rows of a key range (up to the end of its first page), into L2 a line at a time.
    template <class F>
    simd::prefetch_stream stream(const quant::quant_view<F>& x, index_t b, index_t hkv, index_t n0, index_t nk) const {
        const index_t run = P::paged && page_size - n0 % page_size < nk ? page_size - n0 % page_size : nk;
        return simd::prefetch_stream::of(row_at(x, b, hkv, n0), x.strides()[2], run, x.row_bytes());
    }
    simd::prefetch_stream key_stream(index_t b, index_t hkv, index_t n0, index_t nk) const { return stream(p.kq, b, hkv, n0, nk); }
    simd::prefetch_stream value_stream(index_t b, index_t hkv, index_t n0, index_t nk) const { return stream(p.vq, b, hkv, n0, nk); }
};

template <class TQ, class FK, class FV, class TO, bool Paged>
quant_kv_source<quant_problem<TQ, FK, FV, TO, Paged>> kv_source_of(const quant_problem<TQ, FK, FV, TO, Paged>& p) noexcept {
    return quant_kv_source<quant_problem<TQ, FK, FV, TO, Paged>>(p);
}

}  // namespace attune::kernel
