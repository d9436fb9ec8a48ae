#pragma once
// The score stage of options::int8_qk: int8 Q·Kᵀ for prefill items, after SageAttention (Zhang et
// al., "SageAttention: Accurate 8-Bit Attention for Plug-and-Play Inference Acceleration", ICLR
// 2025): K smoothed by subtracting its mean over tokens (§4.2, Eq. 4), Q and K rounded to int8
// (§4.3), the integer products on AMX-INT8, AVX-512 VNNI or plain loops (simd/int8_dot.hpp,
// simd/amx_int8.hpp), the weights and P·V stages unchanged.
//
//   s[n][r] = sq_r · sk_n · Σ_d q̂_rd · k̂_nd  +  τ·q_r·k̄_t,   τ·q_r ≈ sq_r·q̂_r,  k_n − k̄_t ≈ sk_n·k̂_n
//
// Where it differs from the authors' code, and why:
// - k̄_t is the mean of the keys of the tile (64 keys), not of all the head's tokens: any vector
//   subtracted from every key of a tile and added back as τ·q·k̄_t leaves the scores exact, and the
//   tile's own mean needs no pass over K before the item (the channel offsets smoothing removes are
//   common to all tokens, so the tile's mean removes them as well).
// - τ·q·k̄_t is added back to every score (in float, from the float Q). The authors drop it, as
//   softmax is invariant to a per-row shift, and add it to the LSE alone; here sinks, score
//   modifiers (softcap is not shift-invariant), sigmoid families and the ⊕ merge of split keys see
//   the same scores as without the option.
// - One scale per query row (with τ folded in, as the authors fold sm_scale·log2e) and one per key,
//   where the authors take one per block of 128 queries (SageAttention2: per warp) and 64 keys
//   (per thread): finer, and free on a CPU.
// - No Q smoothing (SageAttention2's), no int8/fp8 P·V: P·V is the engine's (fp32, or bf16 on AMX
//   with bf16 V and output, as the authors' fp16 P·V).
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "attune/kernel/item.hpp"
#include "attune/kernel/mask_stage.hpp"
#include "attune/simd/amx.hpp"
#include "attune/simd/amx_int8.hpp"
#include "attune/simd/caps.hpp"
#include "attune/simd/int8_dot.hpp"
#include "attune/simd/unroll.hpp"
#include "attune/simd/vec.hpp"

namespace attune::kernel {

/// Which integer product options::int8_qk runs on.
enum class int8_backend { portable, vnni, amx_int8 };

/// The name of a back-end ("portable", "vnni", "amx_int8").
inline const char* backend_name(int8_backend b) noexcept {
    return b == int8_backend::amx_int8 ? "amx_int8" : b == int8_backend::vnni ? "vnni" : "portable";
}

/// The back-end options::int8_qk takes for Arch on this CPU (items whose padded rows are not whole
/// 16-lane vectors take the portable loops).
template <class Arch>
int8_backend int8_qk_backend() {
    if constexpr (simd::caps<Arch>::amx) {
        if (simd::amx_int8_active()) return int8_backend::amx_int8;
    }
    if constexpr (simd::int8::vnni_compiled && simd::caps<Arch>::avx512) return int8_backend::vnni;
    return int8_backend::portable;
}

// Whether int8 scores smooth K (set_int8_qk_smoothing).
inline std::atomic<bool>& int8_qk_smoothing_flag() {
    static std::atomic<bool> on{true};
    return on;
}

/// Turns the smoothing of K off or on for later calls (default on); returns the previous value. For
/// tests and measurements only: without it, keys with large channel offsets lose their precision.
inline bool set_int8_qk_smoothing(bool on) { return int8_qk_smoothing_flag().exchange(on); }

// One kv head's keys of one call in int8, tile by tile as this thread's items first quantize them:
// the items of a kv head run one after another (kernel/driver.hpp), and each would otherwise
// quantize every key tile again (the authors quantize K once per call, before the attention
// kernel). A tile is reused only for the same call, batch entry, head, span of keys and settings;
// heads whose int8 keys exceed max_bytes are quantized per item.
struct int8_key_cache {
    static constexpr index_t max_bytes = index_t(4) << 20;
    std::uint64_t call = 0;  // problem::call_id; 0: empty
    index_t b = -1, hkv = -1, dp = 0, dk = 0, slots = 0;
    int8_backend backend = int8_backend::portable;
    bool smooth = true;
    std::vector<index_t> first, count;  // per tile slot: the keys quantized there (count −1: none)
    std::vector<float> data;            // per slot: kq [kv_tile][dp] bytes, sk [kv_tile], k̄ [dk]

