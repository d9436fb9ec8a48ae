#pragma once
/// @file
/// Decode across shards: a cache too long for one process is split by tokens over the ranks (rank r
/// holds a contiguous slice, the ranks in order), and the step's query rows, the same on every rank,
/// attend to the whole cache. Each rank attends to its slice with (out, LSE); one MPI_Allreduce with
/// a user-defined commutative operation, the ⊕ merge of (LSE, out) rows (Milakov & Gimelshein,
/// "Online normalizer calculation for softmax", 2018; the combine step of Flash-Decoding), gives
/// every rank the attention over the whole cache.
///
///     attune::distributed::sharded_decode(MPI_COMM_WORLD, q, k_slice, v_slice, out);   // causal decode
///
/// Positions: the cache is the concatenation of the slices (rank 0's first); the Lq queries are its
/// last Lq tokens (bottom-right aligned, as attention()), so causal, sliding_window, sinks_window
/// and document masks keep their single-process meaning. Before the reduction one small
/// MPI_Allgather checks that every rank's shapes, types and mask agree and tells each rank where its
/// slice starts; a rank whose arguments fail after that contributes a flagged row to the reduction,
/// so every rank throws attune::error rather than waiting.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "attune/attention.hpp"
#include "attune/core/row_state.hpp"
#include "attune/distributed/block_attention.hpp"
#include "attune/distributed/communicator.hpp"
#include "attune/distributed/context_parallel.hpp"
#include "attune/mask/none.hpp"

