#pragma once
// Block-sparse mask: a CSR list of visible kv blocks per query block (FlexAttention's BlockMask,
// FlashAttention's block-sparse layouts).
//
//   attune::block_sparse<> m(q_block, k_block, row_offsets, col_indices, full);
//
// Query block r lists kv blocks col_indices[row_offsets[r] .. row_offsets[r + 1]); entry e is a
// "full" block when full[e] != 0 (every element visible, no per-element test) and a "partial" block
// otherwise (an element is visible when the inner mask, causal by default, sees it). Blocks not
// listed are invisible; a query block with no entries gives zero rows (LSE −inf).
//
// Block coordinates are in absolute positions, bottom-right aligned like every mask (the last query
// sits at the last key):
// query block r holds query positions [r·q_block, (r+1)·q_block) with p = Lk − Lq + i, and kv
// block c holds keys [c·k_block, (c+1)·k_block). So one layout built for the full sequence serves
// prefill, chunked prefill and decode alike (a decode query at p = Lk − 1 reads the last block row);
// for Lq = Lk it is the usual top-left indexing. Positions past the listed blocks see nothing.
// One layout serves every batch and head.
//
// The engine's tiles (64 keys × a few query rows) need not line up with the user's blocks:
// classify() clips the tile to every block it overlaps and combines those pieces' classes (empty
// when all are empty, full when all are full). visible() and classify() read the same block grid and
// the inner mask's own visible()/classify().
#include <cstdint>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/mask/causal.hpp"
#include "attune/mask/interval.hpp"
#include "attune/mask/traits.hpp"

namespace attune {

/// Block-sparse mask: a CSR list of visible kv blocks per query block, each block full or tested
/// with the inner mask `Inner` (causal by default); see the top of this file.
template <class Inner = causal>
class block_sparse {
public:
    using policy_kind = mask_kind;
    static constexpr bool is_none = false;
    using hooks = provides<hook::classify, hook::validate>;
    using parts = std::tuple<Inner>;  ///< the inner mask, for the variant's checks
    /// What the layout says of a (query block, kv block) cell.
    enum class block : std::uint8_t {
        none = 0,     ///< not listed: nothing visible
        partial = 1,  ///< listed: visible where the inner mask sees it
        full = 2      ///< listed as full: every element visible
    };

    /// Default: no blocks, nothing visible (variant<> keeps a default-constructed copy; no allocation).
    block_sparse() : grid_(empty_grid()) {}
    /// A layout of query blocks of `q_block` positions and kv blocks of `k_block` keys: query block
    /// r lists the kv blocks col_indices[e] for e in [row_offsets[r], row_offsets[r + 1]), entry e full
    /// when `full[e] != 0`; the partial blocks are tested with `inner`. Throws attune::error on a
    /// malformed CSR structure.
    block_sparse(index_t q_block, index_t k_block, const std::vector<index_t>& row_offsets, const std::vector<index_t>& col_indices,
                 const std::vector<std::uint8_t>& full, Inner inner = {})
        : grid_(std::make_shared<grid>()), inner_(std::move(inner)) {
        detail::require(q_block >= 1 && k_block >= 1, "block_sparse: block sizes (q_block, k_block) = (", q_block, ", ", k_block,
                        ") must be ≥ 1");
        detail::require(!row_offsets.empty(), "block_sparse: row_offsets needs one entry per query block plus one");
        detail::require(row_offsets.front() == 0, "block_sparse: row_offsets must start at 0");
        detail::require(full.size() == col_indices.size(), "block_sparse: ", full.size(), " full flags for ", col_indices.size(),
                        " column indices");
        // The whole CSR structure is checked before any of it is used as an index.
        const auto entries = static_cast<index_t>(col_indices.size());
        detail::require(row_offsets.back() == entries, "block_sparse: row_offsets ends at ", row_offsets.back(), " but there are ", entries,
                        " column indices");
        for (std::size_t r = 1; r < row_offsets.size(); ++r)
            detail::require(row_offsets[r - 1] <= row_offsets[r] && row_offsets[r] <= entries, "block_sparse: row_offsets[", r,
                            "] = ", row_offsets[r], " must be in [row_offsets[", r - 1, "] = ", row_offsets[r - 1], ", ", entries,
                            "] (non-decreasing, within the column indices)");
        grid& g = *grid_;
        g.q_block = q_block;
        g.k_block = k_block;
        g.q_blocks = static_cast<index_t>(row_offsets.size()) - 1;
        for (index_t c : col_indices) {
            detail::require(c >= 0, "block_sparse: col_indices has a negative kv block index ", c);
            g.k_blocks = detail::max_of(g.k_blocks, detail::checked_add(c, 1, "block_sparse: col_indices"));
        }
        // The positions the layout covers must be representable (classify() works in positions).
        (void)detail::checked_mul(g.q_blocks, q_block, "block_sparse: q_block × query blocks");
        (void)detail::checked_mul(g.k_blocks, k_block, "block_sparse: k_block × kv blocks (col_indices)");
        detail::checked_assign(g.cells, detail::checked_mul(g.q_blocks, g.k_blocks, "block_sparse: query blocks × kv blocks (col_indices)"),
                               block::none, "block_sparse: query blocks × kv blocks (col_indices)");
        for (index_t r = 0; r < g.q_blocks; ++r) {
            const index_t a = row_offsets[static_cast<std::size_t>(r)], b = row_offsets[static_cast<std::size_t>(r) + 1];
            for (index_t e = a; e < b; ++e) {
                block& cell = g.cells[static_cast<std::size_t>(r * g.k_blocks + col_indices[static_cast<std::size_t>(e)])];
                detail::require(cell == block::none, "block_sparse: kv block ", col_indices[static_cast<std::size_t>(e)],
                                " listed twice for query block ", r, " (col_indices)");
                cell = full[static_cast<std::size_t>(e)] != 0 ? block::full : block::partial;
            }
        }
    }

