#pragma once
// Shared pieces of the KV caches: shape checks of an appended chunk and of the queries attending
// to a cache, and row copies that convert between storage types.
#include <cstring>
#include <type_traits>

#include "attune/core/error.hpp"
#include "attune/core/types.hpp"
#include "attune/core/view.hpp"

namespace attune::detail {

// dst[0, n) = src[0, n) converted to T (a plain copy when the types agree).
template <class T, class U>
inline void copy_row(const U* src, T* dst, index_t n) {
    if constexpr (std::is_same_v<std::remove_const_t<U>, T>) {
        if (n > 0) std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(T));
    } else {
        for (index_t i = 0; i < n; ++i) dst[i] = from_float<T>(to_float(src[i]));
    }
}

// Checks a chunk of keys and values appended to a cache of `heads` heads: k [1, heads, n, dk],
// v [1, heads, n, dv]. Returns n.
template <class K, class V>
inline index_t check_chunk(const char* who, const K& k, const V& v, index_t heads, index_t dk, index_t dv) {
    require(k.batch() == 1 && v.batch() == 1, who, ": k and v must have batch 1 (one cache per sequence), got ", k.batch(), " and ",
            v.batch());
    require(k.heads() == heads && v.heads() == heads, who, ": k and v must have ", heads, " heads (the cache's), got ", k.heads(),
            " and ", v.heads());
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

}  // namespace attune::detail
