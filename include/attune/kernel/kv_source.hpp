#pragma once
// Where a work item's keys and values come from: a K/V source gives, for a kv head and a tile of
// keys, the K and V rows the stages read, in three forms:
//   key_rows / value_rows    the rows where they are, as row(n) (decode reads these)
//   float_keys / float_values  one strided block of float rows: the rows in place when they are
//                            float and lie at one stride, else a copy (prefill's GEMM reads these)
//   key_block / value_block  one strided block of the storage type (the AMX stages)
// Two sources:
//   dense_kv         the call's [B, Hkv, L, D] views: every key of a head at one stride, read in place
//   paged_kv_source  one sequence's pages of a page pool (core/paged.hpp; PagedAttention, Kwon et
//                    al. 2023): rows through a table of their addresses, built per tile, which also
//                    holds the rows ahead of the tile so that decode prefetches across page ends
// A quantized cache is another source with the same members.
#include <cstdint>
#include <type_traits>

#include "attune/core/buffer.hpp"
#include "attune/core/types.hpp"
#include "attune/kernel/kv_rows.hpp"
#include "attune/kernel/problem.hpp"
#include "attune/simd/prefetch.hpp"
#include "attune/simd/vec.hpp"

namespace attune::kernel {

template <class P>
struct dense_kv {
    using key_type = typename decltype(P::k)::value_type;
    using value_type = typename decltype(P::v)::value_type;
    const P& p;
    explicit dense_kv(const P& problem) noexcept : p(problem) {}

    strided_rows<key_type> key_rows(index_t b, index_t hkv, index_t n0) const noexcept { return {p.k.row(b, hkv, n0), p.k.strides()[2]}; }
    strided_rows<value_type> value_rows(index_t b, index_t hkv, index_t n0) const noexcept {
        return {p.v.row(b, hkv, n0), p.v.strides()[2]};
    }
    // Keys [n0, n0 + nk) as the decode stages read them: in place (no table needed).
    strided_rows<key_type> key_rows(index_t b, index_t hkv, index_t n0, index_t, detail::grow_buffer<const void*>&) const noexcept {
        return key_rows(b, hkv, n0);
    }
    strided_rows<value_type> value_rows(index_t b, index_t hkv, index_t n0, index_t, detail::grow_buffer<const void*>&) const noexcept {
        return value_rows(b, hkv, n0);
    }
    strided_rows<key_type> key_block(index_t b, index_t hkv, index_t n0, index_t, detail::grow_buffer<float>&) const noexcept {
        return key_rows(b, hkv, n0);
    }
    strided_rows<value_type> value_block(index_t b, index_t hkv, index_t n0, index_t, detail::grow_buffer<float>&) const noexcept {
        return value_rows(b, hkv, n0);
    }
    // Keys [n0, n0 + nk) as float rows: the user's rows when they are float, else converted into
    // `tile` (grown to a kv tile only when a conversion needs it).
    template <class Arch>
    strided_rows<float> float_keys(index_t b, index_t hkv, index_t n0, index_t nk, detail::grow_buffer<float>& tile) const {
        if constexpr (std::is_same_v<key_type, float>) {
            (void)nk, (void)tile;
            return key_rows(b, hkv, n0);
        } else {
            return convert_rows<Arch>(key_rows(b, hkv, n0), nk, p.dk, p.dk, tile);
        }
    }
    // Values [n0, n0 + nk) as float rows of dvp elements, the padding zero: the user's rows when
    // they are float and hold dvp elements, else converted into `tile`.
    template <class Arch>
    strided_rows<float> float_values(index_t b, index_t hkv, index_t n0, index_t nk, index_t dvp, detail::grow_buffer<float>& tile) const {
        if constexpr (std::is_same_v<value_type, float>) {
            if (p.dv == dvp) return value_rows(b, hkv, n0);
        }
        return convert_rows<Arch>(value_rows(b, hkv, n0), nk, p.dv, dvp, tile);
    }
    // The rows of a key range, to bring into L2 a line at a time while another product runs.
    simd::prefetch_stream key_stream(index_t b, index_t hkv, index_t n0, index_t nk) const {
        return simd::prefetch_stream::of(p.k.row(b, hkv, n0), p.k.strides()[2], nk, p.dk);
    }
    simd::prefetch_stream value_stream(index_t b, index_t hkv, index_t n0, index_t nk) const {
        return simd::prefetch_stream::of(p.v.row(b, hkv, n0), p.v.strides()[2], nk, p.dv);
    }
};

template <class P>
struct paged_kv_source {
    using key_type = typename decltype(P::k_pages)::value_type;
    using value_type = typename decltype(P::v_pages)::value_type;
    const P& p;
    index_t page_size;
    explicit paged_kv_source(const P& problem) noexcept : p(problem), page_size(problem.k_pages.tokens()) {}

