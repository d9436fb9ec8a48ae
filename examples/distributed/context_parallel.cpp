// Context-parallel causal attention over MPI: a sequence of 3001 tokens (not a multiple of the
// chunk count) is cut zig-zag over the ranks, each rank runs
// attune::distributed::context_parallel_attention on its own rows, the ranks gather the result,
// and rank 0 checks it against single-process attune::attention over the whole sequence. Then one
// decode step over a cache split across the ranks (sharded_decode), checked the same way.
//
//   mpirun -np 2 ./attune_context_parallel          (exits non-zero when a check fails)
#include <attune/attune.hpp>
#include <attune/distributed/distributed.hpp>

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace ad = attune::distributed;

int main(int argc, char** argv) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);  // only this thread calls MPI
    int rank = 0, ranks = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    const int L = 3001, Hq = 8, Hkv = 2, D = 64;

    // Every rank makes the same whole Q, K, V here; a real program would load only its rows.
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    auto random = [&](std::size_t n) {
        std::vector<float> x(n);
        for (float& e : x) e = normal(rng);
        return x;
    };
    const std::vector<float> q = random(std::size_t(Hq) * L * D), k = random(std::size_t(Hkv) * L * D), v = random(k.size());

    // 1. This rank's rows: the plan says which tokens it holds (chunks r and 2P − 1 − r of 2P).
    const ad::shard_plan plan(L, ranks, ad::shard_layout::zigzag);
    const int n = int(plan.tokens(rank));
    std::vector<float> ql(std::size_t(Hq) * n * D), kl(std::size_t(Hkv) * n * D), vl(kl.size()), ol(ql.size());
    ad::scatter_tokens(plan, rank, attune::view_bhld<const float>(q.data(), 1, Hq, L, D), attune::view_bhld(ql.data(), 1, Hq, n, D));
    ad::scatter_tokens(plan, rank, attune::view_bhld<const float>(k.data(), 1, Hkv, L, D), attune::view_bhld(kl.data(), 1, Hkv, n, D));
    ad::scatter_tokens(plan, rank, attune::view_bhld<const float>(v.data(), 1, Hkv, L, D), attune::view_bhld(vl.data(), 1, Hkv, n, D));

    // 2. Context-parallel causal attention: K/V blocks travel around the ring.
    ad::context_parallel_options opt;
    opt.layout = ad::shard_layout::zigzag;
    ad::context_parallel_attention(
        MPI_COMM_WORLD, attune::view_bhld<const float>(ql.data(), 1, Hq, n, D), attune::view_bhld<const float>(kl.data(), 1, Hkv, n, D),
        attune::view_bhld<const float>(vl.data(), 1, Hkv, n, D), attune::view_bhld(ol.data(), 1, Hq, n, D), attune::causal{}, opt);

    // 3. Gather every rank's rows into the whole output (each rank fills its rows, a sum collects them).
    std::vector<float> mine(q.size(), 0.0f), whole(q.size());
    ad::gather_tokens(plan, rank, attune::view_bhld<const float>(ol.data(), 1, Hq, n, D), attune::view_bhld(mine.data(), 1, Hq, L, D));
    MPI_Reduce(mine.data(), whole.data(), int(whole.size()), MPI_FLOAT, MPI_SUM, 0, MPI_COMM_WORLD);

    // 4. Decode: the cache of L tokens split contiguously over the ranks, one query row on every rank.
    const ad::shard_plan cache(L, ranks, ad::shard_layout::contiguous);
    const ad::token_segment slice = cache.segments(rank)[0];
    const std::vector<float> q1 = random(std::size_t(Hq) * D);
    std::vector<float> o1(q1.size());
    const auto kw = attune::view_bhld<const float>(k.data(), 1, Hkv, L, D), vw = attune::view_bhld<const float>(v.data(), 1, Hkv, L, D);
    const attune::tensor_view<const float> ks(kw.data() + slice.first * D, {1, Hkv, slice.count, D}, kw.strides());
    const attune::tensor_view<const float> vs(vw.data() + slice.first * D, {1, Hkv, slice.count, D}, vw.strides());
    ad::sharded_decode(MPI_COMM_WORLD, attune::view_bhld<const float>(q1.data(), 1, Hq, 1, D), ks, vs,
                       attune::view_bhld(o1.data(), 1, Hq, 1, D), attune::causal{});

    int failed = 0;
    if (rank == 0) {
        std::vector<float> single(q.size()), single1(q1.size());
        attune::attention(attune::view_bhld<const float>(q.data(), 1, Hq, L, D), kw, vw, attune::view_bhld(single.data(), 1, Hq, L, D),
                          attune::causal{});
        attune::attention(attune::view_bhld<const float>(q1.data(), 1, Hq, 1, D), kw, vw, attune::view_bhld(single1.data(), 1, Hq, 1, D),
                          attune::causal{});
        double worst = 0.0, worst1 = 0.0;
        for (std::size_t i = 0; i < whole.size(); ++i) worst = std::max(worst, double(std::abs(whole[i] - single[i])));
        for (std::size_t i = 0; i < o1.size(); ++i) worst1 = std::max(worst1, double(std::abs(o1[i] - single1[i])));
        std::printf("context parallel over %d ranks, L %d: max |difference| from one process %.2e; sharded decode %.2e\n", ranks, L, worst,
                    worst1);
        failed = worst <= 1e-5 && worst1 <= 1e-5 ? 0 : 1;
    }
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return failed;
}