    static index_t slot_floats(index_t dp, index_t dk) { return work_plan::kv_tile * dp / 4 + work_plan::kv_tile + dk; }
    bool holds(std::uint64_t c, index_t b_, index_t h, index_t dp_, index_t dk_, int8_backend be, bool sm) const {
        return call == c && b == b_ && hkv == h && dp == dp_ && dk == dk_ && backend == be && smooth == sm;
    }
    static int8_key_cache& local() {
        thread_local int8_key_cache cache;
        return cache;
    }
};

template <class Arch>
struct int8_scores {
    int8_backend backend = int8_backend::portable;
    bool smooth = true;
    index_t dp = 0;                   // dims padded: a multiple of 4 (64 on AMX)
    std::uint32_t* q = nullptr;       // Q as quads [dp/4][rp]
    float* sq = nullptr;              // row scales [rp] (τ folded in)
    std::int32_t* off = nullptr;      // per-row offset of the integer sums [rp]: 128·Σ q̂ for vpdpbusd, else 0
    float* corr = nullptr;            // τ·q_r·k̄_t of the tile [rp]
    float* mean = nullptr;            // k̄_t [dk]
    float* sk = nullptr;              // key scales [kv_tile]
    std::uint8_t* kq = nullptr;       // the tile's keys in int8 [kv_tile][dp]
    std::int32_t* acc = nullptr;      // integer sums [kv_tile][rp]
    int8_key_cache* cache = nullptr;  // this thread's int8 keys of the item's head, when they fit
    simd::amx::session session;       // the tiles, for the AMX-INT8 scores and the AMX P·V stage

    template <class It>
    void begin(It& it) {
        constexpr index_t T = work_plan::kv_tile;
        static_assert(T % 16 == 0, "int8 scores: whole 16-key AMX blocks per tile");
        const index_t rp = it.rp, dk = it.p.dk;
        backend = int8_qk_backend<Arch>();
        if (backend != int8_backend::portable && rp % 16 != 0) backend = int8_backend::portable;
        smooth = int8_qk_smoothing_flag().load(std::memory_order_relaxed);
        dp = round_up(dk, backend == int8_backend::amx_int8 ? 64 : 4);
        float* fq = it.s.int8_q.get(dp / 4 * rp + 3 * rp + dk + T);
        q = reinterpret_cast<std::uint32_t*>(fq);
        sq = fq + dp / 4 * rp;
        off = reinterpret_cast<std::int32_t*>(sq + rp);
        corr = sq + 2 * rp;
        mean = sq + 3 * rp;
        sk = mean + dk;
        float* fk = it.s.int8_k.get(T * dp / 4 + T * rp);
        kq = reinterpret_cast<std::uint8_t*>(fk);
        acc = reinterpret_cast<std::int32_t*>(fk + T * dp / 4);
        if constexpr (simd::caps<Arch>::avx512) simd::int8::quantize_q_avx512(it.qt, rp, dk, dp, q, sq, off);
        else simd::int8::quantize_q(it.qt, rp, dk, dp, q, sq, off);
        if (backend != int8_backend::vnni)
            for (index_t r = 0; r < rp; ++r) off[r] = 0;
        // Every key row defined: a partial tile's blocks read the rows past its keys.
        const std::uint8_t zero = backend == int8_backend::vnni ? 0x80 : 0;
        for (index_t i = 0; i < T * dp; ++i) kq[i] = zero;
        for (index_t i = 0; i < rp; ++i) corr[i] = 0.0f;
        cache = nullptr;
        const index_t slots = ceil_div(it.p.lk, T);
        if (it.p.call_id != 0 && slots <= int8_key_cache::max_bytes / 4 / int8_key_cache::slot_floats(dp, dk)) {
            int8_key_cache& c = int8_key_cache::local();
            if (!c.holds(it.p.call_id, it.b, it.hkv, dp, dk, backend, smooth) || c.slots != slots) {
                c.call = it.p.call_id, c.b = it.b, c.hkv = it.hkv, c.dp = dp, c.dk = dk, c.backend = backend, c.smooth = smooth;
                c.slots = slots;
                c.first.assign(static_cast<std::size_t>(slots), 0);
                c.count.assign(static_cast<std::size_t>(slots), -1);
                c.data.resize(static_cast<std::size_t>(slots * int8_key_cache::slot_floats(dp, dk)));
                for (index_t i = 0; i < slots; ++i)
                    std::memset(c.data.data() + i * int8_key_cache::slot_floats(dp, dk), zero, static_cast<std::size_t>(T * dp));
            }
            cache = &c;
        }
        if constexpr (simd::caps<Arch>::amx) {
            if (simd::amx_active()) session.start();
        }
    }

