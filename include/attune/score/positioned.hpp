#pragma once
/// @file
/// positioned_score<Mod>: any score modifier, evaluated on position ids (core/positions.hpp)
/// instead of the tokens' indices: s' = Mod(s) at q_pos = ids[query token], k_pos = ids[key token].
///
///     auto pos = attune::position_ids::dense(ids.data(), B, Lk);   // ids of every token, [B][Lk]
///     attune::attention(q, k, v, out, attune::variant(attune::causal{}, attune::with_positions(attune::alibi{slopes}, pos)));
///
/// ALiBi's distances in a StreamingLLM cache are then in-cache distances (Xiao et al., 2024), and
/// candidates packed after a shared prefix all get the distances of a candidate placed right after
/// it (Uni-Encoder).
///
/// Per element the inner modifier is called with the ids (and the row's query, for a query-dependent
/// one). Tile-wise the inner modifier keeps its own fast path: the item's rows are handed to it with
/// their query ids as positions (score_rows with q_pos_lanes = ids, tokens = ids, q_pos0 = 0, and
/// q_first / nq the ids' bounds), and a tile's keys are cut into runs of consecutive ids (ids[j + 1] =
/// ids[j] + 1), each handed to the inner tile hook as one key range starting at its first id. With
/// identity, in-cache or prefix-shared ids a tile is one or two runs; scattered ids give runs of one
/// key (still lane-wise over the rows, but a call per key).
/// Positions reach the inner tile hooks as floats, so ids must lie in [0, 2^24) (validated per call,
/// with the coverage: a row per batch, Lk ids). The inner modifier's validate() sees the call in
/// position space (position_ids::id_shape).
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include "attune/core/buffer.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/core/positions.hpp"
#include "attune/score/modifier.hpp"

namespace attune {

/// A score modifier on position ids (see the top of this file).
template <class Mod>
class positioned_score {
    static_assert(std::is_same_v<typename Mod::policy_kind, score_kind>,
                  "attune::positioned_score: the inner policy must be a score modifier");

public:
    using policy_kind = score_kind;
    static constexpr bool is_none = false;
    using hooks = detail::join_hooks_t<provides<hook::prepare, hook::apply_tile, hook::validate>,
                                       detail::hooks_if<score_hooks::takes_query_v<Mod>, hook::query>>;
    using parts = std::tuple<Mod>;  ///< the inner modifier, for the variant's checks
    /// The rows' query ids (as floats), then the inner modifier's lane data.
    static constexpr int lane_arrays = 1 + score_hooks::lane_arrays_v<Mod>;
    /// Ids reach the inner tile hooks as floats: exact below 2^24.
    static constexpr index_t max_id = (index_t(1) << 24) - 1;

    positioned_score() = default;  ///< the inner modifier's default, no ids (valid only for calls with no keys)
    /// `inner` on the ids of `ids`.
    positioned_score(Mod inner, position_ids ids) : inner_(std::move(inner)), ids_(ids) {}

    const Mod& inner() const noexcept { return inner_; }       ///< the wrapped modifier
    const position_ids& ids() const noexcept { return ids_; }  ///< the position ids

    /// The inner modifier on the two tokens' ids. (Return types name the inner call, so a
    /// query-only inner modifier leaves this form out.)
    template <class T>
    auto operator()(T s, const index_context& c) const -> decltype(static_cast<T>(std::declval<const Mod&>()(s, c))) {
        return static_cast<T>(inner_(s, at_ids(c)));
    }
    /// The same for a query-dependent inner modifier (score/modifier.hpp, form 3).
    template <class T>
    auto operator()(T s, const index_context& c, const query_row<T>& q) const
        -> decltype(static_cast<T>(std::declval<const Mod&>()(s, c, q))) {
        return static_cast<T>(inner_(s, at_ids(c), q));
    }

