#pragma once
// The mask stage: which tiles and keys an item computes, and −inf on the scores its rows do not see.
// Per tile, the mask classifies (empty tiles are skipped, full tiles skip the element test) and, on
// a partial tile of a mask that knows its span, narrows the keys to those some row sees (the 4 sinks
// of a 64-key tile, say). A partial tile is then masked lane-wise when the mask gives each row its
// visible keys as one or two intervals (a vector compare per key against the rows' bounds), else
// element by element through visible(). For many rows, the intervals also bound the GEMM blocks:
// the triangles of diagonal and window-edge tiles that no row sees are not computed.
#include <type_traits>

#include "attune/core/index_context.hpp"
#include "attune/core/row_state.hpp"
#include "attune/kernel/item.hpp"
#include "attune/mask/traits.hpp"
#include "attune/simd/vec.hpp"

namespace attune::kernel {

// Key positions are compared as floats in the lane-wise path: exact below 2^24 tokens.
inline constexpr index_t max_float_exact_position = index_t(1) << 24;

// Keys [n0, n0 + nk) of one tile are computed; cls is the tile's class.
struct key_span {
    tile_class cls;
    index_t n0, nk;
    bool partial() const noexcept { return cls == tile_class::partial; }
};

// Per row and per row vector, the keys (offsets from n0) a partial tile's rows see; first > last:
// none. Null pointers: every row sees the whole span.
struct tile_bounds {
    const index_t *row_first = nullptr, *row_last = nullptr, *vec_first = nullptr, *vec_last = nullptr;
};

template <class Arch, class Mask>
class mask_stage {
    static constexpr int row_intervals = detail::mask_row_intervals<Mask>;
    static constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    const Mask& mask_;
    float *lo_, *hi_, *lo2_, *hi2_;  // the rows' visible intervals [lo, hi] ∪ [lo2, hi2], as floats
    bool lanewise_ = false;

public:
    template <class It>
    mask_stage(const Mask& mask, It& it)
        : mask_(mask), lo_(it.intervals), hi_(it.intervals + it.rp), lo2_(it.intervals + 2 * it.rp), hi2_(it.intervals + 3 * it.rp) {
        if constexpr (row_intervals > 0) {
            lanewise_ = it.p.lk < max_float_exact_position && it.q_first + it.q_span < max_float_exact_position;
            // Each entry written once: rows first, then the padded rows' empty ranges. (Zero-filling
            // everything first and overwriting the rows' entries was miscompiled by GCC 12 at -O3:
            // the fill, turned into memsets, landed after the rows' stores.)
            for (index_t r = 0; r < it.rows; ++r) set_intervals(it.row(r), r);
            for (index_t r = it.rows; r < it.rp; ++r) {
                lo_[r] = lo2_[r] = 0.0f;
                hi_[r] = hi2_[r] = -1.0f;
            }
        }
    }

    // The class of tile [tile0, tile0 + tile_keys) and the keys of it to compute (none: nk = 0).
    template <class It>
    key_span visit(const It& it, index_t tile0, index_t tile_keys) const {
        const tile_context tile{
            it.b, it.hkv, it.q_first, it.q_first + it.q_span - 1, tile0, tile0 + tile_keys - 1, it.R.head[0], it.R.head[it.rows - 1]};
        key_span t{detail::classify_tile(mask_, tile), tile0, tile_keys};
        if (t.cls == tile_class::empty) t.nk = 0;
        if constexpr (detail::mask_has_span<Mask>::value) {
            if (t.partial()) {
                const key_range sp = mask_.span(tile);
                const index_t first = sp.first > tile0 ? sp.first : tile0;
                const index_t last = sp.last < tile0 + tile_keys - 1 ? sp.last : tile0 + tile_keys - 1;
                t.n0 = first;
                t.nk = last < first ? 0 : last - first + 1;
            }
        }
        return t;
    }

