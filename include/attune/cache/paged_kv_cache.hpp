#pragma once
// paged_kv_cache<T>: the K/V of many sequences in one fixed pool of pages, as vLLM keeps them (Kwon
// et al., "Efficient Memory Management for Large Language Model Serving with PagedAttention",
// SOSP 2023): a free list, a page table per sequence and a reference count per page, so a forked
// sequence shares its parent's pages (parallel sampling, beam search, prefix caching) and copies
// only the partially filled last page, on its first write to it (copy-on-write).
//
//   attune::paged_kv_cache<attune::bf16> cache(/*kv heads*/ 8, /*dk*/ 128, /*dv*/ 128, /*page size*/ 16,
//                                             /*pages*/ 4096, attune::page_layout::hnd);
//   attune::seq_id a = cache.add_sequence();
//   cache.append(a, k_prompt, v_prompt);               // [1, 8, n, 128] each, any storage type
//   attune::seq_id b = cache.fork(a);                  // b shares all of a's pages
//   attune::page_table_storage ts;                     // reused from step to step
//   attune::seq_id batch[] = {a, b};
//   attune::paged_kv<attune::bf16> kv = cache.kv(batch, 2, ts);  // views of the pool, no copy
//   cache.free(a);                                     // b keeps the shared pages
//
// The pool is allocated once, at construction: `pages` pages of `page_size` slots, each slot one
// token of every kv head, laid out NHD [pages, page_size, Hkv, D] or HND [pages, Hkv, page_size, D]
// (attune/core/paged.hpp). A sequence of L tokens holds ⌈L / page_size⌉ pages, its tokens in order.
// The views handed out (k_pages, v_pages, table, kv) stay valid as long as the cache and the
// table storage do; their contents change with later appends and frees.
//
// T may also be a quantized format (attune/quantized.hpp): paged_kv_cache<quant::q8_0> quantizes
// each row as it is appended (its format objects carry the scales, for fp8), k_pages()/v_pages()
// are quant_views and kv() is a paged_quant_kv for attune::paged_attention.
//
// Sequence ids carry a generation, so the id of a freed sequence stays invalid after its slot is
// reused. Every operation checks everything first (ids, shapes, overlap with the pool, int32
// limits, free pages, allocations) and changes the cache only after: one that throws leaves the
// cache as it was.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/overlap.hpp"
#include "attune/core/paged.hpp"
#include "attune/core/types.hpp"
#include "attune/core/view.hpp"
#include "attune/cache/rows.hpp"
#include "attune/exec/executor.hpp"
#include "attune/exec/region.hpp"
#include "attune/quantized.hpp"

namespace attune {

/// The two page layouts of a pool: NHD [pages, page_size, Hkv, D] (vLLM, FlashInfer "NHD") and
/// HND [pages, Hkv, page_size, D] (FlashInfer "HND").
enum class page_layout {
    nhd,  ///< [pages, page_size, kv_heads, dim]: a token's heads contiguous
    hnd   ///< [pages, kv_heads, page_size, dim]: a head's page contiguous
};

/// A sequence of a paged_kv_cache. Negative ids are never valid.
using seq_id = std::int64_t;

/// Caller-owned arrays a page_table points into, reused from call to call: once they have grown to
/// a batch's size, filling them again allocates nothing.
struct page_table_storage {
    std::vector<std::int32_t> ids;      ///< page ids, sequence by sequence
    std::vector<std::int32_t> first;    ///< [sequences + 1] CSR offsets into ids
    std::vector<std::int32_t> lengths;  ///< [sequences] tokens of each sequence
};

/// Many sequences' keys and values in one fixed pool of pages (storage T: float, bf16 or half),
/// with per-sequence page tables and reference-counted pages shared by forks (copy-on-write).
template <class T = float>
class paged_kv_cache {
    static_assert(is_storage_type_v<T> || quant::is_format_v<T>,
                  "attune::paged_kv_cache: storage must be float, bf16, half or a quantized format (attune::quant)");
    static constexpr bool quantized = quant::is_format_v<T>;
    using rows = detail::cache_rows<T>;
    using element = typename rows::element;

public:
    using value_type = T;  ///< the storage type (or format)

    /// The largest page size accepted (page sizes 1 .. 256, any, not only powers of 2).
    static constexpr index_t max_page_size = 256;