namespace attune::distributed {

/// Options of sharded_decode().
struct sharded_decode_options {
    /// The scale of the scores, s = τ·q·k; 0 means 1/√Dk.
    float scale = 0.0f;
    /// Where to write the rows' log-sum-exp over the whole cache, [B, Hq, Lq, 1] (empty: not written).
    tensor_view<float> lse{};
    /// Split-KV parallelism of the local attention (as options::kv_splits; 0 chooses).
    index_t kv_splits = 0;
    /// Seconds of this rank's local attention, written when not null (for benchmarks).
    double* local_seconds = nullptr;
};

namespace detail {

// ⊕ of packed rows (LSE, out[0 … w − 2]), inout ← in ⊕ inout. An LSE of +∞ flags a rank that
// rejected its arguments and stays +∞; −∞ is a row with no visible key; NaN spreads.
inline void merge_packed_rows(void* in, void* inout, int* count, MPI_Datatype* type) {
    int bytes = 0;
    MPI_Type_size(*type, &bytes);
    const std::size_t w = static_cast<std::size_t>(bytes) / sizeof(float);
    const float* a = static_cast<const float*>(in);
    float* b = static_cast<float*>(inout);
    const float inf = std::numeric_limits<float>::infinity();
    for (int r = 0; r < *count; ++r, a += w, b += w) {
        const float la = a[0], lb = b[0];
        if (la == inf || lb == inf) {
            b[0] = inf;
        } else if (std::isnan(la) || std::isnan(lb)) {
            for (std::size_t d = 0; d < w; ++d) b[d] = std::numeric_limits<float>::quiet_NaN();
        } else if (la == neg_inf) {
            continue;
        } else if (lb == neg_inf) {
            std::copy(a, a + w, b);
        } else {
            const float m = std::max(la, lb), wa = std::exp(la - m), wb = std::exp(lb - m), s = wa + wb;
            for (std::size_t d = 1; d < w; ++d) b[d] = (wa * a[d] + wb * b[d]) / s;
            b[0] = m + std::log(s);
        }
    }
}

}  // namespace detail

/// Attention of q [B, Hq, Lq, Dk], the same on every rank, over the cache whose slices k [B, Hkv,
/// n_r, Dk] and v [B, Hkv, n_r, Dv] the ranks hold in rank order, into out [B, Hq, Lq, Dv] on every
/// rank (see the top of this file). A slice may be empty. Collective over `comm`.
template <class Arch = default_arch, class Q, class K, class V, class O, class Mask = no_mask, class Exec = default_executor>
void sharded_decode(MPI_Comm comm, const Q& q_in, const K& k_in, const V& v_in, const O& out_in, const Mask& mask = {},
                    const sharded_decode_options& opt = {}, const Exec& exec = {}) {
    using TQ = typename attune::detail::view_element<Q>::type;
    using TK = typename attune::detail::view_element<K>::type;
    using TV = typename attune::detail::view_element<V>::type;
    using TO = typename attune::detail::view_element<O>::type;
    static_assert(std::is_same_v<typename Mask::policy_kind, mask_kind>, "sharded_decode: `mask` must be a mask policy");
    static_assert(!std::is_const_v<typename O::element_type>, "sharded_decode: out must be a view of non-const elements");
    constexpr const char* who = "sharded_decode";
    const tensor_view<const TQ> q = q_in;
    const tensor_view<const TK> k = k_in;
    const tensor_view<const TV> v = v_in;
    const tensor_view<TO> out = out_in;
    const auto [rank, ranks] = detail::check_communicator(comm, who);

    options local{};
    local.scale = opt.scale;
    local.lse = opt.lse;
    local.kv_splits = opt.kv_splits;
    const std::string local_error = detail::error_of([&] {
        (void)attune::detail::make_problem<TQ, TK, TV, TO>(q, k, v, out, local);
        attune::detail::require(opt.kv_splits >= 0, who, ": kv_splits must be ≥ 0, got ", opt.kv_splits);
        // One MPI element per row (LSE and the row): counts are int.
        attune::detail::require(v.dim() < std::numeric_limits<int>::max() && q.size() / q.dim() < std::numeric_limits<int>::max(), who,
                                ": more rows (", q.size() / q.dim(), ") or a longer v row (", v.dim(), ") than an MPI count holds");
    });
    std::vector<std::int64_t> shared{
        q.batch(),
        q.heads(),
        k.heads(),
        q.dim(),
        v.dim(),
        detail::type_code<TQ>() * 1000 + detail::type_code<TK>() * 100 + detail::type_code<TV>() * 10 + detail::type_code<TO>(),
        q.tokens(),
        detail::float_bits(opt.scale),
        opt.kv_splits};
    const std::vector<std::int64_t> ms = detail::mask_signature(mask);
    shared.insert(shared.end(), ms.begin(), ms.end());
    static const std::vector<const char*> names{
        "batch", "query heads", "kv heads",  "head dim",     "v head dim",   "storage types", "queries",
        "scale", "kv_splits",   "mask kind", "mask param 1", "mask param 2", "mask param 3",  "mask param 4 (document ids)"};
    const detail::agreement all = detail::agree(comm, who, local_error, shared, names, {k.tokens()});

    index_t length = 0, first = 0;
    for (int r = 0; r < ranks; ++r) {
        if (r == rank) first = length;
        length = attune::detail::checked_add(length, all.field(r, 0), "sharded_decode: cache tokens");
    }
    const index_t B = q.batch(), Hq = q.heads(), Lq = q.tokens(), Dv = v.dim();
    const index_t rows = attune::detail::checked_product("sharded_decode: rows", B, Hq, Lq);
    const index_t width = attune::detail::checked_add(Dv, 1, "sharded_decode: v head dim");
    std::vector<float> packed(static_cast<std::size_t>(attune::detail::checked_mul(rows + 1, width, "sharded_decode: rows")), 0.0f);
    std::vector<float> part(static_cast<std::size_t>(rows * Dv)), part_lse(static_cast<std::size_t>(rows), neg_inf);
    const std::string step_error = detail::error_of([&] {
        attune::detail::require(Lq <= length, who, ": ", Lq, " queries but the whole cache holds ", length,
                                " tokens (the queries are its last tokens)");
        auto whole = attune::detail::make_problem<TQ, TK, TV, TO>(q, k, v, out, local);
        whole.lk = length;
        attune::detail::validate_policy(mask, whole);
    });
    const auto t0 = std::chrono::steady_clock::now();
    if (step_error.empty()) {
        const tensor_view<float> pv(part.data(), {B, Hq, Lq, Dv}, {Hq * Lq * Dv, Lq * Dv, Dv});
        const tensor_view<float> pl(part_lse.data(), {B, Hq, Lq, 1}, {Hq * Lq, Lq, 1});
        options base{};
        base.scale = opt.scale;
        base.kv_splits = opt.kv_splits;
        if (!detail::attend_block<Arch>(mask, length, q, token_segment{length - Lq, Lq}, k, v, token_segment{first, k.tokens()}, pv, pl,
                                        base, exec))
            std::fill(part.begin(), part.end(), 0.0f);
    }
    if (opt.local_seconds != nullptr) *opt.local_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (index_t r = 0; r < rows; ++r) {
        packed[static_cast<std::size_t>(r * width)] = part_lse[static_cast<std::size_t>(r)];
        std::copy(part.begin() + r * Dv, part.begin() + (r + 1) * Dv, packed.begin() + r * width + 1);
    }
    // The last row flags a rank whose arguments failed (LSE +∞ survives ⊕).
    packed[static_cast<std::size_t>(rows * width)] = step_error.empty() ? 0.0f : std::numeric_limits<float>::infinity();

    MPI_Datatype row_type;
    MPI_Type_contiguous(static_cast<int>(width), MPI_FLOAT, &row_type);
    MPI_Type_commit(&row_type);
    MPI_Op merge_op;
    MPI_Op_create(&detail::merge_packed_rows, 1, &merge_op);
    MPI_Allreduce(MPI_IN_PLACE, packed.data(), static_cast<int>(rows + 1), row_type, merge_op, comm);
    MPI_Op_free(&merge_op);
    MPI_Type_free(&row_type);
    if (!step_error.empty()) throw attune::error(step_error);
    attune::detail::require(packed[static_cast<std::size_t>(rows * width)] != std::numeric_limits<float>::infinity(), who,
                            ": another rank rejected its arguments (its error names them)");

    index_t r = 0;
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < Hq; ++h)
            for (index_t t = 0; t < Lq; ++t, ++r) {
                const float* p = packed.data() + r * width;
                TO* o = out.row(b, h, t);
                for (index_t d = 0; d < Dv; ++d) o[d] = from_float<TO>(p[d + 1]);
                if (!opt.lse.empty()) *opt.lse.row(b, h, t) = p[0];
            }
}

}  // namespace attune::distributed