    // The bounds of a partial tile of a lane-wise mask, in the item's scratch; none otherwise.
    template <class It>
    tile_bounds bounds(It& it, const key_span& t) const {
        if (!t.partial() || !lanewise_) return {};
        index_t* bd = it.s.bounds.get(2 * it.rp + 2 * (it.rp / W));
        index_t *row_first = bd, *row_last = bd + it.rp, *vec_first = bd + 2 * it.rp, *vec_last = vec_first + it.rp / W;
        const float t0 = static_cast<float>(t.n0), t1 = static_cast<float>(t.n0 + t.nk - 1);
        for (index_t r = 0; r < it.rp; ++r) {
            float f = lo_[r] > t0 ? lo_[r] : t0, l = hi_[r] < t1 ? hi_[r] : t1;
            if constexpr (row_intervals == 2) {
                const float f2 = lo2_[r] > t0 ? lo2_[r] : t0, l2 = hi2_[r] < t1 ? hi2_[r] : t1;
                if (f2 <= l2) hull(f, l, f2, l2);
            }
            row_first[r] = f <= l ? static_cast<index_t>(f) - t.n0 : 1;
            row_last[r] = f <= l ? static_cast<index_t>(l) - t.n0 : 0;
        }
        for (index_t c = 0; c < it.rp / W; ++c) {
            index_t f = 1, l = 0;
            for (index_t r = c * W; r < (c + 1) * W; ++r)
                if (row_first[r] <= row_last[r]) hull(f, l, row_first[r], row_last[r]);
            vec_first[c] = f;
            vec_last[c] = l;
        }
        return {row_first, row_last, vec_first, vec_last};
    }

    // −inf on the scores S[0..nk)[rows] of a partial tile that the rows do not see.
    template <class It>
    void apply(It& it, const key_span& t) const {
        if (!t.partial()) return;
        if (lanewise_) return apply_lanewise(it, t);
        for (index_t r = 0; r < it.rows; ++r) {
            index_context c = it.row(r);
            for (index_t n = 0; n < t.nk; ++n) {
                c.k_pos = t.n0 + n;
                if (!mask_.visible(c)) it.S[n * it.rp + r] = neg_inf;
            }
        }
    }

private:
    template <class T>
    static void hull(T& f, T& l, T f2, T l2) {  // [f, l] ← the hull of [f, l] (maybe empty) and [f2, l2]
        if (f > l) f = f2, l = l2;
        else f = f < f2 ? f : f2, l = l > l2 ? l : l2;
    }

    void set_intervals(const index_context& row, index_t r) {
        const auto put = [](const key_range& kr, float& l0, float& h0) {
            l0 = static_cast<float>(kr.first < 0 ? -1 : kr.first);
            h0 = static_cast<float>(kr.last >= max_float_exact_position ? max_float_exact_position : kr.last);
        };
        if constexpr (row_intervals == 1) {
            put(mask_.keys(row), lo_[r], hi_[r]);
            lo2_[r] = 0.0f, hi2_[r] = -1.0f;  // no second interval
        } else if constexpr (row_intervals == 2) {
            const key_range_pair kp = mask_.key_pair(row);
            put(kp.first, lo_[r], hi_[r]);
            put(kp.second, lo2_[r], hi2_[r]);
        } else {
            (void)row, (void)r, (void)put;
        }
    }

    template <class It>
    void apply_lanewise(It& it, const key_span& t) const {
        for (index_t n = 0; n < t.nk; ++n) {
            const float kpos = static_cast<float>(t.n0 + n);
            for (index_t r = 0; r < it.rp; r += W) {
                float* sp = it.S + n * it.rp + r;
                const auto sv = simd::load_aligned<Arch>(sp);
                const auto lo = simd::load_aligned<Arch>(lo_ + r), hi = simd::load_aligned<Arch>(hi_ + r);
                if constexpr (row_intervals == 1) simd::store_aligned<Arch>(sp, simd::mask_outside(sv, kpos, lo, hi));
                else
                    simd::store_aligned<Arch>(
                        sp, simd::mask_outside2(sv, kpos, lo, hi, simd::load_aligned<Arch>(lo2_ + r), simd::load_aligned<Arch>(hi2_ + r)));
            }
        }
    }
};

}  // namespace attune::kernel