    template <class It>
    void compute(It& it, const key_span& t, const tile_bounds&) {
        constexpr index_t T = work_plan::kv_tile;
        const index_t rp = it.rp, dk = it.p.dk, nk = t.nk;
        // Where this tile's int8 keys live: this thread's cache of the head (a nested call on this
        // thread may have taken it over since begin()), or the item's own buffers.
        if (cache != nullptr && !cache->holds(it.p.call_id, it.b, it.hkv, dp, dk, backend, smooth)) cache = nullptr;
        std::uint8_t* tkq = kq;
        float *tsk = sk, *tmean = mean;
        bool ready = false;
        if (cache != nullptr) {
            const index_t slot = t.n0 / T;
            float* base = cache->data.data() + slot * int8_key_cache::slot_floats(dp, dk);
            tkq = reinterpret_cast<std::uint8_t*>(base);
            tsk = base + T * dp / 4;
            tmean = tsk + T;
            auto& first = cache->first[static_cast<std::size_t>(slot)];
            auto& count = cache->count[static_cast<std::size_t>(slot)];
            ready = first == t.n0 && count == nk;
            first = t.n0, count = nk;
        }
        if (!ready) quantize_keys(it, t, tkq, tsk, tmean);
        if (smooth) correction(it, tmean);
        if constexpr (simd::caps<Arch>::amx && simd::amx_int8_compiled) {
            if (backend == int8_backend::amx_int8) simd::amx::int8_score_tile(tkq, dp, nk, q, rp, acc);
        }
        if constexpr (simd::int8::vnni_compiled) {
            if (backend == int8_backend::vnni) simd::int8::int8_scores_vnni(tkq, dp, nk, q, rp, acc);
        }
        if (backend == int8_backend::portable) simd::int8::int8_scores_portable(tkq, dp, nk, q, rp, acc);
        if constexpr (simd::caps<Arch>::avx512) simd::int8::scale_sums_avx512(acc, nk, rp, off, sq, tsk, corr, it.S);
        else simd::int8::scale_sums(acc, nk, rp, off, sq, tsk, corr, it.S);
    }

    // The tile's keys: k̄_t into m (when smoothing), each key minus it rounded to int8 into kb, the
    // scales into ks.
    template <class It>
    void quantize_keys(It& it, const key_span& t, std::uint8_t* kb, float* ks, float* m) {
        constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
        const index_t dk = it.p.dk, nk = t.nk;
        const strided_rows<float> k = it.kv.template float_keys<Arch>(it.b, it.hkv, t.n0, nk, it.s.k_tile);
        if (smooth) {
            index_t d = 0;
            for (; d + W <= dk; d += W) {
                simd::vec<Arch> v = simd::broadcast<Arch>(0.0f);
                for (index_t n = 0; n < nk; ++n) v += simd::load<Arch>(k.first + n * k.stride + d);
                simd::store<Arch>(m + d, v);
            }
            for (; d < dk; ++d) {
                float v = 0.0f;
                for (index_t n = 0; n < nk; ++n) v += k.first[n * k.stride + d];
                m[d] = v;
            }
            const float inv_nk = 1.0f / static_cast<float>(nk);
            for (d = 0; d < dk; ++d) m[d] *= inv_nk;
        }
        const float* c = smooth ? m : nullptr;
        const std::uint8_t flip = backend == int8_backend::vnni ? 0x80 : 0;
        for (index_t n = 0; n < nk; ++n) {
            if constexpr (simd::caps<Arch>::avx512)
                ks[n] = simd::int8::quantize_k_row_avx512(k.first + n * k.stride, c, dk, dp, flip, kb + n * dp);
            else ks[n] = simd::int8::quantize_k_row(k.first + n * k.stride, c, dk, dp, flip, kb + n * dp);
        }
    }

    // τ·q_r·k̄_t from the float Q (it.qt holds τ·q; rp is a multiple of W): blocks of up to four row
    // vectors, each over the even and the odd dims (eight independent sums: one chain of FMAs would
    // wait on each one's latency).
    template <class It>
    void correction(It& it, const float* m) {
        constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
        const index_t rp = it.rp, dk = it.p.dk;
        for (index_t r0 = 0; r0 < rp; r0 += 4 * W) {
            const index_t nv = (rp - r0) / W < 4 ? (rp - r0) / W : 4;
            simd::vec<Arch> even[4], odd[4];
            ATTUNE_UNROLL_FULL
            for (int j = 0; j < 4; ++j) even[j] = odd[j] = simd::broadcast<Arch>(0.0f);
            index_t d = 0;
            for (; d + 1 < dk; d += 2) {
                const simd::vec<Arch> m0 = simd::broadcast<Arch>(m[d]), m1 = simd::broadcast<Arch>(m[d + 1]);
                const float* qd = it.qt + d * rp + r0;
                ATTUNE_UNROLL_FULL
                for (int j = 0; j < 4; ++j)
                    if (j < nv) {
                        even[j] = simd::fma(simd::load<Arch>(qd + j * W), m0, even[j]);
                        odd[j] = simd::fma(simd::load<Arch>(qd + rp + j * W), m1, odd[j]);
                    }
            }
            if (d < dk) {
                const simd::vec<Arch> m0 = simd::broadcast<Arch>(m[d]);
                ATTUNE_UNROLL_FULL
                for (int j = 0; j < 4; ++j)
                    if (j < nv) even[j] = simd::fma(simd::load<Arch>(it.qt + d * rp + r0 + j * W), m0, even[j]);
            }
            for (index_t j = 0; j < nv; ++j) simd::store<Arch>(corr + r0 + j * W, even[j] + odd[j]);
        }
    }

    template <class It>
    void end(It&) noexcept {
        session.stop();
    }
};

}  // namespace attune::kernel
