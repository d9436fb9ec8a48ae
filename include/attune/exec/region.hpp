#pragma once
// Every parallel region of the library goes through detail::parallel_for(exec, n, f), which makes
// any executor — OpenMP, a user's pool, serial — safe for code that throws and for executors that
// break their contract:
//  - an exception thrown by an item (attune::error from validation, or from a user's mask, score
//    modifier or router) is caught on the worker, the items not yet started are skipped, and the
//    first exception is rethrown on the calling thread once the executor returns (an exception
//    leaving an OpenMP region would call std::terminate);
//  - the executor must call body(i) exactly once for every i in [0, n): an index outside the range
//    is not run, and an item run twice or never is an attune::error after the region (checked with
//    one flag per item, kept in a grow-only per-thread buffer: nothing is allocated after warm-up).
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <utility>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/types.hpp"
#include "attune/exec/executor.hpp"

namespace attune::detail {

// The shared state of one region: the first exception, and which items ran.
class region_state {
public:
    explicit region_state(index_t n) : n_(n) {
        flags_ = acquire(n);
        for (index_t i = 0; i < n; ++i) flags_[i].store(0, std::memory_order_relaxed);
    }
    region_state(const region_state&) = delete;
    region_state& operator=(const region_state&) = delete;
    ~region_state() { release(); }

    template <class F>
    void run(index_t i, F& f) noexcept {
        if (i < 0 || i >= n_) {
            out_of_range_.store(true, std::memory_order_relaxed);
            bad_index_.store(i, std::memory_order_relaxed);
            return;
        }
        if (flags_[i].exchange(1, std::memory_order_relaxed) != 0) {
            twice_.store(true, std::memory_order_relaxed);
            return;
        }
        if (failed_.load(std::memory_order_acquire)) return;  // an item failed: skip the rest
        try {
            f(i);
        } catch (...) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!first_) first_ = std::current_exception();
            failed_.store(true, std::memory_order_release);
        }
    }

    // After the executor returned: the item's exception, or the executor's broken contract.
    void finish() {
        if (first_) std::rethrow_exception(first_);
        require(!out_of_range_.load(), "executor: parallel_for called the body with item ", bad_index_.load(), ", outside [0, ", n_, ")");
        require(!twice_.load(), "executor: parallel_for called the body twice for one item");
        for (index_t i = 0; i < n_; ++i)
            require(flags_[i].load(std::memory_order_relaxed) != 0, "executor: parallel_for returned without running item ", i, " of ", n_);
    }

private:
    using flag = std::atomic<std::uint8_t>;
    struct pool {
        std::unique_ptr<flag[]> data;
        index_t capacity = 0;
        bool in_use = false;
    };
    static pool& local() {
        thread_local pool p;
        return p;
    }
    // The calling thread's grow-only flags, or a private array for a region nested in another on
    // this thread (a policy that itself calls attention).
    static std::unique_ptr<flag[]> allocate(index_t n) {
        const std::size_t count = checked_count<flag>(n, "parallel region items");
        std::unique_ptr<flag[]> p;
        allocating(n, "parallel region items", [&] { p.reset(new flag[count]); });
        return p;
    }
    flag* acquire(index_t n) {
        pool& p = local();
        if (p.in_use) {
            own_ = allocate(n);
            return own_.get();
        }
        if (p.capacity < n) {
            p.data = allocate(n);
            p.capacity = n;
        }
        p.in_use = true;
        borrowed_ = true;
        return p.data.get();
    }
    void release() noexcept {
        if (borrowed_) local().in_use = false;
    }

    index_t n_;
    flag* flags_ = nullptr;
    std::unique_ptr<flag[]> own_;
    bool borrowed_ = false;
    std::atomic<bool> failed_{false}, out_of_range_{false}, twice_{false};
    std::atomic<index_t> bad_index_{0};
    std::mutex mutex_;
    std::exception_ptr first_;
};

/// Runs f(i) for i in [0, n) on `exec`; see the top of this file for what it guarantees.
template <class E, class F>
void parallel_for(const E& exec, index_t n, F&& f) {
    if (n <= 0) return;
    region_state state(n);
    auto body = [&state, &f](index_t i) { state.run(i, f); };
    exec.parallel_for(n, body);
    state.finish();
}

}  // namespace attune::detail
