#pragma once
// The probe pass: the tile engine's loop (same items, masks, score modifiers, GQA rows, routers,
// key splits) with the P·V step replaced by an observer. Given the LSE of a forward pass, each
// masked score tile becomes probabilities p = exp(s − LSE) in registers and is reduced to
//   per key, per query head:  Σ_i p_ik and the number of queries that see k (column statistics);
//   per row:                  Σ_j p_ij, Σ_j p_ij·s_ij (entropy = LSE·Σp − Σp·s) and the top-1 key.
// Nothing of size Lq × Lk is stored. Column sums of one (batch, kv head) are summed over query
// tiles: items of the same "slot" (every slots-th query tile) add into one partial row of Lk
// floats, and the slots are summed at the end in a fixed order, so results do not depend on the
// thread count or schedule.
#include <algorithm>
#include <cstddef>

#include "attune/exec/executor.hpp"
#include "attune/kernel/engine.hpp"
#include "attune/kernel/workspace.hpp"
#include "attune/simd/math.hpp"
#include "attune/exec/region.hpp"

namespace attune::kernel {

// Where the pass writes, all float and contiguous. Column arrays are [B][Hq][slots][Lk] (summed
// over slots afterwards); row arrays [B][Hq][Lq][splits] (combined over key splits afterwards).
struct probe_outputs {
    float* column_sum = nullptr;
    float* column_count = nullptr;
    index_t slots = 1;
    float* row_mass = nullptr;
    float* row_ps = nullptr;
    float* row_best = nullptr;
    float* row_best_key = nullptr;  // key position as float (exact below 2^24), −1: none
    index_t splits = 1;
    index_t batch = 0, q_heads = 0, lq = 0, lk = 0;
};

// Per-thread lanes of one item: the rows' LSE, validity and running row statistics.
struct probe_scratch {
    buffer lse, valid, mass, ps, best, best_key;
    basic_buffer<index_t> segments;  // [head, first row, last row + 1] per head present in the item
    static probe_scratch& local() {
        thread_local level_set<probe_scratch> s;  // per nesting level (kernel/scratch.hpp)
        return s.item();
    }
};

// The observer the engine calls for one item (begin, tile per key tile, end).
class probe_observer {
public:
    probe_observer(const probe_outputs& out, tensor_view<const float> lse, index_t slot, index_t split)
        : out_(out), lse_view_(lse), slot_(slot), split_(split) {}

    template <class Arch, class P>
    void begin(const P& p, index_t b, const item_rows& R, index_t rows, index_t rp) {
        probe_scratch& s = probe_scratch::local();
        b_ = b, R_ = &R, rows_ = rows, rp_ = rp;
        lse_ = s.lse.get(rp), valid_ = s.valid.get(rp), mass_ = s.mass.get(rp), ps_ = s.ps.get(rp);
        best_ = s.best.get(rp), best_key_ = s.best_key.get(rp);
        for (index_t r = 0; r < rp; ++r) {
            // Padding rows and rows with nothing visible (LSE −inf) get LSE +inf: p = exp(s − inf) = 0.
            const float l = r < rows ? *lse_view_.row(b, R.head[r], R.token[r]) : neg_inf;
            lse_[r] = l == neg_inf ? std::numeric_limits<float>::infinity() : l;
            valid_[r] = r < rows && l != neg_inf ? 1.0f : 0.0f;
            mass_[r] = ps_[r] = 0.0f;
            best_[r] = neg_inf;
            best_key_[r] = -1.0f;
        }
        // Rows are head-major: one run of consecutive rows per query head.
        index_t* seg = s.segments.get(3 * (rows + 1));
        segs_ = 0;
        for (index_t r = 0; r < rows; ++r) {
            if (segs_ == 0 || seg[3 * (segs_ - 1)] != R.head[r]) {
                seg[3 * segs_] = R.head[r];
                seg[3 * segs_ + 1] = r;
                ++segs_;
            }
            seg[3 * (segs_ - 1) + 2] = r + 1;
        }
        seg_ = seg;
        (void)p;
    }

