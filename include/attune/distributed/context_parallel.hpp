#pragma once
/// @file
/// Context-parallel attention over MPI: a sequence too long for one machine is cut over the ranks
/// of a communicator by tokens (distributed/shard_plan.hpp: zig-zag or contiguous); every rank
/// holds its tokens' Q, K and V, the K/V blocks travel around a ring (distributed/ring_exchange.hpp;
/// Liu, Zaharia, Abbeel, "Ring Attention", 2023), and every rank merges the partial results of its
/// queries over each visiting block with ⊕ (distributed/block_attention.hpp). The result on each
/// rank is its rows of single-process attention over the whole sequence (fp32 rounding aside).
///
///     MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
///     attune::distributed::shard_plan plan(L, ranks, attune::distributed::shard_layout::zigzag);
///     // q, k, v, out: this rank's plan.tokens(rank) rows, in the order of plan.segments(rank)
///     attune::distributed::context_parallel_attention(MPI_COMM_WORLD, q, k, v, out, attune::causal{});
///
/// Masks are rules of global positions (the whole sequence's bottom-right alignment, Lq = Lk = L):
/// no_mask, causal, sliding_window, sinks_window, document_mask over the whole sequence's ids, and
/// any mask whose rule is a function of the positions. Family: softmax (the ⊕ merge needs the LSE);
/// no score modifier or sink (they would need the global positions too). GQA as attention() (Hq %
/// Hkv == 0); storage float, bf16 or half; out and options::lse as attention().
///
/// Every argument is checked on every rank, then agreed on collectively (distributed/
/// communicator.hpp) before any ring step: a bad argument on one rank, or shapes, types, layout or
/// mask parameters that differ between ranks, throw attune::error on all of them.
#include <mpi.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "attune/attention.hpp"
#include "attune/core/checked.hpp"
#include "attune/distributed/block_attention.hpp"
#include "attune/distributed/communicator.hpp"
#include "attune/distributed/ring_exchange.hpp"
#include "attune/distributed/shard_plan.hpp"
#include "attune/mask/masks.hpp"
#include "attune/merge.hpp"

