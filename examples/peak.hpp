#pragma once
// This machine's ceilings, measured: an FMA loop that keeps every FMA unit busy (compute peak)
// and a streaming read of a buffer far larger than the caches (memory bandwidth).
#include <attune/attune.hpp>

#include <chrono>
#include <vector>

namespace attune_demo {

// GFLOP/s of `threads` threads each running independent FMA chains on the default arch.
inline double fma_peak_gflops(int threads) {
    using V = attune::simd::vec<attune::default_arch>;
    constexpr int chains = 12;  // > FMA latency × ports: the units never wait
    const long iters = 20'000'000;
    double flops = 0.0;
    const auto t0 = std::chrono::steady_clock::now();
    float sink = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
        volatile float seed = 1.0f;
        V acc[chains];
        for (int c = 0; c < chains; ++c) acc[c] = attune::simd::broadcast<attune::default_arch>(seed + float(c));
        const V a = attune::simd::broadcast<attune::default_arch>(seed * 0.999f);
        const V b = attune::simd::broadcast<attune::default_arch>(seed * 1e-3f);
        for (long i = 0; i < iters; ++i)
            for (int c = 0; c < chains; ++c) acc[c] = attune::simd::fma(acc[c], a, b);
        V total = acc[0];
        for (int c = 1; c < chains; ++c) total += acc[c];
        sink += attune::simd::reduce_add(total);
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    flops = 2.0 * chains * double(attune::simd::width<attune::default_arch>) * double(iters) * threads;
    return sink == 0.12345f ? 0.0 : flops / s / 1e9;
}

// GB/s of `threads` threads summing a 1 GiB buffer.
inline double read_bandwidth_gbs(int threads) {
    const std::size_t n = (std::size_t(1) << 30) / sizeof(float);
    std::vector<float> buf(n);
#pragma omp parallel for num_threads(threads)
    for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(n); ++i) buf[std::size_t(i)] = float(i & 7);
    double best = 0.0;
    for (int rep = 0; rep < 3; ++rep) {
        float sum = 0.0f;
        const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for num_threads(threads) reduction(+ : sum)
        for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(n); i += 64) {
            using V = attune::simd::vec<attune::default_arch>;
            constexpr std::ptrdiff_t W = std::ptrdiff_t(attune::simd::width<attune::default_arch>);
            V acc = attune::simd::broadcast<attune::default_arch>(0.0f);
            for (std::ptrdiff_t j = 0; j < 64; j += W) acc += attune::simd::load<attune::default_arch>(buf.data() + i + j);
            sum += attune::simd::reduce_add(acc);
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (sum != -1.0f) best = std::max(best, double(n * sizeof(float)) / s / 1e9);
    }
    return best;
}

}  // namespace attune_demo