    // S: the tile's masked scores, key-major (S[n·rp + r]) for keys [n0, n0 + nk). Overwritten.
    // full: the mask admits every key of the tile for every row (counts need no element test).
    template <class Arch>
    void tile(float* S, index_t n0, index_t nk, bool full) {
        if (out_.row_mass != nullptr) {
            if (full) tile_rows<Arch, true, true>(S, n0, nk);
            else tile_rows<Arch, true, false>(S, n0, nk);
        } else {
            if (full) tile_rows<Arch, false, true>(S, n0, nk);
            else tile_rows<Arch, false, false>(S, n0, nk);
        }
        if (out_.column_sum == nullptr) return;
        constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
        using V = simd::vec<Arch>;
        const V zero = simd::broadcast<Arch>(0.0f);
        const float* vis = full ? nullptr : probe_scratch_vis(0);
        // Column statistics per query head: the sum over the head's run of rows, per key.
        for (index_t g = 0; g < segs_; ++g) {
            const index_t h = seg_[3 * g], r0 = seg_[3 * g + 1], r1 = seg_[3 * g + 2];
            const std::size_t base = static_cast<std::size_t>(((b_ * out_.q_heads + h) * out_.slots + slot_) * out_.lk + n0);
            float* cs = out_.column_sum + base;
            float* cc = out_.column_count + base;
            const bool vector_run = r0 % W == 0 && (r1 - r0) % W == 0;
            float seen_rows = 0.0f;  // a full tile: every valid row of the head sees every key
            for (index_t r = r0; r < r1; ++r) seen_rows += valid_[r];
            for (index_t n = 0; n < nk; ++n) {
                const float* pr = S + n * rp_;
                const float* vr = full ? nullptr : vis + n * rp_;  // no arithmetic on a null pointer
                float sum = 0.0f, count = 0.0f;
                if (vector_run) {
                    V a = zero, c = zero;
                    for (index_t r = r0; r < r1; r += W) a += simd::load_aligned<Arch>(pr + r);
                    sum = simd::reduce_add(a);
                    if (full) {
                        count = seen_rows;
                    } else {
                        for (index_t r = r0; r < r1; r += W) c += simd::load_aligned<Arch>(vr + r);
                        count = simd::reduce_add(c);
                    }
                } else {
                    for (index_t r = r0; r < r1; ++r) sum += pr[r];
                    if (full) count = seen_rows;
                    else
                        for (index_t r = r0; r < r1; ++r) count += vr[r];
                }
                cs[n] += sum;
                cc[n] += count;
            }
        }
    }

    // p = exp(s − LSE) in place and, per row, mass, Σp·s and the top-1 (Rows), and the visibility
    // of each (key, row) for the column counts (unless Full: every row sees every key). Rows with
    // LSE −inf have LSE lane +inf (p = 0; they see nothing, so their scores are −inf); padding
    // rows are outside every head's run of rows and never written out.
    template <class Arch, bool Rows, bool Full>
    void tile_rows(float* S, index_t n0, index_t nk) {
        constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
        using V = simd::vec<Arch>;
        const V zero = simd::broadcast<Arch>(0.0f), one = simd::broadcast<Arch>(1.0f);
        const V minus_inf = simd::broadcast<Arch>(neg_inf);
        float* vis = Full ? nullptr : probe_scratch_vis(nk * rp_);
        for (index_t r = 0; r < rp_; r += W) {
            const V lse = simd::load_aligned<Arch>(lse_ + r);
            V mass = zero, ps = zero, best = zero, key = zero;
            if constexpr (Rows) {
                mass = simd::load_aligned<Arch>(mass_ + r), ps = simd::load_aligned<Arch>(ps_ + r);
                best = simd::load_aligned<Arch>(best_ + r), key = simd::load_aligned<Arch>(best_key_ + r);
            }
            for (index_t n = 0; n < nk; ++n) {
                float* sp = S + n * rp_ + r;
                const V s = simd::load_aligned<Arch>(sp);
                const V p = simd::exp(s - lse);
                if constexpr (Rows) {
                    mass += p;
                    ps += p * simd::replace_neg_inf(s, 0.0f);
                    const V kpos = simd::broadcast<Arch>(static_cast<float>(n0 + n));
                    key = simd::select_greater(s, best, kpos, key);  // strict: the first maximum wins
                    best = simd::select_greater(s, best, s, best);
                }
                simd::store_aligned<Arch>(sp, p);
                if constexpr (!Full) simd::store_aligned<Arch>(vis + n * rp_ + r, simd::select_greater(s, minus_inf, one, zero));
            }
            if constexpr (Rows) {
                simd::store_aligned<Arch>(mass_ + r, mass);
                simd::store_aligned<Arch>(ps_ + r, ps);
                simd::store_aligned<Arch>(best_ + r, best);
                simd::store_aligned<Arch>(best_key_ + r, key);
            }
        }
    }

