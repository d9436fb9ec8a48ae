// Strong scaling of one long prefill (context_parallel_attention) and of one decode step over a
// sharded cache (sharded_decode) across MPI processes. Plain main, no Google Benchmark:
//
//   mpirun -np P cp_bench --L 65536 --D 128 --H 8 --Hkv 8 --threads T --causal [--layout zigzag|contiguous] [--reps 5]
//   mpirun -np P cp_bench --decode --Lk 1048576 --D 128 --H 8 --Hkv 8 --threads T [--reps 20]
//
// Prints (rank 0): the median over --reps of the call's wall time (the slowest rank's, after a
// barrier), tokens/s, per-rank compute seconds with max/mean (the load balance), seconds waiting on
// K/V blocks (communication not hidden), and for decode the step time against the slowest shard's
// local attention. P = 1 is the baseline (one process × T threads). Random inputs, made per rank.
#include <attune/attune.hpp>
#include <attune/distributed/distributed.hpp>

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace ad = attune::distributed;
using attune::index_t;

namespace {

struct args {
    index_t L = 8192, D = 128, H = 8, Hkv = 8, Lk = 1 << 20, reps = 5;
    int threads = 0;
    bool causal = false, decode = false;
    ad::shard_layout layout = ad::shard_layout::zigzag;
};

args parse(int argc, char** argv) {
    args a;
    for (int i = 1; i < argc; ++i) {
        const std::string s = argv[i];
        auto next = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "cp_bench: %s needs a value\n", s.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (s == "--L") a.L = std::atoll(next());
        else if (s == "--D") a.D = std::atoll(next());
        else if (s == "--H") a.H = std::atoll(next());
        else if (s == "--Hkv") a.Hkv = std::atoll(next());
        else if (s == "--Lk") a.Lk = std::atoll(next());
        else if (s == "--reps") a.reps = std::atoll(next());
        else if (s == "--threads") a.threads = std::atoi(next());
        else if (s == "--causal") a.causal = true;
        else if (s == "--decode") a.decode = true;
        else if (s == "--layout") {
            const std::string l = next();
            if (l != "zigzag" && l != "contiguous") {
                std::fprintf(stderr, "cp_bench: --layout zigzag|contiguous, not %s\n", l.c_str());
                std::exit(2);
            }
            a.layout = l == "zigzag" ? ad::shard_layout::zigzag : ad::shard_layout::contiguous;
        } else {
            std::fprintf(stderr, "cp_bench: unknown argument %s\n", s.c_str());
            std::exit(2);
        }
    }
    if (a.L < 1 || a.D < 1 || a.H < 1 || a.Hkv < 1 || a.H % a.Hkv != 0 || a.reps < 1 || a.Lk < 1) {
        std::fprintf(stderr, "cp_bench: sizes must be ≥ 1 and H a multiple of Hkv\n");
        std::exit(2);
    }
    return a;
}

// Uniform values in [−1, 1) from a xorshift generator: the decode cache of 2^20 tokens holds 2^30
// values per process, too many for std::normal_distribution to fill quickly.
std::vector<float> random_values(index_t n, unsigned seed) {
    std::vector<float> x(static_cast<std::size_t>(n));
    std::uint64_t s = 0x9e3779b97f4a7c15ull * (seed + 1);
    for (auto& e : x) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        e = static_cast<float>(static_cast<double>(s >> 11) * 0x1.0p-52 - 1.0);
    }
    return x;
}