namespace attune::distributed {

/// Where a context_parallel_attention() call spent its time on this rank (for benchmarks).
struct context_parallel_stats {
    double compute_seconds = 0.0;  ///< attention and merges of the local queries
    double wait_seconds = 0.0;     ///< waiting for K/V blocks (communication not hidden by compute)
    index_t blocks_run = 0;        ///< (query segment, key segment) blocks computed
    index_t blocks_skipped = 0;    ///< blocks the mask hides entirely (no kernel call)
};

/// Options of context_parallel_attention().
struct context_parallel_options {
    /// How the sequence is cut over the ranks: every rank's rows must follow it.
    shard_layout layout = shard_layout::zigzag;
    /// The scale of the scores, s = τ·q·k; 0 means 1/√Dk.
    float scale = 0.0f;
    /// Where to write this rank's rows' log-sum-exp, [B, Hq, local tokens, 1] (empty: not written).
    tensor_view<float> lse{};
    /// Split-KV parallelism of each block's attention (as options::kv_splits; 0 chooses).
    index_t kv_splits = 0;
    /// Filled with this rank's timings when not null.
    context_parallel_stats* stats = nullptr;
};

namespace detail {

// A mask's parameters, for checking that every rank passes the same mask.
inline std::vector<std::int64_t> mask_signature(const no_mask&) { return {1, 0, 0, 0, 0}; }
inline std::vector<std::int64_t> mask_signature(const causal&) { return {2, 0, 0, 0, 0}; }
inline std::vector<std::int64_t> mask_signature(const sliding_window& m) { return {3, m.left(), m.right(), 0, 0}; }
inline std::vector<std::int64_t> mask_signature(const sinks_window& m) { return {4, m.sinks(), m.window(), 0, 0}; }
inline std::vector<std::int64_t> mask_signature(const document_mask& m) {
    const std::size_t n = static_cast<std::size_t>(m.length() * m.batches());
    return {5, m.length(), m.batches(), m.is_causal() ? 1 : 0,
            m.ids() == nullptr ? 0 : hash_bytes(m.ids(), n * sizeof(document_mask::id_type))};
}
// Another mask: its type only (its parameters are the user's to keep equal).
template <class Mask>
std::vector<std::int64_t> mask_signature(const Mask&) {
    return {6, static_cast<std::int64_t>(sizeof(Mask)), 0, 0, 0};
}
inline const std::vector<const char*>& signature_names() {
    static const std::vector<const char*> names{
        "batch", "query heads", "kv heads",  "head dim",     "v head dim",   "storage types", "layout",
        "scale", "kv_splits",   "mask kind", "mask param 1", "mask param 2", "mask param 3",  "mask param 4 (document ids)"};
    return names;
}
template <class T>
constexpr std::int64_t type_code() {
    return std::is_same_v<T, float> ? 1 : sizeof(T) == 2 && std::is_same_v<T, Eigen::bfloat16> ? 2 : 3;
}
inline std::int64_t float_bits(float x) {
    std::uint32_t u = 0;
    std::memcpy(&u, &x, sizeof u);
    return u;
}
// `from` into `to` as contiguous [B][H][L][D], on the executor's threads.
template <class T, class Exec>
void copy_rows_to(const tensor_view<const T>& from, T* to, const Exec& exec) {
    const index_t H = from.heads(), L = from.tokens(), D = from.dim();
    for_token_runs(exec, from.batch(), H, L, [&](index_t b, index_t h, index_t t0, index_t t1) {
        for (index_t t = t0; t < t1; ++t)
            std::memcpy(to + ((b * H + h) * L + t) * D, from.row(b, h, t), static_cast<std::size_t>(D) * sizeof(T));
    });
}
inline std::size_t round_up_64(std::size_t n) { return (n + 63) / 64 * 64; }
// A rank's segments with adjacent ones joined (one rank's two zig-zag chunks are the whole
// sequence): one attention call instead of three and a merge.
inline std::vector<token_segment> blocks_of(const shard_plan& plan, index_t rank) {
    std::vector<token_segment> out;
    for (const token_segment& s : plan.segments(rank)) {
        if (!out.empty() && out.back().first + out.back().count == s.first) out.back().count += s.count;
        else out.push_back(s);
    }
    return out;
}

}  // namespace detail

/// Context-parallel attention of this rank's queries over the whole sequence's keys (see the top
/// of this file). q [B, Hq, n, Dk], k [B, Hkv, n, Dk], v [B, Hkv, n, Dv] and out [B, Hq, n, Dv] hold
/// the rank's n = plan.tokens(rank) tokens in the order of plan.segments(rank), for the plan of
/// opt.layout over the communicator's ranks and L = the sum of every rank's n. Collective: every
/// rank of `comm` calls it. `Arch` and `exec` as attention()'s; only the calling thread calls MPI.
template <class Arch = default_arch, class Q, class K, class V, class O, class Mask = no_mask, class Exec = default_executor>
void context_parallel_attention(MPI_Comm comm, const Q& q_in, const K& k_in, const V& v_in, const O& out_in, const Mask& mask = {},
                                const context_parallel_options& opt = {}, const Exec& exec = {}) {
    using TQ = typename attune::detail::view_element<Q>::type;
    using TK = typename attune::detail::view_element<K>::type;
    using TV = typename attune::detail::view_element<V>::type;
    using TO = typename attune::detail::view_element<O>::type;
    static_assert(std::is_same_v<typename Mask::policy_kind, mask_kind>, "context_parallel_attention: `mask` must be a mask policy");
    static_assert(!std::is_const_v<typename O::element_type>, "context_parallel_attention: out must be a view of non-const elements");
    constexpr const char* who = "context_parallel_attention";
    const tensor_view<const TQ> q = q_in;
    const tensor_view<const TK> k = k_in;
    const tensor_view<const TV> v = v_in;
    const tensor_view<TO> out = out_in;
    const auto [rank, ranks] = detail::check_communicator(comm, who);

    // Local checks: the shapes and overlaps of one attention() call of these rows.
    options local{};
    local.scale = opt.scale;
    local.lse = opt.lse;
    local.kv_splits = opt.kv_splits;
    const std::string local_error = detail::error_of([&] {
        (void)attune::detail::make_problem<TQ, TK, TV, TO>(q, k, v, out, local);
        attune::detail::require(k.tokens() == q.tokens(), who, ": k has ", k.tokens(), " tokens and q ", q.tokens(),
                                " (a rank holds the same tokens' queries, keys and values)");
        attune::detail::require(opt.kv_splits >= 0, who, ": kv_splits must be ≥ 0, got ", opt.kv_splits);
        attune::detail::require(opt.layout == shard_layout::zigzag || opt.layout == shard_layout::contiguous, who, ": unknown layout");
    });
    std::vector<std::int64_t> shared{
        q.batch(),
        q.heads(),
        k.heads(),
        q.dim(),
        v.dim(),
        detail::type_code<TQ>() * 1000 + detail::type_code<TK>() * 100 + detail::type_code<TV>() * 10 + detail::type_code<TO>(),
        static_cast<std::int64_t>(opt.layout),
        detail::float_bits(opt.scale),
        opt.kv_splits};
    const std::vector<std::int64_t> ms = detail::mask_signature(mask);
    shared.insert(shared.end(), ms.begin(), ms.end());
    const detail::agreement all = detail::agree(comm, who, local_error, shared, detail::signature_names(), {q.tokens()});

    // Checks on what the ranks agreed on: the same answer on every rank but for the mask's validate.
    index_t length = 0;
    for (int r = 0; r < ranks; ++r) length = attune::detail::checked_add(length, all.field(r, 0), "context_parallel_attention: tokens");
    const shard_plan plan(length, ranks, opt.layout);
    for (int r = 0; r < ranks; ++r)
        attune::detail::require(all.field(r, 0) == plan.tokens(r), who, ": rank ", r, " holds ", all.field(r, 0), " tokens, but the ",
                                opt.layout == shard_layout::zigzag ? "zig-zag" : "contiguous", " plan of ", length, " tokens over ", ranks,
                                " ranks gives it ", plan.tokens(r), " (see shard_plan)");
    const index_t B = q.batch(), Hq = q.heads(), Hkv = k.heads(), Dk = q.dim(), Dv = v.dim(), n = q.tokens();
    auto block_bytes = [&](index_t tokens, std::size_t* k_bytes) {
        const index_t rows = attune::detail::checked_product("context_parallel_attention: K/V block", B, Hkv, tokens);
        const std::size_t kb = detail::round_up_64(static_cast<std::size_t>(attune::detail::checked_mul(rows, Dk, "K block")) * sizeof(TK));
        if (k_bytes != nullptr) *k_bytes = kb;
        return kb + static_cast<std::size_t>(attune::detail::checked_mul(rows, Dv, "V block")) * sizeof(TV);
    };
    std::size_t capacity = 0;
    for (int r = 0; r < ranks; ++r) capacity = std::max(capacity, block_bytes(plan.tokens(r), nullptr));
    const std::string mask_error = detail::error_of([&] {
        auto whole = attune::detail::make_problem<TQ, TK, TV, TO>(q, k, v, out, local);
        whole.lq = length;
        whole.lk = length;
        attune::detail::validate_policy(mask, whole);
    });
    detail::agree_ok(comm, who, mask_error);

    // Accumulators of this rank's rows: out (float) and LSE, [B][Hq][n][·].
    const index_t acc_count = attune::detail::checked_product("context_parallel_attention: out", B, Hq, n, Dv);
    std::vector<float> acc(static_cast<std::size_t>(acc_count), 0.0f), acc_lse(static_cast<std::size_t>(B * Hq * n), neg_inf);
    std::vector<float> tmp, tmp_lse;
    const tensor_view<float> acc_v(acc.data(), {B, Hq, n, Dv}, {Hq * n * Dv, n * Dv, Dv});
    const tensor_view<float> acc_lse_v(acc_lse.data(), {B, Hq, n, 1}, {Hq * n, n, 1});
    const std::vector<token_segment> q_segments = detail::blocks_of(plan, rank);
    std::vector<char> started(q_segments.size(), 0);

    // One rank: no ring, no copy. Otherwise this rank's block is packed once to be sent on; its own
    // step reads the caller's views.
    ring_exchange ring(comm, ranks > 1 ? capacity : 0);
    if (ranks > 1) {
        std::size_t kb = 0;
        (void)block_bytes(n, &kb);
        detail::copy_rows_to(k, reinterpret_cast<TK*>(ring.current()), exec);
        detail::copy_rows_to(v, reinterpret_cast<TV*>(ring.current() + kb), exec);
    }
    options base{};
    base.scale = opt.scale;
    base.kv_splits = opt.kv_splits;
    context_parallel_stats stats;
    for (int step = 0; step < ranks; ++step) {
        const int src = (rank - step + ranks) % ranks, next_src = (src - 1 + ranks) % ranks;
        if (step + 1 < ranks) ring.start(block_bytes(plan.tokens(src), nullptr), block_bytes(plan.tokens(next_src), nullptr));
        const auto t0 = std::chrono::steady_clock::now();
        const index_t kn = plan.tokens(src);
        std::size_t kb = 0;
        (void)block_bytes(kn, &kb);
        const tensor_view<const TK> k_all =
            step == 0 ? k
                      : tensor_view<const TK>(reinterpret_cast<const TK*>(ring.current()), {B, Hkv, kn, Dk}, {Hkv * kn * Dk, kn * Dk, Dk});
        const tensor_view<const TV> v_all = step == 0 ? v
                                                      : tensor_view<const TV>(reinterpret_cast<const TV*>(ring.current() + kb),
                                                                              {B, Hkv, kn, Dv}, {Hkv * kn * Dv, kn * Dv, Dv});
        index_t q_row = 0;
        for (std::size_t qi = 0; qi < q_segments.size(); q_row += q_segments[qi].count, ++qi) {
            const token_segment& qs = q_segments[qi];
            if (qs.count == 0) continue;
            const auto q_sub = detail::token_rows(q, q_row, qs.count);
            const auto acc_sub = detail::token_rows(acc_v, q_row, qs.count);
            const auto lse_sub = detail::token_rows(acc_lse_v, q_row, qs.count);
            index_t k_row = 0;
            for (const token_segment& ks : detail::blocks_of(plan, src)) {
                const auto k_sub = detail::token_rows(k_all, k_row, ks.count);
                const auto v_sub = detail::token_rows(v_all, k_row, ks.count);
                k_row += ks.count;
                ring.progress();
                if (!started[qi]) {  // the segment's first block writes the accumulators directly
                    const bool ran = detail::attend_block<Arch>(mask, length, q_sub, qs, k_sub, v_sub, ks, acc_sub, lse_sub, base, exec);
                    started[qi] = ran ? 1 : 0;
                    ++(ran ? stats.blocks_run : stats.blocks_skipped);
                    continue;
                }
                const index_t rows = B * Hq * qs.count;
                tmp.resize(static_cast<std::size_t>(rows * Dv));
                tmp_lse.resize(static_cast<std::size_t>(rows));
                const tensor_view<float> t(tmp.data(), {B, Hq, qs.count, Dv}, {Hq * qs.count * Dv, qs.count * Dv, Dv});
                const tensor_view<float> tl(tmp_lse.data(), {B, Hq, qs.count, 1}, {Hq * qs.count, qs.count, 1});
                if (detail::attend_block<Arch>(mask, length, q_sub, qs, k_sub, v_sub, ks, t, tl, base, exec)) {
                    detail::for_token_runs(exec, B, Hq, qs.count, [&](index_t b, index_t h, index_t t0, index_t t1) {
                        const auto a = detail::head_rows(acc_sub, b, h, t0, t1);
                        const auto al = detail::head_rows(lse_sub, b, h, t0, t1);
                        attune::detail::merge_rows(a, tensor_view<const float>(al), detail::head_rows(t, b, h, t0, t1),
                                                   tensor_view<const float>(detail::head_rows(tl, b, h, t0, t1)), a, al);
                    });
                    ++stats.blocks_run;
                } else {
                    ++stats.blocks_skipped;
                }
            }
        }
        stats.compute_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (step + 1 < ranks) ring.finish();
    }
    stats.wait_seconds = ring.wait_seconds();

    detail::for_token_runs(exec, B, Hq, n, [&](index_t b, index_t h, index_t t0, index_t t1) {
        for (index_t t = t0; t < t1; ++t) {
            const float* a = acc_v.row(b, h, t);
            TO* o = out.row(b, h, t);
            for (index_t d = 0; d < Dv; ++d) o[d] = from_float<TO>(a[d]);
            if (!opt.lse.empty()) *opt.lse.row(b, h, t) = *acc_lse_v.row(b, h, t);
        }
    });
    if (opt.stats != nullptr) *opt.stats = stats;
}

}  // namespace attune::distributed
