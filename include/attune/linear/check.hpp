#pragma once
// Input checks shared by the linear family's entry points: every misuse throws attune::error
// naming the function and the argument (null data, mismatched shapes, outputs aliasing inputs).
#include <functional>
#include <type_traits>
#include <utility>

#include "attune/core/error.hpp"
#include "attune/core/checked.hpp"
#include "attune/core/overlap.hpp"
#include "attune/core/view.hpp"
#include "attune/linear/gemm.hpp"

namespace attune::linear::detail {

using attune::detail::require;

template <class T>
struct view_element;
template <class T>
struct view_element<tensor_view<T>> {
    using type = std::remove_const_t<T>;
};
template <class View>
using element_t = typename view_element<View>::type;

template <class T>
void require_data(const tensor_view<T>& v, const char* fn, const char* name) {
    require(v.data() != nullptr || v.size() == 0, fn, ": ", name, " has null data");
}

// Outputs may share no element with an input, another output or themselves (core/overlap.hpp:
// shared elements from the strides, so an output interleaved with an input in one buffer is fine).
template <class O, class... In>
void require_no_alias(const char* fn, const tensor_view<O>& out, const std::pair<tensor_view<In>, const char*>&... in) {
    require(!attune::detail::overlaps_itself(out), fn, ": out overlaps itself: two of its rows share memory (check its strides)");
    (require(!attune::detail::shares_elements(out, in.first), fn, ": out overlaps ", in.second,
             ": outputs may not share memory with inputs (no in-place form)"),
     ...);
}
using attune::detail::named;

// Floats of one (batch, head) item's workspace: a dk×dv state with padded rows, padded z, and
// `extra`; checked so that absurd head dims are an error naming them, not a wrapped size.
inline index_t state_floats(const char* fn, index_t dk, index_t dv, index_t extra = 0) {
    index_t r = 0;
    const bool wraps = dk > attune::detail::index_max / 2 || dv > attune::detail::index_max / 2 ||
                       __builtin_mul_overflow(dk, padded(dv), &r) || __builtin_add_overflow(r, padded(dk), &r) ||
                       __builtin_add_overflow(r, extra, &r);
    require(!wraps, fn, ": head dims dk (", dk, ") and dv (", dv, ") give a state too large to allocate");
    return r;
}

// q [B, Hq, Lq, Dk], k [B, Hkv, Lk, Dk], v [B, Hkv, Lk, Dv], out [B, Hq, Lq, Dv], Hq % Hkv == 0;
// `same_tokens`: Lq == Lk (causal forms: query i and key i are the same token).
template <class Q, class K, class V, class O>
void check_qkvo(const char* fn, const Q& q, const K& k, const V& v, const O& out, bool same_tokens) {
    require_data(q, fn, "q");
    require_data(k, fn, "k");
    require_data(v, fn, "v");
    require_data(out, fn, "out");
    require(q.batch() > 0 && q.heads() > 0 && k.heads() > 0, fn, ": q has batch ", q.batch(), " and ", q.heads(), " heads, k has ",
            k.heads(), " heads: each must be > 0");
    require(q.dim() > 0 && v.dim() > 0, fn, ": head dims must be > 0 (q ", q.dim(), ", v ", v.dim(), ")");
    require(k.batch() == q.batch() && v.batch() == q.batch(), fn, ": batch sizes differ (q ", q.batch(), ", k ", k.batch(), ", v ",
            v.batch(), ")");
    require(k.dim() == q.dim(), fn, ": k head dim (", k.dim(), ") differs from q head dim (", q.dim(), ")");
    require(v.heads() == k.heads(), fn, ": v heads (", v.heads(), ") differ from k heads (", k.heads(), ")");
    require(v.tokens() == k.tokens(), fn, ": v tokens (", v.tokens(), ") differ from k tokens (", k.tokens(), ")");
    require(q.heads() % k.heads() == 0, fn, ": query heads (", q.heads(), ") are not divisible by kv heads (", k.heads(), ")");
    if (same_tokens)
        require(q.tokens() == k.tokens(), fn, ": q tokens (", q.tokens(), ") differ from k tokens (", k.tokens(),
                "): the causal forms need one query per key");
    require(out.batch() == q.batch() && out.heads() == q.heads() && out.tokens() == q.tokens() && out.dim() == v.dim(), fn, ": out shape [",
            out.batch(), ", ", out.heads(), ", ", out.tokens(), ", ", out.dim(), "] must be [", q.batch(), ", ", q.heads(), ", ",
            q.tokens(), ", ", v.dim(), "] (q's batch, heads, tokens and v's dim)");
    require_no_alias(fn, out, named(q, "q"), named(k, "k"), named(v, "v"));
    (void)state_floats(fn, q.dim(), v.dim(), v.dim());
}

// One scalar per (batch, head, token): a [B, H, L, 1] view (gates, β, …).
template <class G>
void check_per_token(const char* fn, const char* name, const G& g, index_t batch, index_t heads, index_t tokens) {
    require_data(g, fn, name);
    require(g.batch() == batch && g.heads() == heads && g.tokens() == tokens && g.dim() == 1, fn, ": ", name, " shape [", g.batch(), ", ",
            g.heads(), ", ", g.tokens(), ", ", g.dim(), "] must be [", batch, ", ", heads, ", ", tokens, ", 1]");
}

}  // namespace attune::linear::detail

namespace attune::linear {

/// A [batch, heads, tokens, 1] view over contiguous float [batch][heads][tokens] (per-token scalars:
/// gated delta's log-gates g and β).
template <class T>
tensor_view<T> token_scalars(T* data, index_t batch, index_t heads, index_t tokens) {
    return tensor_view<T>(data, {batch, heads, tokens, 1}, {attune::detail::checked_product("token_scalars", heads, tokens), tokens, 1});
}

}  // namespace attune::linear
