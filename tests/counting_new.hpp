#pragma once
// Replaces the global operator new/delete with versions that count allocations, for the tests that
// check a decode loop allocates nothing after warm-up. Include it in exactly one translation unit
// of a test binary of its own (the replacement is program-wide).
#include <atomic>
#include <cstdlib>
#include <new>

namespace attune_test {
inline std::atomic<long> g_allocations{0};
// Heap allocations since the program started.
inline long allocations() { return g_allocations.load(std::memory_order_relaxed); }
}  // namespace attune_test

void* operator new(std::size_t n) {
    attune_test::g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a) {
    attune_test::g_allocations.fetch_add(1, std::memory_order_relaxed);
    const std::size_t al = static_cast<std::size_t>(a);
    if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