    /// The rows' query ids, then the inner modifier's own lane data from the remapped rows.
    void prepare(const score_rows& rows, float* lanes) const {
        index_t* tokens = token_scratch().get(rows.rows_padded);
        const score_rows at = remap(rows, lanes, tokens);
        for (index_t r = 0; r < rows.rows_padded; ++r) lanes[r] = static_cast<float>(tokens[r]);
        score_hooks::prepare(inner_, at, lanes + rows.rows_padded);
    }

    /// The inner modifier on the tile, by its fastest path, once per run of consecutive key ids.
    template <class Arch>
    void apply_tile(float* S, index_t k_first, index_t nk, const score_rows& rows, const float* lanes) const {
        const index_t rp = rows.rows_padded;
        const score_rows at = remap(rows, lanes, token_scratch().get(rp));
        const std::int32_t* key = ids_.row(rows.batch) + k_first;
        for (index_t n0 = 0; n0 < nk;) {
            index_t n1 = n0 + 1;
            while (n1 < nk && key[n1] == key[n1 - 1] + 1) ++n1;
            score_hooks::apply<Arch>(inner_, S + n0 * rp, key[n0], n1 - n0, at, lanes + rp);
            n0 = n1;
        }
    }

    /// Throws attune::error unless the ids cover the call (a row per batch, Lk ids, all in
    /// [0, 2^24)), then validates the inner modifier against the call in position space.
    template <class Shape>
    void validate(const Shape& p) const {
        const position_extent e = ids_.check_shape(p, "positioned_score", max_id);
        detail::validate_policy(inner_, position_ids::id_shape(p, e));
    }

private:
    index_context at_ids(const index_context& c) const noexcept {
        const std::int32_t* row = ids_.row(c.batch);
        return index_context{c.batch, c.q_head, c.kv_head, row[c.q_pos], row[c.k_pos]};
    }

    // The item's rows with ids for positions: q_pos(r) = tokens[r] = lane r's id (q_pos0 0), lanes
    // past the rows at the smallest id. When the item's tokens have consecutive ids the rows keep
    // their head-major layout (shifted); otherwise q_first / nq only bound the ids, as with a router.
    score_rows remap(const score_rows& rows, const float* q_ids, index_t* tokens) const {
        const std::int32_t* row = ids_.row(rows.batch);
        index_t lo = 0, hi = 0;
        for (index_t r = 0; r < rows.rows; ++r) {
            // A call without keys still prepares its items (its rows then sit at negative token
            // indices, with no ids: the ids were checked for no index at all): 0 for those.
            const index_t t = rows.q_pos(r), id = t >= 0 ? row[t] : 0;
            tokens[r] = id;
            if (r == 0 || id < lo) lo = id;
            if (r == 0 || id > hi) hi = id;
        }
        for (index_t r = rows.rows; r < rows.rows_padded; ++r) tokens[r] = lo;
        score_rows at = rows;
        at.q_pos_lanes = q_ids;
        at.tokens = tokens;
        at.q_pos0 = 0;
        bool consecutive = rows.nq > 0 && rows.q_first >= 0;
        const index_t first = consecutive ? row[rows.q_first] : 0;
        for (index_t t = 1; t < rows.nq && consecutive; ++t) consecutive = row[rows.q_first + t] == first + t;
        if (consecutive) {
            at.q_first = first;
        } else {
            at.q_first = lo;
            at.nq = hi - lo + 1;
            at.head_major = false;
        }
        return at;
    }

    // Lane r's id as an index, for score_rows::tokens; per thread, rewritten by every call.
    static detail::grow_buffer<index_t>& token_scratch() {
        thread_local detail::grow_buffer<index_t> b;
        return b;
    }

    Mod inner_{};
    position_ids ids_{};
};

/// `mod` evaluated on the position ids `ids`: positioned_score<Mod>.
template <class Mod, std::enable_if_t<std::is_same_v<typename Mod::policy_kind, score_kind>, int> = 0>
positioned_score<Mod> with_positions(Mod mod, const position_ids& ids) {
    return positioned_score<Mod>(std::move(mod), ids);
}

}  // namespace attune
