#pragma once
// The one interface of attune's KV caches (kv_cache, streaming_cache, h2o_cache, duo_cache), each
// the cache of one sequence:
//
//   cache_type cache(heads, dk, dv, cache_type_options{…});        // or the older positional constructor
//   cache.append(k, v);                                              // k [1, Hkv, n, dk], v [1, Hkv, n, dv]
//   cache.step(q, k_new, v_new, out, variant = {}, options = {}, executor = {});
//   cache.tokens();                                                  // the history's length (tokens appended)
//   cache.keys(), cache.values();                                    // [1, Hkv, held, d] views, where the cache has one
//   cache.clear();                                                   // forgets every token
//
// step() appends the chunk's n tokens, then writes the attention of its n queries q [1, Hq, n, dk]
// into out [1, Hq, n, dv] over the keys the cache keeps (the new ones included): kv_cache a causal
// step over the whole history, streaming_cache sinks + window, h2o_cache the held heavy hitters
// and recent tokens, duo_cache per kv head either. The variant (a variant or one policy: family,
// score modifier, sink, router, mask) is the same as attune::attention's and composes with the
// cache's key selection; its score modifier and mask see each token's history position (0 for
// the first token appended), not the slot a cache happens to keep it in.
//
// A variant's mask: kv_cache, whose keys are the whole history in position order, composes it with
// its causal rule (and_mask: a key is visible when both see it). The caches that choose their keys
// themselves (streaming, h2o, duo) throw attune::error naming `variant` for a mask other than none:
// their key set is their mask, and the slots they keep are not in position order.
//
// Positions: kv_cache and duo_cache's retrieval heads hold the history in order (the positions are
// the indices); streaming_cache hands its keys to the kernel in position order with their history
// positions as ids (score/positioned.hpp). h2o_cache's survivors differ per kv head while position
// ids are per sequence, so it accepts only score modifiers known not to read positions (none,
// softcap) and throws attune::error naming `variant` for the others.
//
// Every cache operation gives the strong guarantee (chunk.hpp): a call that throws leaves the cache
// bit-identical to before.
#include <utility>

#include "attune/attention.hpp"
#include "attune/core/error.hpp"
#include "attune/core/policy.hpp"
#include "attune/core/positions.hpp"
#include "attune/mask/combine.hpp"
#include "attune/score/positioned.hpp"
#include "attune/sparse/head_offset.hpp"
#include "attune/variant.hpp"

namespace attune::detail {

// The user's variant (a variant or a lone policy) with the cache's own mask `own` composed in: the
// cache's alone when the user's is none, and_mask(own, user's) otherwise.
template <class Own, class Var>
auto with_cache_mask(const Var& var, Own own) {
    const auto v = to_variant(var);
    using V = std::decay_t<decltype(v)>;
    if constexpr (is_none_v<typename V::mask_type>) return with_mask(v, std::move(own));
    else return with_mask(v, and_mask<Own, typename V::mask_type>(std::move(own), v.mask()));
}

// The variant with its score modifier (if any) evaluated on the position ids `ids` (the keys'
// history positions in the order the kernel sees them; the queries are the last keys).
template <class... Ps>
auto with_score_positions(const variant<Ps...>& v, const position_ids& ids) {
    using V = variant<Ps...>;
    if constexpr (is_none_v<typename V::score_type>) {
        return (void)ids, v;
    } else {
        return variant<typename V::family_type, typename V::mask_type, positioned_score<typename V::score_type>, typename V::sink_type,
                       typename V::router_type>(v.family(), v.mask(), with_positions(v.score(), ids), v.sink(), v.router());
    }
}

using sparse::detail::position_free_v;  // score modifiers known not to read positions

// For the caches that choose their keys: a variant's mask must be none (see the top of this file).
template <class Var>
void require_no_mask(const char* who) {
    using V = typename as_variant<Var>::type;
    require(is_none_v<typename V::mask_type>, who,
            ": variant: a mask other than none is not accepted (the cache's key selection is its mask; use kv_cache to compose one)");
}

// What attention() will check of the variant, before the cache changes: the family's LSE and every
// policy's parameters against the call's shape (the problem `p`, its lk the keys the step will see).
template <class Var, class P>
void check_variant(const char* who, const Var& var_in, P p, index_t lk, const options& opt) {
    const auto& var = to_variant(var_in);
    using V = std::decay_t<decltype(var)>;
    if constexpr (!V::family_type::has_lse)
        require(opt.lse.empty(), who, ": options::lse was given, but the variant's family (e.g. sigmoid) has no log-sum-exp");
    p.lk = lk;
    validate_policy(var.family(), p);
    validate_policy(var.mask(), p);
    validate_policy(var.score(), p);
    validate_policy(var.sink(), p);
    validate_policy(var.router(), p);
}

// The problem check_variant validates against: a step's q and chunk stand in for the cache's keys.
template <class Q, class K, class V, class O>
auto step_problem(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const tensor_view<O>& out,
                  const options& opt) {
    return make_problem<std::remove_const_t<Q>, std::remove_const_t<K>, std::remove_const_t<V>, O>(
        tensor_view<const Q>(q), tensor_view<const K>(k), tensor_view<const V>(v), out, opt);
}

// The old step(q, k, v, out, options, executor) stays a distinct overload: a variant parameter
// never deduces to options.
template <class Var>
inline constexpr bool is_step_variant_v = !std::is_same_v<std::decay_t<Var>, options>;

}  // namespace attune::detail
