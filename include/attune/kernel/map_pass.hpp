#pragma once
// The map pass: the probe pass's loop (kernel/probe_pass.hpp: the engine's items with the P·V step
// replaced by an observer) writing the probabilities p_ij = exp(s_ij − LSE_i) of chosen rows of
// chosen query heads into the caller's map, or adding w·p_ij into one map shared by the chosen
// heads (their mean, w = 1/heads). Only chosen rows are written; rows of other heads are not
// computed (the caller's router is restricted to the chosen heads) and query tiles without a chosen
// row are skipped. The map must be zeroed by the caller: keys a mask hides are never visited.
// One parallel item per (batch, query tile, key split) runs the kv heads in order, so every map
// row is written by one thread and a mean adds its heads in a fixed order (no races, results
// independent of the thread count).
#include <cstddef>
#include <limits>

#include "attune/exec/executor.hpp"
#include "attune/exec/region.hpp"
#include "attune/kernel/engine.hpp"
#include "attune/kernel/workspace.hpp"
#include "attune/simd/math.hpp"

namespace attune::kernel {

// Where the pass writes: lane (batch b, query head h, token t) goes to map row
// data + b·batch_stride + head_slot[h]·head_stride + row_slot[t]·row_stride (head_slot −1: not
// chosen; with mean, every chosen head's slot is 0), each value times `weight`.
struct map_outputs {
    float* data = nullptr;
    index_t batch_stride = 0, head_stride = 0, row_stride = 0;
    const index_t* head_slot = nullptr;    // [q_heads]
    const index_t* row_slot = nullptr;     // [lq]
    const index_t* rows_before = nullptr;  // [lq + 1]: chosen rows among tokens [0, t)
    float weight = 1.0f;
};

// Per-thread lanes of one item: the rows' LSE and map rows.
struct map_scratch {
    buffer lse;
    basic_buffer<float*> dst;
    static map_scratch& local() {
        thread_local level_set<map_scratch> s;  // per nesting level (kernel/scratch.hpp)
        return s.item();
    }
};

// The observer the engine calls for one item (begin, tile per key tile, end).
class map_observer {
public:
    map_observer(const map_outputs& out, tensor_view<const float> lse) : out_(out), lse_view_(lse) {}

    template <class Arch, class P>
    void begin(const P& p, index_t b, const item_rows& R, index_t rows, index_t rp) {
        map_scratch& s = map_scratch::local();
        rp_ = rp, rows_ = rows;
        lse_ = s.lse.get(rp), dst_ = s.dst.get(rp);
        for (index_t r = 0; r < rp; ++r) {
            dst_[r] = nullptr;
            lse_[r] = std::numeric_limits<float>::infinity();  // p = exp(s − inf) = 0
            if (r >= rows) continue;
            const index_t hs = out_.head_slot[R.head[r]], rs = out_.row_slot[R.token[r]];
            const float l = *lse_view_.row(b, R.head[r], R.token[r]);
            // Rows with nothing visible (LSE −inf) keep their zeros.
            if (hs < 0 || rs < 0 || l == neg_inf) continue;
            lse_[r] = l;
            dst_[r] = out_.data + b * out_.batch_stride + hs * out_.head_stride + rs * out_.row_stride;
        }
        (void)p;
    }

    // S: the tile's masked scores, key-major (S[n·rp + r]) for keys [n0, n0 + nk). Overwritten.
    template <class Arch>
    void tile(float* S, index_t n0, index_t nk, bool) {
        constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
        for (index_t r = 0; r < rp_; r += W) {
            bool any = false;
            for (index_t i = r; i < r + W; ++i) any = any || dst_[i] != nullptr;
            if (!any) continue;
            const auto lse = simd::load_aligned<Arch>(lse_ + r);
            for (index_t n = 0; n < nk; ++n) {
                float* sp = S + n * rp_ + r;
                simd::store_aligned<Arch>(sp, simd::exp(simd::load_aligned<Arch>(sp) - lse));
            }
            for (index_t i = r; i < r + W && i < rows_; ++i) {
                float* d = dst_[i];
                if (d == nullptr) continue;
                for (index_t n = 0; n < nk; ++n) d[n0 + n] += out_.weight * S[n * rp_ + i];
            }
        }
    }

    void end() {}

private:
    const map_outputs& out_;
    tensor_view<const float> lse_view_;
    index_t rp_ = 0, rows_ = 0;
    float* lse_ = nullptr;
    float** dst_ = nullptr;
};

// Runs the map pass over every (batch, query tile, key split) holding a chosen row; the map rows
// must be zeroed by the caller.
template <class Arch, class Variant, class Exec, class P>
void run_map(const P& p, const Variant& var, const Exec& exec, const work_plan& plan, tensor_view<const float> lse,
             const map_outputs& out) {
    const index_t items = p.batch * plan.q_tiles * plan.splits;
    ::attune::detail::parallel_for(exec, items, [&](index_t it) {
        const index_t split = it % plan.splits;
        const index_t qt = plan.q_tiles - 1 - (it / plan.splits) % plan.q_tiles;  // long items first (causal)
        const index_t b = it / (plan.splits * plan.q_tiles);
        const index_t i0 = qt * plan.q_tile, i1 = i0 + plan.q_tile < p.lq ? i0 + plan.q_tile : p.lq;
        if (out.rows_before[i1] == out.rows_before[i0]) return;  // no chosen row in the tile
        // An item of the engine's loop: a policy calling attention from inside it gets the next
        // level's scratch (kernel/scratch.hpp).
        const item_level level;
        const worker_lease lease(p.ws);
        map_observer obs(out, lse);
        for (index_t hkv = 0; hkv < p.kv_heads; ++hkv) run_item<Arch>(p, var, plan, b, hkv, qt, split, nullptr, &obs);
    });
}

}  // namespace attune::kernel
