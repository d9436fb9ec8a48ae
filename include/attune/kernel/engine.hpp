#pragma once
// The tile engine: every dense kernel is this one loop (DESIGN.md). For one work item — the query
// rows of all query heads of a kv group, over one key range — it walks the kv tiles, asks the mask
// to classify each (empty tiles are skipped, full ones skip the element test), computes scores with
// the micro-kernel, applies the score modifier and the mask, lets the family turn scores into weights
// and accumulates P·V. The item ends either finalised into the output or as a partial state for ⊕.
#include <cmath>
#include <type_traits>
#include <utility>

#include "attune/core/index_context.hpp"
#include "attune/core/row_state.hpp"
#include "attune/kernel/microkernel.hpp"
#include "attune/kernel/problem.hpp"
#include "attune/kernel/rows.hpp"
#include "attune/kernel/scratch.hpp"
#include "attune/mask/traits.hpp"
#include "attune/score/modifier.hpp"
#include "attune/simd/amx.hpp"
#include "attune/simd/pairs.hpp"
#include "attune/simd/transpose.hpp"
#include "attune/simd/vec.hpp"
#include "attune/sink/sink.hpp"

namespace attune::kernel {

// Key positions are compared as floats in the lane-wise path: exact below 2^24 tokens.
inline constexpr index_t max_float_exact_position = index_t(1) << 24;

// Where a split item leaves its unnormalised result: rows × (m, l) and rows × dv accumulators.
struct partial_result {
    float* m;
    float* l;
    float* acc;  // [rows][dv]
};

// Writes one finished row. Families with row statistics (softmax): o = acc / l (zeros for an empty
// row) and its LSE. Without (sigmoid): o = acc, the plain sum of weighted values.
template <class Arch, class Family, class P>
inline void store_row(const P& p, index_t b, index_t h, index_t t, const float* acc, row_state st, float gate = 1.0f) {
    using TO = typename decltype(p.out)::value_type;
    TO* dst = p.out.row(b, h, t);
    // softmax: empty row → zeros; NaN stays NaN. sigmoid: 1. Times the router's gate.
    const float inv = (Family::row_statistics ? (st.l == 0.0f ? 0.0f : 1.0f / st.l) : 1.0f) * gate;
    if constexpr (std::is_same_v<TO, float>) {
        constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
        const simd::vec<Arch> s = simd::broadcast<Arch>(inv);
        index_t d = 0;
        for (; d + W <= p.dv; d += W) simd::store<Arch>(dst + d, simd::load<Arch>(acc + d) * s);
        for (; d < p.dv; ++d) dst[d] = acc[d] * inv;
    } else {
        for (index_t d = 0; d < p.dv; ++d) dst[d] = from_float<TO>(acc[d] * inv);
    }
    if constexpr (Family::has_lse)
        if (!p.lse.empty()) *p.lse.row(b, h, t) = st.lse();
}

// Rows a router switched off: zeros and LSE −inf, never computed.
template <class Router, class P>
inline void store_inactive_rows(const Router& router, const P& p, index_t b, index_t hkv, index_t i0, index_t nq) {
    if constexpr (!detail::is_none_v<Router>) {
        using TO = typename decltype(p.out)::value_type;
        for (index_t g = 0; g < p.group; ++g)
            for (index_t t = i0; t < i0 + nq; ++t) {
                const index_t h = hkv * p.group + g;
                if (router.gate(row_context{b, h, t, p.q_pos0() + t}) != 0.0f) continue;
                TO* dst = p.out.row(b, h, t);
                for (index_t d = 0; d < p.dv; ++d) dst[d] = from_float<TO>(0.0f);
                if (!p.lse.empty()) *p.lse.row(b, h, t) = neg_inf;
            }
    } else {
        (void)router, (void)p, (void)b, (void)hkv, (void)i0, (void)nq;
    }
}

// Many rows of float Q packed as Qt[d][r] (scaled, padding rows zero) by 16 × 16 transposes in
// registers (simd/transpose.hpp), where the arch has them. Returns false where it does not.
template <class Arch, class P>
inline bool pack_q_transposed([[maybe_unused]] const P& p, [[maybe_unused]] index_t b, [[maybe_unused]] const item_rows& R,
                              [[maybe_unused]] index_t rows, [[maybe_unused]] index_t rp, [[maybe_unused]] float* qt) {
#if XSIMD_WITH_AVX512F
    if constexpr (std::is_same_v<typename decltype(p.q)::value_type, float> && simd::detail::arch_is<Arch, xsimd::avx512f>) {
        for (index_t r0 = 0; r0 < rp; r0 += 16) {
            const void* src[16];
            for (index_t i = 0; i < 16; ++i) src[i] = r0 + i < rows ? static_cast<const void*>(p.q.row(b, R.head[r0 + i], R.token[r0 + i])) : nullptr;
            simd::transpose_rows_16(src, p.dk, p.dk, qt + r0, rp, &p.scale);
        }
        return true;
    }
#endif
    return false;
}

// Whether a family's update_tile takes the optional live_rows hint (family/softmax.hpp).
template <class F, class Arch, class = void>
struct takes_live_rows : std::false_type {};
template <class F, class Arch>
struct takes_live_rows<F, Arch, std::void_t<decltype(F::template update_tile<Arch>(std::declval<float*>(), index_t{}, index_t{},
                                                                                     std::declval<float*>(), std::declval<float*>(),
                                                                                     std::declval<float*>(), index_t{}))>>
    : std::true_type {};

// The forward pass: scores become weights and P·V. A probe pass (kernel/probe_pass.hpp) instead
// hands each masked score tile to an observer and neither reads V nor writes the output.
struct no_probe {};

// Keys [k_begin, k_end) of one query tile's rows; the sink enters the rows' state in the range
// that starts at key 0 (sink/sink.hpp).
template <class Arch, class Variant, class P, class Probe = no_probe>
void run_item_keys(const P& p, const Variant& var, const work_plan& plan, index_t b, index_t hkv, index_t qt,
                   index_t k_begin, index_t k_end, const partial_result* partial, Probe* probe = nullptr) {
    using TK = typename decltype(p.k)::value_type;
    using TV = typename decltype(p.v)::value_type;
    using family = typename Variant::family_type;
    using score_t = typename Variant::score_type;
    using sink_t = typename Variant::sink_type;
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    constexpr bool probing = !std::is_same_v<Probe, no_probe>;

    const index_t i0 = qt * plan.q_tile;
    const index_t nq = plan.q_tile < p.lq - i0 ? plan.q_tile : p.lq - i0;
    // The rows to compute: every (head, token) pair of the tile, or the router's active ones.
    const item_rows R = gather_rows(var.router(), p, b, hkv, i0, nq, row_scratch::local());
    if (!probing && partial == nullptr) store_inactive_rows(var.router(), p, b, hkv, i0, nq);
    const index_t rows = R.count;
    if (rows == 0) return;  // every row switched off: no K/V read
    const index_t rp = round_up(rows, W);
    const index_t dvp = round_up(p.dv, W);

    item_scratch& s = item_scratch::local();
    float* qtb = s.qt.get(p.dk * rp);
    float* S = s.scores.get(plan.kv_tile * rp);
    float* acc = s.acc.get(rp * dvp);  // rows past `rows`: room for whole AMX tiles, never read
    float* st = s.state.get(7 * rp);
    // Row state, then the rows' visible key intervals as floats (lane-wise masking): [lo, hi] and,
    // for two-interval masks, [lo2, hi2].
    float *m = st, *l = st + rp, *alpha = st + 2 * rp, *lo = st + 3 * rp, *hi = st + 4 * rp, *lo2 = st + 5 * rp, *hi2 = st + 6 * rp;

    // Row r of the item is (query head R.head[r], query token R.token[r]). Many rows: Q packed
    // transposed, Qt[d][r], for the broadcast micro-kernel. Few rows (decode): Q rows [r][d] for
    // the dot-product kernel, which streams K rows as vectors. Padding rows are zero.
    const bool few_rows = rows * 2 <= W;
    // bf16 Q and K on a CPU with AMX: the score tiles run on the tile unit (simd/amx.hpp), from
    // the exact bf16 inputs packed as VNNI pairs; everything after the scores is unchanged.
#if ATTUNE_AMX
    using TQ = typename decltype(p.q)::value_type;
    constexpr bool amx_types = std::is_same_v<TQ, bf16> && std::is_same_v<TK, bf16> && simd::detail::arch_is<Arch, xsimd::avx512f>;
#else
    constexpr bool amx_types = false;
#endif
    [[maybe_unused]] std::uint32_t* amx_q = nullptr;
    [[maybe_unused]] bf16* amx_k = nullptr;
    [[maybe_unused]] index_t dk32 = 0;
    [[maybe_unused]] bf16* amx_p = nullptr;
    [[maybe_unused]] std::uint32_t* amx_v = nullptr;
    bool use_amx = false, amx_pv = false;
#if ATTUNE_AMX
    // The tiles are released however the item ends: a mask or modifier may throw mid-item.
    struct amx_guard {
        bool on = false;
        void start() { simd::amx::configure(), on = true; }
        void stop() noexcept {
            if (on) simd::amx::release(), on = false;
        }
        ~amx_guard() { stop(); }
    } amx_session;
#endif
#if ATTUNE_AMX
    static_assert(work_plan::kv_tile <= simd::amx::pv_max_keys, "AMX P·V packs one kv tile of weights per row");
#endif
    if constexpr (amx_types) {
        if (!few_rows && simd::amx_active()) {
            use_amx = true;
            dk32 = round_up(p.dk, 32);
            amx_q = reinterpret_cast<std::uint32_t*>(s.amx_q.get(dk32 / 2 * rp));
            amx_k = reinterpret_cast<bf16*>(s.amx_k.get(8 * dk32));
            // P·V on the tiles too when V and the output are bf16: P rounded to bf16 (simd/amx.hpp).
            using TO = typename decltype(p.out)::value_type;
            if constexpr (std::is_same_v<TV, bf16> && std::is_same_v<TO, bf16>) {
                amx_pv = true;
                amx_p = reinterpret_cast<bf16*>(s.amx_p.get(rp * simd::amx::pv_max_keys / 2));
                amx_v = reinterpret_cast<std::uint32_t*>(s.amx_v.get(simd::amx::pv_max_keys / 2 * dvp));
            }
#if ATTUNE_AMX
            simd::amx::pack_q([&](index_t r) { return p.q.row(b, R.head[r], R.token[r]); }, rows, rp, p.dk, dk32, amx_q);
            amx_session.start();
#endif
        }
    }
    // The float copy of Q feeds the fp32 score kernels, and a score modifier or sink that reads q.
    if (!use_amx || !detail::is_none_v<score_t> || !detail::is_none_v<sink_t>) {
        if (few_rows || !pack_q_transposed<Arch>(p, b, R, rows, rp, qtb)) {
            for (index_t r = 0; r < rows; ++r) {
                const auto* src = p.q.row(b, R.head[r], R.token[r]);
                if (few_rows) simd::convert_row<Arch>(src, qtb + r * p.dk, p.dk, p.scale);
                else
                    for (index_t d = 0; d < p.dk; ++d) qtb[d * rp + r] = to_float(src[d]) * p.scale;
            }
            for (index_t r = rows; r < rp; ++r)
                for (index_t d = 0; d < p.dk; ++d) qtb[few_rows ? r * p.dk + d : d * rp + r] = 0.0f;
        }
    }
    for (index_t r = 0; r < rp; ++r) {
        m[r] = neg_inf;
        l[r] = 0.0f;
    }
    for (index_t i = 0; i < rp * dvp; ++i) acc[i] = 0.0f;
    // The sink enters each row's state once: in the key range that starts at key 0 (sink/sink.hpp). A probe reads
    // the forward pass's LSE, which already holds it.
    if constexpr (!detail::is_none_v<sink_t> && !probing) {
        if (k_begin == 0)
            for (index_t r = 0; r < rows; ++r) {
                const sink_row row{b, R.head[r], hkv, p.q_pos0() + R.token[r], few_rows ? qtb + r * p.dk : qtb + r,
                                   few_rows ? 1 : rp, p.dk, p.dv};
                var.sink().start(row, m[r], l[r], acc + r * dvp);
            }
    }
    // Few rows (decode) with bf16 K or V on AVX-512: read as pairs (simd/pairs.hpp), two ALU
    // operations per 2·W elements instead of four. The dot kernel then takes Q split the same way;
    // P·V accumulates split columns, put back in order after the last tile.
    constexpr bool k_pairs = simd::has_bf16_pairs<Arch> && std::is_same_v<TK, bf16>;
    constexpr bool v_pairs = simd::has_bf16_pairs<Arch> && std::is_same_v<TV, bf16>;
    const bool v_paired = v_pairs && few_rows && p.dv == dvp && simd::paired_span<Arch>(dvp) > 0;
    [[maybe_unused]] const float* q_dot = qtb;
#if XSIMD_WITH_AVX512F
    if constexpr (k_pairs) {
        if (few_rows && simd::paired_span<Arch>(p.dk) > 0) {
            float* qp = s.q_pairs.get(p.dk * rp);
            for (index_t r = 0; r < rp; ++r) simd::split_pairs<Arch>(qtb + r * p.dk, qp + r * p.dk, p.dk);
            q_dot = qp;
        }
    }
    if constexpr (v_pairs) {
        if (v_paired && !detail::is_none_v<sink_t>)  // a sink may have put values in the accumulators
            for (index_t r = 0; r < rows; ++r) simd::split_pairs_in_place<Arch>(acc + r * dvp, dvp);
    }
#endif
    // The dot kernel writes rows in blocks of a few; the lanes past them must hold a fixed value
    // (the softmax update reads whole vectors), so the result never depends on stale memory.
    if (few_rows)
        for (index_t i = 0; i < plan.kv_tile * rp; ++i) S[i] = 0.0f;

    // The rows' positions span [q_first, q_first + q_span): what masks classify tiles against.
    const index_t q_first = R.pos_min;
    const index_t q_span = R.pos_max - R.pos_min + 1;
    const auto& mask = var.mask();
    using mask_t = std::decay_t<decltype(mask)>;
    bool lanewise_mask = false;
    // Score modifier: the item's rows as lanes (query positions as floats) and its per-item lane data.
    [[maybe_unused]] score_rows srows{};
    [[maybe_unused]] float* score_lanes = nullptr;
    if constexpr (!detail::is_none_v<score_t>) {
        float* buf = score_lane_scratch().get((1 + score_hooks::lane_arrays_v<score_t>) * rp);
        for (index_t r = 0; r < rp; ++r) buf[r] = static_cast<float>(r < rows ? p.q_pos0() + R.token[r] : q_first);
        srows = score_rows{b, hkv, p.group, q_span, q_first, rows, rp, buf, qtb, few_rows ? p.dk : 1, few_rows ? 1 : rp, p.dk,
                           R.head, R.token, p.q_pos0(), R.all};
        score_lanes = buf + rp;
        score_hooks::prepare(var.score(), srows, score_lanes);
    }
    constexpr int row_intervals = detail::mask_row_intervals<mask_t>;
    if constexpr (row_intervals > 0) {
        lanewise_mask = p.lk < max_float_exact_position && q_first + q_span < max_float_exact_position;
        const auto put = [](const key_range& kr, float& l0, float& h0) {
            l0 = static_cast<float>(kr.first < 0 ? -1 : kr.first);
            h0 = static_cast<float>(kr.last >= max_float_exact_position ? max_float_exact_position : kr.last);
        };
        for (index_t r = 0; r < rp; ++r) {
            lo[r] = lo2[r] = 0.0f;  // padded rows: empty ranges
            hi[r] = hi2[r] = -1.0f;
            if (r >= rows) continue;
            const index_context row{b, R.head[r], hkv, p.q_pos0() + R.token[r], 0};
            if constexpr (row_intervals == 1) {
                put(mask.keys(row), lo[r], hi[r]);
            } else {
                const key_range_pair kp = mask.key_pair(row);
                put(kp.first, lo[r], hi[r]);
                put(kp.second, lo2[r], hi2[r]);
            }
        }
    }
    if constexpr (probing) probe->template begin<Arch>(p, b, R, rows, rp);
    for (index_t tile0 = k_begin; tile0 < k_end; tile0 += plan.kv_tile) {
        const index_t tile_keys = plan.kv_tile < k_end - tile0 ? plan.kv_tile : k_end - tile0;
        const tile_context tile{b, hkv, q_first, q_first + q_span - 1, tile0, tile0 + tile_keys - 1, R.head[0], R.head[rows - 1]};
        const tile_class cls = mask.classify(tile);
        if (cls == tile_class::empty) continue;
        // Keys [n0, n0 + nk) of the tile are computed: all of them, or on a partial tile of a mask
        // that knows its span, only those some row sees (the 4 sinks of a 64-key tile, say).
        index_t n0 = tile0, nk = tile_keys;
        if constexpr (detail::mask_has_span<mask_t>::value) {
            if (cls == tile_class::partial) {
                const key_range sp = mask.span(tile);
                const index_t first = sp.first > tile0 ? sp.first : tile0;
                const index_t last = sp.last < tile0 + tile_keys - 1 ? sp.last : tile0 + tile_keys - 1;
                if (last < first) continue;
                n0 = first;
                nk = last - first + 1;
            }
        }

        // A partial tile of a lane-wise mask (many rows): each row's keys in [n0, n0 + nk) as offsets,
        // and their hull per row vector, so the micro-kernels skip the (key block, row vector) and
        // (row block, key) pairs that no row sees: the triangles of diagonal and window-edge tiles.
        const bool bounded = !few_rows && cls == tile_class::partial && lanewise_mask;
        index_t *row_first = nullptr, *row_last = nullptr, *vec_first = nullptr, *vec_last = nullptr;
        if (bounded) {
            index_t* bd = s.bounds.get(2 * rp + 2 * (rp / W));
            row_first = bd, row_last = bd + rp, vec_first = bd + 2 * rp, vec_last = vec_first + rp / W;
            const float t0 = static_cast<float>(n0), t1 = static_cast<float>(n0 + nk - 1);
            for (index_t r = 0; r < rp; ++r) {
                float f = lo[r] > t0 ? lo[r] : t0, l = hi[r] < t1 ? hi[r] : t1;
                if constexpr (row_intervals == 2) {
                    const float f2 = lo2[r] > t0 ? lo2[r] : t0, l2 = hi2[r] < t1 ? hi2[r] : t1;
                    if (f2 <= l2) {
                        if (f > l) f = f2, l = l2;
                        else f = f < f2 ? f : f2, l = l > l2 ? l : l2;
                    }
                }
                row_first[r] = f <= l ? static_cast<index_t>(f) - n0 : 1;
                row_last[r] = f <= l ? static_cast<index_t>(l) - n0 : 0;
            }
            for (index_t c = 0; c < rp / W; ++c) {
                index_t f = 1, l = 0;
                for (index_t r = c * W; r < (c + 1) * W; ++r) {
                    if (row_first[r] > row_last[r]) continue;
                    if (f > l) f = row_first[r], l = row_last[r];
                    else f = f < row_first[r] ? f : row_first[r], l = l > row_last[r] ? l : row_last[r];
                }
                vec_first[c] = f;
                vec_last[c] = l;
            }
        }

        // Scores. Few rows: the dot kernel reads the user's K rows in any storage type. Many rows:
        // the broadcast kernel reads float K rows, the user's or a converted copy of the tile.
        if (few_rows) {
            if (q_dot != qtb) dot_tile<Arch, TK, k_pairs>(q_dot, p.dk, rows, p.k.row(b, hkv, n0), p.k.strides()[2], nk, p.dk, S, rp);
            else dot_tile<Arch>(qtb, p.dk, rows, p.k.row(b, hkv, n0), p.k.strides()[2], nk, p.dk, S, rp);
        } else if (use_amx) {
#if ATTUNE_AMX
            if constexpr (amx_types) simd::amx::score_tile(p.k.row(b, hkv, n0), p.k.strides()[2], nk, p.dk, dk32, amx_q, rp, p.scale, S, amx_k);
#endif
        } else {
            const float* kt;
            index_t kt_stride;
            if constexpr (std::is_same_v<TK, float>) {
                kt = p.k.row(b, hkv, n0);
                kt_stride = p.k.strides()[2];
            } else {
                float* kb = s.k_tile.get(plan.kv_tile * p.dk);
                for (index_t n = 0; n < nk; ++n) simd::convert_row<Arch>(p.k.row(b, hkv, n0 + n), kb + n * p.dk, p.dk);
                kt = kb;
                kt_stride = p.dk;
            }
            // The V rows of the tile come into L2 while the scores run (a probe reads no V).
            const prefetch_stream tile_v = probing ? prefetch_stream{} : prefetch_stream::of(p.v.row(b, hkv, n0), p.v.strides()[2], nk, p.dv);
            score_tile<Arch>(qtb, rp, kt, kt_stride, nk, p.dk, S, 0, vec_first, vec_last, tile_v);  // bounds null: whole tile
        }

        if constexpr (!detail::is_none_v<score_t>) score_hooks::apply<Arch>(var.score(), S, n0, nk, srows, score_lanes);
        if (cls == tile_class::partial && lanewise_mask) {
            for (index_t n = 0; n < nk; ++n) {
                const float kpos = static_cast<float>(n0 + n);
                for (index_t r = 0; r < rp; r += W) {
                    float* sp = S + n * rp + r;
                    const auto sv = simd::load_aligned<Arch>(sp);
                    if constexpr (row_intervals == 1)
                        simd::store_aligned<Arch>(sp, simd::mask_outside(sv, kpos, simd::load_aligned<Arch>(lo + r), simd::load_aligned<Arch>(hi + r)));
                    else
                        simd::store_aligned<Arch>(sp, simd::mask_outside2(sv, kpos, simd::load_aligned<Arch>(lo + r), simd::load_aligned<Arch>(hi + r),
                                                                          simd::load_aligned<Arch>(lo2 + r), simd::load_aligned<Arch>(hi2 + r)));
                }
            }
        } else if (cls == tile_class::partial) {
            for (index_t r = 0; r < rows; ++r) {
                index_context c{b, R.head[r], hkv, p.q_pos0() + R.token[r], 0};
                for (index_t n = 0; n < nk; ++n) {
                    c.k_pos = n0 + n;
                    if (!mask.visible(c)) S[n * rp + r] = neg_inf;
                }
            }
        }

        if constexpr (probing) {
            probe->template tile<Arch>(S, n0, nk, cls == tile_class::full);
            continue;
        }
        if constexpr (family::row_statistics) {
            bool rescale;
            if constexpr (takes_live_rows<family, Arch>::value) rescale = family::template update_tile<Arch>(S, nk, rp, m, l, alpha, rows);
            else rescale = family::template update_tile<Arch>(S, nk, rp, m, l, alpha);
            if (rescale) {
                for (index_t r = 0; r < rows; ++r) {
                    if (alpha[r] == 1.0f) continue;
                    const simd::vec<Arch> a = simd::broadcast<Arch>(alpha[r]);
                    for (index_t d = 0; d < dvp; d += W)
                        simd::store_aligned<Arch>(acc + r * dvp + d, simd::load_aligned<Arch>(acc + r * dvp + d) * a);
                }
            }
        } else {
            var.family().template weights_tile<Arch>(S, nk, rp);  // no row state: weights are final
        }

        // While P·V runs, the next tile's K rows come into L2 (many rows; decode streams its own).
        const index_t next0 = tile0 + plan.kv_tile;
        const prefetch_stream next_k = few_rows || next0 >= k_end ? prefetch_stream{}
            : prefetch_stream::of(p.k.row(b, hkv, next0), p.k.strides()[2], plan.kv_tile < k_end - next0 ? plan.kv_tile : k_end - next0, p.dk);
        // P·V: on AMX tiles for bf16 V and output (weights rounded to bf16, V packed as key pairs).
        // Otherwise the fp32 kernels read the user's V rows when they hold dvp elements and are
        // float, or (few rows) are widened in registers; else a float copy of the tile, zero-padded.
        if (amx_pv) {
#if ATTUNE_AMX
            simd::amx::pack_weights(S, rp, nk, amx_p);
            if constexpr (std::is_same_v<TV, bf16>) simd::amx::pack_values(p.v.row(b, hkv, n0), p.v.strides()[2], nk, p.dv, dvp, amx_v);
            simd::amx::pv_tile(amx_p, rp, nk, amx_v, dvp, acc);
#endif
        } else if (v_paired) {
            pv_tile<Arch, true, TV, v_pairs>(S, rp, rows, p.v.row(b, hkv, n0), p.v.strides()[2], nk, acc, dvp);
        } else if (p.dv == dvp && few_rows) {
            pv_tile<Arch, true>(S, rp, rows, p.v.row(b, hkv, n0), p.v.strides()[2], nk, acc, dvp);
        } else if (p.dv == dvp && std::is_same_v<TV, float>) {
            pv_tile<Arch, false>(S, rp, rows, p.v.row(b, hkv, n0), p.v.strides()[2], nk, acc, dvp, row_first, row_last, next_k);
        } else {
            float* vb = s.v_tile.get(plan.kv_tile * dvp);
            for (index_t n = 0; n < nk; ++n) {
                simd::convert_row<Arch>(p.v.row(b, hkv, n0 + n), vb + n * dvp, p.dv);
                for (index_t d = p.dv; d < dvp; ++d) vb[n * dvp + d] = 0.0f;
            }
            pv_tile<Arch, false>(S, rp, rows, static_cast<const float*>(vb), dvp, nk, acc, dvp, row_first, row_last, next_k);
        }
    }

#if ATTUNE_AMX
    amx_session.stop();
#endif
    if constexpr (probing) {
        probe->end();
        return;
    }
#if XSIMD_WITH_AVX512F
    if constexpr (v_pairs) {
        if (v_paired)
            for (index_t r = 0; r < rows; ++r) simd::join_pairs<Arch>(acc + r * dvp, dvp);
    }
#endif
    if (partial != nullptr) {
        for (index_t r = 0; r < rows; ++r) {
            partial->m[r] = m[r];
            partial->l[r] = l[r];
            for (index_t d = 0; d < p.dv; ++d) partial->acc[r * p.dv + d] = acc[r * dvp + d];
        }
        return;
    }
    for (index_t r = 0; r < rows; ++r)
        store_row<Arch, family>(p, b, R.head[r], R.token[r], acc + r * dvp, row_state{m[r], l[r]}, R.gate ? R.gate[r] : 1.0f);
}

// The keys of split `split` of the plan.
template <class Arch, class Variant, class P, class Probe = no_probe>
void run_item(const P& p, const Variant& var, const work_plan& plan, index_t b, index_t hkv, index_t qt, index_t split,
              const partial_result* partial, Probe* probe = nullptr) {
    const index_t k_begin = split * plan.split_len;
    const index_t k_end = plan.split_len == 0 ? 0 : (k_begin + plan.split_len < p.lk ? k_begin + plan.split_len : p.lk);
    run_item_keys<Arch>(p, var, plan, b, hkv, qt, k_begin, k_end, partial, probe);
}

}  // namespace attune::kernel
