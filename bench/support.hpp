#pragma once
// Shared pieces of attune_bench's translation units: fixed-seed inputs, the FLOP and byte rate
// counters, the thread counts, row registration and the executor of a row. attune_bench.cpp holds
// main, the peaks and the softmax rows; bench/rows/*.cpp add rows of other kernel families with
// ATTUNE_BENCH_ROWS, so every row lands in the one JSON that the ratios are computed from.
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

// GCC 12 reports -Wmaybe-uninitialized inside its own AVX-512 intrinsic headers (the
// _mm512_undefined_* idiom) wherever Eigen's or xsimd's AVX-512 code is inlined. The state of a
// warning follows the location of the code, so ignoring it while those headers are first included
// keeps -march=native -Werror builds clean without hiding warnings in the bench sources.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Core>
#include "attune/attune.hpp"
#include <xsimd/xsimd.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace attune_bench {

using attune::index_t;

// ---------------------------------------------------------------------------------------------
// Inputs and outputs live in 64-byte aligned buffers, as PyTorch's CPU tensors do (its allocator
// aligns to 64): the tensors a user's engine passes. The offset rows measure views off that
// boundary, such as a std::vector's 16 bytes.
template <class T>
using aligned_vector = std::vector<T, xsimd::aligned_allocator<T, 64>>;

// Uniform random values in [-1, 1) from a fixed-seed splitmix64, so runs are repeatable and
// nothing is zero (zeros would let a kernel or the FPU take shortcuts).
template <class T>
aligned_vector<T> random_vector(std::size_t n, std::uint64_t seed) {
    aligned_vector<T> v(n);
    std::uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (auto& x : v) {
        s += 0x9E3779B97F4A7C15ull;
        std::uint64_t z = s;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        const float u = static_cast<float>(z >> 40) * (1.0f / 16777216.0f);  // [0, 1)
        x = static_cast<T>(2.0f * u - 1.0f);
    }
    return v;
}
template <class T>
std::vector<T> to_std_vector(const aligned_vector<T>& v) {
    return std::vector<T>(v.begin(), v.end());
}

inline void set_counters(benchmark::State& state, double flops_per_iter, double bytes_per_iter) {
    const double iters = static_cast<double>(state.iterations());
    state.counters["flops"] = benchmark::Counter(flops_per_iter * iters, benchmark::Counter::kIsRate);
    state.counters["bytes"] = benchmark::Counter(bytes_per_iter * iters, benchmark::Counter::kIsRate);
}

inline std::vector<int> thread_counts() {
    std::set<int> counts{1, 2};
    if (const char* env = std::getenv("ATTUNE_BENCH_THREADS")) {
        std::stringstream ss(env);
        std::string item;
        while (std::getline(ss, item, ',')) {
            const int n = std::atoi(item.c_str());
            if (n > 0) counts.insert(n);
        }
    }
    return {counts.begin(), counts.end()};
}

// Registers `name` with one run per thread count (argument "threads"), real time, milliseconds.
template <class Fn, class... Args>
benchmark::internal::Benchmark* add(const std::string& name, const std::vector<int>& threads, Fn fn, Args... args) {
    auto* b = benchmark::RegisterBenchmark(name.c_str(), fn, args...);
    b->ArgName("threads");
    for (int t : threads) b->Arg(t);
    b->UseRealTime()->Unit(benchmark::kMillisecond);
    return b;
}

// The executor of a row with `threads` workers; without OpenMP only 1 thread runs (the row is
// skipped with an error otherwise).
#if defined(_OPENMP)
using executor = attune::openmp_executor;
inline bool make_executor(benchmark::State&, int threads, executor& out) {
    out = executor{threads};
    return true;
}
#else
using executor = attune::serial_executor;
inline bool make_executor(benchmark::State& state, int threads, executor&) {
    if (threads > 1) {
        state.SkipWithError("attune_bench was built without OpenMP: only threads:1 runs");
        return false;
    }
    return true;
}
#endif

// Row registration from other translation units: ATTUNE_BENCH_ROWS(fn) runs fn(thread counts)
// from main, after the peaks and the softmax rows.
using row_registrar = std::function<void(const std::vector<int>& threads)>;
inline std::vector<row_registrar>& extra_rows() {
    static std::vector<row_registrar> rows;
    return rows;
}
struct rows_added {
    explicit rows_added(row_registrar f) { extra_rows().push_back(std::move(f)); }
};

}  // namespace attune_bench

#define ATTUNE_BENCH_CAT2(a, b) a##b
#define ATTUNE_BENCH_CAT(a, b) ATTUNE_BENCH_CAT2(a, b)
#define ATTUNE_BENCH_ROWS(fn) \
    static const ::attune_bench::rows_added ATTUNE_BENCH_CAT(attune_bench_rows_, __LINE__) { fn }
