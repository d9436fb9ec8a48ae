#pragma once
// Where a work item's keys and values come from: a K/V source gives, for a kv head and a key
// range, the K and V rows the stages read — where they are, or as a float copy of the tile for
// kernels that read floats — and how many keys from a given one lie at one stride
// (contiguous()): the main loop cuts its tiles there, so every stage reads a tile as rows of one
// stride. Two sources:
//   dense_kv   the call's [B, Hkv, L, D] views, read in place; a tile is never cut
//   paged_kv   one sequence's pages of a page pool (core/paged.hpp, PagedAttention, Kwon et al.
//              2023): a tile ends at a page boundary unless the next page follows in memory
// A quantized cache is another source with the same members.
#include <cstdint>
#include <type_traits>

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

// The members every source derives from its keys() and values(): float tiles and prefetch streams.
template <class Source>
struct kv_tiles {
    // Keys [n0, n0 + nk) as float rows: the source's rows when they are float, else converted into
    // `tile` (grown to a kv tile only when a conversion needs it). [n0, n0 + nk) lies in one run.
    template <class Arch>
    strided_rows<float> float_keys(index_t b, index_t hkv, index_t n0, index_t nk, detail::grow_buffer<float>& tile) const {
        const auto k = self().keys(b, hkv, n0);
        if constexpr (std::is_same_v<typename Source::key_type, float>) {
            (void)nk, (void)tile;
            return k;
        } else {
            const index_t dk = self().p.dk;
            float* buf = tile.get(work_plan::kv_tile * dk);
            for (index_t n = 0; n < nk; ++n) simd::convert_row<Arch>(k.row(n), buf + n * dk, dk);
            return {buf, dk};
        }
    }
    // Values [n0, n0 + nk) as float rows of dvp elements, the padding zero: the source's rows when
    // they are float and hold dvp elements, else converted into `tile`.
    template <class Arch>
    strided_rows<float> float_values(index_t b, index_t hkv, index_t n0, index_t nk, index_t dvp, detail::grow_buffer<float>& tile) const {
        const auto v = self().values(b, hkv, n0);
        const index_t dv = self().p.dv;
        if constexpr (std::is_same_v<typename Source::value_type, float>) {
            if (dv == dvp) return v;
        }
        float* buf = tile.get(work_plan::kv_tile * dvp);
        for (index_t n = 0; n < nk; ++n) {
            simd::convert_row<Arch>(v.row(n), buf + n * dvp, dv);
            for (index_t d = dv; d < dvp; ++d) buf[n * dvp + d] = 0.0f;
        }
        return {buf, dvp};
    }
    // The rows of a key range (in one run), to bring into L2 a line at a time while another product runs.
    simd::prefetch_stream key_stream(index_t b, index_t hkv, index_t n0, index_t nk) const {
        const auto k = self().keys(b, hkv, n0);
        return simd::prefetch_stream::of(k.first, k.stride, nk, self().p.dk);
    }
    simd::prefetch_stream value_stream(index_t b, index_t hkv, index_t n0, index_t nk) const {
        const auto v = self().values(b, hkv, n0);
        return simd::prefetch_stream::of(v.first, v.stride, nk, self().p.dv);
    }

private:
    const Source& self() const noexcept { return static_cast<const Source&>(*this); }
};

template <class P>
struct dense_kv : kv_tiles<dense_kv<P>> {
    using key_type = typename decltype(P::k)::value_type;
    using value_type = typename decltype(P::v)::value_type;
    const P& p;
    explicit dense_kv(const P& problem) noexcept : p(problem) {}

    strided_rows<key_type> keys(index_t b, index_t hkv, index_t n0) const noexcept { return {p.k.row(b, hkv, n0), p.k.strides()[2]}; }
    strided_rows<value_type> values(index_t b, index_t hkv, index_t n0) const noexcept { return {p.v.row(b, hkv, n0), p.v.strides()[2]}; }
    // Every key of a head lies at one stride.
    static index_t contiguous(index_t, index_t most) noexcept { return most; }
};

template <class P>
struct paged_kv_source : kv_tiles<paged_kv_source<P>> {
    using key_type = typename decltype(P::k_pages)::value_type;
    using value_type = typename decltype(P::v_pages)::value_type;
    const P& p;
    index_t page_size;
    // Whether a page's rows continue in the next page id's (NHD: the page stride is page_size rows
    // of K and of V): consecutive ids are then one run, as a fresh pool hands them out.
    bool ids_in_order;
    explicit paged_kv_source(const P& problem) noexcept
        : p(problem),
          page_size(problem.k_pages.tokens()),
          ids_in_order(problem.k_pages.strides()[0] == page_size * problem.k_pages.strides()[2] &&
                       problem.v_pages.strides()[0] == page_size * problem.v_pages.strides()[2]) {}

    strided_rows<key_type> keys(index_t, index_t hkv, index_t n0) const noexcept {
        return {p.k_pages.row(p.pages[n0 / page_size], hkv, n0 % page_size), p.k_pages.strides()[2]};
    }
    strided_rows<value_type> values(index_t, index_t hkv, index_t n0) const noexcept {
        return {p.v_pages.row(p.pages[n0 / page_size], hkv, n0 % page_size), p.v_pages.strides()[2]};
    }
    // The keys from n0 on (at most `most`) that lie at one stride: to the end of n0's page, and on
    // through pages whose ids follow each other when they follow in memory.
    index_t contiguous(index_t n0, index_t most) const noexcept {
        index_t page = n0 / page_size, run = page_size - n0 % page_size;
        if (ids_in_order)
            while (run < most && p.pages[page + 1] == p.pages[page] + 1) run += page_size, ++page;
        return run < most ? run : most;
    }
};

// The source a problem's items read: its views, or its pages.
template <class TQ, class TK, class TV, class TO>
dense_kv<problem<TQ, TK, TV, TO>> kv_source_of(const problem<TQ, TK, TV, TO>& p) noexcept {
    return dense_kv<problem<TQ, TK, TV, TO>>(p);
}
template <class TQ, class TK, class TV, class TO>
paged_kv_source<paged_problem<TQ, TK, TV, TO>> kv_source_of(const paged_problem<TQ, TK, TV, TO>& p) noexcept {
    return paged_kv_source<paged_problem<TQ, TK, TV, TO>>(p);
}

}  // namespace attune::kernel
