#pragma once
// attune::workspace: the tile engine's working memory, owned by the caller.
//
// By default each thread keeps grow-only buffers of its own (thread_local), sized by the largest
// call it has run; they live as long as the thread. An inference engine that plans its memory
// instead owns a workspace and passes it in the call's options: every work item of the call then
// leases a set of buffers from it for the item's duration (one set per item running at once, so
// the workspace holds as many sets as the executor has run items at once), and the call's split
// partial results come from it too. Like the thread buffers it grows to the largest call, and to
// the most items that ran at once, and then stops allocating (one item at a time: after the first
// call); unlike them, its size can be read (bytes()) and it can be emptied (release()).
// A workspace may serve several calls at once, from any threads.
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "attune/core/error.hpp"
#include "attune/kernel/scratch.hpp"

namespace attune {

/// Working memory for attention calls, owned by the caller (see attention options' `workspace`).
class workspace {
public:
    workspace() = default;
    workspace(const workspace&) = delete;
    workspace& operator=(const workspace&) = delete;
    ~workspace() = default;

    /// Bytes held now, over every set.
    std::size_t bytes() const {
        const std::lock_guard<std::mutex> lock(mutex_);
        std::size_t n = 0;
        for (const auto& s : workers_) n += s->bytes();
        for (const auto& s : calls_) n += s->bytes();
        return n;
    }

    /// Frees every buffer. Throws attune::error while a call is using the workspace.
    void release() {
        const std::lock_guard<std::mutex> lock(mutex_);
        detail::require(free_workers_.size() == workers_.size() && free_calls_.size() == calls_.size(),
                        "workspace::release: a call is using this workspace");
        free_workers_.clear(), workers_.clear(), free_calls_.clear(), calls_.clear();
        free_workers_.shrink_to_fit(), workers_.shrink_to_fit(), free_calls_.shrink_to_fit(), calls_.shrink_to_fit();
    }

    // A free set, created when none is (the engine's leases; not for users).
    kernel::worker_scratch* claim_worker() { return claim(workers_, free_workers_); }
    kernel::call_scratch* claim_call() { return claim(calls_, free_calls_); }
    void give_back(kernel::worker_scratch* s) noexcept { give_back(free_workers_, s); }
    void give_back(kernel::call_scratch* s) noexcept { give_back(free_calls_, s); }

private:
    template <class S>
    S* claim(std::vector<std::unique_ptr<S>>& all, std::vector<S*>& free) {
        const std::lock_guard<std::mutex> lock(mutex_);
        if (!free.empty()) {
            S* s = free.back();
            free.pop_back();
            return s;
        }
        // Room for the set on the free list first, so giving it back cannot allocate (or throw).
        if (free.capacity() < all.size() + 1) free.reserve(2 * all.size() + 1);
        all.push_back(std::make_unique<S>());
        return all.back().get();
    }
    template <class S>
    void give_back(std::vector<S*>& free, S* s) noexcept {
        const std::lock_guard<std::mutex> lock(mutex_);
        free.push_back(s);  // never reallocates: claim reserved room for every set
    }

    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<kernel::worker_scratch>> workers_;
    std::vector<kernel::worker_scratch*> free_workers_;
    std::vector<std::unique_ptr<kernel::call_scratch>> calls_;
    std::vector<kernel::call_scratch*> free_calls_;
};

/// Frees the calling thread's own tile-engine buffers (the default when no workspace is passed);
/// they grow again on its next call. Throws attune::error when called from inside a work item.
inline void release_thread_buffers() {
    detail::require(kernel::item_depth() == 0, "release_thread_buffers: called from inside a work item");
    kernel::thread_own().workers.clear();
    kernel::thread_own().calls.clear();
}

namespace kernel {

// RAII: the running item's set for its duration, from `ws` when given (else this thread's own).
class worker_lease {
public:
    explicit worker_lease(workspace* ws) : ws_(ws) {
        if (ws_ == nullptr) return;
        saved_ = thread_lease();
        thread_lease() = leased_set{ws_->claim_worker(), item_scratch_level()};
    }
    ~worker_lease() {
        if (ws_ == nullptr) return;
        ws_->give_back(thread_lease().set);
        thread_lease() = saved_;
    }
    worker_lease(const worker_lease&) = delete;
    worker_lease& operator=(const worker_lease&) = delete;

private:
    workspace* ws_;
    leased_set saved_{};
};

// RAII: one call's split partials, from `ws` when given, else this thread's own at its nesting
// level (a call made from inside an item of another call must not regrow the outer call's).
class call_lease {
public:
    explicit call_lease(workspace* ws) : ws_(ws) {
        if (ws_ != nullptr) {
            set_ = ws_->claim_call();
        } else {
            set_ = &thread_own().calls.at(item_depth());
        }
    }
    ~call_lease() {
        if (ws_ != nullptr) ws_->give_back(set_);
    }
    call_lease(const call_lease&) = delete;
    call_lease& operator=(const call_lease&) = delete;
    call_scratch& operator*() const noexcept { return *set_; }
    call_scratch* operator->() const noexcept { return set_; }

private:
    workspace* ws_;
    call_scratch* set_ = nullptr;
};

}  // namespace kernel
}  // namespace attune