    index_t q_block() const noexcept { return grid_->q_block; }    ///< query positions per block
    index_t k_block() const noexcept { return grid_->k_block; }    ///< keys per block
    index_t q_blocks() const noexcept { return grid_->q_blocks; }  ///< query blocks in the layout
    index_t k_blocks() const noexcept { return grid_->k_blocks; }  ///< kv blocks in the layout (1 + the largest index)
    const Inner& inner() const noexcept { return inner_; }         ///< the mask of the partial blocks
    /// The block holding query position p and key j (none outside the layout).
    block at(index_t p, index_t j) const noexcept {
        const grid& g = *grid_;
        if (p < 0 || j < 0) return block::none;
        const index_t r = p / g.q_block, c = j / g.k_block;
        if (r >= g.q_blocks || c >= g.k_blocks) return block::none;
        return g.cells[static_cast<std::size_t>(r * g.k_blocks + c)];
    }

    /// Whether query position c.q_pos sees key c.k_pos.
    bool visible(const index_context& c) const {
        const block k = at(c.q_pos, c.k_pos);
        return k == block::full || (k == block::partial && inner_.visible(c));
    }

    /// The class of a tile, from every block it overlaps.
    tile_class classify(const tile_context& t) const {
        const grid& g = *grid_;
        const index_t q_end = g.q_blocks * g.q_block - 1, k_end = g.k_blocks * g.k_block - 1;  // last covered positions
        const index_t q0 = detail::max_of(t.q_first, 0), q1 = detail::min_of(t.q_last, q_end);
        const index_t k0 = detail::max_of(t.k_first, 0), k1 = detail::min_of(t.k_last, k_end);
        if (q0 > q1 || k0 > k1) return tile_class::empty;
        // Pieces of the tile outside the layout see nothing: the tile cannot be full.
        bool all_full = q0 == t.q_first && q1 == t.q_last && k0 == t.k_first && k1 == t.k_last;
        bool any_visible = false;
        for (index_t r = q0 / g.q_block; r <= q1 / g.q_block; ++r)
            for (index_t c = k0 / g.k_block; c <= k1 / g.k_block; ++c) {
                const block k = g.cells[static_cast<std::size_t>(r * g.k_blocks + c)];
                tile_class piece = tile_class::empty;
                if (k == block::full) piece = tile_class::full;
                else if (k == block::partial)
                    piece = detail::classify_tile(
                        inner_, detail::clip(t, r * g.q_block, (r + 1) * g.q_block - 1, c * g.k_block, (c + 1) * g.k_block - 1).tile);
                all_full = all_full && piece == tile_class::full;
                any_visible = any_visible || piece != tile_class::empty;
                if (any_visible && !all_full) return tile_class::partial;
            }
        return all_full ? tile_class::full : any_visible ? tile_class::partial : tile_class::empty;
    }

    /// The layout is in absolute positions and positions past it see nothing, so any (Lq, Lk) is
    /// valid; the inner mask checks its own parameters.
    template <class Shape>
    void validate(const Shape& p) const {
        detail::validate_policy(inner_, p);
    }

private:
    struct grid {
        index_t q_block = 1, k_block = 1, q_blocks = 0, k_blocks = 0;
        std::vector<block> cells;  // [q_blocks][k_blocks]
    };
    static const std::shared_ptr<grid>& empty_grid() {
        static const std::shared_ptr<grid> empty = std::make_shared<grid>();
        return empty;
    }
    std::shared_ptr<grid> grid_;
    Inner inner_{};
};

}  // namespace attune
