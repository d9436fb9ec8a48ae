#pragma once
// Shared pieces of the KV caches: shape checks of an appended chunk and of the queries attending
// to a cache, and the full check of a step's call made before the cache changes.
//
// Every cache operation gives the strong exception guarantee: it checks everything the call will
// need first (shapes, options, overlap, sizes, allocations), then changes the cache; an exception
// that can only come later (a user's executor or policy throwing inside the kernel) rolls the
// change back, so a throwing call leaves the cache bit-identical to before.
#include <cstdint>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "attune/attention.hpp"
#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/overlap.hpp"
#include "attune/core/types.hpp"
#include "attune/core/view.hpp"

namespace attune::detail {

// The whole of a cache's storage vector as one view (for overlap checks).
template <class T>
inline tensor_view<const T> storage_view(const std::vector<T>& s) {
    const auto n = static_cast<index_t>(s.size());
    return tensor_view<const T>(s.data(), {1, 1, 1, n}, {n, n, n});
}

// Checks a chunk of keys and values appended to a cache of `heads` heads: k [1, heads, n, dk],
// v [1, heads, n, dv]. Returns n.
template <class K, class V>
inline index_t check_chunk(const char* who, const K& k, const V& v, index_t heads, index_t dk, index_t dv) {
    require(k.batch() == 1 && v.batch() == 1, who, ": k and v must have batch 1 (one cache per sequence), got ", k.batch(), " and ",
            v.batch());
    require(k.heads() == heads && v.heads() == heads, who, ": k and v must have ", heads, " heads (the cache's), got ", k.heads(), " and ",
            v.heads());
    require(k.dim() == dk, who, ": k head dim ", k.dim(), " differs from the cache's ", dk);
    require(v.dim() == dv, who, ": v head dim ", v.dim(), " differs from the cache's ", dv);
    require(k.tokens() == v.tokens(), who, ": k has ", k.tokens(), " tokens but v has ", v.tokens());
    require(k.tokens() == 0 || (k.data() != nullptr && v.data() != nullptr), who, ": k or v has null data");
    return k.tokens();
}

// Checks queries q [1, Hq, n, dk] and outputs out [1, Hq, n, dv] against a cache of `heads` kv heads.
template <class Q, class O>
inline void check_queries(const char* who, const Q& q, const O& out, index_t heads, index_t dk, index_t dv) {
    require(q.batch() == 1 && out.batch() == 1, who, ": q and out must have batch 1 (one cache per sequence)");
    require(q.heads() > 0 && q.heads() % heads == 0, who, ": query heads (", q.heads(), ") must be a multiple of the cache's kv heads (",
            heads, ")");
    require(q.dim() == dk, who, ": q head dim ", q.dim(), " differs from the cache's key dim ", dk);
    require(out.heads() == q.heads() && out.tokens() == q.tokens() && out.dim() == dv, who, ": out must be [1, ", q.heads(), ", ",
            q.tokens(), ", ", dv, "]");
}

// An input (the chunk or the queries) that shares memory with the cache's storage would be
// overwritten by the append (a ring slot) or freed by a growth before it is read.
template <class X, class S>
inline void check_not_storage(const char* who, const tensor_view<X>& x, const char* name, const std::vector<S>& keys,
                              const std::vector<S>& values) {
    require(!shares_elements(x, storage_view(keys)) && !shares_elements(x, storage_view(values)), who, ": ", name,
            " overlaps the cache's own storage (copy it out first)");
}

// The same for a cache of quantized rows (bytes): x's extent against the storage's bytes.
template <class X>
inline void check_not_storage(const char* who, const tensor_view<X>& x, const char* name, const std::vector<std::uint8_t>& keys,
                              const std::vector<std::uint8_t>& values) {
    const std::pair<const void*, const void*> kr{keys.data(), keys.data() + keys.size()}, vr{values.data(), values.data() + values.size()};
    require(!overlaps(x.extent(), kr) && !overlaps(x.extent(), vr), who, ": ", name,
            " overlaps the cache's own storage (copy it out first)");
}

// What attention() will check of a step's call, checked before the cache changes: the options
// (kv_splits, scale, the LSE view's shape and overlap) and out / lse sharing memory with q, the
// chunk, themselves or the cache's storage. The chunk k, v stands in for the cache's keys here:
// every shape relation attention() checks is the same for both.
template <class Q, class K, class V, class O>
inline void check_step(const char* who, const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v,
                       const tensor_view<O>& out, const options& opt) {
    require(opt.kv_splits >= 0, who, ": kv_splits must be ≥ 0, got ", opt.kv_splits);
    (void)make_problem<std::remove_const_t<Q>, std::remove_const_t<K>, std::remove_const_t<V>, O>(
        tensor_view<const Q>(q), tensor_view<const K>(k), tensor_view<const V>(v), out, opt);
}
template <class Q, class O, class S>
inline void check_step_storage(const char* who, const tensor_view<Q>& q, const tensor_view<O>& out, const options& opt,
                               const std::vector<S>& keys, const std::vector<S>& values) {
    check_not_storage(who, q, "q", keys, values);
    check_not_storage(who, out, "out", keys, values);
    if (!opt.lse.empty()) check_not_storage(who, opt.lse, "options::lse", keys, values);
}

}  // namespace attune::detail
