#pragma once
/// @file
/// One block of a distributed attention: the queries of tokens [q.first, q.first + q.count) against
/// the keys of tokens [k.first, k.first + k.count) of a sequence, under a mask of the whole
/// sequence's positions, with (out, LSE) so that the blocks of a row merge with ⊕ (Milakov &
/// Gimelshein, 2018; Dao et al., FlashAttention, 2022, eq. of the rescaled partial sums). The block
/// is classified first by the mask's own tile rule on global positions, so that:
///  - a block no query of which sees any key (causal: keys after every query) costs no kernel call;
///  - a block every query of which sees every key runs unmasked;
///  - a causal block whose last query and last key are the same token runs with attune::causal
///    itself (bottom-right alignment is then the global rule);
///  - any other block runs with the mask at the tokens' positions (mask/shifted.hpp).
/// Needs no MPI.
#include <algorithm>
#include <type_traits>

#include "attune/attention.hpp"
#include "attune/exec/region.hpp"
#include "attune/distributed/shard_plan.hpp"
#include "attune/mask/causal.hpp"
#include "attune/mask/none.hpp"
#include "attune/mask/shifted.hpp"
#include "attune/mask/traits.hpp"

namespace attune::distributed::detail {

/// The class of the whole block under `mask` at global positions, over every batch and kv head:
/// empty or full only when every (batch, head) says so.
template <class Mask>
tile_class block_class(const Mask& mask, index_t batch, index_t kv_heads, const token_segment& q, const token_segment& k) {
    if (q.count == 0 || k.count == 0) return tile_class::empty;
    bool all_empty = true, all_full = true;
    for (index_t b = 0; b < batch; ++b)
        for (index_t h = 0; h < kv_heads; ++h) {
            const tile_class c =
                attune::detail::classify_tile(mask, tile_context{b, h, q.first, q.first + q.count - 1, k.first, k.first + k.count - 1});
            all_empty = all_empty && c == tile_class::empty;
            all_full = all_full && c == tile_class::full;
        }
    return all_empty ? tile_class::empty : all_full ? tile_class::full : tile_class::partial;
}

/// Attention of the block (see the top of this file) into out / lse (float), or nothing when the
/// block is empty; returns whether it ran. `length`: tokens of the whole sequence.
template <class Arch, class Mask, class Exec, class TQ, class TK, class TV>
bool attend_block(const Mask& mask, index_t length, const tensor_view<const TQ>& q, const token_segment& qs, const tensor_view<const TK>& k,
                  const tensor_view<const TV>& v, const token_segment& ks, const tensor_view<float>& out, const tensor_view<float>& lse,
                  const options& base, const Exec& exec) {
    const tile_class c = block_class(mask, q.batch(), k.heads(), qs, ks);
    if (c == tile_class::empty) return false;
    options o = base;
    o.lse = lse;
    if (c == tile_class::full) {
        attune::attention<Arch>(q, k, v, out, variant<no_mask>{}, o, exec);
    } else if constexpr (Mask::is_none) {
        attune::attention<Arch>(q, k, v, out, variant<no_mask>{}, o, exec);
    } else if (std::is_same_v<Mask, causal> && qs.first + qs.count == ks.first + ks.count) {
        attune::attention<Arch>(q, k, v, out, variant<causal>{}, o, exec);
    } else {
        const variant<shifted_mask<Mask>> shifted(at_positions(mask, qs.first, qs.count, ks.first, ks.count, length));
        attune::attention<Arch>(q, k, v, out, shifted, o, exec);
    }
    return true;
}

/// Calls f(b, h, t0, t1) for runs of at most 256 tokens of every (batch, head) of [B, H, n, ·], on
/// the executor's threads: the merges and copies around the blocks' attention are row-parallel.
template <class Exec, class F>
void for_token_runs(const Exec& exec, index_t batch, index_t heads, index_t tokens, F&& f) {
    constexpr index_t run = 256;
    const index_t runs = (tokens + run - 1) / run;
    attune::detail::parallel_for(exec, batch * heads * runs, [&](index_t i) {
        const index_t r = i % runs, bh = i / runs;
        f(bh / heads, bh % heads, r * run, std::min(tokens, (r + 1) * run));
    });
}

/// Rows [first, first + count) of a view's tokens.
template <class T>
tensor_view<T> token_rows(const tensor_view<T>& v, index_t first, index_t count) {
    return tensor_view<T>(v.data() + first * v.strides()[2], {v.batch(), v.heads(), count, v.dim()}, v.strides());
}
/// Tokens [t0, t1) of batch b, head h of a view, as a [1, 1, t1 − t0, dim] view.
template <class T>
tensor_view<T> head_rows(const tensor_view<T>& v, index_t b, index_t h, index_t t0, index_t t1) {
    return tensor_view<T>(v.data() + b * v.strides()[0] + h * v.strides()[1] + t0 * v.strides()[2], {1, 1, t1 - t0, v.dim()}, v.strides());
}

}  // namespace attune::distributed::detail
