#pragma once
// Replaces the global operator new/delete with versions that count allocations, for the tests that
// check a decode loop allocates nothing after warm-up. Include it in exactly one translation unit
// of a test binary of its own (the replacement is program-wide). Every form is replaced — plain,
// array, aligned and nothrow — so that memory always comes from malloc and goes back to free
// (a sanitizer's own nothrow new freed by our delete would be an alloc-dealloc mismatch).
#include <atomic>
#include <cstdlib>
#include <new>

namespace attune_test {
inline std::atomic<long> g_allocations{0};
// Heap allocations since the program started.
inline long allocations() { return g_allocations.load(std::memory_order_relaxed); }

inline void* counted_alloc(std::size_t n, std::size_t align) noexcept {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (n == 0) n = 1;
    if (align <= alignof(std::max_align_t)) return std::malloc(n);
    return std::aligned_alloc(align, (n + align - 1) / align * align);
}
inline void* counted_alloc_or_throw(std::size_t n, std::size_t align) {
    if (void* p = counted_alloc(n, align)) return p;
    throw std::bad_alloc();
}
}  // namespace attune_test

void* operator new(std::size_t n) { return attune_test::counted_alloc_or_throw(n, 0); }
void* operator new[](std::size_t n) { return attune_test::counted_alloc_or_throw(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return attune_test::counted_alloc_or_throw(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return attune_test::counted_alloc_or_throw(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return attune_test::counted_alloc(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return attune_test::counted_alloc(n, 0); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return attune_test::counted_alloc(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return attune_test::counted_alloc(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