double median(std::vector<double> x) {
    std::sort(x.begin(), x.end());
    return x[x.size() / 2];
}
// max and mean over the ranks of a per-rank value.
std::pair<double, double> spread(double mine, int ranks) {
    double mx = 0, sum = 0;
    MPI_Allreduce(&mine, &mx, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(&mine, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return {mx, sum / ranks};
}

}  // namespace

int main(int argc, char** argv) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    int rank = 0, ranks = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    const args a = parse(argc, argv);
    const attune::openmp_executor exec(a.threads);
    try {
        if (!a.decode) {
            const ad::shard_plan plan(a.L, ranks, a.layout);
            const index_t n = plan.tokens(rank);
            const std::vector<float> q = random_values(a.H * n * a.D, 1 + rank), k = random_values(a.Hkv * n * a.D, 100 + rank),
                                     v = random_values(a.Hkv * n * a.D, 200 + rank);
            std::vector<float> out(q.size());
            std::vector<double> wall, compute, wait;
            for (index_t r = 0; r <= a.reps; ++r) {  // rep 0 warms up
                ad::context_parallel_stats st;
                ad::context_parallel_options opt;
                opt.layout = a.layout;
                opt.stats = &st;
                MPI_Barrier(MPI_COMM_WORLD);
                const auto t0 = std::chrono::steady_clock::now();
                const auto qv = attune::view_bhld<const float>(q.data(), 1, a.H, n, a.D);
                const auto kv = attune::view_bhld<const float>(k.data(), 1, a.Hkv, n, a.D);
                const auto vv = attune::view_bhld<const float>(v.data(), 1, a.Hkv, n, a.D);
                const auto ov = attune::view_bhld(out.data(), 1, a.H, n, a.D);
                if (a.causal) ad::context_parallel_attention(MPI_COMM_WORLD, qv, kv, vv, ov, attune::causal{}, opt, exec);
                else ad::context_parallel_attention(MPI_COMM_WORLD, qv, kv, vv, ov, attune::no_mask{}, opt, exec);
                const double mine = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                double slowest = 0;
                MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
                if (r == 0) continue;
                wall.push_back(slowest);
                compute.push_back(st.compute_seconds);
                wait.push_back(st.wait_seconds);
            }
            // One process: plain attune::attention over the whole sequence, the baseline without
            // the context-parallel machinery.
            double plain = 0;
            if (ranks == 1) {
                std::vector<double> times;
                for (index_t r = 0; r <= a.reps; ++r) {
                    const auto t0 = std::chrono::steady_clock::now();
                    const auto qv = attune::view_bhld<const float>(q.data(), 1, a.H, n, a.D);
                    const auto kv = attune::view_bhld<const float>(k.data(), 1, a.Hkv, n, a.D);
                    const auto vv = attune::view_bhld<const float>(v.data(), 1, a.Hkv, n, a.D);
                    const auto ov = attune::view_bhld(out.data(), 1, a.H, n, a.D);
                    if (a.causal) attune::attention(qv, kv, vv, ov, attune::causal{}, attune::options{}, exec);
                    else attune::attention(qv, kv, vv, ov, attune::no_mask{}, attune::options{}, exec);
                    if (r > 0) times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
                }
                plain = median(times);
            }
            const double t = median(wall);
            const auto [cmax, cmean] = spread(median(compute), ranks);
            const auto [wmax, wmean] = spread(median(wait), ranks);
            const double pairs = a.causal ? 0.5 * double(a.L) * double(a.L + 1) : double(a.L) * double(a.L);
            if (rank == 0) {
                std::printf("cp_bench prefill: P %d × %d threads, L %lld, D %lld, H %lld/%lld, %s, %s, %lld reps\n", ranks,
                            static_cast<int>(exec.workers()), static_cast<long long>(a.L), static_cast<long long>(a.D),
                            static_cast<long long>(a.H), static_cast<long long>(a.Hkv), a.causal ? "causal" : "no mask",
                            a.layout == ad::shard_layout::zigzag ? "zigzag" : "contiguous", static_cast<long long>(a.reps));
                std::printf("  time (median)        %.4f s\n  tokens/s             %.0f\n  TFLOP/s (4·H·pairs·D) %.3f\n", t,
                            double(a.L) / t, 4.0 * double(a.H) * pairs * double(a.D) / t * 1e-12);
                std::printf("  compute per rank     max %.4f s, mean %.4f s, max/mean %.3f\n", cmax, cmean, cmean > 0 ? cmax / cmean : 0.0);
                std::printf("  waiting on K/V       max %.4f s, mean %.4f s\n", wmax, wmean);
                if (ranks == 1) std::printf("  attune::attention    %.4f s (one process, no ring: the baseline)\n", plain);
            }
        } else {
            const ad::shard_plan cache(a.Lk, ranks, ad::shard_layout::contiguous);
            const index_t n = cache.tokens(rank);
            const std::vector<float> q = random_values(a.H * a.D, 1), k = random_values(a.Hkv * n * a.D, 100 + rank),
                                     v = random_values(a.Hkv * n * a.D, 200 + rank);
            std::vector<float> out(q.size());
            std::vector<double> step, local;
            for (index_t r = 0; r <= a.reps; ++r) {
                double local_s = 0;
                ad::sharded_decode_options opt;
                opt.local_seconds = &local_s;
                MPI_Barrier(MPI_COMM_WORLD);
                const auto t0 = std::chrono::steady_clock::now();
                ad::sharded_decode(MPI_COMM_WORLD, attune::view_bhld<const float>(q.data(), 1, a.H, 1, a.D),
                                   attune::view_bhld<const float>(k.data(), 1, a.Hkv, n, a.D),
                                   attune::view_bhld<const float>(v.data(), 1, a.Hkv, n, a.D),
                                   attune::view_bhld(out.data(), 1, a.H, 1, a.D), attune::causal{}, opt, exec);
                const double mine = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                double slowest = 0, slowest_local = 0;
                MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
                MPI_Allreduce(&local_s, &slowest_local, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
                if (r == 0) continue;
                step.push_back(slowest);
                local.push_back(slowest_local);
            }
            if (rank == 0) {
                const double t = median(step), tl = median(local);
                std::printf("cp_bench decode: P %d × %d threads, Lk %lld, D %lld, H %lld/%lld, %lld reps\n", ranks,
                            static_cast<int>(exec.workers()), static_cast<long long>(a.Lk), static_cast<long long>(a.D),
                            static_cast<long long>(a.H), static_cast<long long>(a.Hkv), static_cast<long long>(a.reps));
                std::printf(
                    "  step time (median)          %.6f s\n  slowest shard's local decode %.6f s\n  step / slowest local        %.3f\n", t,
                    tl, tl > 0 ? t / tl : 0.0);
            }
        }
    } catch (const attune::error& e) {
        std::fprintf(stderr, "cp_bench (rank %d): %s\n", rank, e.what());
        MPI_Finalize();
        return 1;
    }
    MPI_Finalize();
    return 0;
}
