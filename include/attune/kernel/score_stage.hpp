#pragma once
// Score stages: S[n][r] = τ·q_r·k_n for the keys of a tile, one per shape of the item.
//   broadcast_scores  many rows: the GEMM block over float K rows and Qt (kernel/microkernel.hpp)
//   dot_scores        few rows (decode): dot products along d, K rows of any storage type read
//                     where they are; with Pairs, bf16 K read as pairs against Q split to match
//   amx_scores        bf16 Q and K on a CPU with AMX: the tile unit, from the exact bf16 inputs
// Each has begin(item) (what it packs once per item), compute(item, span, bounds) and end(item).
#include <cstdint>
#include <type_traits>

#include "attune/kernel/item.hpp"
#include "attune/kernel/mask_stage.hpp"
#include "attune/kernel/microkernel.hpp"
#include "attune/simd/amx.hpp"
#include "attune/simd/pairs.hpp"

namespace attune::kernel {

// PrefetchV: bring the tile's V rows into L2 while the scores run (a probe reads no V).
template <class Arch, bool PrefetchV = true>
struct broadcast_scores {
    template <class It>
    void begin(It&) {}
    template <class It>
    void compute(It& it, const key_span& t, const tile_bounds& bd) {
        const strided_rows<float> k = it.kv.template float_keys<Arch>(it.b, it.hkv, t.n0, t.nk, it.s.k_tile);
        const simd::prefetch_stream v = PrefetchV ? it.kv.value_stream(it.b, it.hkv, t.n0, t.nk) : simd::prefetch_stream{};
        score_tile<Arch>(it.qt, it.rp, k.first, k.stride, t.nk, it.p.dk, it.S, 0, bd.vec_first, bd.vec_last, v);
    }
    template <class It>
    void end(It&) noexcept {}
};

template <class Arch, bool Pairs>
struct dot_scores {
    const float* q = nullptr;
    template <class It>
    void begin(It& it) {
        q = it.qt;
        if constexpr (Pairs) {
            float* qp = it.s.q_pairs.get(it.p.dk * it.rp);
            for (index_t r = 0; r < it.rp; ++r) simd::split_pairs<Arch>(it.qt + r * it.p.dk, qp + r * it.p.dk, it.p.dk);
            q = qp;
        }
        // The kernel writes rows in blocks of a few; the lanes past them must hold a fixed value
        // (the softmax update reads whole vectors), so the result never depends on stale memory.
        for (index_t i = 0; i < work_plan::kv_tile * it.rp; ++i) it.S[i] = 0.0f;
    }
    template <class It>
    void compute(It& it, const key_span& t, const tile_bounds&) {
        const auto k = it.kv.key_rows(it.b, it.hkv, t.n0, t.nk, it.s.k_rows);
        dot_tile<Arch, typename It::kv_type::key_type, Pairs>(q, it.p.dk, it.rows, k, t.nk, it.p.dk, it.S, it.rp);
    }
    template <class It>
    void end(It&) noexcept {}
};

template <class Arch>
struct amx_scores {
    std::uint32_t* q = nullptr;  // Q as VNNI pairs [dk32/2][rp]
    bf16* kpad = nullptr;        // one zero-padded 16-key block of K
    index_t dk32 = 0;
    simd::amx::session session;
    template <class It>
    void begin(It& it) {
        dk32 = round_up(it.p.dk, 32);
        q = reinterpret_cast<std::uint32_t*>(it.s.amx_q.get(dk32 / 2 * it.rp));
        kpad = reinterpret_cast<bf16*>(it.s.amx_k.get(8 * dk32));
        simd::amx::pack_q([&](index_t r) { return it.p.q.row(it.b, it.R.head[r], it.R.token[r]); }, it.rows, it.rp, it.p.dk, dk32, q);
        session.start();
    }
    template <class It>
    void compute(It& it, const key_span& t, const tile_bounds&) {
        const auto k = it.kv.key_block(it.b, it.hkv, t.n0, t.nk, it.s.k_tile);
        simd::amx::score_tile(k.first, k.stride, t.nk, it.p.dk, dk32, q, it.rp, it.p.scale, it.S, kpad);
    }
    template <class It>
    void end(It&) noexcept {
        session.stop();
    }
};

}  // namespace attune::kernel