    // The addresses of rows [n0, n0 + nk) and of the rows a decode kernel prefetches ahead of them
    // (past the last key: the last key again), one page lookup per page.
    template <class T, class Pool>
    pointer_rows<T> table(const Pool& pool, index_t hkv, index_t n0, index_t nk, detail::grow_buffer<const void*>& buf) const {
        // + 16: a decode block of keys past nk (dot_tile) prefetches up to its own width further.
        const index_t n = nk + simd::stream_prefetch_l2_rows<T> + 16;
        return page_row_table<T>([&](index_t page, index_t slot) { return pool.row(page, hkv, slot); }, p.pages, page_size,
                                 pool.strides()[2], p.lk, n0, n, buf);
    }
    pointer_rows<key_type> key_rows(index_t, index_t hkv, index_t n0, index_t nk, detail::grow_buffer<const void*>& buf) const {
        return table<key_type>(p.k_pages, hkv, n0, nk, buf);
    }
    pointer_rows<value_type> value_rows(index_t, index_t hkv, index_t n0, index_t nk, detail::grow_buffer<const void*>& buf) const {
        return table<value_type>(p.v_pages, hkv, n0, nk, buf);
    }
    // The keys from n0 on (at most `most`) in n0's page.
    index_t in_page(index_t n0, index_t most) const noexcept {
        const index_t run = page_size - n0 % page_size;
        return run < most ? run : most;
    }
    // Row n of keys n0, n0 + 1, … of a pool, each through its page.
    template <class Pool>
    struct pool_rows {
        const paged_kv_source& src;
        const Pool& pool;
        index_t hkv, n0;
        const typename Pool::value_type* row(index_t n) const noexcept {
            return pool.row(src.p.pages[(n0 + n) / src.page_size], hkv, (n0 + n) % src.page_size);
        }
    };
    // Rows [n0, n0 + nk) of a pool as one strided block: in place within one page, else copied
    // (converted to float and padded to `width` when Float) into `tile`.
    template <class Arch, bool Float, class Pool>
    auto block(const Pool& pool, index_t hkv, index_t n0, index_t nk, index_t dim, index_t width, detail::grow_buffer<float>& tile) const {
        using T = typename Pool::value_type;
        const pool_rows<Pool> rows{*this, pool, hkv, n0};
        const bool in_place = in_page(n0, nk) == nk && (!Float || (std::is_same_v<T, float> && dim == width));
        if constexpr (Float) {
            if constexpr (std::is_same_v<T, float>) {
                if (in_place) return strided_rows<float>{rows.row(0), pool.strides()[2]};
            }
            return convert_rows<Arch>(rows, nk, dim, width, tile);
        } else {
            if (in_place) return strided_rows<T>{rows.row(0), pool.strides()[2]};
            T* buf = reinterpret_cast<T*>(tile.get(work_plan::kv_tile * width));
            for (index_t n = 0; n < nk; ++n) detail::copy_row(rows.row(n), buf + n * width, dim);
            return strided_rows<T>{buf, width};
        }
    }
    strided_rows<key_type> key_block(index_t, index_t hkv, index_t n0, index_t nk, detail::grow_buffer<float>& tile) const {
        return block<void, false>(p.k_pages, hkv, n0, nk, p.dk, p.dk, tile);
    }
    strided_rows<value_type> value_block(index_t, index_t hkv, index_t n0, index_t nk, detail::grow_buffer<float>& tile) const {
        return block<void, false>(p.v_pages, hkv, n0, nk, p.dv, p.dv, tile);
    }
    template <class Arch>
    strided_rows<float> float_keys(index_t, index_t hkv, index_t n0, index_t nk, detail::grow_buffer<float>& tile) const {
        return block<Arch, true>(p.k_pages, hkv, n0, nk, p.dk, p.dk, tile);
    }
    template <class Arch>
    strided_rows<float> float_values(index_t, index_t hkv, index_t n0, index_t nk, index_t dvp, detail::grow_buffer<float>& tile) const {
        return block<Arch, true>(p.v_pages, hkv, n0, nk, p.dv, dvp, tile);
    }
    // The rows of a key range up to the end of its first page, into L2 a line at a time.
    simd::prefetch_stream key_stream(index_t, index_t hkv, index_t n0, index_t nk) const {
        return simd::prefetch_stream::of(p.k_pages.row(p.pages[n0 / page_size], hkv, n0 % page_size), p.k_pages.strides()[2],
                                         in_page(n0, nk), p.dk);
    }
    simd::prefetch_stream value_stream(index_t, index_t hkv, index_t n0, index_t nk) const {
        return simd::prefetch_stream::of(p.v_pages.row(p.pages[n0 / page_size], hkv, n0 % page_size), p.v_pages.strides()[2],
                                         in_page(n0, nk), p.dv);
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