    /// A pool of `pages` pages of `page_size` tokens of `kv_heads` heads (key dim `dk`, value dim
    /// `dv`) in `layout`, allocated once; every page starts free. A quantized T takes the format
    /// objects of K and V (their scales, for fp8).
    paged_kv_cache(index_t kv_heads, index_t dk, index_t dv, index_t page_size, index_t pages, page_layout layout = page_layout::nhd,
                   T k_format = {}, T v_format = {})
        : heads_(kv_heads),
          dk_(dk),
          dv_(dv),
          page_size_(page_size),
          pages_(pages),
          layout_(layout),
          k_format_(k_format),
          v_format_(v_format) {
        detail::require(kv_heads > 0 && dk > 0 && dv > 0, "paged_kv_cache: kv_heads (", kv_heads, "), dk (", dk, ") and dv (", dv,
                        ") must be ≥ 1");
        detail::require(page_size >= 1 && page_size <= max_page_size, "paged_kv_cache: page_size (", page_size, ") must be in [1, ",
                        max_page_size, "]");
        detail::require(pages >= 1 && pages <= int32_max, "paged_kv_cache: pages (", pages, ") must be in [1, ", int32_max,
                        "] (page ids are int32)");
        detail::require(layout == page_layout::nhd || layout == page_layout::hnd, "paged_kv_cache: layout is neither nhd nor hnd");
        if constexpr (quantized) {
            k_format_.check(kv_heads, dk, "paged_kv_cache: key format");
            v_format_.check(kv_heads, dv, "paged_kv_cache: value format");
        }
        // Checked products: the pool views (page_pool_nhd / _hnd) and every offset below fit index_t.
        const index_t k_elems =
            detail::checked_product("paged_kv_cache: pages × page_size × kv_heads × dk", pages, page_size, kv_heads, rows::elems(dk));
        const index_t v_elems =
            detail::checked_product("paged_kv_cache: pages × page_size × kv_heads × dv", pages, page_size, kv_heads, rows::elems(dv));
        k_stride_ = strides_of(rows::elems(dk));
        v_stride_ = strides_of(rows::elems(dv));
        detail::checked_assign(k_, k_elems, element{}, "paged_kv_cache: K pool");
        detail::checked_assign(v_, v_elems, element{}, "paged_kv_cache: V pool");
        detail::checked_assign(refs_, pages, std::int32_t{0}, "paged_kv_cache: reference counts");
        detail::checked_resize(free_, pages, "paged_kv_cache: free list");
        // Popped from the back: page 0 first.
        for (index_t i = 0; i < pages; ++i) free_[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(pages - 1 - i);
    }

    index_t kv_heads() const noexcept { return heads_; }                                                     ///< kv heads
    index_t dk() const noexcept { return dk_; }                                                              ///< key head dim
    index_t dv() const noexcept { return dv_; }                                                              ///< value head dim
    index_t page_size() const noexcept { return page_size_; }                                                ///< tokens per page
    index_t pages() const noexcept { return pages_; }                                                        ///< pages in the pool
    page_layout layout() const noexcept { return layout_; }                                                  ///< the pool's layout
    index_t pages_free() const noexcept { return static_cast<index_t>(free_.size()); }                       ///< pages on the free list
    index_t pages_used() const noexcept { return pages_ - pages_free(); }                                    ///< pages some sequence holds
    index_t sequences() const noexcept { return static_cast<index_t>(slots_.size() - free_slots_.size()); }  ///< live sequences

    /// A new, empty sequence.
    seq_id add_sequence() { return new_slot("paged_kv_cache::add_sequence"); }

    /// Whether `s` is a live sequence of this cache (not freed, not from another cache's counter).
    bool contains(seq_id s) const noexcept { return find(s) >= 0; }

    /// Tokens of sequence s.
    index_t tokens(seq_id s) const { return slots_[slot_of(s, "paged_kv_cache::tokens: seq")].tokens; }

    /// Pages sequence s holds (⌈tokens / page_size⌉).
    index_t page_count(seq_id s) const { return static_cast<index_t>(slots_[slot_of(s, "paged_kv_cache::page_count: seq")].pages.size()); }

    /// Sequence s's page ids, in order (page_count(s) of them); valid until s changes.
    const std::int32_t* page_ids(seq_id s) const { return slots_[slot_of(s, "paged_kv_cache::page_ids: seq")].pages.data(); }

    /// How many sequences hold page p (0 for a free page).
    index_t ref_count(index_t p) const {
        detail::require(p >= 0 && p < pages_, "paged_kv_cache::ref_count: page (", p, ") is not a page of the pool (", pages_, " pages)");
        return refs_[static_cast<std::size_t>(p)];
    }

    /// Free pages an append of n tokens to s takes: the new pages, plus one when s's partially
    /// filled last page is shared (it is copied first). attune::error when s would pass int32 tokens.
    index_t pages_needed(seq_id s, index_t n) const {
        const index_t i = slot_of(s, "paged_kv_cache::pages_needed: seq");
        return plan(slots_[static_cast<std::size_t>(i)], n, "paged_kv_cache::pages_needed").take;
    }

    /// Appends n tokens to sequence s: k [1, kv_heads, n, dk], v [1, kv_heads, n, dv], any storage
    /// type and strides (converted to T, or quantized on Arch's vectors). Takes pages from the free
    /// list; first copies s's last page when it is partially filled and shared with a fork. A
    /// prompt's rows are split over exec's workers (items of `append_rows` tokens of one head's K or
    /// V), a decode step's few rows run on the caller. attune::error, and nothing changes, when the
    /// pool has too few free pages, or k or v overlap the pool; an exception from the executor also
    /// leaves the cache as it was (its pages back on the free list).
    template <class Arch = default_arch, class K, class V, class Exec = default_executor>
    void append(seq_id s, const tensor_view<K>& k, const tensor_view<V>& v, const Exec& exec = {}) {
        const char* who = "paged_kv_cache::append";
        const index_t i = slot_of(s, "paged_kv_cache::append: seq");
        const index_t n = check_chunk(who, k, v);
        seq& q = slots_[static_cast<std::size_t>(i)];
        const growth g = plan(q, n, who);
        detail::require(g.take <= pages_free(), who, ": the pool cannot hold ", n, " more tokens of sequence ", s, ": it needs ", g.take,
                        " free pages, ", pages_free(), " are free");
        if (n == 0) return;
        // The chunk is read while pages are written: it may not be a view of the pool.
        detail::require(!overlaps_pool(k), who, ": k overlaps the cache's page pool (copy it out first)");
        detail::require(!overlaps_pool(v), who, ": v overlaps the cache's page pool (copy it out first)");
        detail::checked_reserve(q.pages, g.pages, "paged_kv_cache::append: page list");
        const detail::append_items items(n, heads_);
        const index_t row = dk_ > dv_ ? dk_ : dv_;
        constexpr bool widen =
            quantized && (!std::is_same_v<std::remove_const_t<K>, float> || !std::is_same_v<std::remove_const_t<V>, float>);
        if constexpr (widen) {
            const index_t floats = detail::checked_product("paged_kv_cache::append: row buffers", items.buffers(), row);
            if (static_cast<index_t>(scratch_.size()) < floats)
                detail::checked_assign(scratch_, floats, 0.0f, "paged_kv_cache::append: row buffers");
        }
        // The pages first (nothing here throws), then the rows.
        const std::size_t held = q.pages.size();
        std::int32_t replaced = -1;
        if (g.copy) {
            const std::int32_t old = q.pages.back(), fresh = pop_free();
            copy_page(old, fresh, q.tokens % page_size_);
            --refs_[static_cast<std::size_t>(old)];
            q.pages.back() = fresh;
            replaced = old;
        }
        while (static_cast<index_t>(q.pages.size()) < g.pages) q.pages.push_back(pop_free());  // capacity reserved above
        try {
            items.run(exec, widen ? scratch_.data() : nullptr, row, [&](const detail::append_items::item& it, float* tmp) {
                for (index_t t = it.t0; t < it.t1;) {  // a page's run of slots at a time: evenly strided
                    const index_t at = q.tokens + t, slot = at % page_size_, run = std::min(it.t1 - t, page_size_ - slot);
                    const index_t page = q.pages[static_cast<std::size_t>(at / page_size_)];
                    if (it.key)
                        rows::template write_rows<Arch>(k_format_, it.head, k.row(0, it.head, t), k.strides()[2],
                                                        k_.data() + offset(k_stride_, page, it.head, slot), k_stride_.slot, run, dk_, tmp);
                    else
                        rows::template write_rows<Arch>(v_format_, it.head, v.row(0, it.head, t), v.strides()[2],
                                                        v_.data() + offset(v_stride_, page, it.head, slot), v_stride_.slot, run, dv_, tmp);
                    t += run;
                }
            });
        } catch (...) {  // the executor threw: the pages go back, in the order they were taken
            while (q.pages.size() > held) {
                refs_[static_cast<std::size_t>(q.pages.back())] = 0;
                free_.push_back(q.pages.back());
                q.pages.pop_back();
            }
            if (replaced >= 0) {
                refs_[static_cast<std::size_t>(q.pages.back())] = 0;
                free_.push_back(q.pages.back());
                q.pages.back() = replaced;
                ++refs_[static_cast<std::size_t>(replaced)];
            }
            throw;
        }
        q.tokens += n;
    }

    /// Tokens of one head's K or V in one item of a parallel append.
    static constexpr index_t append_rows = detail::append_items::tokens;

    /// A new sequence sharing every page of `parent` (its tokens, as they are now). Either one's
    /// next append to a shared partially filled last page copies that page first; full pages stay
    /// shared until both are freed.
    seq_id fork(seq_id parent) {
        const index_t p = slot_of(parent, "paged_kv_cache::fork: parent");
        std::vector<std::int32_t> pages;
        detail::allocating(static_cast<index_t>(slots_[static_cast<std::size_t>(p)].pages.size()), "paged_kv_cache::fork: page list",
                           [&] { pages = slots_[static_cast<std::size_t>(p)].pages; });
        const index_t tokens = slots_[static_cast<std::size_t>(p)].tokens;
        const seq_id child = new_slot("paged_kv_cache::fork");  // the last step that can throw
        for (std::int32_t pg : pages) ++refs_[static_cast<std::size_t>(pg)];
        seq& c = slots_[static_cast<std::size_t>(child & slot_mask)];
        c.pages.swap(pages);
        c.tokens = tokens;
        return child;
    }

    /// Frees sequence s: its id becomes invalid and each of its pages no other sequence holds
    /// returns to the free list.
    void free(seq_id s) {
        const index_t i = slot_of(s, "paged_kv_cache::free: seq");
        // Room for every page and slot first (already there unless this cache is a copy, whose
        // vectors have only their size), so the push_backs below never allocate.
        detail::checked_reserve(free_, pages_, "paged_kv_cache::free: free list");
        detail::checked_reserve(free_slots_, static_cast<index_t>(slots_.size()), "paged_kv_cache::free: sequence slots");
        seq& q = slots_[static_cast<std::size_t>(i)];
        for (std::int32_t pg : q.pages)
            if (--refs_[static_cast<std::size_t>(pg)] == 0) free_.push_back(pg);
        std::vector<std::int32_t>().swap(q.pages);
        q.tokens = 0;
        q.live = false;
        if (q.generation < generation_max) {
            ++q.generation;
            free_slots_.push_back(static_cast<std::int32_t>(i));
        }  // else the slot retires: a reused id could not be told from the old one
    }

    /// The K pool as a [pages, kv_heads, page_size, dk] view (attune/core/paged.hpp; a quant_view
    /// for a quantized T).
    auto k_pages() const { return pool_view(k_.data(), dk_, k_stride_, k_format_); }
    /// The V pool as a [pages, kv_heads, page_size, dv] view.
    auto v_pages() const { return pool_view(v_.data(), dv_, v_stride_, v_format_); }

    /// Fills `st` with the page table of sequences seqs[0 .. n) (in that order; one may repeat) and
    /// returns it, pointing into `st`. st's vectors keep their capacity: once warm, no allocation.
    page_table table(const seq_id* seqs, index_t n, page_table_storage& st) const {
        const char* who = "paged_kv_cache::table";
        detail::require(n >= 0, who, ": n (", n, ") is negative");
        detail::require(n == 0 || seqs != nullptr, who, ": seqs is null");
        detail::require(n < int32_max, who, ": n (", n, ") sequences exceed int32 offsets");
        index_t total = 0;
        for (index_t s = 0; s < n; ++s) {
            const index_t i = find(seqs[s]);
            detail::require(i >= 0, who, ": seqs[", s, "] (id ", seqs[s], ") is not a live sequence of this cache (unknown or freed)");
            total = detail::checked_add(total, static_cast<index_t>(slots_[static_cast<std::size_t>(i)].pages.size()), who);
            detail::require(total <= int32_max, who, ": the ", n, " sequences hold more than ", int32_max, " page ids (int32 offsets)");
        }
        // Reserve all three first (each leaves its vector as it was when it throws), then resize.
        detail::checked_reserve(st.ids, total, "paged_kv_cache::table: ids");
        detail::checked_reserve(st.first, n + 1, "paged_kv_cache::table: first");
        detail::checked_reserve(st.lengths, n, "paged_kv_cache::table: lengths");
        st.ids.resize(static_cast<std::size_t>(total));
        st.first.resize(static_cast<std::size_t>(n + 1));
        st.lengths.resize(static_cast<std::size_t>(n));
        std::size_t at = 0;
        st.first[0] = 0;
        for (index_t s = 0; s < n; ++s) {
            const seq& q = slots_[static_cast<std::size_t>(find(seqs[s]))];
            for (std::int32_t pg : q.pages) st.ids[at++] = pg;
            st.first[static_cast<std::size_t>(s + 1)] = static_cast<std::int32_t>(at);
            st.lengths[static_cast<std::size_t>(s)] = static_cast<std::int32_t>(q.tokens);
        }
        page_table t;
        t.ids = st.ids.data();
        t.first = st.first.data();
        t.lengths = st.lengths.data();
        t.sequences = n;
        return t;
    }

    /// The pools and the table of sequences seqs[0 .. n): what attune::paged_attention reads
    /// (a paged_kv, or a paged_quant_kv for a quantized T).
    auto kv(const seq_id* seqs, index_t n, page_table_storage& st) const {
        std::conditional_t<quantized, paged_quant_kv<T, T>, paged_kv<T, T>> r;
        r.table = table(seqs, n, st);
        r.k_pages = k_pages();
        r.v_pages = v_pages();
        return r;
    }

private:
    static constexpr index_t int32_max = std::numeric_limits<std::int32_t>::max();
    static constexpr std::int64_t slot_mask = 0xffffffff;
    static constexpr std::uint32_t generation_max = 0x7fffffff;  // ids stay non-negative

    struct seq {
        std::vector<std::int32_t> pages;  // page ids, in token order
        index_t tokens = 0;
        std::uint32_t generation = 0;
        bool live = false;
    };
    struct pool_strides {
        index_t page, head, slot;
    };
    struct growth {
        index_t pages;  // pages the sequence holds after the append
        index_t take;   // pages taken from the free list (new pages + the copy)
        bool copy;      // whether the last page is copied first
    };

    pool_strides strides_of(index_t dim) const noexcept {
        // Products checked by the constructor (they are factors of the pool's size).
        const index_t token = heads_ * dim, head = page_size_ * dim;
        if (layout_ == page_layout::nhd) return {page_size_ * token, dim, token};
        return {heads_ * head, head, dim};
    }
    static index_t offset(const pool_strides& st, index_t page, index_t head, index_t slot) noexcept {
        return page * st.page + head * st.head + slot * st.slot;
    }
    auto pool_view(const element* data, index_t dim, const pool_strides& st, const T& format) const {
        if constexpr (quantized) {
            return quant::quant_view<T>(data, {pages_, heads_, page_size_, dim}, {st.page, st.head, st.slot}, format);
        } else {
            (void)st, (void)format;
            return layout_ == page_layout::nhd ? page_pool_nhd(data, pages_, page_size_, heads_, dim)
                                               : page_pool_hnd(data, pages_, page_size_, heads_, dim);
        }
    }
    // Whether an input view shares memory with a pool: elements for element pools, the byte range
    // for quantized ones.
    template <class X>
    bool overlaps_pool(const tensor_view<X>& x) const {
        if constexpr (quantized) {
            const std::pair<const void*, const void*> kr{k_.data(), k_.data() + k_.size()}, vr{v_.data(), v_.data() + v_.size()};
            return detail::overlaps(x.extent(), kr) || detail::overlaps(x.extent(), vr);
        } else {
            const auto pool_k = tensor_view<const T>(k_.data(), {1, 1, 1, static_cast<index_t>(k_.size())}, {0, 0, 0});
            const auto pool_v = tensor_view<const T>(v_.data(), {1, 1, 1, static_cast<index_t>(v_.size())}, {0, 0, 0});
            return detail::shares_elements(x, pool_k) || detail::shares_elements(x, pool_v);
        }
    }

    // The slot of a live id, or −1.
    index_t find(seq_id s) const noexcept {
        if (s < 0) return -1;
        const auto i = static_cast<std::size_t>(s & slot_mask);
        const auto gen = static_cast<std::uint64_t>(s) >> 32;
        if (i >= slots_.size() || !slots_[i].live || slots_[i].generation != gen) return -1;
        return static_cast<index_t>(i);
    }
    index_t slot_of(seq_id s, const char* name) const {
        const index_t i = find(s);
        detail::require(i >= 0, name, " (id ", s, ") is not a live sequence of this cache (unknown or freed)");
        return i;
    }

    // A live, empty slot and its id. Strong guarantee: free_slots_ keeps capacity for every slot
    // (so free() never allocates), reserved before the slot is added.
    seq_id new_slot(const char* who) {
        std::size_t i;
        if (!free_slots_.empty()) {
            i = static_cast<std::size_t>(free_slots_.back());
            free_slots_.pop_back();
        } else {
            detail::require(static_cast<index_t>(slots_.size()) < int32_max, who, ": too many sequences (", slots_.size(), ")");
            const auto n = static_cast<index_t>(slots_.size()) + 1;
            detail::checked_reserve(free_slots_, n, "paged_kv_cache: sequence slots");
            detail::allocating(n, "paged_kv_cache: sequence slots", [&] { slots_.emplace_back(); });
            i = slots_.size() - 1;
        }
        seq& q = slots_[i];
        q.live = true;
        q.tokens = 0;
        return static_cast<seq_id>((static_cast<std::uint64_t>(q.generation) << 32) | i);
    }

    // What appending n tokens to q takes; checks n and the int32 token limit.
    growth plan(const seq& q, index_t n, const char* who) const {
        detail::require(n >= 0, who, ": n (", n, ") is negative");
        detail::require(n <= int32_max - q.tokens, who, ": ", q.tokens, " tokens + ", n, " appended exceed ", int32_max,
                        " (page table lengths are int32)");
        const index_t tokens = q.tokens + n;
        const index_t pages = (tokens + page_size_ - 1) / page_size_;  // tokens ≤ 2^31: no overflow
        const bool copy = n > 0 && q.tokens % page_size_ != 0 && refs_[static_cast<std::size_t>(q.pages.back())] > 1;
        return {pages, pages - static_cast<index_t>(q.pages.size()) + (copy ? 1 : 0), copy};
    }

    template <class K, class V>
    index_t check_chunk(const char* who, const tensor_view<K>& k, const tensor_view<V>& v) const {
        detail::require(k.batch() == 1 && v.batch() == 1, who, ": k and v must have batch 1 (one sequence), got ", k.batch(), " and ",
                        v.batch());
        detail::require(k.heads() == heads_ && v.heads() == heads_, who, ": k and v must have ", heads_, " heads (the cache's), got ",
                        k.heads(), " and ", v.heads());
        detail::require(k.dim() == dk_, who, ": k head dim ", k.dim(), " differs from the cache's ", dk_);
        detail::require(v.dim() == dv_, who, ": v head dim ", v.dim(), " differs from the cache's ", dv_);
        detail::require(k.tokens() == v.tokens(), who, ": k has ", k.tokens(), " tokens but v has ", v.tokens());
        detail::require(k.tokens() == 0 || (k.data() != nullptr && v.data() != nullptr), who, ": k or v has null data");
        return k.tokens();
    }

    std::int32_t pop_free() noexcept {
        const std::int32_t p = free_.back();
        free_.pop_back();
        refs_[static_cast<std::size_t>(p)] = 1;
        return p;
    }

    // Copies slots [0, fill) of page `from` to page `to`, every head, K and V.
    void copy_page(index_t from, index_t to, index_t fill) noexcept {
        for (index_t h = 0; h < heads_; ++h)
            for (index_t s = 0; s < fill; ++s) {
                detail::copy_row(k_.data() + offset(k_stride_, from, h, s), k_.data() + offset(k_stride_, to, h, s), rows::elems(dk_));
                detail::copy_row(v_.data() + offset(v_stride_, from, h, s), v_.data() + offset(v_stride_, to, h, s), rows::elems(dv_));
            }
    }

    index_t heads_, dk_, dv_, page_size_, pages_;
    page_layout layout_;
    T k_format_, v_format_;  // a quantized T's formats (unused for element types)
    pool_strides k_stride_{}, v_stride_{};
    std::vector<element> k_, v_;            // the pools, allocated once
    std::vector<float> scratch_;            // bf16/half rows widened before quantization
    std::vector<std::int32_t> refs_;        // sequences holding each page
    std::vector<std::int32_t> free_;        // free page ids (a stack; capacity = pages)
    std::vector<seq> slots_;                // sequences by slot, live or free
    std::vector<std::int32_t> free_slots_;  // free slots (capacity ≥ slots_.size())
};

}  // namespace attune