    void end() {
        if (out_.row_mass == nullptr) return;
        for (index_t r = 0; r < rows_; ++r) {
            const std::size_t i =
                static_cast<std::size_t>(((b_ * out_.q_heads + R_->head[r]) * out_.lq + R_->token[r]) * out_.splits + split_);
            out_.row_mass[i] = mass_[r];
            out_.row_ps[i] = ps_[r];
            out_.row_best[i] = best_[r];
            out_.row_best_key[i] = best_key_[r];
        }
    }

private:
    static float* probe_scratch_vis(index_t n) {
        thread_local level_set<buffer> vis;
        return vis.item().get(n);
    }

    const probe_outputs& out_;
    tensor_view<const float> lse_view_;
    index_t slot_, split_;
    index_t b_ = 0, rows_ = 0, rp_ = 0, segs_ = 0;
    const item_rows* R_ = nullptr;
    const index_t* seg_ = nullptr;
    float *lse_ = nullptr, *valid_ = nullptr, *mass_ = nullptr, *ps_ = nullptr, *best_ = nullptr, *best_key_ = nullptr;
};

// The plan of a probe pass: the forward plan's items and key splits, plus the number of column
// slots (query tiles of one kv head that may run at once). With key splits (decode) one slot.
inline index_t probe_slots(const work_plan& plan, index_t batch, index_t kv_heads, index_t workers) {
    if (plan.splits > 1) return 1;
    // ~8 items per worker: items of one slot differ in cost (causal), so coarse items leave
    // threads idle at the end (16 threads, 4 slots: the probe took 0.9× a forward pass).
    const index_t base = batch * kv_heads;
    const index_t want = base >= 8 * workers ? 1 : ceil_div(8 * workers, base > 0 ? base : 1);
    return std::min(want, plan.q_tiles > 0 ? plan.q_tiles : index_t(1));
}

// Runs the probe pass over every item; out's arrays must be sized for plan/slots and zeroed
// (column arrays) by the caller, who then sums the slots and combines the splits.
template <class Arch, class Variant, class Exec, class P>
void run_probe(const P& p, const Variant& var, const Exec& exec, const work_plan& plan, tensor_view<const float> lse,
               const probe_outputs& out) {
    const index_t items = p.batch * p.kv_heads * out.slots * plan.splits;
    // Long items first (the last query tiles see the most keys under a causal mask).
    ::attune::detail::parallel_for(exec, items, [&](index_t it) {
        const index_t split = it % plan.splits;
        const index_t slot = (it / plan.splits) % out.slots;
        const index_t hkv = (it / (plan.splits * out.slots)) % p.kv_heads;
        const index_t b = it / (plan.splits * out.slots * p.kv_heads);
        // An item of the engine's loop: a policy calling attention (or a probe) from inside it gets
        // the next level's scratch instead of regrowing this item's under it (kernel/scratch.hpp).
        const item_level level;
        const worker_lease lease(p.ws);
        probe_observer obs(out, lse, slot, split);
        for (index_t qt = plan.q_tiles - 1 - slot; qt >= 0; qt -= out.slots) run_item<Arch>(p, var, plan, b, hkv, qt, split, nullptr, &obs);
    });
}

}  // namespace attune::kernel
